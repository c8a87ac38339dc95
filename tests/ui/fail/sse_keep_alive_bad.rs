use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(keep_alive = "never")]
    fn get(&self) -> Option<String> {
        None
    }
}

fn main() {}
