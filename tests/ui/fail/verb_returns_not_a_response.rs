use tiny::prelude::*;

pub struct User;

#[controller]
pub struct Users;

#[controller]
impl Users {
    fn get(&self) -> User {
        User
    }
}

fn main() {}
