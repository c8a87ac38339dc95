use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = 5)]
    #[sse(retry = "2s")]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
