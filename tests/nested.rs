//! `App::router()` nested in an app's own axum server: `App::graceful_shutdown`
//! passed to `axum::serve(..).with_graceful_shutdown(..)` ends tiny's open
//! streams on SIGTERM, so the server stops instead of waiting on them.

mod support;

use std::time::Duration;

use futures_util::{FutureExt as _, StreamExt as _};
use support::DEADLINE;
use tiny::prelude::*;

/// `GET /live/ticker` once nested: a frame at once, then one a minute.
#[controller]
pub struct Ticker;

#[controller]
impl Ticker {
    #[sse(poll = 60)]
    async fn get(&self, req: &Request) -> Option<String> {
        // The original URI, prefix included, as the client sent it.
        Some(req.uri().path().to_owned())
    }
}

#[tokio::test]
async fn sigterm_ends_the_streams_of_a_nested_router_and_the_server_stops() {
    let app = App::empty().mount::<Ticker>();
    let router = axum::Router::new().nest("/live", app.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local address");

    // Polled once here, so its SIGTERM handler is installed before the
    // signal is sent (a signal without one would end this test process).
    let mut shutdown = Box::pin(app.graceful_shutdown());
    assert!((&mut shutdown).now_or_never().is_none());
    let server = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .into_future(),
    );

    let response = reqwest::get(format!("http://{addr}/live/ticker"))
        .await
        .expect("GET /live/ticker");
    assert_eq!(response.status(), 200);
    let mut body = Box::pin(response.bytes_stream());
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        // Past the opening comment, up to the end of the first data frame.
        let framed = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            text.find("data:")
                .is_some_and(|at| text[at..].contains("\n\n"))
        };
        while !framed(&received) {
            let chunk = body.next().await.expect("a first frame").expect("bytes");
            received.extend_from_slice(&chunk);
        }
    })
    .await
    .expect("no first frame within the deadline");
    let first = String::from_utf8_lossy(&received).into_owned();
    assert!(first.contains("data: /live/ticker\n"), "{first:?}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());

    // The stream ends (without the shutdown token it would run for ever,
    // and axum's graceful shutdown would wait on it)...
    tokio::time::timeout(DEADLINE, async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await
    .expect("the stream did not end after SIGTERM");
    // ...and so does the server.
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server did not stop after SIGTERM")
        .expect("server task")
        .expect("axum::serve");
}
