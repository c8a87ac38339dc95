use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(pol = 5)]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
