//! An `EventSource` stand-in over raw sockets, for tests that cut
//! connections: it reconnects the way a browser does, sending
//! `Last-Event-ID` with the last event ID it holds, and it can be cut the
//! rude way (a reset, `SO_LINGER` 0) as well as closed.
//!
//! Its parser follows WHATWG §9.2.6 to the letter where `support::Parser`
//! takes a shortcut: an `id:` line only fills the *buffer*; the last event
//! ID changes when the frame is dispatched (its blank line), even when the
//! frame has no data. So a frame cut in the middle never moves the cursor,
//! and an id-only frame does.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Generous, like `support::DEADLINE`.
const DEADLINE: Duration = Duration::from_secs(30);

/// An event as a page's listener sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// `message` when the frame named none.
    pub event: String,
    pub data: String,
    /// The last event ID after this event.
    pub id: String,
}

/// Why a connection attempt did not give a stream.
#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`, in panic messages
pub enum Refused {
    Status(u16, String),
    Io(std::io::Error),
}

/// One HTTP/1.1 response being read as an event stream.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet de-chunked.
    raw: Vec<u8>,
    chunk_left: usize,
    /// Inside a chunk's trailing CRLF.
    after_chunk: bool,
    ended: bool,
    line: Vec<u8>,
    last_was_cr: bool,
    data: String,
    event_type: String,
    id_buffer: String,
    /// The last event ID string: what a reconnect sends.
    pub last_event_id: String,
    ready: VecDeque<Dispatched>,
}

impl Connection {
    /// `GET path` with `last_event_id` as `Last-Event-ID` when not empty.
    pub async fn open(addr: SocketAddr, path: &str, last_event_id: &str) -> Result<Self, Refused> {
        let mut stream = TcpStream::connect(addr).await.map_err(Refused::Io)?;
        stream.set_nodelay(true).map_err(Refused::Io)?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
        );
        if !last_event_id.is_empty() {
            request.push_str(&format!("Last-Event-ID: {last_event_id}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(Refused::Io)?;
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        let end = loop {
            if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut buffer).await.map_err(Refused::Io)?;
            if n == 0 {
                return Err(Refused::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            head.extend_from_slice(&buffer[..n]);
        };
        let text = String::from_utf8_lossy(&head[..end]).into_owned();
        let status: u16 = text
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {text:?}"));
        if status != 200 {
            return Err(Refused::Status(status, text));
        }
        let lower = text.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: text/event-stream"),
            "not an event stream: {text}"
        );
        assert!(
            lower.contains("transfer-encoding: chunked"),
            "expected a chunked stream: {text}"
        );
        Ok(Self {
            stream,
            raw: head[end..].to_vec(),
            chunk_left: 0,
            after_chunk: false,
            ended: false,
            line: Vec::new(),
            last_was_cr: false,
            data: String::new(),
            event_type: String::new(),
            id_buffer: last_event_id.to_owned(),
            last_event_id: last_event_id.to_owned(),
            ready: Default::default(),
        })
    }

    /// The next event; `None` once the response ended or the connection
    /// broke. Cancel-safe: everything read is kept in `self`.
    pub async fn next(&mut self) -> Option<Dispatched> {
        let mut buffer = [0u8; 8192];
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            self.dechunk();
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match self.stream.read(&mut buffer).await {
                Ok(0) | Err(_) => {
                    self.ended = true;
                    return None;
                }
                Ok(n) => self.raw.extend_from_slice(&buffer[..n]),
            }
        }
    }

    /// Reads until a frame changes the last event ID (an id-only frame
    /// included, such as a stream's opening one); panics after the deadline.
    pub async fn until_last_event_id_changes(&mut self) {
        let before = self.last_event_id.clone();
        tokio::time::timeout(DEADLINE, async {
            let mut buffer = [0u8; 8192];
            while self.last_event_id == before {
                self.dechunk();
                if self.last_event_id != before {
                    break;
                }
                assert!(!self.ended, "the stream ended before a new id");
                match self.stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => self.ended = true,
                    Ok(n) => self.raw.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await
        .expect("no new event id within the deadline");
    }

    /// Cuts the connection with a reset (`SO_LINGER` 0), as a crashed
    /// peer or a middlebox does.
    pub fn reset(self) {
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }

    /// Turns de-chunked body bytes into events.
    fn dechunk(&mut self) {
        let mut at = 0;
        let mut body = Vec::new();
        while at < self.raw.len() && !self.ended {
            if self.after_chunk {
                match self.raw[at..].iter().position(|&b| b == b'\n') {
                    Some(n) => {
                        at += n + 1;
                        self.after_chunk = false;
                    }
                    None => break,
                }
            } else if self.chunk_left > 0 {
                let n = self.chunk_left.min(self.raw.len() - at);
                body.extend_from_slice(&self.raw[at..at + n]);
                at += n;
                self.chunk_left -= n;
                if self.chunk_left == 0 {
                    self.after_chunk = true;
                }
            } else {
                let Some(n) = self.raw[at..].iter().position(|&b| b == b'\n') else {
                    break;
                };
                let line = String::from_utf8_lossy(&self.raw[at..at + n]);
                let size = line.trim().split(';').next().unwrap_or("");
                let size = usize::from_str_radix(size, 16)
                    .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
                at += n + 1;
                if size == 0 {
                    self.ended = true;
                } else {
                    self.chunk_left = size;
                }
            }
        }
        self.raw.drain(..at);
        self.feed(&body);
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.last_was_cr {
                self.last_was_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\r' => {
                    self.last_was_cr = true;
                    self.end_line();
                }
                b'\n' => self.end_line(),
                other => self.line.push(other),
            }
        }
    }

    fn end_line(&mut self) {
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event_type = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.id_buffer = value.to_owned(),
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        self.last_event_id = self.id_buffer.clone();
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        let event = std::mem::take(&mut self.event_type);
        self.ready.push_back(Dispatched {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
            id: self.last_event_id.clone(),
        });
    }
}

/// A page's `EventSource`: one stream at a time, reconnected after a cut
/// with the last event ID, to the next of `servers` in turn.
pub struct EventSource {
    servers: Vec<SocketAddr>,
    path: String,
    connection: Option<Connection>,
    next_server: usize,
    /// The last event ID, kept across connections as a browser does.
    pub last_event_id: String,
    /// Connections opened, the first included.
    pub connections: usize,
    /// Attempts answered with something other than a stream (a 503 while
    /// Redis was away); a page reopens after those.
    pub refusals: usize,
    /// Events a cut connection had dispatched but `next` had not returned
    /// yet: a browser delivers what it dispatched (and counted in the last
    /// event ID) whatever happens to the connection afterwards.
    dispatched: VecDeque<Dispatched>,
}

impl EventSource {
    pub fn new(servers: Vec<SocketAddr>, path: impl Into<String>) -> Self {
        Self {
            servers,
            path: path.into(),
            connection: None,
            next_server: 0,
            last_event_id: String::new(),
            connections: 0,
            refusals: 0,
            dispatched: VecDeque::new(),
        }
    }

    /// The next event, reconnecting as often as needed. A response that
    /// ends without `[DONE]` (the server ended it, or it was cut) is
    /// reconnected like a browser does. Cancel-safe.
    pub async fn next(&mut self) -> Dispatched {
        if let Some(event) = self.dispatched.pop_front() {
            return event;
        }
        loop {
            if self.connection.is_none() {
                self.connect().await;
            }
            let connection = self.connection.as_mut().expect("connected");
            let event = connection.next().await;
            self.last_event_id = connection.last_event_id.clone();
            match event {
                Some(event) => return event,
                None => self.connection = None,
            }
        }
    }

    /// Connects now (if not connected), outside any race with a cut: the
    /// first connection returns once its opening id arrived.
    pub async fn ready(&mut self) {
        if self.connection.is_none() {
            self.connect().await;
        }
    }

    async fn connect(&mut self) {
        let started = tokio::time::Instant::now();
        loop {
            let server = self.servers[self.next_server % self.servers.len()];
            self.next_server += 1;
            match Connection::open(server, &self.path, &self.last_event_id).await {
                Ok(mut connection) => {
                    self.connections += 1;
                    if self.last_event_id.is_empty() {
                        // A first connection cut before its opening id would
                        // come back as a new lineage; tests cut only after.
                        connection.until_last_event_id_changes().await;
                        self.last_event_id = connection.last_event_id.clone();
                    }
                    self.connection = Some(connection);
                    return;
                }
                Err(refused) => {
                    self.refusals += 1;
                    assert!(
                        started.elapsed() < DEADLINE,
                        "{} refused the stream for {DEADLINE:?}: {refused:?}",
                        self.path
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Cuts the current connection, with a reset when `reset`, else a
    /// plain close; the next [`EventSource::next`] reconnects.
    pub fn cut(&mut self, reset: bool) {
        if let Some(mut connection) = self.connection.take() {
            self.last_event_id = connection.last_event_id.clone();
            self.dispatched.extend(connection.ready.drain(..));
            if reset {
                connection.reset();
            }
        }
    }
}

/// A small deterministic generator for cut intervals.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Uniform-ish in `low..high` milliseconds.
    pub fn between(&mut self, low: u64, high: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(low + self.0 % (high - low))
    }

    pub fn coin(&mut self) -> bool {
        self.between(0, 2).as_millis() == 1
    }
}
