use tiny::prelude::*;

#[controller]
pub struct JobProgress;

#[controller]
impl JobProgress {
    #[sse(topic = "job:<section>", poll = 5)]
    fn get(&self) -> tiny::Result<()> {
        Ok(())
    }
}

fn main() {}
