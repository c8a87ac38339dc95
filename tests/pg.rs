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
use support::{DEADLINE, EventReader, TestServer, client};
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

/// The test database, or `None` (with a message) when it is absent outside
/// CI. Under `CI=true` its absence fails the test.
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
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: these tests need PostgreSQL (tests/run.sh starts one at 127.0.0.1:5432)");
    }
    eprintln!("SKIPPED: {why}; run `bash tests/run.sh`, which starts PostgreSQL");
    None
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

/// Serves `listener.stream(?channel=…)` with plain axum, for listeners
/// other than the process's own.
async fn serve(listener: Listener) -> String {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(
            move |axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>| {
                let listener = listener.clone();
                async move {
                    let channel = query.get("channel").cloned().unwrap_or_default();
                    listener.stream(&channel).await
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
    assert_eq!(events.data().await, r#""before""#);

    let pid = listener.backend_pid().await.expect("connected");
    let terminated: bool = db
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .expect("terminate")
        .get(0);
    assert!(terminated);

    let resync = events.next().await.expect("stream ended");
    assert_eq!(resync.event, "resync");
    serde_json::from_str::<Value>(&resync.data).expect("resync data is JSON");
    let new_pid = listener.backend_pid().await.expect("reconnected");
    assert_ne!(new_pid, pid);

    notify(&db, &channel, "after").await;
    let after = events.next().await.expect("stream ended");
    assert_eq!(
        (after.event.as_str(), after.data.as_str()),
        ("message", r#""after""#)
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
async fn a_slow_subscriber_is_ended_past_its_backlog_while_a_fast_one_keeps_receiving() {
    let (url, db) = require_database!();
    let listener = Listener::builder(&url)
        .expect("builder")
        .backlog(32)
        .build()
        .expect("listener");
    let base = serve(listener).await;
    let channel = unique("slow_");
    let mut fast = open(&base, &channel).await;

    // The slow client: a tiny receive window, and it reads nothing for now.
    let addr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut slow: TcpStream = socket
        .connect(addr.parse().expect("addr"))
        .await
        .expect("connect");
    let query = percent_encode(&channel);
    slow.write_all(format!("GET /?channel={query} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut head = [0u8; 12];
    slow.read_exact(&mut head).await.expect("status line");
    assert_eq!(&head[9..], b"200", "{}", String::from_utf8_lossy(&head));

    // 60 batches of 25 (< the backlog of 32), each ~6 KB, so the slow
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

    // The slow one now reads: some early frames, then the end of its stream.
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, slow.read_to_end(&mut response))
        .await
        .expect("the slow stream was ended")
        .expect("read");
    let body_at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the head")
        + 4;
    let frames = support::Parser::default().feed(&response[body_at..]);
    let total = batches * per_batch;
    assert!(
        frames.len() < total as usize,
        "the slow stream got all {total} frames"
    );
    for (n, frame) in frames.iter().enumerate() {
        assert_eq!(
            frame.data,
            format!("\"{n} {filler}\""),
            "frames in order, none skipped silently"
        );
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

/// Run as a child process by `app_run_fails_fast_without_a_usable_database_url`,
/// with `DATABASE_URL` changed.
#[tokio::test]
#[ignore = "run as a child process by app_run_fails_fast_without_a_usable_database_url"]
async fn child_app_run_with_the_environment_given() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let result = tiny::App::empty()
        .mount::<PgChannel>()
        .run(tcp, async {})
        .await;
    let error = result.expect_err("App::run must refuse to start");
    println!("APP ERROR: {error}");
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
            .args(["--exact", "child_app_run_with_the_environment_given"])
            .args(["--ignored", "--nocapture"]);
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
