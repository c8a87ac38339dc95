use tiny::prelude::*;

#[controller]
pub enum Status {
    Up,
    Down,
}

fn main() {}
