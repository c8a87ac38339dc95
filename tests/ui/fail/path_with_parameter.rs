use tiny::prelude::*;

#[controller(path = "/users/{id}")]
pub struct Users;

#[controller]
impl Users {
    fn get(&self, req: &Request) -> String {
        req.path().section.clone()
    }
}

fn main() {}
