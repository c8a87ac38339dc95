use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = 5, keep_alive = "30s", poll = 10)]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
