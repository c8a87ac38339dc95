use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = "5 parsecs")]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
