//! What the integration tests share: a real server on an ephemeral port, and
//! an event-stream client with a WHATWG-conformant parser.
#![allow(dead_code)] // each test binary uses a different part

pub mod browser;
pub mod cutter;
pub mod examples;
pub mod parser;
pub mod services;
pub mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use parser::{Parser, ServerEvent};

/// Generous: long enough for a loaded 2-core CI box, short enough to fail.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A tiny app served on 127.0.0.1 with a random port.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<tiny::Result<()>>,
}

impl TestServer {
    pub async fn start(app: tiny::App) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends the shutdown signal and waits for the server to drain.
    pub async fn shutdown(mut self) -> tiny::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.handle)
            .await
            .expect("server did not drain after shutdown")
            .expect("server task panicked")
    }

    /// [`TestServer::events`] taking its path by value, for many at once.
    pub async fn events_owned(&self, path: String) -> EventReader {
        self.events(&path).await
    }

    /// Opens an event stream and checks it answered 200 with SSE headers.
    pub async fn events(&self, path: &str) -> EventReader {
        let response = client()
            .get(self.url(path))
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("request failed");
        assert_eq!(response.status(), 200, "GET {path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "GET {path}"
        );
        EventReader::new(response)
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// A loopback address nothing listens on (bound, then let go), for a
/// server's separate metrics port.
pub fn free_addr() -> SocketAddr {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    free.local_addr().expect("its address")
}

/// The metrics page served at `addr`.
pub async fn metrics_text(addr: SocketAddr) -> String {
    client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("the metrics address answers")
        .text()
        .await
        .expect("the metrics page")
}

/// Reads events off a streaming response.
pub struct EventReader {
    pub headers: reqwest::header::HeaderMap,
    body: std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    parser: Parser,
    ready: std::collections::VecDeque<ServerEvent>,
    ended: bool,
}

impl EventReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            headers: response.headers().clone(),
            body: Box::pin(response.bytes_stream()),
            parser: Parser::default(),
            ready: Default::default(),
            ended: false,
        }
    }

    /// The next event; `None` once the response has ended. Panics after
    /// [`DEADLINE`] without one.
    pub async fn next(&mut self) -> Option<ServerEvent> {
        tokio::time::timeout(DEADLINE, self.next_unbounded())
            .await
            .expect("no event within the deadline")
    }

    pub async fn next_unbounded(&mut self) -> Option<ServerEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.ready.extend(self.parser.feed(&chunk)),
                Some(Err(error)) => panic!("stream failed: {error}"),
                None => self.ended = true,
            }
        }
    }

    /// The next event's data (panics when the stream ends first).
    pub async fn data(&mut self) -> String {
        self.next().await.expect("stream ended").data
    }

    /// Waits until the response ends; returns the events received meanwhile.
    pub async fn until_end(&mut self) -> Vec<ServerEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }

    /// [`until_end`](Self::until_end), with the whole wait bounded by
    /// [`DEADLINE`]: a stream that keeps sending but never ends fails the
    /// test instead of hanging it.
    pub async fn until_end_within_deadline(&mut self) -> Vec<ServerEvent> {
        let mut events = Vec::new();
        let ended = tokio::time::timeout(DEADLINE, async {
            while let Some(event) = self.next_unbounded().await {
                events.push(event);
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "the response did not end within the deadline; received {events:?}"
        );
        events
    }

    /// Comments (keep-alives) seen so far.
    pub fn comments(&self) -> usize {
        self.parser.comments
    }

    /// The reconnection time (ms) set by the last `retry:` read so far.
    pub fn reconnection_time(&self) -> Option<u64> {
        self.parser.reconnection_time
    }

    /// Waits until at least `count` comments (the opening one and
    /// keep-alives) have arrived; panics after [`DEADLINE`].
    pub async fn wait_for_comments(&mut self, count: usize) {
        tokio::time::timeout(DEADLINE, async {
            while self.parser.comments < count {
                match self.body.next().await {
                    Some(Ok(chunk)) => self.ready.extend(self.parser.feed(&chunk)),
                    other => panic!("stream ended while waiting for comments: {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} of {count} comments within the deadline",
                self.parser.comments
            )
        });
    }

    /// Waits for the next chunk and reports whether any comment arrived.
    pub async fn wait_for_comment(&mut self) {
        let before = self.parser.comments;
        tokio::time::timeout(DEADLINE, async {
            while self.parser.comments == before {
                match self.body.next().await {
                    Some(Ok(chunk)) => self.ready.extend(self.parser.feed(&chunk)),
                    other => panic!("stream ended while waiting for a comment: {other:?}"),
                }
            }
        })
        .await
        .expect("no comment within the deadline");
    }
}

/// Polls `condition` every 10 ms until it holds; panics after [`DEADLINE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !condition() {
        if start.elapsed() > DEADLINE {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
