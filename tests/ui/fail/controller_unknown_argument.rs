use tiny::prelude::*;

#[controller(route = "/beat")]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    fn get(&self) -> &'static str {
        "beat"
    }
}

fn main() {}
