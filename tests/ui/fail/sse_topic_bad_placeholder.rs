use tiny::prelude::*;

#[controller]
pub struct JobProgress;

#[controller]
impl JobProgress {
    #[sse(topic = "job:<id>")]
    fn get(&self) -> tiny::Result<()> {
        Ok(())
    }
}

fn main() {}
