use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

impl Heartbeat {
    #[sse(poll = 5)]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
