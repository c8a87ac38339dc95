use tiny::prelude::*;

#[controller]
pub struct Users;

#[controller]
impl Users {
    fn get<T: Default>(&self) -> &'static str {
        "users"
    }
}

fn main() {}
