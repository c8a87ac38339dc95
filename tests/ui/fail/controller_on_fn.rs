use tiny::prelude::*;

#[controller]
fn heartbeat() -> &'static str {
    "beat"
}

fn main() {}
