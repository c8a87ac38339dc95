use tiny::prelude::*;

#[controller]
pub struct JobProgress;

#[controller]
impl JobProgress {
    #[sse(key = "job:<section>", topic = "job:<section>")]
    fn get(&self) -> tiny::Result<()> {
        Ok(())
    }
}

fn main() {}
