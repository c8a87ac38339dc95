use tiny::prelude::*;

#[controller]
pub struct Users;

#[controller]
impl Users {
    fn get(&self, headers: &tiny::http::HeaderMap) -> String {
        headers.len().to_string()
    }
}

fn main() {}
