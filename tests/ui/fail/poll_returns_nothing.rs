use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = 5)]
    fn get(&self) {}
}

fn main() {}
