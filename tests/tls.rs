//! HTTPS and HTTP/2 over real sockets: curl and an HTTP/2 client against the
//! heartbeat example run with `TINY_TLS_CERT`/`TINY_TLS_KEY` as a user runs
//! it, and an in-process app for what a stream promises over HTTP/2, over
//! TLS and in cleartext with prior knowledge (h2c) on the plain port.
//! Certificates are self-signed, made fresh by each test.

#[path = "support/instances.rs"]
mod instances;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use instances::Instance;
use support::{DEADLINE, Parser, ServerEvent, TestServer, eventually};
use tiny::prelude::*;
use tokio::io::{
    AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader as AsyncBufReader,
};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as
/// PEM files in a directory of its own.
struct Certificate {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

impl Certificate {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(support::services::unique("tiny-tls"));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let made = Self::generate();
        std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
        Self {
            der: made.cert.der().clone(),
            dir,
            cert,
            key,
        }
    }

    fn generate() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate")
    }

    /// The variables that make an example serve HTTPS with this certificate.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TINY_TLS_CERT", self.cert.display().to_string()),
            ("TINY_TLS_KEY", self.key.display().to_string()),
        ]
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `examples/<name>.rs` with `env` (the certificate's, and more).
fn https_instance(name: &str, env: &[(&str, String)]) -> Instance {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Instance::start(name, &env)
}

/// A TLS client that trusts only `roots` and offers only `alpn`.
fn connector(roots: &[&CertificateDer<'static>], alpn: &[u8]) -> TlsConnector {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).expect("a root certificate");
    }
    // Deprecated for lacking post-quantum key exchange; the server uses it too.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// One HTTP/2 connection, over TLS or in cleartext: requests are streams
/// on it.
struct H2 {
    send: SendRequest<String>,
    /// What request URIs start with: `https://localhost`, `http://ADDR`.
    origin: String,
    /// Ends when the connection does: `Ok` after a GOAWAY and a clean drain.
    connection: JoinHandle<hyper::Result<()>>,
}

impl H2 {
    async fn connect(addr: SocketAddr, cert: &Certificate) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let tls = connector(&[&cert.der], b"h2")
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect("TLS handshake");
        assert_eq!(
            tls.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "the server chose HTTP/2"
        );
        Self::handshake(tls, "https://localhost".to_owned()).await
    }

    /// HTTP/2 in cleartext with prior knowledge (h2c): the connection opens
    /// with the HTTP/2 preface, with no TLS and no upgrade.
    async fn prior_knowledge(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Self::handshake(tcp, format!("http://{addr}")).await
    }

    async fn handshake<I>(io: I, origin: String) -> Self
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .expect("HTTP/2 handshake");
        Self {
            send,
            origin,
            connection: tokio::spawn(connection),
        }
    }

    /// Sends `GET path` on a new stream and waits for the response head.
    fn get(&self, path: &str) -> impl Future<Output = hyper::Response<Incoming>> + use<> {
        let request = hyper::Request::get(format!("{}{path}", self.origin))
            .header("accept", "text/event-stream")
            .body(String::new())
            .unwrap();
        let mut send = self.send.clone();
        async move {
            send.ready().await.expect("the connection is usable");
            send.send_request(request).await.expect("a response")
        }
    }
}

/// Reads events off an HTTP/2 response body.
struct H2Events {
    body: Incoming,
    parser: Parser,
    ready: std::collections::VecDeque<ServerEvent>,
    /// `Some(clean)` once the body ended: `true` for END_STREAM, `false`
    /// for a reset.
    ended: Option<bool>,
}

impl H2Events {
    fn new(response: hyper::Response<Incoming>) -> Self {
        Self {
            body: response.into_body(),
            parser: Parser::default(),
            ready: Default::default(),
            ended: None,
        }
    }

    /// The next chunk of the body; `None` at its end.
    async fn chunk(&mut self) -> Option<Bytes> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_frame(cx)).await;
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => return Some(data),
                    Err(_) => continue,
                },
                Some(Err(_)) => {
                    self.ended = Some(false);
                    return None;
                }
                None => {
                    self.ended = Some(true);
                    return None;
                }
            }
        }
    }

    /// The next event; `None` once the body ended. Panics after the deadline.
    async fn next(&mut self) -> Option<ServerEvent> {
        tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(event) = self.ready.pop_front() {
                    return Some(event);
                }
                if self.ended.is_some() {
                    return None;
                }
                if let Some(chunk) = self.chunk().await {
                    self.ready.extend(self.parser.feed(&chunk));
                }
            }
        })
        .await
        .expect("no event within the deadline")
    }

    /// Reads until the body ends; `true` when it ended cleanly.
    async fn until_end(&mut self) -> bool {
        tokio::time::timeout(DEADLINE, async {
            while self.ended.is_none() {
                if let Some(chunk) = self.chunk().await {
                    self.ready.extend(self.parser.feed(&chunk));
                }
            }
        })
        .await
        .expect("the stream did not end within the deadline");
        self.ended == Some(true)
    }
}

/// `curl -k -i -N` with `protocol` (`--http2`, `--http1.1`) for `url`: the
/// response head's lines and the first `data:` line.
async fn curl_first_frame(protocol: &str, url: &str) -> (Vec<String>, String) {
    let mut child = tokio::process::Command::new("curl")
        .args(["-k", "-sS", "-i", "-N", protocol, url])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl is installed (apt-get install curl)");
    let mut lines = AsyncBufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut head = Vec::new();
    let data = tokio::time::timeout(DEADLINE, async {
        let mut in_head = true;
        while let Some(line) = lines.next_line().await.expect("curl's output") {
            let line = line.trim_end().to_owned();
            if in_head {
                if line.is_empty() {
                    in_head = false;
                } else {
                    head.push(line);
                }
            } else if line.starts_with("data:") {
                return line;
            }
        }
        panic!("curl ended before a frame; head: {head:?}")
    })
    .await
    .expect("no frame within the deadline");
    (head, data)
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn curl_over_http2_gets_the_heartbeat_stream() {
    let cert = Certificate::new();
    let server = https_instance("heartbeat", &cert.env());
    let (head, data) = curl_first_frame("--http2", &server.url("/heartbeat")).await;
    assert_eq!(head[0], "HTTP/2 200", "{head:?}");
    assert_eq!(header(&head, "content-type"), Some("text/event-stream"));
    assert_eq!(header(&head, "cache-control"), Some("no-store"));
    for hop_by_hop in ["connection", "transfer-encoding", "keep-alive"] {
        assert_eq!(header(&head, hop_by_hop), None, "{head:?}");
    }
    let json: serde_json::Value =
        serde_json::from_str(data.trim_start_matches("data:").trim()).expect("a JSON frame");
    assert!(json["ts"].is_number(), "{data}");
}

#[tokio::test]
async fn http1_over_tls_still_works() {
    let cert = Certificate::new();
    let server = https_instance("heartbeat", &cert.env());
    let (head, data) = curl_first_frame("--http1.1", &server.url("/heartbeat")).await;
    assert_eq!(head[0], "HTTP/1.1 200 OK", "{head:?}");
    assert_eq!(header(&head, "content-type"), Some("text/event-stream"));
    assert!(data.contains("\"ts\""), "{data}");
    // And the page, an ordinary response.
    let page = tokio::process::Command::new("curl")
        .args(["-k", "-sS", "--http1.1", &server.url("/")])
        .output()
        .await
        .expect("curl");
    assert!(String::from_utf8_lossy(&page.stdout).contains("new EventSource"));
}

/// Variables to start an example with.
type Env = Vec<(&'static str, String)>;

/// Runs the heartbeat example with `env` and returns what it printed on
/// stdout and stderr once it exited, failing if it started.
fn refused_start(env: &[(&str, String)]) -> (String, String) {
    let mut command = Command::new(support::examples::example_binary("heartbeat"));
    command
        .env("TINY_ADDR", "127.0.0.1:0")
        .env_remove("TINY_CACHE_URL")
        .env_remove("TINY_TLS_CERT")
        .env_remove("TINY_TLS_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "started with {env:?}: {stdout}{stderr}"
    );
    assert!(
        !stdout.contains("listening on"),
        "printed its address before refusing: {stdout}"
    );
    (stdout, stderr)
}

#[tokio::test]
async fn a_bad_certificate_or_key_refuses_to_start_naming_the_setting() {
    let cert = Certificate::new();
    let other = Certificate::new();
    let path = |p: &Path| p.display().to_string();
    let missing = cert.dir.join("absent.pem");
    let garbage = cert.dir.join("garbage.pem");
    std::fs::write(&garbage, "not PEM at all\n").unwrap();

    let cases: [(&str, Env, &str); 5] = [
        (
            "a missing certificate",
            vec![
                ("TINY_TLS_CERT", path(&missing)),
                ("TINY_TLS_KEY", path(&cert.key)),
            ],
            "TINY_TLS_CERT",
        ),
        (
            "a certificate that is not PEM",
            vec![
                ("TINY_TLS_CERT", path(&garbage)),
                ("TINY_TLS_KEY", path(&cert.key)),
            ],
            "TINY_TLS_CERT",
        ),
        (
            "a key that is not PEM",
            vec![
                ("TINY_TLS_CERT", path(&cert.cert)),
                ("TINY_TLS_KEY", path(&garbage)),
            ],
            "TINY_TLS_KEY",
        ),
        (
            "a key of another certificate",
            vec![
                ("TINY_TLS_CERT", path(&cert.cert)),
                ("TINY_TLS_KEY", path(&other.key)),
            ],
            "TINY_TLS_KEY",
        ),
        (
            "a certificate without a key",
            vec![("TINY_TLS_CERT", path(&cert.cert))],
            "TINY_TLS_KEY",
        ),
    ];
    for (case, env, setting) in cases {
        let (_, stderr) = refused_start(&env);
        assert!(
            stderr.contains(setting),
            "{case}: the error does not name {setting}: {stderr}"
        );
    }
    let (_, stderr) = refused_start(&[
        ("TINY_TLS_CERT", path(&cert.cert)),
        ("TINY_TLS_KEY", path(&other.key)),
    ]);
    assert!(stderr.contains("does not match"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_twenty_h2_streams_exits_within_the_deadline() {
    let cert = Certificate::new();
    let mut env = cert.env();
    env.push(("TINY_SHUTDOWN_TIMEOUT", "10s".to_owned()));
    let mut server = https_instance("heartbeat", &env);
    let h2 = H2::connect(server.addr, &cert).await;
    let responses = futures_util::future::join_all((0..20).map(|_| h2.get("/heartbeat"))).await;
    let mut streams = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        let mut events = H2Events::new(response);
        assert!(events.next().await.is_some(), "a first frame");
        streams.push(events);
    }
    server.signal("TERM");
    // Every stream ends cleanly (END_STREAM, not a reset) and the
    // connection closes after the server's GOAWAY.
    for (i, stream) in streams.iter_mut().enumerate() {
        assert!(stream.until_end().await, "stream {i} was reset, not ended");
    }
    let closed = tokio::time::timeout(DEADLINE, h2.connection)
        .await
        .expect("the connection did not close")
        .expect("the connection task");
    assert!(closed.is_ok(), "the connection ended with {closed:?}");
    let status = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the server did not exit within its 10 s shutdown deadline");
    assert!(status.success(), "the server exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_cap_counts_each_h2_stream() {
    let cert = Certificate::new();
    let mut env = cert.env();
    env.push(("TINY_MAX_STREAMS", "5".to_owned()));
    let server = https_instance("heartbeat", &env);
    let h2 = H2::connect(server.addr, &cert).await;
    let responses = futures_util::future::join_all((0..8).map(|_| h2.get("/heartbeat"))).await;
    let (open, refused): (Vec<_>, Vec<_>) = responses.into_iter().partition(|r| r.status() == 200);
    assert_eq!(open.len(), 5, "five streams on one connection were let in");
    assert_eq!(refused.len(), 3);
    for response in &refused {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
    }
    // Closing one stream (RST_STREAM, the connection stays) frees its place.
    let mut open: Vec<_> = open.into_iter().map(H2Events::new).collect();
    for events in &mut open {
        assert!(events.next().await.is_some(), "a first frame");
    }
    drop(open.pop());
    let start = tokio::time::Instant::now();
    loop {
        let response = h2.get("/heartbeat").await;
        if response.status() == 200 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the closed stream's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate() {
    let cert = Certificate::new();
    let server = https_instance("heartbeat", &cert.env());
    let renewed = Certificate::generate();
    let renewed_der = renewed.cert.der().clone();
    // Written whole, then renamed, as certbot and cert-manager do.
    for (path, pem) in [
        (&cert.cert, renewed.cert.pem()),
        (&cert.key, renewed.signing_key.serialize_pem()),
    ] {
        let next = path.with_extension("next");
        std::fs::write(&next, pem).unwrap();
        std::fs::rename(&next, path).unwrap();
    }
    server.signal("HUP");
    let trusts_renewed = connector(&[&renewed_der], b"h2");
    let start = tokio::time::Instant::now();
    loop {
        let tcp = TcpStream::connect(server.addr).await.expect("connect");
        let handshake = trusts_renewed
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await;
        if handshake.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the renewed certificate was not served after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still serving, with the renewed certificate.
    let (head, _) = curl_first_frame("--http2", &server.url("/heartbeat")).await;
    assert_eq!(head[0], "HTTP/2 200");
}

/// Two frames 100 ms apart, then `[DONE]`.
#[controller]
pub struct Countdown;

#[controller]
impl Countdown {
    fn get(&self) -> tiny::sse::EventStream {
        let mut left = 2;
        tiny::sse().stream(
            move || {
                left -= 1;
                let frame = if left < 0 {
                    tiny::sse::DONE.to_owned()
                } else {
                    left.to_string()
                };
                async move { Some(frame) }
            },
            Duration::from_millis(100),
        )
    }
}

/// One frame, then only keep-alive comments.
#[controller]
pub struct Quiet;

#[controller]
impl Quiet {
    #[sse(poll = 3600, keep_alive = "200ms")]
    async fn get(&self) -> Option<String> {
        Some("hello".to_owned())
    }
}

async fn tls_server(app: tiny::App, cert: &Certificate) -> TestServer {
    TestServer::start(app.tls(&cert.cert, &cert.key)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_stream_behaves_as_over_http1() {
    let cert = Certificate::new();
    let app = tiny::App::empty().mount::<Countdown>().mount::<Quiet>();
    let server = tls_server(app, &cert).await;
    let h2 = H2::connect(server.addr, &cert).await;

    let response = h2.get("/countdown").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-accel-buffering"], "no");
    for hop_by_hop in ["connection", "transfer-encoding", "keep-alive"] {
        assert!(!headers.contains_key(hop_by_hop), "{headers:?}");
    }
    let mut countdown = H2Events::new(response);
    let mut data = Vec::new();
    while let Some(event) = countdown.next().await {
        data.push(event.data);
    }
    assert_eq!(data, ["1", "0", "[DONE]"]);
    assert_eq!(
        countdown.ended,
        Some(true),
        "[DONE] ends the stream cleanly"
    );

    // Flushed as produced: the first frame of a stream that never ends
    // arrives, and keep-alive comments follow.
    let mut quiet = H2Events::new(h2.get("/quiet").await);
    assert_eq!(quiet.next().await.expect("a frame").data, "hello");
    tokio::time::timeout(DEADLINE, async {
        while quiet.parser.comments < 2 {
            let chunk = quiet.chunk().await.expect("the stream is open");
            quiet.parser.feed(&chunk);
        }
    })
    .await
    .expect("keep-alive comments over HTTP/2");

    drop(quiet);
    eventually("the stream to be released", || {
        tiny::sse::live_streams() == 0
    })
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_max_streams_bounds_the_streams_of_one_connection() {
    let cert = Certificate::new();
    let app = tiny::App::empty().mount::<Quiet>().h2_max_streams(2);
    let server = tls_server(app, &cert).await;
    let h2 = H2::connect(server.addr, &cert).await;
    let mut first = H2Events::new(h2.get("/quiet").await);
    let mut second = H2Events::new(h2.get("/quiet").await);
    first.next().await.expect("a frame");
    second.next().await.expect("a frame");
    // A third waits for a place: the client honours the server's
    // SETTINGS_MAX_CONCURRENT_STREAMS.
    let third = tokio::spawn(h2.get("/quiet"));
    eventually("two streams open", || tiny::sse::live_streams() == 2).await;
    assert!(!third.is_finished(), "a third stream was opened");
    drop(first);
    let third = tokio::time::timeout(DEADLINE, third)
        .await
        .expect("the third stream opened once one closed")
        .unwrap();
    assert_eq!(third.status(), 200);
    drop(second);
    server.shutdown().await.unwrap();
}

/// A TCP relay that can go silent: once frozen it forwards nothing in
/// either direction but keeps both sockets open, as a peer whose network
/// vanished without a FIN or a reset (a laptop closed, a Wi-Fi gone).
struct Freezer {
    addr: SocketAddr,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl Freezer {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (frozen, _) = tokio::sync::watch::channel(false);
        let frozen_rx = frozen.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(Self::pipe(client_read, server_write, frozen_rx.clone()));
                tokio::spawn(Self::pipe(server_read, client_write, frozen_rx.clone()));
            }
        });
        Self { addr, frozen }
    }

    /// Copies `from` to `to` until frozen, then holds both open for ever.
    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut frozen: tokio::sync::watch::Receiver<bool>,
    ) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut buf = vec![0; 16 * 1024];
        loop {
            tokio::select! {
                () = async {
                    let _ = frozen.wait_for(|frozen| *frozen).await;
                } => break,
                read = from.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                },
            }
        }
        let _held = (from, to);
        std::future::pending::<()>().await;
    }

    fn freeze(&self) {
        self.frozen.send_replace(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_peer_gone_silent_is_found_by_ping_and_its_streams_end() {
    let cert = Certificate::new();
    let app = tiny::App::empty()
        .mount::<Quiet>()
        .h2_keep_alive(Duration::from_millis(300));
    let server = tls_server(app, &cert).await;
    let relay = Freezer::start(server.addr).await;
    let h2 = H2::connect(relay.addr, &cert).await;
    let mut quiet = H2Events::new(h2.get("/quiet").await);
    assert_eq!(quiet.next().await.expect("a first frame").data, "hello");
    assert_eq!(tiny::sse::live_streams(), 1);

    // No FIN, no reset, nothing: only an unanswered PING can tell. (The
    // write timeout is 30 s and the TCP keepalive 60 s, past the deadline;
    // the stream's few bytes of comments never fill a socket buffer.)
    relay.freeze();
    eventually("the silent peer's stream to end", || {
        tiny::sse::live_streams() == 0
    })
    .await;
    drop(quiet);
    server.shutdown().await.unwrap();
}

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads a countdown stream to its end: its frames' data, and whether it
/// ended cleanly.
async fn countdown_over_h2(h2: &H2) -> (Vec<String>, bool) {
    let response = h2.get("/countdown").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = H2Events::new(response);
    let mut data = Vec::new();
    while let Some(event) = events.next().await {
        data.push(event.data);
    }
    (data, events.ended == Some(true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_carries_several_streams_on_one_connection() {
    let app = tiny::App::empty().mount::<Countdown>().mount::<Quiet>();
    let server = TestServer::start(app).await;
    let h2 = H2::prior_knowledge(server.addr).await;

    // Four streams open at once on the one connection, each with its frames.
    let mut quiet = Vec::new();
    for _ in 0..4 {
        let response = h2.get("/quiet").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        quiet.push(H2Events::new(response));
    }
    for (i, events) in quiet.iter_mut().enumerate() {
        let event = events.next().await.expect("a frame");
        assert_eq!(event.data, "hello", "stream {i}");
    }
    eventually("four streams open", || tiny::sse::live_streams() == 4).await;
    // And streams that end, beside them.
    let countdowns = futures_util::future::join_all((0..3).map(|_| countdown_over_h2(&h2))).await;
    for (data, clean) in countdowns {
        assert_eq!(data, ["1", "0", "[DONE]"]);
        assert!(clean, "[DONE] ends the stream cleanly");
    }

    // HTTP/1.1 on the same port, as before.
    let mut events = server.events("/countdown").await;
    let data: Vec<_> = events
        .until_end()
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(data, ["1", "0", "[DONE]"]);
    let page = support::client()
        .get(server.url("/nowhere"))
        .send()
        .await
        .expect("an HTTP/1.1 response");
    assert_eq!(page.version(), reqwest::Version::HTTP_11);
    assert_eq!(page.status(), 404);

    drop(quiet);
    server.shutdown().await.unwrap();
    let closed = tokio::time::timeout(DEADLINE, h2.connection)
        .await
        .expect("the h2c connection did not close on shutdown")
        .expect("the connection task");
    assert!(closed.is_ok(), "the connection ended with {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_partial_preface_holds_up_no_one_and_shutdown_closes_it() {
    // A drain deadline past the test's: only the shutdown itself can end
    // the stalled connection in time (its header timeout is 30 s).
    let app = tiny::App::empty()
        .mount::<Countdown>()
        .shutdown_timeout(Duration::from_secs(120));
    let server = TestServer::start(app).await;
    let mut stalled = TcpStream::connect(server.addr).await.expect("connect");
    stalled.write_all(&PREFACE[..10]).await.unwrap();
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");

    // Meanwhile others are served, over both protocols.
    let h2 = H2::prior_knowledge(server.addr).await;
    let (data, _) = countdown_over_h2(&h2).await;
    assert_eq!(data, ["1", "0", "[DONE]"]);
    let mut events = server.events("/countdown").await;
    assert_eq!(events.until_end().await.len(), 3);

    // Fails past the deadline if the two unsent requests kept it waiting.
    server.shutdown().await.unwrap();
    for (name, client) in [("stalled", &mut stalled), ("silent", &mut silent)] {
        let mut buf = [0; 64];
        // A close with the preface's start unread is a reset, not a FIN.
        let read = tokio::time::timeout(DEADLINE, client.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("the {name} connection is still open"));
        assert!(matches!(read, Ok(0) | Err(_)), "{name}: {read:?}");
    }
}
