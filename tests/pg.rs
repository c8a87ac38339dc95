//! PostgreSQL mode against the real server at `DATABASE_URL` (tests/run.sh
//! exports it and starts PostgreSQL when none answers). Each test uses its
//! own random channel, so tests run in parallel against one server.

mod support;

#[path = "../examples/pg_updates.rs"]
#[allow(dead_code, unreachable_pub)]
mod pg_updates;

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use support::{DEADLINE, EventReader, TestServer, client, free_addr, metrics_text};
use tiny::pg::Listener;
use tiny::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_postgres::{Client, NoTls};

// ---------------------------------------------------------------------------
// Controllers under test

/// A channel per test through the macro: `tiny_test_<section>`; refuses
/// requests carrying `x-deny`.
#[controller(path = "/pg")]
pub struct PgChannel;

#[controller]
impl PgChannel {
    #[sse(pg = "tiny_test_<section>")]
    fn get(&self, req: &Request) -> tiny::Result<()> {
        match req.header("x-deny") {
            Some(_) => Err(tiny::Error::forbidden("denied by the guard")),
            None => Ok(()),
        }
    }
}

/// `tiny::sse().stream_pg` with any channel name, from `?channel=`.
#[controller(path = "/named")]
pub struct Named;

#[controller]
impl Named {
    async fn get(&self, req: &Request) -> tiny::Result<tiny::sse::EventStream> {
        let channel = req
            .query_value("channel")
            .ok_or_else(|| tiny::Error::bad_request("`channel` is missing"))?;
        tiny::sse().stream_pg(&channel).await
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// The test database at `DATABASE_URL` (which the app under test reads
/// too). Its absence fails the test, naming it: a test never passes without
/// its server.
async fn database() -> Option<(String, Client)> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        return missing("DATABASE_URL is not set");
    };
    match tokio_postgres::connect(&url, NoTls).await {
        Ok((db, connection)) => {
            tokio::spawn(connection);
            Some((url, db))
        }
        Err(error) => missing(&format!("PostgreSQL at {url} is not reachable: {error}")),
    }
}

fn missing<T>(why: &str) -> Option<T> {
    panic!("{why}: these tests need PostgreSQL (bash tests/run.sh starts one at 127.0.0.1:5432)");
}

macro_rules! require_database {
    () => {
        match database().await {
            Some(found) => found,
            None => return,
        }
    };
}

/// A name no other test (or test run) uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = RandomState::new().hash_one((std::process::id(), n, std::time::SystemTime::now()));
    format!("{prefix}{:012x}", random & 0xffff_ffff_ffff)
}

async fn notify(db: &Client, channel: &str, payload: &str) {
    db.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
        .await
        .expect("pg_notify");
}

/// Serves `listener.stream_from(?channel=…, Last-Event-ID)` with plain
/// axum, for listeners other than the process's own.
async fn serve(listener: Listener) -> String {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(
            move |axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
                  headers: axum::http::HeaderMap| {
                let listener = listener.clone();
                async move {
                    let channel = query.get("channel").cloned().unwrap_or_default();
                    let last = headers.get("last-event-id").and_then(|id| id.to_str().ok());
                    listener.stream_from(&channel, last).await
                }
            },
        ),
    );
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    tokio::spawn(axum::serve(tcp, app).into_future());
    format!("http://{addr}/")
}

async fn get(url: &str, channel: &str) -> reqwest::Response {
    client()
        .get(url)
        .query(&[("channel", channel)])
        .send()
        .await
        .expect("request failed")
}

async fn open(url: &str, channel: &str) -> EventReader {
    let response = get(url, channel).await;
    assert_eq!(response.status(), 200, "stream {channel:?}");
    EventReader::new(response)
}

/// Retries the async `condition` every 20 ms until it holds; panics after the deadline.
async fn until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while !condition().await {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn is_listening(listener: &Listener, channel: &str) -> bool {
    listener
        .listening_channels()
        .await
        .expect("listening channels")
        .iter()
        .any(|c| c == channel)
}

/// Opens `url` as a returning `EventSource` does, with `Last-Event-ID`.
async fn resume(url: &str, last_event_id: &str) -> EventReader {
    let response = client()
        .get(url)
        .header("last-event-id", last_event_id)
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), 200, "GET {url}");
    EventReader::new(response)
}

/// The epoch part of a pg event id (`<epoch>-<seq>`).
fn epoch(id: &str) -> &str {
    id.split_once('-').expect("an id is <epoch>-<seq>").0
}

/// The sequence number of a pg event id (`<epoch>-<seq>`).
fn seq(id: &str) -> u64 {
    let (_, seq) = id.split_once('-').expect("an id is <epoch>-<seq>");
    seq.parse().expect("seq is a number")
}

/// The `reason` of a `resync` event.
fn reason(event: &support::ServerEvent) -> String {
    assert_eq!(event.event, "resync", "{event:?}");
    let data: Value = serde_json::from_str(&event.data).expect("resync data is JSON");
    data["reason"].as_str().expect("a reason").to_owned()
}

/// The next `count` events, each a message.
async fn messages(events: &mut EventReader, count: usize) -> Vec<support::ServerEvent> {
    let mut received = Vec::with_capacity(count);
    for _ in 0..count {
        let event = events.next().await.expect("stream ended");
        assert_eq!(event.event, "message", "{event:?}");
        received.push(event);
    }
    received
}

/// The id a stream announces before any event (an `id:` line without
/// data, which a browser keeps and dispatches nothing for), off the wire.
async fn opening_id(response: reqwest::Response) -> String {
    use futures_util::StreamExt as _;
    let mut body = Box::pin(response.bytes_stream());
    let mut text = String::new();
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(line) = text.lines().find_map(|l| l.strip_prefix("id: "))
                && text.contains(&format!("id: {line}\n\n"))
            {
                return line.to_owned();
            }
            match body.next().await {
                Some(Ok(chunk)) => text.push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
                other => panic!("stream ended before its id: {other:?}"),
            }
        }
    })
    .await
    .expect("no id within the deadline")
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn a_row_inserted_through_the_seed_trigger_is_a_frame() {
    let (_, db) = require_database!();
    pg_updates::apply_schema(&db).await.expect("schema");
    pg_updates::apply_schema(&db)
        .await
        .expect("the schema applies twice");
    let server = TestServer::start(
        tiny::App::empty()
            .mount::<pg_updates::UserUpdates>()
            .mount::<pg_updates::Users>(),
    )
    .await;
    let mut events = server.events("/user-updates").await;

    // Through the example's POST /users, then a plain INSERT from elsewhere.
    let (ada, grace) = (unique("Ada "), unique("Grace \"\n"));
    let created = client()
        .post(server.url("/users"))
        .json(&json!({ "name": ada, "email": "ada@example.com" }))
        .send()
        .await
        .expect("POST /users");
    assert_eq!(created.status(), 201);
    db.execute("INSERT INTO users (name) VALUES ($1)", &[&grace])
        .await
        .expect("insert");

    // The channel is the seed's fixed `user_updates`: skip rows of others.
    let mut rows = Vec::new();
    while rows.len() < 2 {
        let event = events.next().await.expect("stream ended");
        assert_eq!(event.event, "message");
        let row: Value = serde_json::from_str(&event.data).expect("data is JSON");
        if row["name"] == ada.as_str() || row["name"] == grace.as_str() {
            rows.push(row);
        }
    }
    assert_eq!(rows[0]["name"], ada.as_str());
    assert_eq!(rows[0]["email"], "ada@example.com");
    assert!(rows[0]["id"].is_i64() && rows[0]["created_at"].is_string());
    assert_eq!(rows[1]["name"], grace.as_str());
    assert_eq!(rows[1]["email"], Value::Null);
    db.execute(
        "DELETE FROM users WHERE name = $1 OR name = $2",
        &[&ada, &grace],
    )
    .await
    .expect("clean up");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_share_one_listening_backend() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("k");
    let channel = format!("tiny_test_{section}");
    let path = format!("/pg/{section}");
    let mut readers = join_all((0..1000).map(|_| server.events(&path))).await;

    let listener = tiny::pg::listener().expect("listener");
    let pid = listener.backend_pid().await.expect("connected");
    let name: String = db
        .query_one(
            "SELECT application_name FROM pg_stat_activity WHERE pid = $1",
            &[&pid],
        )
        .await
        .expect("the listener's backend")
        .get(0);
    assert_eq!(name, format!("tiny listener {}", std::process::id()));
    until("one backend listening for this process", || async {
        let count: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .await
            .expect("count")
            .get(0);
        count == 1
    })
    .await;
    let listening = listener.listening_channels().await.expect("channels");
    assert_eq!(listening.iter().filter(|c| **c == channel).count(), 1);

    notify(&db, &channel, r#"{"n":1}"#).await;
    let received = join_all(readers.iter_mut().map(|r| r.data())).await;
    assert!(received.iter().all(|data| data == r#"{"n":1}"#));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn unlisten_after_the_last_subscriber_leaves() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("u");
    let channel = format!("tiny_test_{section}");
    let path = format!("/pg/{section}");
    let listener = tiny::pg::listener().expect("listener");

    let first = server.events(&path).await;
    let mut second = server.events(&path).await;
    assert!(is_listening(&listener, &channel).await);

    drop(first);
    notify(&db, &channel, "still here").await;
    assert_eq!(second.data().await, r#""still here""#);
    assert!(is_listening(&listener, &channel).await);

    drop(second);
    until("UNLISTEN after the last subscriber left", || async {
        !is_listening(&listener, &channel).await
    })
    .await;

    // A new subscriber LISTENs again.
    let mut third = server.events(&path).await;
    assert!(is_listening(&listener, &channel).await);
    notify(&db, &channel, "back").await;
    assert_eq!(third.data().await, r#""back""#);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn terminating_the_listening_backend_sends_resync_and_streams_go_on() {
    let (url, db) = require_database!();
    let listener = Listener::new(&url).expect("listener");
    let base = serve(listener.clone()).await;
    let channel = unique("resync_");
    let mut events = open(&base, &channel).await;
    notify(&db, &channel, "before").await;
    let before = events.next().await.expect("stream ended");
    assert_eq!(before.data, r#""before""#);

    let pid = listener.backend_pid().await.expect("connected");
    let terminated: bool = db
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .expect("terminate")
        .get(0);
    assert!(terminated);

    let resync = events.next().await.expect("stream ended");
    assert_eq!(reason(&resync), "reconnected");
    let new_pid = listener.backend_pid().await.expect("reconnected");
    assert_ne!(new_pid, pid);

    // A new epoch: the resync carries its first id, and the ids that follow
    // are in it.
    assert_ne!(epoch(&resync.id), epoch(&before.id));
    notify(&db, &channel, "after").await;
    let after = events.next().await.expect("stream ended");
    assert_eq!(
        (after.event.as_str(), after.data.as_str()),
        ("message", r#""after""#)
    );
    assert_eq!(epoch(&after.id), epoch(&resync.id));
    assert_eq!(seq(&after.id), seq(&resync.id) + 1);

    // A cursor from before the reconnect cannot be resumed from.
    let channel_url = format!("{base}?channel={}", percent_encode(&channel));
    let mut returning = resume(&channel_url, &before.id).await;
    assert_eq!(
        reason(&returning.next().await.expect("stream ended")),
        "epoch"
    );
}

#[tokio::test]
async fn payloads_arrive_as_frames_a_spec_parser_reads_back_exactly() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("p");
    let channel = format!("tiny_test_{section}");
    let mut events = server.events(&format!("/pg/{section}")).await;

    let payloads: Vec<String> = vec![
        "not json".into(),
        r#"{"status":"processed","order":1234}"#.into(),
        r#""already a JSON string""#.into(),
        "42".into(),
        "[DONE]".into(),
        String::new(),
        "   ".into(),
        "x".repeat(7999),
        format!(r#"{{"k":"{}"}}"#, "y".repeat(7991)),
        format!("{}x", "é".repeat(3999)),
        "héllo wörld 🌍 — \"quoted\" \\ back\tslash".into(),
        "line 1\nline 2\n\nline 4".into(),
        "cr\ronly and crlf\r\nand lf\n".into(),
        "\ndata: injected\n\nevent: evil\n".into(),
        "{\"a\":\n  [1,\n   2]}".into(),
        "{\"a\":\r\n1}".into(),
    ];
    assert_eq!(payloads[7].len(), 7999);
    assert_eq!(payloads[8].len(), 7999);
    assert_eq!(payloads[9].len(), 7999);
    for payload in &payloads {
        notify(&db, &channel, payload).await;
    }
    for payload in &payloads {
        let event = events.next().await.expect("stream ended");
        assert_eq!(event.event, "message");
        let expected = match serde_json::from_str::<Value>(payload) {
            // JSON as-is; the format turns CR and CRLF (only possible as
            // whitespace between JSON tokens) into LF.
            Ok(_) => payload.replace("\r\n", "\n").replace('\r', "\n"),
            Err(_) => serde_json::to_string(payload).expect("string"),
        };
        assert_eq!(event.data, expected, "payload {payload:?}");
        let parsed: Value = serde_json::from_str(&event.data).expect("JSON.parse works");
        if let (Value::String(text), Err(_)) = (parsed, serde_json::from_str::<Value>(payload)) {
            assert_eq!(&text, payload, "a non-JSON payload comes back as itself");
        }
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn odd_channel_names_work_and_cannot_inject_sql() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<Named>()).await;
    let url = server.url("/named");
    let tag = unique("");
    let guard = format!("tiny_pg_guard_{tag}");
    db.batch_execute(&format!("CREATE TABLE {guard} (x int)"))
        .await
        .expect("guard table");

    let names = [
        format!("MixedCase_{tag}"),
        format!("with space {tag}"),
        format!("quote\"inside'{tag}"),
        format!("x\"; DROP TABLE {guard}; --{tag}"),
        format!("ünïcödé ✓ {tag}"),
        format!("{tag}{}", "n".repeat(63 - tag.len())),
    ];
    let lower = names[0].to_lowercase();
    let mut lower_events = open(&url, &lower).await;
    for name in &names {
        let mut events = open(&url, name).await;
        notify(&db, name, "hello").await;
        assert_eq!(events.data().await, r#""hello""#, "channel {name:?}");
    }
    // Case-sensitive: `MixedCase_…` and `mixedcase_…` are two channels.
    let mut mixed = open(&url, &names[0]).await;
    notify(&db, &lower, "to lower").await;
    notify(&db, &names[0], "to mixed").await;
    assert_eq!(mixed.data().await, r#""to mixed""#);
    assert_eq!(lower_events.data().await, r#""to lower""#);

    let exists: bool = db
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&guard])
        .await
        .expect("to_regclass")
        .get(0);
    assert!(exists, "a channel name ran SQL");
    db.batch_execute(&format!("DROP TABLE {guard}"))
        .await
        .expect("drop guard");

    for refused in [
        String::new(),
        "n".repeat(64),
        "é".repeat(32),
        "a\0b".to_owned(),
    ] {
        let response = get(&url, &refused).await;
        assert_eq!(response.status(), 400, "channel {refused:?}");
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn bad_sections_are_400_and_a_refusing_guard_answers_before_listening() {
    let (_, _db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let long = "s".repeat(54); // tiny_test_ + 54 = 64 bytes: one too many
    for path in [
        "/pg".to_owned(),
        "/pg/a%20b".to_owned(),
        "/pg/a'b".to_owned(),
        "/pg/%22x%22".to_owned(),
        format!("/pg/{long}"),
        format!("/pg/{}", "s".repeat(129)),
    ] {
        let response = client().get(server.url(&path)).send().await.expect("GET");
        assert_eq!(response.status(), 400, "GET {path}");
    }
    let fits = format!("/pg/{}{}", unique(""), "f".repeat(41)); // 63 bytes in all
    assert_eq!(
        server.events(&fits).await.headers["content-type"],
        "text/event-stream"
    );

    let denied = client()
        .get(server.url(&format!("/pg/{}", unique("d"))))
        .header("x-deny", "1")
        .send()
        .await
        .expect("GET");
    assert_eq!(denied.status(), 403);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_unreachable_database_is_503_with_retry_after_never_a_hang() {
    // A closed port: connection refused.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let listener =
        Listener::new(&format!("postgres://postgres@127.0.0.1:{port}/test")).expect("listener");
    let base = serve(listener.clone()).await;
    for _ in 0..2 {
        let response = tokio::time::timeout(DEADLINE, get(&base, "anything"))
            .await
            .expect("answered");
        assert_eq!(response.status(), 503);
        let retry_after: u32 = response.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(retry_after >= 1);
    }
    assert_eq!(
        listener.listening_channels().await.unwrap_err().status(),
        503
    );
    assert_eq!(listener.backend_pid().await, None);

    // A server that accepts and never answers: the connect timeout bounds it.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let listener = Listener::builder(&format!("postgres://postgres@127.0.0.1:{port}/test"))
        .expect("builder")
        .connect_timeout(Duration::from_millis(500))
        .build()
        .expect("listener");
    let base = serve(listener).await;
    let response = tokio::time::timeout(DEADLINE, get(&base, "anything"))
        .await
        .expect("answered, not hung");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_past_the_history_gets_resync_lagged_and_goes_on_while_a_fast_one_keeps_receiving()
 {
    let (url, db) = require_database!();
    let listener = Listener::builder(&url)
        .expect("builder")
        .history(32, tiny::pg::DEFAULT_HISTORY_AGE)
        .build()
        .expect("listener");
    let base = serve(listener).await;
    let channel = unique("slow_");
    let mut fast = open(&base, &channel).await;

    // The slow client: a tiny receive window, and it reads nothing for now.
    let mut slow = RawEvents::open(&base, &channel).await;

    // 60 batches of 25 (< the history of 32), each ~6 KB, so the slow
    // stream's socket buffers fill and it falls far behind; the fast one
    // gets every batch before the next is sent.
    let filler = "x".repeat(6000);
    let (batches, per_batch) = (60, 25);
    for batch in 0..batches {
        let sql = format!(
            "SELECT pg_notify($1, n::text || ' ' || $2) FROM generate_series({}, {}) n",
            batch * per_batch,
            batch * per_batch + per_batch - 1
        );
        db.execute(&sql, &[&channel, &filler])
            .await
            .expect("notify");
        for n in batch * per_batch..(batch + 1) * per_batch {
            let data = fast.data().await;
            assert_eq!(data, format!("\"{n} {filler}\""));
        }
    }

    // The slow one now reads: early frames in order, then `resync`; its
    // stream stays open and goes on live.
    let mut before = Vec::new();
    let resync = loop {
        let event = slow.next().await;
        if event.event == "resync" {
            break event;
        }
        before.push(event);
    };
    let total = batches * per_batch;
    assert!(
        before.len() < total as usize,
        "the slow stream got all {total} frames"
    );
    for (n, frame) in before.iter().enumerate() {
        assert_eq!(
            frame.data,
            format!("\"{n} {filler}\""),
            "frames in order, none skipped silently"
        );
    }
    assert_eq!(reason(&resync), "lagged");
    notify(&db, &channel, "after").await;
    let after = slow.next().await;
    assert_eq!(
        (after.event.as_str(), after.data.as_str()),
        ("message", r#""after""#)
    );
    assert_eq!(
        seq(&after.id),
        seq(&resync.id) + 1,
        "live from the resync's id"
    );
    assert_eq!(fast.data().await, r#""after""#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slower_than_a_burst_is_paced_and_gets_every_notification() {
    let (url, db) = require_database!();
    let listener = Listener::builder(&url)
        .expect("builder")
        .history(16, tiny::pg::DEFAULT_HISTORY_AGE)
        .build()
        .expect("listener");
    let base = serve(listener).await;
    let channel = unique("paced_");
    let mut fast = open(&base, &channel).await;
    // Reads 4 KiB every 2 ms: far slower than the server writes 1 KB
    // frames, so the burst overflows every buffer on the way and the
    // 16-entry history many times over, yet far faster than the history's
    // length in `PACE_LIMIT`.
    let mut slow = RawEvents::open(&base, &channel)
        .await
        .slowly(Duration::from_millis(2));
    let filler = "x".repeat(1000);
    db.execute(
        "SELECT pg_notify($1, n::text || ' ' || $2) FROM generate_series(1, 1000) n",
        &[&channel, &filler],
    )
    .await
    .expect("the burst");
    for n in 1..=1000 {
        let event = slow.next().await;
        assert_eq!(
            (event.event.as_str(), event.data),
            ("message", format!("\"{n} {filler}\"")),
            "paced: nothing skipped"
        );
        assert_eq!(fast.data().await, format!("\"{n} {filler}\""));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_of_10_000_notifications_reaches_every_reading_subscriber_in_full() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("b");
    let channel = format!("tiny_test_{section}");
    let path = format!("/pg/{section}");
    const SUBSCRIBERS: usize = 20;
    const NOTIFICATIONS: u64 = 10_000;
    let readers = join_all((0..SUBSCRIBERS).map(|_| server.events(&path))).await;

    // Each reader on its own task, as browsers read independently; each
    // reads until the notification sent after the burst, so a reader that
    // lost part of the burst still ends and is counted.
    let reading = readers.into_iter().map(|mut events| {
        tokio::spawn(async move {
            let mut received = Vec::new();
            loop {
                let event = events.next().await.expect("stream ended");
                if event.event == "resync" {
                    // What follows is live, maybe past `end`: the count
                    // ends here.
                    return (received, 1);
                }
                if event.data == r#""end""# {
                    return (received, 0);
                }
                let n: u64 = event.data.parse().expect("a number");
                received.push((n, event.id));
            }
        })
    });
    let reading: Vec<_> = reading.collect();
    db.execute(
        "SELECT pg_notify($1, i::text) FROM generate_series(1, $2::int) i",
        &[&channel, &(NOTIFICATIONS as i32)],
    )
    .await
    .expect("the burst");
    notify(&db, &channel, "end").await;

    let (mut lost, mut duplicated, mut out_of_order, mut resyncs) = (0, 0, 0, 0);
    let mut first_ids: Option<Vec<String>> = None;
    for reader in join_all(reading).await {
        let (received, resynced) = reader.expect("reader");
        resyncs += resynced;
        let distinct: std::collections::HashSet<u64> = received.iter().map(|(n, _)| *n).collect();
        lost += NOTIFICATIONS
            - distinct
                .iter()
                .filter(|n| (1..=NOTIFICATIONS).contains(n))
                .count() as u64;
        duplicated += (received.len() - distinct.len()) as u64;
        out_of_order += received.windows(2).filter(|w| w[1].0 <= w[0].0).count() as u64;
        // One id per notification, numbered in order, the same for every
        // subscriber (the frame is shared).
        let ids: Vec<String> = received.into_iter().map(|(_, id)| id).collect();
        assert!(
            ids.windows(2)
                .all(|w| epoch(&w[0]) == epoch(&w[1]) && seq(&w[1]) == seq(&w[0]) + 1)
        );
        match &first_ids {
            Some(first) => assert_eq!(first, &ids),
            None => first_ids = Some(ids),
        }
    }
    println!(
        "burst of {NOTIFICATIONS} to {SUBSCRIBERS} subscribers: lost {lost}, duplicated {duplicated}, \
         out of order {out_of_order}, resyncs {resyncs}"
    );
    assert_eq!((lost, duplicated, out_of_order, resyncs), (0, 0, 0, 0));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_stream_resumed_with_its_last_event_id_replays_exactly_what_it_missed_then_goes_live() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("r");
    let channel = format!("tiny_test_{section}");
    let url = server.url(&format!("/pg/{section}"));
    // Another subscriber keeps the channel listened to, so its history
    // lives on while the resumed stream is away.
    let mut keeper = server.events(&format!("/pg/{section}")).await;
    let mut first = server.events(&format!("/pg/{section}")).await;
    for n in 1..=3 {
        notify(&db, &channel, &n.to_string()).await;
    }
    let seen = messages(&mut first, 3).await;
    assert_eq!(
        seen.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert!(seen.windows(2).all(|w| seq(&w[1].id) == seq(&w[0].id) + 1));
    let last_seen = seen[2].id.clone();
    drop(first);

    // Sent while it is away; the keeper proves they reached the process.
    for n in 4..=6 {
        notify(&db, &channel, &n.to_string()).await;
    }
    let kept = messages(&mut keeper, 6).await;

    // As a browser reconnects by itself: the `Last-Event-ID` header.
    let mut resumed = resume(&url, &last_seen).await;
    let replayed = messages(&mut resumed, 3).await;
    assert_eq!(
        replayed,
        kept[3..6],
        "exactly the missed ones, in order, same ids"
    );
    notify(&db, &channel, "7").await;
    let live = resumed.next().await.expect("stream ended");
    assert_eq!(live.data, "7");
    assert_eq!(seq(&live.id), seq(&kept[5].id) + 1);

    // As a page that kept the id opens a new EventSource: `?lastEventId=`.
    let mut reopened = client()
        .get(&url)
        .query(&[("lastEventId", &last_seen)])
        .send()
        .await
        .map(EventReader::new)
        .expect("request failed");
    let replayed: Vec<String> = messages(&mut reopened, 4)
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(replayed, ["4", "5", "6", "7"]);
    notify(&db, &channel, "8").await;
    assert_eq!(reopened.data().await, "8");
    assert_eq!(resumed.data().await, "8");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_notifications_keep_coming_misses_and_doubles_nothing() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("g");
    let channel = format!("tiny_test_{section}");
    let path = format!("/pg/{section}");
    let mut keeper = server.events(&path).await;
    for n in 1..=10 {
        notify(&db, &channel, &n.to_string()).await;
    }
    let cursor = messages(&mut keeper, 10).await[4].id.clone();

    // Notifications keep coming, one statement each, while the stream
    // resumes: whichever side of the subscription each falls on, it comes
    // once, in order.
    let (_, sender) = require_database!();
    let producer = {
        let channel = channel.clone();
        tokio::spawn(async move {
            for n in 11..=300 {
                notify(&sender, &channel, &n.to_string()).await;
            }
        })
    };
    let mut resumed = resume(&server.url(&path), &cursor).await;
    let received: Vec<u64> = messages(&mut resumed, 295)
        .await
        .into_iter()
        .map(|e| e.data.parse().expect("a number"))
        .collect();
    assert_eq!(received, (6..=300).collect::<Vec<_>>());
    producer.await.expect("producer");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn pg_replays_and_resyncs_are_counted_in_the_metrics() {
    let (_, db) = require_database!();
    let metrics_addr = free_addr();
    let server = TestServer::start(
        tiny::App::empty()
            .mount::<PgChannel>()
            .metrics(metrics_addr),
    )
    .await;
    let section = unique("m");
    let channel = format!("tiny_test_{section}");
    let url = server.url(&format!("/pg/{section}"));
    let mut keeper = server.events(&format!("/pg/{section}")).await;
    for n in 1..=4 {
        notify(&db, &channel, &n.to_string()).await;
    }
    let seen = messages(&mut keeper, 4).await;
    // Back after "1": "2", "3" and "4" are replayed from the ring.
    let mut back = resume(&url, &seen[0].id).await;
    let replayed: Vec<String> = messages(&mut back, 3)
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(replayed, ["2", "3", "4"]);
    let mut lost = resume(&url, "0000000000000000-1").await;
    assert_eq!(lost.next().await.expect("an event").event, "resync");
    let text = metrics_text(metrics_addr).await;
    assert!(
        text.contains(r#"tiny_events_replayed_total{mode="pg"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"tiny_resyncs_total{mode="pg"} 1"#),
        "{text}"
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_unknown_or_foreign_cursor_starts_with_resync_then_goes_live() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("c");
    let channel = format!("tiny_test_{section}");
    let url = server.url(&format!("/pg/{section}"));
    let mut keeper = server.events(&format!("/pg/{section}")).await;
    notify(&db, &channel, "0").await;
    let known = keeper.next().await.expect("stream ended").id;
    let ours = epoch(&known).to_owned();
    let flipped: String = ours
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == '0' { '1' } else { '0' }
            } else {
                c
            }
        })
        .collect();

    let cases = [
        ("not an id".to_owned(), "unknown"),
        (format!("{ours}-999999"), "unknown"), // ahead of this history
        (format!("{flipped}-1"), "epoch"),     // another process, or a lost history
        ("0000000000000000-1".to_owned(), "epoch"),
    ];
    for (n, (cursor, expected)) in cases.iter().enumerate() {
        let mut events = resume(&url, cursor).await;
        let resync = events.next().await.expect("stream ended");
        assert_eq!(reason(&resync), *expected, "cursor {cursor:?}");
        // The resync carries the id to resume from: this history's newest.
        assert_eq!(epoch(&resync.id), ours, "cursor {cursor:?}");
        let live = (n + 1).to_string();
        notify(&db, &channel, &live).await;
        let event = events.next().await.expect("stream ended");
        assert_eq!(
            (event.event.as_str(), event.data.as_str()),
            ("message", live.as_str())
        );
        assert_eq!(seq(&event.id), seq(&resync.id) + 1, "cursor {cursor:?}");
        assert_eq!(keeper.data().await, live);
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_stream_that_received_nothing_resumes_from_the_id_it_opened_with() {
    let (_, db) = require_database!();
    let server = TestServer::start(tiny::App::empty().mount::<PgChannel>()).await;
    let section = unique("o");
    let channel = format!("tiny_test_{section}");
    let url = server.url(&format!("/pg/{section}"));
    let mut keeper = server.events(&format!("/pg/{section}")).await;
    let opened = opening_id(client().get(&url).send().await.expect("request failed")).await;

    // Cut before any event: what was sent meanwhile is replayed.
    notify(&db, &channel, "while away").await;
    assert_eq!(keeper.data().await, r#""while away""#);
    let mut resumed = resume(&url, &opened).await;
    let replayed = resumed.next().await.expect("stream ended");
    assert_eq!(
        (replayed.event.as_str(), replayed.data.as_str()),
        ("message", r#""while away""#)
    );
    assert_eq!(seq(&replayed.id), seq(&opened) + 1);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_history_is_trimmed_by_count_and_by_age() {
    let (url, db) = require_database!();

    // By count: the last 5 are kept.
    let listener = Listener::builder(&url)
        .expect("builder")
        .history(5, tiny::pg::DEFAULT_HISTORY_AGE)
        .build()
        .expect("listener");
    let base = serve(listener).await;
    let channel = unique("count_");
    let mut keeper = open(&base, &channel).await;
    for n in 1..=10 {
        notify(&db, &channel, &n.to_string()).await;
    }
    let ids: Vec<String> = messages(&mut keeper, 10)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    let stream = format!("{base}?channel={}", percent_encode(&channel));
    // After 5 (the 6th to 10th are kept): nothing missing.
    let mut resumed = resume(&stream, &ids[4]).await;
    let replayed: Vec<String> = messages(&mut resumed, 5)
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(replayed, ["6", "7", "8", "9", "10"]);
    // After 4: the 5th is gone.
    let mut trimmed = resume(&stream, &ids[3]).await;
    let resync = trimmed.next().await.expect("stream ended");
    assert_eq!(reason(&resync), "trimmed");
    assert_eq!(resync.id, ids[9], "goes on from the newest");
    notify(&db, &channel, "live").await;
    assert_eq!(trimmed.data().await, r#""live""#);

    // By age: what is older than the limit is gone, however few there are.
    let listener = Listener::builder(&url)
        .expect("builder")
        .history(1000, Duration::from_millis(200))
        .build()
        .expect("listener");
    let base = serve(listener).await;
    let channel = unique("age_");
    let mut keeper = open(&base, &channel).await;
    for n in 1..=2 {
        notify(&db, &channel, &n.to_string()).await;
    }
    let first = keeper.next().await.expect("stream ended").id;
    let stream = format!("{base}?channel={}", percent_encode(&channel));
    until(
        "the history forgot notifications older than its age limit",
        || async {
            let mut events = resume(&stream, &first).await;
            let event = events.next().await.expect("stream ended");
            match event.event.as_str() {
                "resync" => {
                    assert_eq!(reason(&event), "trimmed");
                    true
                }
                _ => {
                    assert_eq!(event.data, "2", "a replay while still kept");
                    false
                }
            }
        },
    )
    .await;
}

/// An event stream read over a raw connection with a small receive window
/// (4 KiB), so that the server feels a client that reads slowly or not at
/// all; HTTP/1.0, so the body is not chunked.
struct RawEvents {
    socket: TcpStream,
    parser: support::Parser,
    ready: std::collections::VecDeque<support::ServerEvent>,
    /// With `Some`, a slow reader: at most 4 KiB per read, and a pause after
    /// each.
    pause: Option<Duration>,
}

impl RawEvents {
    /// Requests `base?channel=…` and reads the response head (200).
    async fn open(base: &str, channel: &str) -> Self {
        let addr = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let mut socket = socket
            .connect(addr.parse().expect("addr"))
            .await
            .expect("connect");
        let query = percent_encode(channel);
        socket
            .write_all(format!("GET /?channel={query} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("request");
        let mut received = Vec::new();
        let head_end = loop {
            if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).await.expect("response head");
            received.push(byte[0]);
        };
        let head = String::from_utf8_lossy(&received[..head_end]);
        assert_eq!(head.get(9..12), Some("200"), "{head}");
        Self {
            socket,
            parser: support::Parser::default(),
            ready: Default::default(),
            pause: None,
        }
    }

    /// Reads at most 4 KiB at a time, pausing `pause` after each read.
    fn slowly(mut self, pause: Duration) -> Self {
        self.pause = Some(pause);
        self
    }

    /// The next event; panics when the stream ends or after [`DEADLINE`].
    async fn next(&mut self) -> support::ServerEvent {
        tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(event) = self.ready.pop_front() {
                    return event;
                }
                let mut chunk = [0u8; 16 * 1024];
                let size = if self.pause.is_some() {
                    4096
                } else {
                    chunk.len()
                };
                let n = self.socket.read(&mut chunk[..size]).await.expect("read");
                assert!(n > 0, "the stream ended");
                self.ready.extend(self.parser.feed(&chunk[..n]));
                if let Some(pause) = self.pause {
                    tokio::time::sleep(pause).await;
                }
            }
        })
        .await
        .expect("no event within the deadline")
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A TCP proxy to PostgreSQL that fakes network trouble: `freeze` makes the
/// connections it has stop forwarding without closing (a network cut);
/// `go_down` closes them all and refuses new ones (a database restart)
/// until `come_back`.
struct Proxy {
    port: u16,
    /// Connections with a smaller id are frozen.
    cutoff: Arc<AtomicUsize>,
    next_id: Arc<AtomicUsize>,
    down: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        let cutoff = Arc::new(AtomicUsize::new(0));
        let next_id = Arc::new(AtomicUsize::new(0));
        let (down, _) = tokio::sync::watch::channel(false);
        let (c, n, d) = (cutoff.clone(), next_id.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = tcp.accept().await {
                if *d.borrow() {
                    continue; // dropped: closed at once
                }
                let id = n.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(
                    client_read,
                    server_write,
                    id,
                    c.clone(),
                    d.subscribe(),
                ));
                tokio::spawn(pump(
                    server_read,
                    client_write,
                    id,
                    c.clone(),
                    d.subscribe(),
                ));
            }
        });
        Self {
            port,
            cutoff,
            next_id,
            down,
        }
    }

    /// A `DATABASE_URL` through the proxy, with the user and database of `url`.
    fn url(&self, url: &str) -> String {
        let config: tokio_postgres::Config = url.parse().expect("DATABASE_URL");
        let user = config.get_user().unwrap_or("postgres");
        let dbname = config.get_dbname().unwrap_or("test");
        format!("postgres://{user}@127.0.0.1:{}/{dbname}", self.port)
    }

    fn freeze(&self) {
        self.cutoff
            .store(self.next_id.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    fn go_down(&self) {
        self.down.send_replace(true);
    }

    fn come_back(&self) {
        self.down.send_replace(false);
    }
}

fn upstream(url: &str) -> String {
    let config: tokio_postgres::Config = url.parse().expect("DATABASE_URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    id: usize,
    cutoff: Arc<AtomicUsize>,
    mut down: tokio::sync::watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buffer) => match read {
                Ok(n) if n > 0 => n,
                _ => return,
            },
            // Going down closes both halves (and so the connection).
            _ = down.wait_for(|down| *down) => return,
        };
        if id < cutoff.load(Ordering::SeqCst) {
            // Frozen: swallow this and everything after, close nothing
            // (both halves live on in this never-ending future).
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_silently_dead_connection_is_found_by_the_health_check() {
    let (url, db) = require_database!();
    let proxy = Proxy::start(upstream(&url)).await;
    let listener = Listener::builder(&proxy.url(&url))
        .expect("builder")
        .health_check(Duration::from_millis(200), Duration::from_millis(500))
        .build()
        .expect("listener");
    let base = serve(listener).await;
    let channel = unique("dead_");
    let mut events = open(&base, &channel).await;
    notify(&db, &channel, "before").await;
    assert_eq!(events.data().await, r#""before""#);

    proxy.freeze();
    let resync = events.next().await.expect("stream ended");
    assert_eq!(resync.event, "resync");
    notify(&db, &channel, "after").await;
    assert_eq!(events.data().await, r#""after""#);
}

#[tokio::test]
async fn streams_survive_a_database_outage_and_new_ones_get_503_meanwhile() {
    let (url, db) = require_database!();
    let proxy = Proxy::start(upstream(&url)).await;
    let listener = Listener::builder(&proxy.url(&url))
        .expect("builder")
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(400))
        .build()
        .expect("listener");
    let base = serve(listener.clone()).await;
    let channel = unique("outage_");
    let mut events = open(&base, &channel).await;
    notify(&db, &channel, "before").await;
    assert_eq!(events.data().await, r#""before""#);

    proxy.go_down();
    until("the listener noticed the outage", || async {
        listener.backend_pid().await.is_none()
    })
    .await;
    let refused = get(&base, &unique("new_")).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));

    proxy.come_back();
    let resync = events.next().await.expect("the stream stayed open");
    assert_eq!(resync.event, "resync");
    serde_json::from_str::<Value>(&resync.data).expect("resync data is JSON");
    notify(&db, &channel, "after").await;
    assert_eq!(events.data().await, r#""after""#);
    open(&base, &unique("new_")).await; // new streams open again
}

/// `App::run` with this process's `DATABASE_URL`: a usable one lets the app
/// start (the normal run), an unusable one stops it before serving. The
/// second half runs in child processes started by
/// `app_run_fails_fast_without_a_usable_database_url`, which set
/// `TINY_TEST_EXPECT_NO_START` and change `DATABASE_URL`.
#[tokio::test]
async fn app_run_checks_database_url_before_serving() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(
        tiny::App::empty()
            .mount::<PgChannel>()
            .run(tcp, async move {
                let _ = stopped.await;
            }),
    );
    if std::env::var_os("TINY_TEST_EXPECT_NO_START").is_some() {
        let error = run
            .await
            .expect("run task")
            .expect_err("App::run must refuse to start");
        println!("APP ERROR: {error}");
        return;
    }
    // Serving: a request reaches the app (an unknown path is its 404).
    let response = support::client()
        .get(format!("http://{addr}/nothing-here"))
        .send()
        .await
        .expect("the app serves");
    assert_eq!(response.status(), 404);
    let _ = stop.send(());
    run.await.expect("run task").expect("App::run ends cleanly");
}

#[test]
fn app_run_fails_fast_without_a_usable_database_url() {
    let cases: [(Option<&str>, &str); 3] = [
        (None, "DATABASE_URL is not set"),
        (
            Some("mysql://root@db/x"),
            "not a PostgreSQL connection string",
        ),
        (
            Some("postgres://u@h:notaport/db"),
            "not a PostgreSQL connection string",
        ),
    ];
    for (value, expected) in cases {
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"));
        child
            .args(["--exact", "app_run_checks_database_url_before_serving"])
            .arg("--nocapture")
            .env("TINY_TEST_EXPECT_NO_START", "1");
        match value {
            Some(value) => child.env("DATABASE_URL", value),
            None => child.env_remove("DATABASE_URL"),
        };
        let output = child.output().expect("run the test binary");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with("APP ERROR: "))
            .unwrap_or_else(|| panic!("App::run did not fail: {stdout}"));
        assert!(
            line.contains("`PgChannel` streams from PostgreSQL"),
            "{line}"
        );
        assert!(line.contains(expected), "{line}");
    }
}
