use tiny::prelude::*;

#[controller]
pub struct Counter;

#[controller]
impl Counter {
    fn get(self) -> &'static str {
        "counted"
    }
}

fn main() {}
