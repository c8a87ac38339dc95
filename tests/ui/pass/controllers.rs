//! Every valid form of `#[controller]` and `#[sse]`.

use serde::Serialize;
use tiny::prelude::*;

// A unit struct, routed from its name: GET /heartbeat.
#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = 5)]
    async fn get(&self) -> Option<String> {
        Some(json!({ "ts": unix_time() }).to_string())
    }
}

// `Home` answers `/`.
#[controller]
pub struct Home;

#[controller]
impl Home {
    fn get(&self) -> Html<&'static str> {
        Html("<h1>home</h1>")
    }
}

// A struct with fields is built through `Default`; the path is overridden.
#[derive(Default)]
#[controller(path = "/sse/dashboard")]
pub struct Dashboard {
    title: String,
}

#[controller]
impl Dashboard {
    // Sync, borrowing the request, every stream option.
    #[sse(poll = "250ms", keep_alive = "30s", retry = "2s")]
    fn get(&self, req: &Request) -> Option<Event> {
        Some(Event::data(format!("{}: {}", self.title, req.path().section)).event("tick"))
    }

    // Async, owning the request, `tiny::Result<T>`.
    async fn post(&self, req: Request) -> tiny::Result<String> {
        Ok(req.path().full.clone())
    }

    fn put(&self) -> tiny::Result<()> {
        Err(tiny::Error::forbidden("read-only"))
    }

    async fn patch(&self, _req: &Request) -> tiny::Result<Json<serde_json::Value>> {
        Ok(Json(json!({ "patched": true })))
    }

    fn delete(&self) -> &'static str {
        "deleted"
    }

    fn options(&self) -> tiny::http::StatusCode {
        tiny::http::StatusCode::NO_CONTENT
    }
}

// Poll methods may return any event type, and take the request by value.
#[controller]
pub struct Values;

#[controller]
impl Values {
    #[sse(poll = 1, keep_alive = "off")]
    async fn get(&self, _req: Request) -> Option<serde_json::Value> {
        Some(json!({ "ok": true }))
    }
}

#[derive(Serialize)]
struct Progress {
    percent: u8,
}

#[controller]
pub struct Jobs;

#[controller]
impl Jobs {
    #[sse(poll = "2s")]
    fn get(&self) -> Option<Json<Progress>> {
        Some(Json(Progress { percent: 50 }))
    }
}

#[controller]
pub struct Countdown;

#[controller]
impl Countdown {
    // Bare `#[sse]`: poll every 10 s.
    #[sse]
    fn get(&self) -> Option<&'static str> {
        Some(DONE)
    }
}

// Items used through their full paths, as without the prelude.
#[tiny::controller(path = "/api/status")]
pub struct Status;

#[tiny::controller]
impl Status {
    #[tiny::sse(poll = "1m")]
    async fn get(&self) -> core::option::Option<tiny::sse::Event> {
        None
    }
}

fn main() {
    let _router = tiny::App::empty()
        .mount::<Heartbeat>()
        .mount::<Home>()
        .mount::<Dashboard>()
        .mount::<Values>()
        .mount::<Jobs>()
        .mount::<Countdown>()
        .mount::<Status>()
        .router();
    let _all = tiny::App::new();
}
