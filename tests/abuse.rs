//! The examples under abuse, as separate server processes: one person
//! offering hundreds of megabytes, a shutdown while a client stalls, idle
//! streams on Redis. Each figure is the one issue 12 names.

#[path = "support/instances.rs"]
mod instances;
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use instances::Instance;
use support::client;
use support::services::unique;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const MIB: u64 = 1024;

/// 240 MB offered over 200 keys, in 60 KB messages that nobody reads, grow
/// the `user_updates` server by less than 100 MiB: the per-key and total
/// byte caps refuse the rest with 503 and `Retry-After`, naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_and_forty_megabytes_offered_grow_the_server_under_100_mib() {
    const KEYS: usize = 200;
    const PER_KEY: usize = 20;
    const SIZE: usize = 60_000;
    let server = Instance::start("user_updates", &[("RUST_LOG", "error")]);
    let before = server.rss_kib();
    let http = client();
    let body = bytes::Bytes::from("x".repeat(SIZE));
    let sends = futures_util::stream::iter((0..KEYS * PER_KEY).map(|n| {
        let url = server.url(&format!("/user-updates/abuse{}", n % KEYS));
        let (http, body) = (http.clone(), body.clone());
        async move {
            let response = http.post(url).body(body).send().await.expect("a response");
            let status = response.status().as_u16();
            let retry = response.headers().contains_key("retry-after");
            let text = response.text().await.unwrap_or_default();
            (status, retry, text)
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    let accepted = sends.iter().filter(|(s, ..)| *s < 300).count();
    let refused: Vec<_> = sends.iter().filter(|(s, ..)| *s == 503).collect();
    assert_eq!(accepted + refused.len(), sends.len(), "only 2xx and 503");
    assert!(!refused.is_empty(), "the caps refused something");
    for (_, retry, text) in &refused {
        assert!(retry, "503 with Retry-After");
        assert!(
            text.contains("TINY_QUEUE_MAX_BYTES") || text.contains("TINY_CACHE_MAX_BYTES"),
            "{text}"
        );
    }
    let grown = server.rss_kib().saturating_sub(before);
    println!(
        "offered {} MB, accepted {accepted} of {} sends, RSS {} -> {} KiB (+{} MiB)",
        KEYS * PER_KEY * SIZE / 1_000_000,
        sends.len(),
        before,
        before + grown,
        grown / MIB
    );
    assert!(grown < 100 * MIB, "grew by {} MiB", grown / MIB);
}

/// SIGTERM with a stream whose client reads nothing and a body that never
/// completes: the process exits 0 within the shutdown deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_stalled_stream_and_a_slow_body_exits_0_within_the_deadline() {
    let mut server = Instance::start(
        "user_updates",
        &[("TINY_SHUTDOWN_TIMEOUT", "2s"), ("RUST_LOG", "error")],
    );
    let section = unique("stalled");
    // 16 messages of 60 KB (under the key's 1 MiB): more than the socket
    // buffers of a client that reads nothing hold.
    for _ in 0..16 {
        let response = client()
            .post(server.url(&format!("/user-updates/{section}")))
            .body("x".repeat(60_000))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(format!("GET /user-updates/{section} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /user-updates/{section} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // The stream is open (its head arrived); from here on nothing is read.
    let mut head = [0u8; 64];
    let n = tokio::time::timeout(support::DEADLINE, stalled.read(&mut head))
        .await
        .expect("the stream answers")
        .unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&head[..n])
    );
    let signalled = Instant::now();
    server.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(20));
        (status, server)
    })
    .await
    .unwrap();
    let waited = signalled.elapsed();
    let exit = status.0.expect("the server exited");
    assert!(exit.success(), "exit status {exit}");
    println!("exited {exit} {waited:?} after SIGTERM (deadline 2 s)");
    // The deadline (2 s) plus the time a loaded machine takes to act on it.
    assert!(waited < Duration::from_secs(10), "took {waited:?}");
    drop((stalled, slow));
}

/// A Redis server of this test's own, so only our server's commands count.
struct OwnRedis {
    child: Child,
    url: String,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is needed (tests/run.sh installs it)");
        let url = format!("redis://127.0.0.1:{port}/0");
        let client = redis::Client::open(url.as_str()).unwrap();
        let deadline = Instant::now() + support::DEADLINE;
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, url }
    }

    async fn commands_processed(&self) -> u64 {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut connection)
            .await
            .unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("total_commands_processed")
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 300 idle key streams on Redis make fewer than 300 commands in the 10 s
/// after they open (each used to re-check its queue every second: about
/// 3 000, counting the commands inside scripts as Redis does). Their
/// leases are renewed by their process in one call per 100 streams, every
/// retention window / 4 (75 s by default), outside this window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_idle_key_streams_cost_redis_under_300_commands_in_10_s() {
    const STREAMS: usize = 300;
    let redis = OwnRedis::start().await;
    let server = Instance::start(
        "user_updates",
        &[
            ("TINY_CACHE_URL", redis.url.as_str()),
            ("RUST_LOG", "error"),
        ],
    );
    let http = client();
    let mut streams = Vec::new();
    for n in 0..STREAMS {
        let response = http
            .get(server.url(&format!("/user-updates/idle{n}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    let before = redis.commands_processed().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = redis.commands_processed().await - before - 1;
    println!("{STREAMS} idle key streams: {during} Redis commands in 10 s");
    assert!(during < 300, "{during} commands");
    // They are still live: a send reaches its stream at once.
    let response = http
        .post(server.url("/user-updates/idle7"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let mut body = streams.swap_remove(7).bytes_stream();
    let mut seen = String::new();
    tokio::time::timeout(support::DEADLINE, async {
        while !seen.contains("data: hello") {
            let chunk = body.next().await.expect("more").expect("bytes");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the message arrives");
}
