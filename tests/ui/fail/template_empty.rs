use tiny::prelude::*;

#[controller]
pub struct UserUpdates;

#[controller]
impl UserUpdates {
    #[sse(key = "")]
    fn get(&self) -> tiny::Result<()> {
        Ok(())
    }
}

fn main() {}
