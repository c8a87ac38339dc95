use tiny::prelude::*;

#[controller]
pub struct Jobs;

#[controller]
impl Jobs {
    #[sse(key = "job:<section>")]
    fn post(&self) {}
}

fn main() {}
