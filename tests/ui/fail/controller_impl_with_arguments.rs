use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller(path = "/beat")]
impl Heartbeat {
    fn get(&self) -> &'static str {
        "beat"
    }
}

fn main() {}
