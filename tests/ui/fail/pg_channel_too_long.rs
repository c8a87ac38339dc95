use tiny::prelude::*;

#[controller]
pub struct Orders;

#[controller]
impl Orders {
    #[sse(pg = "orders_of_every_customer_in_every_region_of_the_world_since_1970_<section>")]
    fn get(&self) -> tiny::Result<()> {
        Ok(())
    }
}

fn main() {}
