use tiny::prelude::*;

#[controller(path = "no-slash")]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    fn get(&self) -> &'static str {
        "beat"
    }
}

fn main() {}
