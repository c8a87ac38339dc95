use tiny::prelude::*;

#[controller(path = "/beat", path = "/pulse")]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    fn get(&self) -> &'static str {
        "beat"
    }
}

fn main() {}
