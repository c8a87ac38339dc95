//! Key-mode wake-up latency: from `send_key` returning to the frame arriving
//! at a client over a real socket, on the in-process cache and on Redis.
//!
//! ```sh
//! cargo bench -p tiny-suite --bench key_latency            # both backends, 1000 messages each, 5 runs
//! ```
//!
//! One message is in flight at a time, so each figure is one full wake-up:
//! push, wake the waiting consumer, take, frame, socket, client parse.
//! Each backend runs in its own child process (`tiny::cache()` is global).

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tiny::prelude::*;

const MESSAGES: usize = 1000;
const RUNS: usize = 5;

#[controller(path = "/bench")]
pub struct Bench;

#[controller]
impl Bench {
    #[sse(key = "bench:<section>")]
    fn get(&self) {}
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--backend") {
        let backend = args.get(at + 1).map(String::as_str).unwrap_or("memory");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let samples = runtime.block_on(measure(backend));
        // One line for the parent: p50 p99 in microseconds, then messages/s.
        println!("{} {} {:.0}", samples.0, samples.1, samples.2);
        return;
    }
    let redis =
        std::env::var("TINY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    println!(
        "key wake-up latency, send_key → frame at the client, {MESSAGES} messages one at a time, median of {RUNS} runs"
    );
    println!();
    println!("| backend | p50 | p99 | messages/s |");
    println!("|---|---|---|---|");
    for (name, url) in [("moka (in process)", None), ("Redis", Some(redis.as_str()))] {
        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        let mut rates = Vec::new();
        for _ in 0..RUNS {
            let mut command = Command::new(&args[0]);
            command.args(["--backend", if url.is_some() { "redis" } else { "memory" }]);
            match url {
                Some(url) => command.env("TINY_CACHE_URL", url),
                None => command.env_remove("TINY_CACHE_URL"),
            };
            let output = command.output().expect("run the child");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let line = String::from_utf8_lossy(&output.stdout);
            let fields: Vec<f64> = line
                .split_whitespace()
                .map(|f| f.parse().unwrap())
                .collect();
            p50s.push(fields[0]);
            p99s.push(fields[1]);
            rates.push(fields[2]);
        }
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {:.0} |",
            median(&mut p50s),
            median(&mut p99s),
            median(&mut rates)
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

async fn measure(backend: &str) -> (u128, u128, f64) {
    tiny::try_cache()
        .expect("cache")
        .ping()
        .await
        .expect("cache reachable");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tiny::App::empty()
            .mount::<Bench>()
            .run(listener, std::future::pending()),
    );
    let section = format!("{backend}-{}", std::process::id());
    let key = format!("bench:{section}");
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/bench/{section}"))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    // The opening comment, then the frame announcing the stream's lineage
    // (an `id:` line; key frames carry ids since issue 10).
    read_frame(&mut body, &mut buffer).await;
    let announced = read_frame(&mut body, &mut buffer).await;
    assert!(announced.starts_with("id: "), "{announced:?}");
    let mut latencies = Vec::with_capacity(MESSAGES);
    let started = Instant::now();
    for n in 0..MESSAGES + 50 {
        let sent = Instant::now();
        tiny::sse().send_key(&key, n).await.unwrap();
        let frame = read_frame(&mut body, &mut buffer).await;
        let elapsed = sent.elapsed();
        assert!(frame.ends_with(&format!("\ndata: {n}\n\n")), "{frame:?}");
        if n >= 50 {
            // The first 50 warm up connections and caches.
            latencies.push(elapsed);
        }
    }
    let rate = (MESSAGES + 50) as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    (at(0.50).as_micros(), at(0.99).as_micros(), rate)
}

async fn read_frame(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut Vec<u8>,
) -> String {
    loop {
        if let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            return String::from_utf8(frame).unwrap();
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("a frame within 10 s")
            .expect("stream open")
            .unwrap();
        buffer.extend_from_slice(&chunk);
    }
}
