use tiny::prelude::*;

#[controller]
pub struct Counter;

#[controller]
impl Counter {
    fn get() -> &'static str {
        "counted"
    }
}

fn main() {}
