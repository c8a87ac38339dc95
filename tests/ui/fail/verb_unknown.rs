use tiny::prelude::*;

#[controller]
pub struct Users;

#[controller]
impl Users {
    fn gett(&self) -> &'static str {
        "users"
    }
}

fn main() {}
