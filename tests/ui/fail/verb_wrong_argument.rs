use tiny::prelude::*;

#[controller]
pub struct Users;

#[controller]
impl Users {
    fn get(&self, id: u64) -> String {
        id.to_string()
    }
}

fn main() {}
