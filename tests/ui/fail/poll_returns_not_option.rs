use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = 5)]
    async fn get(&self) -> String {
        "tick".to_owned()
    }
}

fn main() {}
