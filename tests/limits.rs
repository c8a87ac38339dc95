//! The limits that protect a server nobody configured, tried the way an
//! abusive or broken client would: huge request heads, bodies trickled byte
//! by byte, a shutdown while a client has stopped reading, paths with dot
//! segments.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::wire::raw_request;
use support::{TestServer, eventually};
use tiny::prelude::*;
use tiny::sse::live_streams;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

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

/// Waits until the flood producer is no longer called: every buffer between
/// it and a client that reads nothing is full.
async fn flood_stalled() {
    tokio::time::timeout(support::DEADLINE, async {
        loop {
            let before = FLOOD_CALLS.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            if before > 0 && FLOOD_CALLS.load(Ordering::SeqCst) == before {
                break;
            }
        }
    })
    .await
    .expect("the flood never stalled");
}

/// Echoes its body.
#[controller]
pub struct Echo;

#[controller]
impl Echo {
    fn get(&self, req: &Request) -> String {
        format!("section={}", req.path().section)
    }

    fn post(&self, req: &Request) -> tiny::Result<String> {
        Ok(req.text()?.to_owned())
    }
}

/// Sends nothing after it opens: a stream that only holds its slot.
#[controller]
pub struct Idle;

#[controller]
impl Idle {
    #[sse(poll = "1h", keep_alive = "off")]
    fn get(&self) -> Option<String> {
        None
    }
}

fn app() -> App {
    App::empty()
        .mount::<Flood>()
        .mount::<Echo>()
        .mount::<Idle>()
}

/// Opens `/idle` from `local` (any 127.x address) and returns the status,
/// the `Retry-After` header, and the connection (kept open: the stream).
async fn open_idle(server: std::net::SocketAddr, local: &str) -> (u16, Option<String>, TcpStream) {
    use tokio::io::AsyncReadExt as _;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    stream
        .write_all(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(support::DEADLINE, async {
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.expect("a response head");
            head.push(byte[0]);
        }
    })
    .await
    .expect("no answer");
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let retry_after = head.lines().find_map(|line| {
        line.to_ascii_lowercase()
            .strip_prefix("retry-after: ")
            .map(str::to_owned)
    });
    (status, retry_after, stream)
}

fn get_with_cookie(bytes: usize) -> Vec<u8> {
    format!(
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: c={}\r\n\r\n",
        "a".repeat(bytes)
    )
    .into_bytes()
}

#[tokio::test]
async fn request_heads_up_to_64_kib_are_read_and_far_larger_ones_get_431() {
    let server = TestServer::start(app()).await;
    // A large cookie, well past the 8 KiB many servers stop at.
    let big = raw_request(server.addr, &get_with_cookie(48 * 1024)).await;
    assert_eq!(big.status, 200, "{}", &big.text[..200.min(big.text.len())]);
    let huge = raw_request(server.addr, &get_with_cookie(256 * 1024)).await;
    assert_eq!(huge.status, 431);
}

#[tokio::test]
async fn a_trickled_body_is_cut_with_408() {
    let server = TestServer::start(app().body_timeout(Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();
    // One more byte now and then, never the whole body.
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.write_all(b"c").await.is_err() {
                break;
            }
        }
        stream
    });
    let mut stream = trickle.await.unwrap();
    let mut received = Vec::new();
    let _ = tokio::time::timeout(support::DEADLINE, async {
        use tokio::io::AsyncReadExt as _;
        let _ = stream.read_to_end(&mut received).await;
    })
    .await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("TINY_BODY_TIMEOUT"), "{text}");
}

#[tokio::test]
async fn shutdown_closes_what_cannot_finish_at_its_deadline() {
    // Without the shutdown deadline, both clients below would hold the
    // drain for an hour: the write and body timeouts are set that long.
    let app = app()
        .write_timeout(Duration::from_secs(3600))
        .body_timeout(Duration::from_secs(3600))
        .shutdown_timeout(Duration::from_millis(300));
    let server = TestServer::start(app).await;
    // A stream whose client reads nothing: its connection cannot drain.
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    eventually("the flood stream to open", || live_streams() == 1).await;
    flood_stalled().await;
    // A body that never completes.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();
    server.shutdown().await.expect("shutdown returns Ok");
    eventually("the stream is gone", || live_streams() == 0).await;
    drop((stalled, slow));
}

#[tokio::test]
async fn dot_and_empty_segments_are_refused_not_resolved_differently() {
    let server = TestServer::start(app()).await;
    for path in ["/echo/a/../b", "/echo/%2e%2e/b", "/echo//b", "/echo/./b"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = raw_request(server.addr, request.as_bytes()).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text);
    }
    let ok = raw_request(
        server.addr,
        b"GET /echo/b/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.text.ends_with("section=b"), "{}", ok.text);
}

#[tokio::test]
async fn streams_past_the_cap_get_503_with_retry_after_and_pages_still_answer() {
    let server = TestServer::start(app().max_streams(50)).await;
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..55 {
        let (status, retry_after, stream) = open_idle(server.addr, "127.0.0.1").await;
        match status {
            200 => open.push(stream),
            503 => {
                assert!(retry_after.is_some(), "a 503 without Retry-After");
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((open.len(), refused), (50, 5));
    assert_eq!(live_streams(), 50);
    // An ordinary page is not a stream: it still answers.
    let page = raw_request(
        server.addr,
        b"GET /echo/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(page.status, 200);
    // A closed stream gives its permit back.
    drop(open.pop());
    eventually("the closed stream to be released", || live_streams() == 49).await;
    let (status, _, _again) = open_idle(server.addr, "127.0.0.1").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_address_past_its_cap_gets_429_others_do_not() {
    let server = TestServer::start(app().max_streams_per_ip(2)).await;
    let (a, _, _one) = open_idle(server.addr, "127.0.0.1").await;
    let (b, _, _two) = open_idle(server.addr, "127.0.0.1").await;
    let (c, retry_after, _) = open_idle(server.addr, "127.0.0.1").await;
    assert_eq!((a, b, c), (200, 200, 429));
    assert!(retry_after.is_some(), "a 429 without Retry-After");
    // Another client address is not limited by the first one's streams.
    let (other, _, _three) = open_idle(server.addr, "127.0.0.2").await;
    assert_eq!(other, 200);
}

/// The heartbeat example in a process limited to 128 file descriptors.
struct Starved {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Starved {
    fn start() -> Self {
        use std::io::BufRead as _;
        let binary = support::examples::example_binary("heartbeat");
        let mut child = std::process::Command::new("sh")
            .args(["-c", "ulimit -n 128 && exec \"$0\""])
            .arg(binary)
            .env("TINY_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the heartbeat example");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("printed {first:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }
}

impl Drop for Starved {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn at_the_descriptor_limit_every_attempt_is_answered_and_pages_still_work() {
    let server = Starved::start();
    let mut streams = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    // More attempts than the process has descriptors.
    for _ in 0..160 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /heartbeat HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut status = [0u8; 12];
        tokio::time::timeout(support::DEADLINE, async {
            use tokio::io::AsyncReadExt as _;
            stream.read_exact(&mut status).await
        })
        .await
        .expect("an attempt was left without an answer")
        .expect("the connection closed without an answer");
        match &status[9..12] {
            // Held open: a stream.
            b"200" => {
                accepted += 1;
                streams.push(stream);
            }
            // Refused: the client goes away, as an EventSource does.
            b"503" => refused += 1,
            other => panic!("unexpected status {}", String::from_utf8_lossy(other)),
        }
    }
    assert!(
        accepted > 50,
        "only {accepted} streams of 160 attempts were served"
    );
    assert!(refused > 0, "160 streams fit in 128 descriptors?");
    // The descriptors kept in reserve still serve an ordinary page.
    let page = raw_request(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn two_thousand_refusals_write_little_log() {
    use std::io::{BufRead as _, Read as _};
    let binary = support::examples::example_binary("user_updates");
    let mut child = std::process::Command::new(binary)
        .env("TINY_ADDR", "127.0.0.1:0")
        .env("TINY_QUEUE_MAX_LEN", "1")
        .env("RUST_LOG", "info")
        .env_remove("TINY_CACHE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the user_updates example");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let client = support::client();
    let mut refused = 0;
    for n in 0..2001 {
        let response = client
            .post(format!("{addr}/user-updates/full"))
            .body(format!("message {n}"))
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            refused += 1;
        }
    }
    assert_eq!(refused, 2000, "the queue holds one message");
    let _ = child.kill();
    let _ = child.wait();
    let mut log = Vec::new();
    child.stderr.take().unwrap().read_to_end(&mut log).unwrap();
    assert!(
        log.len() < 100_000,
        "2 000 refusals wrote {} bytes of log",
        log.len()
    );
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let metrics_addr = support::free_addr();
    let server = TestServer::start(app().metrics(metrics_addr)).await;
    let mut stream = server.events("/flood").await;
    assert_eq!(stream.data().await.len(), 64 * 1024);
    let refused = support::client()
        .get(server.url("/echo/x"))
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let text = support::metrics_text(metrics_addr).await;
    assert!(
        text.contains(r#"tiny_open_streams{mode="poll",controller="Flood"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"tiny_frames_sent_total{mode="poll",controller="Flood"}"#));
    assert!(
        text.contains(r#"tiny_streams_refused_total{reason="origin"} 1"#),
        "{text}"
    );
    // Labels name controllers and modes, never paths or keys.
    assert!(!text.contains("/flood") && !text.contains("/echo"));
    // The app's own port has no metrics.
    let on_app = support::client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_app.status(), 404);
}
