//! Key-mode streams: the method body is the guard.

use tiny::prelude::*;

#[controller]
pub struct UserUpdates;

#[controller]
impl UserUpdates {
    #[sse(key = "user:<section>:updates")]
    async fn get(&self, req: &Request) -> tiny::Result<()> {
        if req.path().section == "0" {
            return Err(tiny::Error::forbidden("no such user"));
        }
        Ok(())
    }
}

#[controller(path = "/jobs")]
pub struct JobProgress;

#[controller]
impl JobProgress {
    // A `()` guard always opens; `poll` is the fallback re-check period.
    #[sse(
        key = "<controller>:<section>:<slug>",
        poll = "500ms",
        keep_alive = "off",
        retry = "1s"
    )]
    fn get(&self) {}
}

fn main() {
    let _router = tiny::App::empty()
        .mount::<UserUpdates>()
        .mount::<JobProgress>()
        .router();
}
