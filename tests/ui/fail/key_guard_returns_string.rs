use tiny::prelude::*;

#[controller]
pub struct UserUpdates;

#[controller]
impl UserUpdates {
    #[sse(key = "user:<section>:updates")]
    async fn get(&self, _req: &Request) -> String {
        "allowed".to_owned()
    }
}

fn main() {}
