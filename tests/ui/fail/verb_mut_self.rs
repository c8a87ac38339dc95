use tiny::prelude::*;

#[controller]
pub struct Counter;

#[controller]
impl Counter {
    fn post(&mut self) -> &'static str {
        "counted"
    }
}

fn main() {}
