use tiny::prelude::*;

#[controller]
pub struct Users;

#[controller]
impl Users {
    fn get(&self, req: &Request, id: u64) -> String {
        format!("{} {id}", req.path().full)
    }
}

fn main() {}
