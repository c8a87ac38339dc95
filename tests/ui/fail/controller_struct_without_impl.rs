use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

impl Heartbeat {
    fn get(&self) -> &'static str {
        "beat"
    }
}

fn main() {}
