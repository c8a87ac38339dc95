use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse = 5]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
