use tiny::prelude::*;

#[sse(poll = 5)]
fn heartbeat() -> Option<String> {
    None
}

fn main() {}
