//! Topic streams: the method body is the guard, as in key mode.

use tiny::prelude::*;

#[controller]
pub struct JobProgress;

#[controller]
impl JobProgress {
    #[sse(topic = "job:<section>")]
    async fn get(&self, req: &Request) -> tiny::Result<()> {
        if req.path().section == "0" {
            return Err(tiny::Error::forbidden("no such job"));
        }
        Ok(())
    }
}

#[controller(path = "/feeds")]
pub struct Feeds;

#[controller]
impl Feeds {
    #[sse(topic = "<controller>:<section>:<slug>", keep_alive = "off", retry = "1s")]
    fn get(&self) {}
}

fn main() {
    let _router = tiny::App::empty()
        .mount::<JobProgress>()
        .mount::<Feeds>()
        .router();
}
