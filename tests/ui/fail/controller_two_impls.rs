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
impl Heartbeat {
    fn post(&self) -> &'static str {
        "beaten"
    }
}

fn main() {}
