use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = -1)]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
