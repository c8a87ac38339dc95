use tiny::prelude::*;

#[controller]
pub struct Orders;

#[controller]
impl Orders {
    #[sse(key = orders)]
    fn get(&self) -> tiny::Result<()> {
        Ok(())
    }
}

fn main() {}
