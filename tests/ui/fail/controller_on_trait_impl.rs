use tiny::prelude::*;

#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    fn get(&self) -> &'static str {
        "beat"
    }
}

#[controller]
impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat
    }
}

fn main() {}
