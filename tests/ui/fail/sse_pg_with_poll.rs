use tiny::prelude::*;

#[controller]
pub struct Orders;

#[controller]
impl Orders {
    #[sse(pg = "orders", poll = 5)]
    fn get(&self) -> tiny::Result<()> {
        Ok(())
    }
}

fn main() {}
