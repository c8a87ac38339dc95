//! Poll-mode streams over a real socket: headers, frames of every kind,
//! cadence, `None`, `[DONE]`, disconnect, keep-alive, `retry:`, shutdown,
//! the imperative API, and the heartbeat example run as a user runs it.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use support::wire::first_frame;
use support::{EventReader, TestServer, client, eventually};
use tiny::prelude::*;
use tiny::sse::live_streams;

fn calls(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

static TICKS: AtomicUsize = AtomicUsize::new(0);

/// Sends its call number every 100 ms.
#[controller]
pub struct Ticker;

#[controller]
impl Ticker {
    #[sse(poll = "100ms")]
    fn get(&self) -> Option<String> {
        Some(TICKS.fetch_add(1, Ordering::SeqCst).to_string())
    }
}

static PATIENT_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Polls once an hour: only the first call can happen during a test.
#[controller]
pub struct Patient;

#[controller]
impl Patient {
    #[sse(poll = 3600)]
    async fn get(&self) -> Option<String> {
        Some(format!(
            "call {}",
            PATIENT_CALLS.fetch_add(1, Ordering::SeqCst)
        ))
    }
}

#[controller]
pub struct Text;

#[controller]
impl Text {
    #[sse(poll = 3600)]
    async fn get(&self) -> Option<String> {
        Some("line 1\nline 2\r\nline 3".to_owned())
    }
}

#[controller]
pub struct Borrowed;

#[controller]
impl Borrowed {
    #[sse(poll = 3600)]
    fn get(&self) -> Option<&'static str> {
        Some("a static str")
    }
}

#[controller]
pub struct Named;

#[controller]
impl Named {
    #[sse(poll = 3600)]
    fn get(&self, req: &Request) -> Option<Event> {
        Some(
            Event::data(format!("{}%", req.path().section))
                .event("progress")
                .id("7"),
        )
    }
}

#[controller]
pub struct Untyped;

#[controller]
impl Untyped {
    #[sse(poll = 3600)]
    async fn get(&self, _req: Request) -> Option<Value> {
        Some(json!({ "status": "processed", "order": 1234 }))
    }
}

#[derive(Serialize)]
struct Progress {
    percent: u8,
    label: &'static str,
}

#[controller]
pub struct Typed;

#[controller]
impl Typed {
    #[sse(poll = 3600)]
    fn get(&self) -> Option<Json<Progress>> {
        Some(Json(Progress {
            percent: 50,
            label: "half\nway",
        }))
    }
}

static SPARSE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Has something to say on every third call only.
#[controller]
pub struct Sparse;

#[controller]
impl Sparse {
    #[sse(poll = "50ms")]
    fn get(&self) -> Option<String> {
        let call = SPARSE_CALLS.fetch_add(1, Ordering::SeqCst);
        matches!(call % 3, 0).then(|| call.to_string())
    }
}

static FINITE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Two frames, then `DONE`.
#[controller]
pub struct Finite;

#[controller]
impl Finite {
    #[sse(poll = "50ms")]
    fn get(&self) -> Option<&'static str> {
        match FINITE_CALLS.fetch_add(1, Ordering::SeqCst) {
            0 => Some("one"),
            1 => Some("two"),
            _ => Some(DONE),
        }
    }
}

static ENDLESS_CALLS: AtomicUsize = AtomicUsize::new(0);

#[controller]
pub struct Endless;

#[controller]
impl Endless {
    #[sse(poll = "100ms")]
    async fn get(&self) -> Option<String> {
        Some(ENDLESS_CALLS.fetch_add(1, Ordering::SeqCst).to_string())
    }
}

static SILENT_CALLS: AtomicUsize = AtomicUsize::new(0);

/// One frame, then nothing at all on the wire: no keep-alive either.
#[controller]
pub struct Silent;

#[controller]
impl Silent {
    #[sse(poll = "100ms", keep_alive = "off")]
    fn get(&self) -> Option<String> {
        let call = SILENT_CALLS.fetch_add(1, Ordering::SeqCst);
        (call == 0).then(|| "only".to_owned())
    }
}

/// Never has anything to say; keeps the line warm every 200 ms.
#[controller]
pub struct Quiet;

#[controller]
impl Quiet {
    #[sse(poll = 3600, keep_alive = "200ms")]
    fn get(&self) -> Option<String> {
        None
    }
}

#[controller]
pub struct Reconnecting;

#[controller]
impl Reconnecting {
    #[sse(poll = 3600, retry = "2s")]
    fn get(&self) -> Option<&'static str> {
        Some("hello")
    }
}

static FAULTY_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Its first event has a name no frame can carry.
#[controller]
pub struct Faulty;

#[controller]
impl Faulty {
    #[sse(poll = "50ms")]
    fn get(&self) -> Option<Event> {
        match FAULTY_CALLS.fetch_add(1, Ordering::SeqCst) {
            0 => Some(Event::data("forged").event("x\ndata: injected")),
            1 => Some(Event::data("also forged").id("7\r\nevent: admin")),
            n => Some(Event::data(format!("good {n}"))),
        }
    }
}

static IMPERATIVE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The same poll loop without `#[sse]`.
#[controller]
pub struct Countdown;

#[controller]
impl Countdown {
    fn get(&self, req: &Request) -> tiny::sse::EventStream {
        let from: usize = req.path().section.parse().unwrap_or(3);
        tiny::sse()
            .stream(
                move || {
                    let call = IMPERATIVE_CALLS.fetch_add(1, Ordering::SeqCst);
                    let left = from.checked_sub(call);
                    async move {
                        Some(match left {
                            Some(0) | None => DONE.to_owned(),
                            Some(n) => n.to_string(),
                        })
                    }
                },
                Duration::from_millis(50),
            )
            .retry(Duration::from_millis(1500))
    }
}

static FLOOD_CALLS: AtomicUsize = AtomicUsize::new(0);

/// 64 KiB every millisecond: far more than a socket holds.
#[controller]
pub struct Flood;

#[controller]
impl Flood {
    #[sse(poll = "1ms")]
    fn get(&self) -> Option<String> {
        FLOOD_CALLS.fetch_add(1, Ordering::SeqCst);
        Some("x".repeat(64 * 1024))
    }
}

static FRAGILE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Its second call panics.
#[controller]
pub struct Fragile;

#[controller]
impl Fragile {
    #[sse(poll = "50ms")]
    fn get(&self) -> Option<&'static str> {
        match FRAGILE_CALLS.fetch_add(1, Ordering::SeqCst) {
            0 => Some("before"),
            _ => panic!("the producer failed"),
        }
    }
}

fn app() -> App {
    App::empty()
        .mount::<Ticker>()
        .mount::<Patient>()
        .mount::<Text>()
        .mount::<Borrowed>()
        .mount::<Named>()
        .mount::<Untyped>()
        .mount::<Typed>()
        .mount::<Sparse>()
        .mount::<Finite>()
        .mount::<Endless>()
        .mount::<Silent>()
        .mount::<Quiet>()
        .mount::<Reconnecting>()
        .mount::<Faulty>()
        .mount::<Countdown>()
        .mount::<Flood>()
        .mount::<Fragile>()
}

#[tokio::test]
async fn a_stream_has_the_sse_headers_and_is_never_compressed() {
    let server = TestServer::start(app()).await;
    let response = client()
        .get(server.url("/ticker"))
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(headers.get("content-encoding").is_none(), "{headers:?}");
    assert!(headers.get("content-length").is_none(), "{headers:?}");
    // And it really is a stream of events.
    let mut events = EventReader::new(response);
    events.next().await.expect("a first frame");
}

#[tokio::test]
async fn string_and_str_are_sent_as_data() {
    let server = TestServer::start(app()).await;
    let event = server.events("/text").await.next().await.unwrap();
    assert_eq!(event.event, "message");
    // Every line end arrives as `\n`, inside the one event.
    assert_eq!(event.data, "line 1\nline 2\nline 3");
    let event = server.events("/borrowed").await.next().await.unwrap();
    assert_eq!(event.data, "a static str");
}

#[tokio::test]
async fn an_event_keeps_its_name_and_id() {
    let server = TestServer::start(app()).await;
    let event = server.events("/named/42").await.next().await.unwrap();
    assert_eq!(event.event, "progress");
    assert_eq!(event.id, "7");
    assert_eq!(event.data, "42%");
}

#[tokio::test]
async fn json_values_and_json_t_are_sent_as_json_text() {
    let server = TestServer::start(app()).await;
    let data = server.events("/untyped").await.data().await;
    let value: Value = serde_json::from_str(&data).expect("data is JSON");
    assert_eq!(value, json!({ "status": "processed", "order": 1234 }));

    let data = server.events("/typed").await.data().await;
    // One line of JSON, so `JSON.parse(e.data)` works in the browser.
    assert!(!data.contains('\n'), "{data:?}");
    let value: Value = serde_json::from_str(&data).expect("data is JSON");
    assert_eq!(value, json!({ "percent": 50, "label": "half\nway" }));
}

#[tokio::test]
async fn the_producer_is_called_at_once() {
    let server = TestServer::start(app()).await;
    // The period is an hour: a frame arriving at all means the first call
    // did not wait for it.
    let mut events = server.events("/patient").await;
    assert_eq!(events.data().await, "call 0");
    assert_eq!(calls(&PATIENT_CALLS), 1);
}

#[tokio::test]
async fn the_producer_is_called_again_every_period() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/ticker").await;
    for expected in 0..5 {
        assert_eq!(events.data().await, expected.to_string());
    }
    assert!(calls(&TICKS) >= 5);
}

#[tokio::test]
async fn none_sends_nothing() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/sparse").await;
    // Calls 1, 2, 4, 5 returned `None`: no event, not even an empty one.
    for expected in ["0", "3", "6"] {
        assert_eq!(events.data().await, expected);
    }
    assert!(calls(&SPARSE_CALLS) >= 7);
}

#[tokio::test]
async fn done_is_sent_and_ends_the_response() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/finite").await;
    let data: Vec<String> = events
        .until_end_within_deadline()
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(data, ["one", "two", "[DONE]"]);
    eventually("the finished stream is released", || live_streams() == 0).await;
    // No call after the one that returned `DONE`.
    assert_eq!(calls(&FINITE_CALLS), 3);
}

#[tokio::test]
async fn producer_calls_stop_when_the_client_disconnects() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/endless").await;
    for expected in 0..3 {
        assert_eq!(events.data().await, expected.to_string());
    }
    assert_eq!(live_streams(), 1);
    no_calls_after_disconnect(events, &ENDLESS_CALLS).await;
}

#[tokio::test]
async fn a_silent_stream_notices_its_client_leaving() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/silent").await;
    assert_eq!(events.data().await, "only");
    // The producer goes on being called, but nothing is written: only the
    // closed connection itself can tell the server.
    eventually("the producer keeps being called", || {
        calls(&SILENT_CALLS) >= 3
    })
    .await;
    no_calls_after_disconnect(events, &SILENT_CALLS).await;
}

/// Drops the client, waits for the server to notice, then shows the
/// producer counted by `counter` is not called again over ten periods.
async fn no_calls_after_disconnect(events: EventReader, counter: &AtomicUsize) {
    drop(events);
    eventually("the server notices the client is gone", || {
        live_streams() == 0
    })
    .await;
    let after = calls(counter);
    // Ten periods: a leaked loop would have called ten more times.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        calls(counter),
        after,
        "the producer was called after the client left"
    );
}

#[tokio::test]
async fn a_quiet_stream_gets_keep_alive_comments() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/quiet").await;
    // The opening comment and three keep-alives. At the default 15 s this
    // would take 45 s, past the deadline: it is the 200 ms setting.
    events.wait_for_comments(4).await;
    assert_eq!(live_streams(), 1, "keep-alives do not end the stream");
}

#[tokio::test]
async fn the_app_keep_alive_applies_to_every_stream() {
    let server = TestServer::start(app().keep_alive(Duration::from_millis(200))).await;
    let mut events = server.events("/patient").await;
    assert_eq!(events.data().await, "call 0");
    events.wait_for_comments(4).await;
}

#[tokio::test]
async fn retry_opens_the_stream() {
    let server = TestServer::start(app()).await;
    let response = client()
        .get(server.url("/reconnecting"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(first_frame(response).await, "retry: 2000\n\n");

    let mut events = server.events("/reconnecting").await;
    assert_eq!(events.data().await, "hello");
    assert_eq!(events.reconnection_time(), Some(2000));
}

#[tokio::test]
async fn the_app_sets_retry_for_every_stream_and_a_stream_may_override_it() {
    let server = TestServer::start(app().retry(Duration::from_secs(3))).await;
    let mut events = server.events("/patient").await;
    events.next().await.unwrap();
    assert_eq!(events.reconnection_time(), Some(3000));
    let mut events = server.events("/reconnecting").await;
    events.next().await.unwrap();
    assert_eq!(events.reconnection_time(), Some(2000));
}

#[tokio::test]
async fn an_event_that_cannot_be_framed_is_skipped_and_the_stream_goes_on() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/faulty").await;
    let first = events.next().await.unwrap();
    assert_eq!(
        (first.event.as_str(), first.data.as_str(), first.id.as_str()),
        ("message", "good 2", "")
    );
    assert_eq!(events.data().await, "good 3");
    assert_eq!(live_streams(), 1);
}

#[tokio::test]
async fn the_imperative_stream_polls_and_ends_on_done() {
    let server = TestServer::start(app()).await;
    let mut events = server.events("/countdown/3").await;
    let data: Vec<String> = events
        .until_end_within_deadline()
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(data, ["3", "2", "1", "[DONE]"]);
    assert_eq!(events.reconnection_time(), Some(1500));
    assert_eq!(calls(&IMPERATIVE_CALLS), 4);
}

#[tokio::test]
async fn head_on_a_stream_answers_the_headers_and_ends() {
    let server = TestServer::start(app()).await;
    let response = tokio::time::timeout(
        support::DEADLINE,
        client().head(server.url("/endless")).send(),
    )
    .await
    .expect("HEAD must not wait for the stream")
    .expect("request failed");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.bytes().await.unwrap().is_empty());
    eventually("the unsent stream is released", || live_streams() == 0).await;
    // Nobody reads a HEAD body, so nothing is produced for it.
    assert_eq!(calls(&ENDLESS_CALLS), 0);
}

#[tokio::test]
async fn a_client_that_stops_reading_stalls_its_producer_and_no_one_else() {
    let server = TestServer::start(app()).await;
    // Opened, then not read: frames fill the socket buffers until the
    // server can write no more, and then the producer must stop being called.
    let response = client()
        .get(server.url("/flood"))
        .send()
        .await
        .expect("request failed");
    eventually("the stream is flowing", || calls(&FLOOD_CALLS) >= 10).await;
    tokio::time::timeout(support::DEADLINE, async {
        loop {
            let before = calls(&FLOOD_CALLS);
            // Five hundred periods without a single call: stalled.
            tokio::time::sleep(Duration::from_millis(500)).await;
            if calls(&FLOOD_CALLS) == before {
                break;
            }
        }
    })
    .await
    .expect("the producer kept being called for a client that reads nothing");
    // What the socket buffers hold: a few hundred frames of 64 KiB at most.
    let held = calls(&FLOOD_CALLS);
    assert!(
        held < 1024,
        "{held} frames of 64 KiB were produced for a client that reads nothing"
    );

    // Meanwhile another client is served as usual.
    let mut ticker = server.events("/ticker").await;
    for expected in 0..3 {
        assert_eq!(ticker.data().await, expected.to_string());
    }

    // The slow client was only slow: reading resumes the stream.
    let mut flood = EventReader::new(response);
    for _ in 0..held + 5 {
        assert_eq!(flood.data().await.len(), 64 * 1024);
    }
    assert!(calls(&FLOOD_CALLS) > held);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_ended_by_the_write_timeout() {
    let server = TestServer::start(app().write_timeout(Duration::from_millis(500))).await;
    let response = client()
        .get(server.url("/flood"))
        .send()
        .await
        .expect("request failed");
    eventually("the stream is flowing", || calls(&FLOOD_CALLS) >= 10).await;
    // Nothing is read: once the socket buffers are full no write makes
    // progress, and after 500 ms the server ends the connection.
    eventually("the stalled connection is ended", || live_streams() == 0).await;
    let stopped_at = calls(&FLOOD_CALLS);

    // What was buffered before the end can still be read, then the
    // connection ends, cut mid-body (an error, not a clean end).
    let mut body = response.bytes_stream();
    let mut received = 0;
    let ended = tokio::time::timeout(support::DEADLINE, async {
        while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
            match chunk {
                Ok(bytes) => received += bytes.len(),
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled connection was not closed");
    assert!(
        received <= (stopped_at + 1) * 70 * 1024,
        "{received} bytes after {stopped_at} frames"
    );
    assert_eq!(
        calls(&FLOOD_CALLS),
        stopped_at,
        "the producer ran after the end"
    );
    // Other clients are served as usual.
    let mut ticker = server.events("/ticker").await;
    assert_eq!(ticker.data().await, "0");
}

#[tokio::test]
async fn a_panicking_producer_ends_only_its_own_stream() {
    use futures_util::StreamExt as _;

    let server = TestServer::start(app()).await;
    let mut ticker = server.events("/ticker").await;
    assert_eq!(ticker.data().await, "0");

    let response = client()
        .get(server.url("/fragile"))
        .send()
        .await
        .expect("request failed");
    let mut body = response.bytes_stream();
    let mut received = Vec::new();
    tokio::time::timeout(support::DEADLINE, async {
        // Ends cleanly or with a reset; either way it ends.
        while let Some(Ok(chunk)) = body.next().await {
            received.extend_from_slice(&chunk);
        }
    })
    .await
    .expect("the stream of a panicked producer never ended");
    let events = support::Parser::default().feed(&received);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data, "before");

    eventually("the broken stream is released", || live_streams() == 1).await;
    assert_eq!(ticker.data().await, "1");
    assert_eq!(server.events("/patient").await.data().await, "call 0");
}

#[tokio::test]
async fn shutdown_ends_open_streams_cleanly() {
    let server = TestServer::start(app()).await;
    let mut quiet = server.events("/quiet").await;
    let mut patient = server.events("/patient").await;
    let mut ticker = server.events("/ticker").await;
    quiet.wait_for_comments(1).await;
    assert_eq!(patient.data().await, "call 0");
    assert_eq!(ticker.data().await, "0");
    assert_eq!(live_streams(), 3);

    // Without the streams being told to end, this would wait forever.
    server.shutdown().await.expect("the server drains");

    // Each response ends with its terminating chunk, not a broken connection
    // (`EventReader` panics on a transport error).
    quiet.until_end_within_deadline().await;
    patient.until_end_within_deadline().await;
    ticker.until_end_within_deadline().await;
    assert_eq!(live_streams(), 0);
}

/// Kills the example if the test fails before it exits on its own.
struct Child(tokio::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

#[tokio::test]
async fn the_heartbeat_example_streams_and_exits_cleanly_on_sigterm() {
    use tokio::io::AsyncBufReadExt as _;

    let binary = tokio::task::spawn_blocking(|| support::examples::example_binary("heartbeat"))
        .await
        .expect("building the example");
    let mut child = Child(
        tokio::process::Command::new(binary)
            .env("TINY_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the example starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(support::DEADLINE, lines.next_line())
        .await
        .expect("no first line within the deadline")
        .expect("stdout readable")
        .expect("the example printed nothing");
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let page = client().get(url).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("new EventSource('/heartbeat')")
    );

    let response = client()
        .get(format!("{url}/heartbeat"))
        .send()
        .await
        .expect("GET /heartbeat");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = EventReader::new(response);
    let beat: Value = serde_json::from_str(&events.data().await).expect("a JSON heartbeat");
    assert!(
        beat["ts"].as_u64().expect("ts is a number") > 1_700_000_000,
        "{beat}"
    );
    assert!(
        beat["load"].is_number() || beat["load"].is_null(),
        "load is the load average or null: {beat}"
    );

    // SIGTERM while the stream is open.
    let pid = child.0.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let status = tokio::time::timeout(support::DEADLINE, child.0.wait())
        .await
        .expect("the example did not exit after SIGTERM")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{status}");
    events.until_end_within_deadline().await;
}
