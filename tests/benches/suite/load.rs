//! The load generator: holds N event streams against one server, counts
//! events, measures delivery latency from the timestamp each event carries,
//! and reads the server's RSS and CPU from /proc.
//!
//! It speaks just enough HTTP/1.1 for this: a hand-written `GET`, the status
//! line, and a scanner for `data: ` lines over the raw (chunked) body. Each
//! SSE frame is one body chunk on both servers, so chunk-size lines never
//! split a `data:` line. That keeps a connection at one task and a 4 KiB
//! buffer, so 19 000 of them fit in one process beside the server.
//!
//! A scenario across several servers (topics through Redis) talks to each
//! with its own [`Load`], so that what each server delivered is counted
//! apart.
//!
//! Each client socket is bound to its own source address in 127.0.0.0/8
//! before connecting, so connection count and churn are not bounded by one
//! address's ephemeral ports (or by its TIME_WAIT sockets).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::histogram::Histogram;
use crate::now_micros;
use crate::probe::{CpuMeter, rss_kib};

/// What one load-generator process does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub addr: SocketAddr,
    pub pid: u32,
    /// The scenario's other servers, beside `addr` (topic fan-out through
    /// Redis: two processes).
    #[serde(default)]
    pub others: Vec<SocketAddr>,
    pub scenario: Scenario,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Scenario {
    /// Open streams in steps (e.g. 10 000 then 19 000 in all); RSS and
    /// connect rate at each step.
    Idle { path: String, steps: Vec<usize> },
    /// `streams` idle streams over TLS HTTP/2, `per_connection` on each
    /// connection; RSS per stream and the open rate. `cert` is the server's
    /// self-signed certificate (DER), the only one trusted.
    IdleH2 {
        path: String,
        streams: usize,
        per_connection: usize,
        cert: std::path::PathBuf,
    },
    /// `streams` poll streams; server CPU and events over `seconds`.
    Poll { streams: usize, seconds: u64 },
    /// One stream per key; paced messages for latency, then a flat-out run
    /// for throughput.
    Key {
        keys: usize,
        paced: usize,
        flat_out: usize,
    },
    /// Connect, see the stream open, disconnect; `cycles` times.
    Churn {
        cycles: usize,
        concurrency: usize,
        warmup: usize,
    },
    /// `subscribers` on one pg channel; bursts of NOTIFY then a steady rate.
    Fanout {
        subscribers: usize,
        database_url: String,
        channel: String,
        phases: Phases,
    },
    /// `subscribers` on one topic, split between the servers; the same
    /// bursts and steady rate, published through the first server's
    /// `/publish`.
    Topic { subscribers: usize, phases: Phases },
}

/// What a fan-out scenario publishes: `bursts` of `burst_size` messages,
/// each burst once the last is delivered, then `steady_rate` a second for
/// `steady_seconds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phases {
    pub bursts: usize,
    pub burst_size: usize,
    pub steady_rate: u64,
    pub steady_seconds: u64,
}

/// The figures of one run, by name.
pub type Figures = std::collections::BTreeMap<String, f64>;

pub fn main(spec: &str) {
    let spec: Spec = serde_json::from_str(spec).expect("load spec");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let figures = runtime.block_on(run(spec));
    println!("{}", serde_json::to_string(&figures).expect("figures"));
    // Skip dropping thousands of connections and tasks one by one.
    std::process::exit(0);
}

async fn run(spec: Spec) -> Figures {
    let load = Load::new(spec.addr);
    match spec.scenario {
        Scenario::Idle { path, steps } => idle(load, spec.pid, &path, &steps).await,
        Scenario::IdleH2 {
            path,
            streams,
            per_connection,
            cert,
        } => idle_h2(spec.addr, spec.pid, &path, streams, per_connection, &cert).await,
        Scenario::Poll { streams, seconds } => poll(load, spec.pid, streams, seconds).await,
        Scenario::Key {
            keys,
            paced,
            flat_out,
        } => key(load, keys, paced, flat_out).await,
        Scenario::Churn {
            cycles,
            concurrency,
            warmup,
        } => churn(load, spec.pid, cycles, concurrency, warmup).await,
        Scenario::Fanout {
            subscribers,
            database_url,
            channel,
            phases,
        } => fanout(load, subscribers, &database_url, &channel, &phases).await,
        Scenario::Topic {
            subscribers,
            phases,
        } => {
            let loads = std::iter::once(load)
                .chain(spec.others.into_iter().map(Load::new))
                .collect();
            topic(loads, subscribers, &phases).await
        }
    }
}

/// Counters every connection task writes to: events and latencies go to a
/// shard per worker thread, so two threads never fight over a cache line.
struct Counters {
    /// Which of the process's counters these are (one per server).
    id: usize,
    opened: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    shards: std::sync::Mutex<Vec<Arc<Shard>>>,
}

struct Shard {
    events: AtomicU64,
    latency: Histogram,
}

static COUNTERS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard of each counters, by their id: one or two.
    static SHARDS: std::cell::RefCell<Vec<(usize, Arc<Shard>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Counters {
    fn new() -> Self {
        Self {
            id: COUNTERS.fetch_add(1, Ordering::Relaxed),
            opened: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            shards: std::sync::Mutex::default(),
        }
    }

    fn shard(&self) -> Arc<Shard> {
        SHARDS.with_borrow_mut(|shards| {
            if let Some((_, shard)) = shards.iter().find(|(id, _)| *id == self.id) {
                return shard.clone();
            }
            let shard = Arc::new(Shard {
                events: AtomicU64::new(0),
                latency: Histogram::new(),
            });
            self.shards.lock().unwrap().push(shard.clone());
            shards.push((self.id, shard.clone()));
            shard
        })
    }

    fn shards(&self) -> Vec<Arc<Shard>> {
        self.shards.lock().unwrap().clone()
    }

    fn events(&self) -> u64 {
        self.shards()
            .iter()
            .map(|s| s.events.load(Ordering::Relaxed))
            .sum()
    }

    fn reset(&self) {
        for shard in self.shards() {
            shard.events.store(0, Ordering::Relaxed);
            shard.latency.reset();
        }
    }
}

struct Load {
    addr: SocketAddr,
    counters: Arc<Counters>,
    connecting: Arc<Semaphore>,
    tasks: Vec<JoinHandle<()>>,
    next_source: u32,
}

/// Connections being set up at once.
const CONNECTING: usize = 256;

impl Load {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            counters: Arc::new(Counters::new()),
            connecting: Arc::new(Semaphore::new(CONNECTING)),
            tasks: Vec::new(),
            next_source: 0,
        }
    }

    fn source(&mut self) -> Ipv4Addr {
        self.next_source += 1;
        source_address(self.next_source)
    }

    /// Starts a task that opens a stream on `path` and reads it until aborted.
    fn open(&mut self, path: String) {
        let (addr, source) = (self.addr, self.source());
        let (counters, connecting) = (self.counters.clone(), self.connecting.clone());
        self.tasks.push(tokio::spawn(async move {
            let permit = connecting.acquire_owned().await.expect("semaphore");
            // A browser retries a connection the kernel reset under a burst of
            // connects (a full accept queue); so does this client, a little.
            let mut opened = open_stream(addr, source, &path).await;
            for _ in 0..3 {
                if opened.is_ok() {
                    break;
                }
                counters.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                opened = open_stream(addr, source, &path).await;
            }
            drop(permit);
            match opened {
                Ok((stream, rest)) => {
                    counters.opened.fetch_add(1, Ordering::Relaxed);
                    read_events(stream, rest, &counters).await;
                }
                Err(error) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("load: {path}: {error}");
                }
            }
        }));
    }

    /// Opens `paths` and waits until each is open (or failed); the open rate.
    async fn open_all(&mut self, paths: impl IntoIterator<Item = String>) -> f64 {
        let started = Instant::now();
        let before = self.settled();
        let mut wanted = before;
        for path in paths {
            self.open(path);
            wanted += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.settled() < wanted {
            assert!(
                Instant::now() < deadline,
                "streams did not open within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let failed = self.counters.failed.load(Ordering::Relaxed);
        assert_eq!(failed, 0, "{failed} streams failed to open");
        (wanted - before) as f64 / started.elapsed().as_secs_f64()
    }

    fn settled(&self) -> u64 {
        self.counters.opened.load(Ordering::Relaxed) + self.counters.failed.load(Ordering::Relaxed)
    }

    fn reset(&self) {
        self.counters.reset();
    }

    fn events(&self) -> u64 {
        self.counters.events()
    }

    fn quantile(&self, q: f64) -> f64 {
        quantile(std::slice::from_ref(self), q)
    }

    /// The streams open (or that were, until they ended).
    fn streams(&self) -> u64 {
        self.counters.opened.load(Ordering::Relaxed)
    }

    /// Waits until `count` events arrived; the time that took, or `None` at the deadline.
    async fn wait_events(&self, count: u64, deadline: Duration) -> Option<Duration> {
        wait_events(std::slice::from_ref(self), count, deadline).await
    }

    fn close_all(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

/// Events received from all of `loads`.
fn events(loads: &[Load]) -> u64 {
    loads.iter().map(Load::events).sum()
}

/// The `q` latency quantile of all of `loads` together, in µs.
fn quantile(loads: &[Load], q: f64) -> f64 {
    let shards: Vec<_> = loads.iter().flat_map(|l| l.counters.shards()).collect();
    Histogram::merged_quantile(shards.iter().map(|s| &s.latency), q) as f64
}

/// Waits until `count` events arrived from all of `loads`; the time that
/// took, or `None` at the deadline.
async fn wait_events(loads: &[Load], count: u64, deadline: Duration) -> Option<Duration> {
    let started = Instant::now();
    while events(loads) < count {
        if started.elapsed() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    Some(started.elapsed())
}

/// The n-th client address: 127.0.0.2 … 127.0.0.251, then 127.0.1.2 …
fn source_address(n: u32) -> Ipv4Addr {
    let host = n % 250 + 2;
    let net = (n / 250) % 200;
    Ipv4Addr::new(127, 0, net as u8, host as u8)
}

async fn connect(addr: SocketAddr, source: Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `GET path` and reads the response head; returns the stream and
/// any body bytes read with the head.
async fn open_stream(
    addr: SocketAddr,
    source: Ipv4Addr,
    path: &str,
) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = connect(addr, source).await?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 512];
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the response head"));
        }
        head.extend_from_slice(&buffer[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 200") {
                let status = String::from_utf8_lossy(&head[..head.len().min(64)]).into_owned();
                return Err(std::io::Error::other(format!("answered {status:?}")));
            }
            let rest = head.split_off(end + 4);
            return Ok((stream, rest));
        }
    }
}

/// Reads events until the connection ends or the task is aborted.
async fn read_events(mut stream: TcpStream, first: Vec<u8>, counters: &Counters) {
    let mut buffer = vec![0u8; 4096];
    let mut filled = first.len().min(buffer.len());
    buffer[..filled].copy_from_slice(&first[..filled]);
    drop(first);
    loop {
        let consumed = scan(&buffer[..filled], &counters.shard());
        buffer.copy_within(consumed..filled, 0);
        filled -= consumed;
        if filled == buffer.len() {
            // A line longer than the buffer: no such line in this suite.
            filled = 0;
        }
        match stream.read(&mut buffer[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}

/// Counts the complete `data: <µs>` lines in `bytes`; returns how many
/// bytes were consumed (up to the last line end).
fn scan(bytes: &[u8], shard: &Shard) -> usize {
    let mut consumed = 0;
    let mut now = 0;
    let mut events = 0;
    while let Some(end) = memchr::memchr(b'\n', &bytes[consumed..]) {
        let line = &bytes[consumed..consumed + end];
        consumed += end + 1;
        if let Some(data) = line.strip_prefix(b"data: ") {
            events += 1;
            if let Some(sent) = parse_micros(data) {
                if now == 0 {
                    now = now_micros();
                }
                shard.latency.record(now.saturating_sub(sent));
            }
        }
    }
    if events > 0 {
        shard.events.fetch_add(events, Ordering::Relaxed);
    }
    consumed
}

/// `<µs>` or `<µs>.<sequence>` (a JSON number either way).
fn parse_micros(data: &[u8]) -> Option<u64> {
    let data = match memchr::memchr(b'.', data) {
        Some(dot) => &data[..dot],
        None => data,
    };
    if data.is_empty() || data.len() > 19 {
        return None;
    }
    let mut value = 0u64;
    for &b in data {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
    }
    Some(value)
}

/// A plain `GET` answered with a short body (server stats, producer start).
async fn get_body(addr: SocketAddr, path: &str) -> String {
    let mut stream = connect(addr, Ipv4Addr::new(127, 0, 0, 1))
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "GET {path}: {text}");
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

async fn live_streams(addr: SocketAddr) -> u64 {
    get_body(addr, "/stats")
        .await
        .trim()
        .parse()
        .expect("live streams")
}

/// Lets the server finish what it was doing (accepting, first polls, drops).
async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

fn set(figures: &mut Figures, name: &str, value: f64) {
    figures.insert(name.to_owned(), value);
}

async fn idle(mut load: Load, pid: u32, path: &str, steps: &[usize]) -> Figures {
    let mut figures = Figures::new();
    settle().await;
    let start = rss_kib(pid);
    set(&mut figures, "rss_start_kib", start as f64);
    let mut open = 0;
    for &step in steps {
        let rate = load.open_all((open..step).map(|_| path.to_owned())).await;
        open = step;
        settle().await;
        let rss = rss_kib(pid);
        set(&mut figures, &format!("connect_per_s_{step}"), rate);
        set(&mut figures, &format!("rss_kib_{step}"), rss as f64);
        set(
            &mut figures,
            &format!("rss_per_stream_kib_{step}"),
            (rss - start) as f64 / step as f64,
        );
    }
    // `SUITE_IDLE_HOLD=<s>`: keep the streams open that long after the last
    // step, to look at the server (smaps, a heap profiler) by hand.
    if let Some(hold) = std::env::var("SUITE_IDLE_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        eprintln!("load: holding {open} streams for {hold} s");
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    load.close_all();
    figures
}

/// Idle streams over TLS HTTP/2: `streams` in all, `per_connection` on
/// each connection (hyper's HTTP/2 client over rustls, which trusts only
/// `cert`). One task per connection opens its streams in turn, then one per
/// stream reads its body until the run ends.
async fn idle_h2(
    addr: SocketAddr,
    pid: u32,
    path: &str,
    streams: usize,
    per_connection: usize,
    cert: &std::path::Path,
) -> Figures {
    let mut figures = Figures::new();
    let connector = h2::connector(std::fs::read(cert).expect("the server's certificate"));
    settle().await;
    let start = rss_kib(pid);
    set(&mut figures, "rss_start_kib", start as f64);
    let opened = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..streams.div_ceil(per_connection) {
        let count = per_connection.min(streams - n * per_connection);
        let (connector, connecting) = (connector.clone(), connecting.clone());
        let (opened, failed, path) = (opened.clone(), failed.clone(), path.to_owned());
        tasks.push(tokio::spawn(async move {
            let permit = connecting.acquire_owned().await.expect("semaphore");
            let source = source_address(n as u32 + 1);
            match h2::open(addr, source, &connector, &path, count).await {
                Ok(bodies) => {
                    drop(permit);
                    opened.fetch_add(count as u64, Ordering::Relaxed);
                    for body in bodies {
                        tokio::spawn(h2::drain(body));
                    }
                }
                Err(error) => {
                    failed.fetch_add(count as u64, Ordering::Relaxed);
                    eprintln!("load: h2 {path}: {error}");
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    while opened.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < streams as u64 {
        assert!(
            Instant::now() < deadline,
            "h2 streams did not open in 180 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let failed = failed.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "{failed} h2 streams failed to open");
    set(
        &mut figures,
        "connect_per_s",
        streams as f64 / started.elapsed().as_secs_f64(),
    );
    settle().await;
    let rss = rss_kib(pid);
    set(&mut figures, "rss_kib", rss as f64);
    set(
        &mut figures,
        "rss_per_stream_kib",
        (rss - start) as f64 / streams as f64,
    );
    figures
}

/// Just enough HTTP/2 over TLS for [`idle_h2`].
mod h2 {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    use http_body_util::BodyExt as _;
    use hyper::body::Incoming;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    /// A TLS client that trusts only `cert` and offers only `h2`.
    pub fn connector(cert: Vec<u8>) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(cert))
            .expect("a root certificate");
        // Deprecated for lacking post-quantum key exchange; the server uses it too.
        #[allow(deprecated)]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        TlsConnector::from(Arc::new(config))
    }

    /// One connection from `source` with `count` streams on `path`: their
    /// bodies, once every response head said 200.
    pub async fn open(
        addr: SocketAddr,
        source: Ipv4Addr,
        connector: &TlsConnector,
        path: &str,
        count: usize,
    ) -> std::io::Result<Vec<Incoming>> {
        let tcp = super::connect(addr, source).await?;
        let tls = connector
            .connect(ServerName::try_from("localhost").expect("a name"), tcp)
            .await?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(std::io::Error::other("the server did not choose h2"));
        }
        let (send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        let mut bodies = Vec::with_capacity(count);
        for _ in 0..count {
            let request = hyper::Request::get(format!("https://localhost{path}"))
                .header("accept", "text/event-stream")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("a request");
            let mut send = send.clone();
            send.ready().await.map_err(std::io::Error::other)?;
            let response = send
                .send_request(request)
                .await
                .map_err(std::io::Error::other)?;
            if response.status() != 200 {
                return Err(std::io::Error::other(format!(
                    "answered {}",
                    response.status()
                )));
            }
            bodies.push(response.into_body());
        }
        Ok(bodies)
    }

    /// Reads a body until it ends or the process exits.
    pub async fn drain(mut body: Incoming) {
        while let Some(Ok(_)) = body.frame().await {}
    }
}

async fn poll(mut load: Load, pid: u32, streams: usize, seconds: u64) -> Figures {
    let mut figures = Figures::new();
    settle().await;
    let rate = load
        .open_all((0..streams).map(|_| "/poll".to_owned()))
        .await;
    set(&mut figures, "connect_per_s", rate);
    settle().await;
    load.reset();
    let cpu = CpuMeter::start(pid);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    set(&mut figures, "cpu_percent", cpu.percent());
    set(
        &mut figures,
        "events_per_s",
        load.events() as f64 / seconds as f64,
    );
    set(&mut figures, "p50_us", load.quantile(0.5));
    set(&mut figures, "p99_us", load.quantile(0.99));
    set(&mut figures, "rss_kib", rss_kib(pid) as f64);
    load.close_all();
    figures
}

async fn key(mut load: Load, keys: usize, paced: usize, flat_out: usize) -> Figures {
    let mut figures = Figures::new();
    let prefix = format!("k{}x{}", std::process::id(), now_micros() % 1_000_000);
    load.open_all((0..keys).map(|i| format!("/key/{prefix}-{i}")))
        .await;
    settle().await;
    // Paced: one message a millisecond, one in flight per key at a time.
    load.reset();
    get_body(load.addr, &format!("/produce/{prefix}/{keys}/{paced}/1000")).await;
    let took = load
        .wait_events(paced as u64, Duration::from_secs(60))
        .await;
    assert!(
        took.is_some(),
        "paced key messages: {} of {paced} arrived",
        load.events()
    );
    set(&mut figures, "p50_us", load.quantile(0.5));
    set(&mut figures, "p99_us", load.quantile(0.99));
    // Flat out: messages/s from the producer's start to the last frame.
    load.reset();
    let started = Instant::now();
    get_body(load.addr, &format!("/produce/{prefix}/{keys}/{flat_out}/0")).await;
    let took = load
        .wait_events(flat_out as u64, Duration::from_secs(120))
        .await;
    assert!(
        took.is_some(),
        "flat-out key messages: {} of {flat_out} arrived",
        load.events()
    );
    set(
        &mut figures,
        "messages_per_s",
        flat_out as f64 / started.elapsed().as_secs_f64(),
    );
    set(&mut figures, "flat_p99_us", load.quantile(0.99));
    load.close_all();
    figures
}

async fn churn(load: Load, pid: u32, cycles: usize, concurrency: usize, warmup: usize) -> Figures {
    let mut figures = Figures::new();
    settle().await;
    set(&mut figures, "rss_before_kib", rss_kib(pid) as f64);
    let load = Arc::new(load);
    let prefix = format!("c{}", std::process::id());
    cycle_all(&load, &prefix, warmup, concurrency).await;
    wait_no_streams(load.addr).await;
    settle().await;
    let start = rss_kib(pid);
    set(&mut figures, "rss_start_kib", start as f64);
    let started = Instant::now();
    cycle_all(&load, &prefix, cycles, concurrency).await;
    set(
        &mut figures,
        "cycles_per_s",
        cycles as f64 / started.elapsed().as_secs_f64(),
    );
    let live = wait_no_streams(load.addr).await;
    set(&mut figures, "live_streams_after", live as f64);
    settle().await;
    let end = rss_kib(pid);
    set(&mut figures, "rss_end_kib", end as f64);
    set(
        &mut figures,
        "rss_growth_percent",
        (end as f64 - start as f64) / start as f64 * 100.0,
    );
    figures
}

/// Opens and closes `cycles` streams, `concurrency` at a time, alternating
/// an idle poll stream and a key stream.
async fn cycle_all(load: &Arc<Load>, prefix: &str, cycles: usize, concurrency: usize) {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (load, next, prefix) = (load.clone(), next.clone(), prefix.to_owned());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= cycles as u64 {
                        return;
                    }
                    let path = if n % 2 == 0 {
                        "/idle".to_owned()
                    } else {
                        format!("/key/{prefix}-{}", n % 1000)
                    };
                    let source = source_address(n as u32);
                    let (stream, _) = open_stream(load.addr, source, &path)
                        .await
                        .unwrap_or_else(|e| panic!("churn cycle {n}: {e}"));
                    drop(stream);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("churn worker");
    }
}

/// Polls the server's live-stream count until it is 0 (or 10 s passed).
async fn wait_no_streams(addr: SocketAddr) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let live = live_streams(addr).await;
        if live == 0 || Instant::now() > deadline {
            return live;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fanout(
    mut load: Load,
    subscribers: usize,
    database_url: &str,
    channel: &str,
    phases: &Phases,
) -> Figures {
    let mut figures = Figures::new();
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL at DATABASE_URL");
    tokio::spawn(connection);
    let rate = load
        .open_all((0..subscribers).map(|_| "/pg".to_owned()))
        .await;
    set(&mut figures, "connect_per_s", rate);
    settle().await;
    let publisher = Publisher::pg(client, channel).await;
    let mut loads = [load];
    fan_out(&loads, &publisher, phases, &mut figures).await;
    loads[0].close_all();
    figures
}

/// `loads` holds one [`Load`] per server; the topic's subscribers are split
/// between them, and the first server publishes (through Redis, every
/// server delivers).
async fn topic(mut loads: Vec<Load>, subscribers: usize, phases: &Phases) -> Figures {
    let mut figures = Figures::new();
    let section = format!("t{}x{}", std::process::id(), now_micros() % 1_000_000);
    let servers = loads.len();
    let started = Instant::now();
    for (i, load) in loads.iter_mut().enumerate() {
        let share = subscribers / servers + usize::from(i < subscribers % servers);
        load.open_all((0..share).map(|_| format!("/topic/{section}")))
            .await;
    }
    set(
        &mut figures,
        "connect_per_s",
        subscribers as f64 / started.elapsed().as_secs_f64(),
    );
    settle().await;
    let publisher = Publisher::Topic {
        addr: loads[0].addr,
        section,
    };
    fan_out(&loads, &publisher, phases, &mut figures).await;
    for load in &mut loads {
        load.close_all();
    }
    figures
}

/// How a fan-out scenario publishes: `NOTIFY` on PostgreSQL, or a server's
/// `/publish/<topic>/<count>`. Each message carries the time it was
/// published: once for a whole burst, stamped before it is sent.
enum Publisher {
    Pg {
        client: tokio_postgres::Client,
        channel: String,
        burst: tokio_postgres::Statement,
        single: tokio_postgres::Statement,
    },
    Topic {
        addr: SocketAddr,
        section: String,
    },
}

impl Publisher {
    async fn pg(client: tokio_postgres::Client, channel: &str) -> Self {
        // A burst is one transaction, delivered on its commit.
        let burst = client
            .prepare("SELECT pg_notify($1, $2 || '.' || g) FROM generate_series(1, $3::int) g")
            .await
            .expect("prepare");
        let single = client
            .prepare("SELECT pg_notify($1, $2)")
            .await
            .expect("prepare");
        Publisher::Pg {
            client,
            channel: channel.to_owned(),
            burst,
            single,
        }
    }

    /// `size` messages at once.
    async fn burst(&self, size: usize) {
        match self {
            Publisher::Pg {
                client,
                channel,
                burst,
                ..
            } => {
                let stamp = now_micros().to_string();
                client
                    .execute(burst, &[channel, &stamp, &(size as i32)])
                    .await
                    .expect("NOTIFY burst");
            }
            Publisher::Topic { addr, section } => {
                get_body(*addr, &format!("/publish/{section}/{size}")).await;
            }
        }
    }

    /// The `n`-th message of a steady run.
    async fn one(&self, n: u64) {
        match self {
            Publisher::Pg {
                client,
                channel,
                single,
                ..
            } => {
                let stamp = format!("{}.{n}", now_micros());
                client
                    .execute(single, &[channel, &stamp])
                    .await
                    .expect("NOTIFY");
            }
            Publisher::Topic { addr, section } => {
                get_body(*addr, &format!("/publish/{section}/1")).await;
            }
        }
    }
}

/// The two phases of a fan-out to the subscribers open on `loads`: bursts,
/// then a steady rate. Events/s, delivered and latency figures of both, and
/// with several servers what each delivered
/// (`<phase>_delivered_percent_instance_<n>`).
async fn fan_out(loads: &[Load], publisher: &Publisher, phases: &Phases, figures: &mut Figures) {
    let subscribers: u64 = loads.iter().map(Load::streams).sum();

    // Bursts: the next starts once this one is fully delivered.
    for load in loads {
        load.reset();
    }
    let mut busy = Duration::ZERO;
    for _ in 0..phases.bursts {
        let before = events(loads);
        let started = Instant::now();
        publisher.burst(phases.burst_size).await;
        let wanted = before + phases.burst_size as u64 * subscribers;
        while events(loads) < wanted && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        busy += started.elapsed();
        // Stragglers of a burst that timed out count in the next: settle first.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let each = (phases.bursts * phases.burst_size) as u64;
    let received = events(loads);
    set(
        figures,
        "burst_events_per_s",
        received as f64 / busy.as_secs_f64(),
    );
    set(
        figures,
        "burst_delivered_percent",
        received as f64 / (each * subscribers) as f64 * 100.0,
    );
    delivered_by_instance(figures, "burst", loads, each);
    set(figures, "burst_p50_us", quantile(loads, 0.5));
    set(figures, "burst_p99_us", quantile(loads, 0.99));

    // Steady: one message every 1/rate s.
    for load in loads {
        load.reset();
    }
    let count = phases.steady_rate * phases.steady_seconds;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / phases.steady_rate as u32);
    for n in 0..count {
        ticks.tick().await;
        publisher.one(n).await;
    }
    let wanted = count * subscribers;
    wait_events(loads, wanted, Duration::from_secs(10)).await;
    set(
        figures,
        "steady_delivered_percent",
        events(loads) as f64 / wanted as f64 * 100.0,
    );
    delivered_by_instance(figures, "steady", loads, count);
    set(figures, "steady_p50_us", quantile(loads, 0.5));
    set(figures, "steady_p99_us", quantile(loads, 0.99));
}

/// With several servers: the share of its subscribers' `each` messages
/// each server delivered.
fn delivered_by_instance(figures: &mut Figures, phase: &str, loads: &[Load], each: u64) {
    if loads.len() < 2 {
        return;
    }
    for (n, load) in loads.iter().enumerate() {
        set(
            figures,
            &format!("{phase}_delivered_percent_instance_{}", n + 1),
            load.events() as f64 / (each * load.streams()) as f64 * 100.0,
        );
    }
}
