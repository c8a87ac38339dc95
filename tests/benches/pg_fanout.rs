//! Fan-out of PostgreSQL notifications to many pg streams of one process.
//!
//! ```sh
//! export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo bench -p tiny-suite --bench pg_fanout                         # 10 000 subscribers, 100 notifications, 5 runs
//! cargo bench -p tiny-suite --bench pg_fanout -- --subscribers 2000 --notifications 50 --runs 3 --interval-ms 20
//! ```
//!
//! The server (a tiny app with one `#[sse(pg = …)]` controller) runs in a
//! child process, since 10 000 client sockets and 10 000 server sockets do
//! not fit one process's descriptor limit. The parent opens the
//! subscribers (plain HTTP/1.0 connections, read by one task each), then
//! sends the notifications from its own database connection:
//!
//! - **burst**: back to back, each `SELECT pg_notify(…)` awaited: events
//!   delivered per second, from the first NOTIFY to the last frame read;
//! - **paced**: one every `--interval-ms` (default 200): the latency of a
//!   notification that does not queue behind the previous ones.
//!
//! Latency is from just before the parent sends `pg_notify` to the moment
//! a subscriber has read the frame. Everything — PostgreSQL, the server,
//! the clients — shares this machine's cores, so read the figures as what
//! one box does, not as the server alone.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tiny::prelude::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;

const SERVER_ROLE: &str = "PG_FANOUT_SERVER";
/// How long a phase may take before the run is reported as incomplete.
const PHASE_DEADLINE: Duration = Duration::from_secs(120);

/// The server side: each subscriber streams `fanout_<section>`.
#[controller(path = "/fanout")]
pub struct Fanout;

#[controller]
impl Fanout {
    #[sse(pg = "fanout_<section>")]
    fn get(&self) {}
}

struct Options {
    subscribers: usize,
    notifications: usize,
    runs: usize,
    interval: Duration,
}

impl Options {
    fn parse() -> Self {
        let mut options = Self {
            subscribers: 10_000,
            notifications: 100,
            runs: 5,
            interval: Duration::from_millis(200),
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || -> u64 {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{arg} takes a number"))
            };
            match arg.as_str() {
                "--subscribers" => options.subscribers = value() as usize,
                "--notifications" => options.notifications = value() as usize,
                "--runs" => options.runs = value().max(1) as usize,
                "--interval-ms" => options.interval = Duration::from_millis(value()),
                _ => {} // `cargo bench` adds `--bench`
            }
        }
        options
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if std::env::var_os(SERVER_ROLE).is_some() {
        runtime.block_on(serve());
    } else {
        runtime.block_on(bench(Options::parse()));
    }
}

/// Child: serves until its stdin closes (the parent ended or died).
async fn serve() {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(4096).expect("listen");
    println!("listening on {}", listener.local_addr().expect("addr"));
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut sink = [0u8; 64];
        while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let app = tiny::App::empty().mount::<Fanout>();
    if let Err(error) = app.run(listener, stdin_closed).await {
        eprintln!("pg_fanout server: {error}");
        std::process::exit(1);
    }
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Self {
        let mut child = Command::new(std::env::current_exe().expect("bench binary"))
            .env(SERVER_ROLE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server process");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("the server said {line:?}"));
        Self { child, addr }
    }

    fn stop(mut self) {
        drop(self.child.stdin.take()); // the server shuts down gracefully
        let _ = self.child.wait();
    }
}

/// What the subscribers share: when each notification was sent, and when
/// frames were read.
struct Clock {
    start: Instant,
    sent_ns: Vec<AtomicU64>,
    last_read_ns: Vec<AtomicU64>, // per phase
    frames_read: AtomicUsize,
}

impl Clock {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

#[derive(Clone, Copy, Default)]
struct Figures {
    delivered: usize,
    expected: usize,
    events_per_second: Option<f64>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn bench(options: Options) {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        eprintln!("pg_fanout: set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test");
        std::process::exit(2);
    });
    println!(
        "pg_fanout: {} subscribers on one channel, {} notifications per phase, {} runs; \
         server in a child process; {} cores",
        options.subscribers,
        options.notifications,
        options.runs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<7} {:<6} {:>19} {:>12} {:>9} {:>9} {:>9}",
        "run", "phase", "delivered", "events/s", "p50 ms", "p99 ms", "max ms"
    );
    let mut results: Vec<[Figures; 2]> = Vec::new();
    for run in 1..=options.runs {
        let figures = one_run(&options, &url, run).await;
        for (phase, f) in ["burst", "paced"].iter().zip(figures) {
            print_row(&run.to_string(), phase, &f);
        }
        results.push(figures);
    }
    for (index, phase) in ["burst", "paced"].iter().enumerate() {
        let median = |pick: fn(&Figures) -> f64| {
            let mut values: Vec<f64> = results.iter().map(|r| pick(&r[index])).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let f = Figures {
            delivered: median(|f| f.delivered as f64) as usize,
            expected: results[0][index].expected,
            events_per_second: results[0][index]
                .events_per_second
                .map(|_| median(|f| f.events_per_second.unwrap_or(0.0))),
            p50_ms: median(|f| f.p50_ms),
            p99_ms: median(|f| f.p99_ms),
            max_ms: median(|f| f.max_ms),
        };
        print_row("median", phase, &f);
    }
}

fn print_row(run: &str, phase: &str, f: &Figures) {
    let rate = f
        .events_per_second
        .map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"));
    println!(
        "{run:<7} {phase:<6} {:>19} {rate:>12} {:>9.2} {:>9.2} {:>9.2}",
        format!("{}/{}", f.delivered, f.expected),
        f.p50_ms,
        f.p99_ms,
        f.max_ms
    );
}

async fn one_run(options: &Options, url: &str, run: usize) -> [Figures; 2] {
    let server = Server::start();
    let section = format!("r{run}_{}", std::process::id());
    let channel = format!("fanout_{section}");
    let total = options.notifications * 2;
    let clock = Arc::new(Clock {
        start: Instant::now(),
        sent_ns: (0..total).map(|_| AtomicU64::new(0)).collect(),
        last_read_ns: (0..2).map(|_| AtomicU64::new(0)).collect(),
        frames_read: AtomicUsize::new(0),
    });

    // Subscribe everyone; a 200 means the server's LISTEN is in place.
    let connecting = Arc::new(Semaphore::new(256));
    let mut readers = Vec::with_capacity(options.subscribers);
    for _ in 0..options.subscribers {
        let permit = connecting.clone().acquire_owned().await.expect("semaphore");
        let (addr, section, clock) = (server.addr, section.clone(), clock.clone());
        let (phase_len, total) = (options.notifications, total);
        readers.push(tokio::spawn(async move {
            let (stream, leftover) = subscribe(addr, &section).await;
            drop(permit);
            read_frames(stream, leftover, &clock, phase_len, total).await
        }));
    }
    let _ = connecting.acquire_many(256).await;

    let (db, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    let expected = options.subscribers * options.notifications;
    let mut phases_start = [0u64; 2];
    for (phase, pace) in [None, Some(options.interval)].into_iter().enumerate() {
        phases_start[phase] = clock.now_ns();
        for n in 0..options.notifications {
            let i = phase * options.notifications + n;
            let payload = format!(r#"{{"i":{i}}}"#);
            clock.sent_ns[i].store(clock.now_ns(), Ordering::SeqCst);
            db.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                .await
                .expect("pg_notify");
            if let Some(pace) = pace {
                tokio::time::sleep(pace).await;
            }
        }
        // The next phase starts once this one is fully delivered.
        let deadline = Instant::now() + PHASE_DEADLINE;
        while clock.frames_read.load(Ordering::SeqCst) < expected * (phase + 1)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    server.stop();
    let mut latencies: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    for reader in readers {
        if let Ok(samples) = reader.await {
            for (i, micros) in samples {
                latencies[usize::from(i as usize >= options.notifications)].push(micros);
            }
        }
    }
    let mut figures = [Figures::default(); 2];
    for phase in 0..2 {
        let samples = &mut latencies[phase];
        samples.sort_unstable();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
                .map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
        };
        let elapsed_ns = clock.last_read_ns[phase]
            .load(Ordering::SeqCst)
            .saturating_sub(phases_start[phase]);
        figures[phase] = Figures {
            delivered: samples.len(),
            expected,
            events_per_second: (phase == 0 && elapsed_ns > 0)
                .then(|| samples.len() as f64 / (elapsed_ns as f64 / 1e9)),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: samples
                .last()
                .map_or(f64::NAN, |&us| f64::from(us) / 1000.0),
        };
    }
    figures
}

/// Opens one stream (HTTP/1.0, so the body is the raw event stream) and
/// returns once the response head has arrived.
async fn subscribe(addr: SocketAddr, section: &str) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("GET /fanout/{section} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 512];
    loop {
        let n = stream.read(&mut buffer).await.expect("response");
        assert!(
            n > 0,
            "the server closed the stream: {}",
            String::from_utf8_lossy(&head)
        );
        head.extend_from_slice(&buffer[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(head.starts_with(b"HTTP/1.0 200") || head.starts_with(b"HTTP/1.1 200"));
            return (stream, head.split_off(end + 4));
        }
    }
}

/// Reads frames `data: {"i":N}` until `total` have come; returns
/// `(N, latency in µs)` for each.
async fn read_frames(
    mut stream: TcpStream,
    mut pending: Vec<u8>,
    clock: &Clock,
    phase_len: usize,
    total: usize,
) -> Vec<(u16, u32)> {
    let mut samples = Vec::with_capacity(total);
    let mut buffer = vec![0u8; 4096];
    loop {
        let now = clock.now_ns();
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            if let Some(rest) = pending[..end].strip_prefix(b"data: {\"i\":") {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit());
                let i = digits.fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
                if i < total {
                    let sent = clock.sent_ns[i].load(Ordering::SeqCst);
                    samples.push((i as u16, (now.saturating_sub(sent) / 1000) as u32));
                    clock.last_read_ns[usize::from(i >= phase_len)]
                        .fetch_max(now, Ordering::SeqCst);
                    clock.frames_read.fetch_add(1, Ordering::SeqCst);
                }
            }
            pending.drain(..=end);
        }
        if samples.len() >= total {
            break;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => pending.extend_from_slice(&buffer[..n]),
        }
    }
    // Keep the connection until the server closes it, so the TIME_WAIT
    // state stays on the server's side and the next run finds free ports.
    let _ = stream.read(&mut buffer).await;
    samples
}
