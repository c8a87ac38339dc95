//! `tiny::test`: drive an app from your own tests, in process, with no
//! socket: plain requests, and event streams read event by event.
//!
//! An event stream never ends by itself, so a client that waits for the
//! whole body (axum-test, `tower::ServiceExt::oneshot` and a collect) cannot
//! test one. [`Client::sse`] hands the stream over as it is produced, parsed
//! the way a browser's `EventSource` parses it (WHATWG), and works under
//! `tokio::time::pause()`, so a poll stream of one frame a minute is tested
//! in no time.
//!
//! ```
//! use tiny::prelude::*;
//!
//! #[controller]
//! pub struct Ticks;
//!
//! #[controller]
//! impl Ticks {
//!     #[sse(poll = 60)]                 // once a minute
//!     fn get(&self) -> Option<&'static str> {
//!         Some("tick")
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! tokio::time::pause();                 // the minutes pass at once
//! let client = tiny::test::Client::new(tiny::App::empty().mount::<Ticks>());
//! assert_eq!(client.get("/nowhere").await.status(), 404);
//! let mut events = client.sse("/ticks").await;
//! assert_eq!(events.status(), 200);
//! for _ in 0..3 {
//!     let event = events.next().await.expect("a tick");
//!     assert_eq!((event.event.as_str(), event.data.as_str()), ("message", "tick"));
//! }
//! # }
//! ```

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use tower_service::Service as _;

use crate::App;

/// An in-process client of an app: requests go straight to its router.
///
/// Each request comes from `127.0.0.1` with `Host: localhost`, so origin
/// checks treat it as the app's own page.
#[derive(Clone, Debug)]
pub struct Client {
    router: Router,
}

impl Client {
    /// A client of `app`'s routes.
    ///
    /// # Panics
    ///
    /// When two controllers of `app` claim one path, as [`App::router`]
    /// does; [`Client::try_new`] returns that as an `Err`.
    pub fn new(app: App) -> Self {
        Self {
            router: app.router(),
        }
    }

    /// [`Client::new`], with a bad app (two controllers on one path, a
    /// malformed `TINY_…` setting) as an `Err`.
    pub fn try_new(app: App) -> crate::Result<Self> {
        Ok(Self {
            router: app.try_router()?,
        })
    }

    /// `GET path`, the whole response read.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await
    }

    /// `GET path` as an event stream, read as it is produced.
    pub async fn sse(&self, path: &str) -> Events {
        self.request(Method::GET, path).sse().await
    }

    /// A request with any verb, headers and body.
    ///
    /// ```
    /// # use tiny::prelude::*;
    /// # #[controller] pub struct Echo;
    /// # #[controller] impl Echo {
    /// #     fn post(&self, req: &Request) -> String { req.text().unwrap_or_default().to_owned() }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tiny::http::Method;
    ///
    /// let client = tiny::test::Client::new(tiny::App::empty().mount::<Echo>());
    /// let response = client.request(Method::POST, "/echo").body("hello").send().await;
    /// assert_eq!(response.text(), "hello");
    /// # }
    /// ```
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder {
            router: self.router.clone(),
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

/// A request being built; [`send`](Self::send) or [`sse`](Self::sse) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    router: Router,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl RequestBuilder {
    /// Adds a header. A name or value that is not valid HTTP is dropped
    /// (and the request goes without it).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(name, value);
        }
        self
    }

    /// The `Last-Event-ID` a reconnecting browser sends.
    pub fn last_event_id(self, id: &str) -> Self {
        self.header("last-event-id", id)
    }

    /// The request body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// `value` as a JSON body, with `Content-Type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value).map_or_else(|_| Bytes::new(), Bytes::from);
        self.header("content-type", "application/json")
    }

    /// Sends the request and reads the whole response.
    pub async fn send(self) -> Response {
        let (status, headers, body) = self.call().await;
        // A body that fails midway (a stream cut off) keeps what it had.
        let body = body
            .0
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Response {
            status,
            headers,
            body,
        }
    }

    /// Sends the request and hands the body over as events, as produced.
    pub async fn sse(self) -> Events {
        let (status, headers, body) = self.call().await;
        Events {
            status,
            headers,
            body,
            parser: Parser::default(),
            ready: std::collections::VecDeque::new(),
            ended: false,
        }
    }

    async fn call(self) -> (StatusCode, HeaderMap, BodyStream) {
        let mut request = axum::http::Request::new(Body::from(self.body));
        *request.method_mut() = self.method;
        *request.uri_mut() = self
            .path
            .parse()
            .unwrap_or_else(|_| axum::http::Uri::from_static("/"));
        *request.headers_mut() = self.headers;
        request
            .headers_mut()
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static("localhost"));
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))));
        let mut router = self.router;
        let response = match router.call(request).await {
            Ok(response) => response,
            Err(infallible) => {
                let never: Infallible = infallible;
                match never {}
            }
        };
        let (parts, body) = response.into_parts();
        (parts.status, parts.headers, BodyStream(body))
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }
}

/// The body of a response, as axum produced it.
#[derive(Debug)]
struct BodyStream(Body);

impl BodyStream {
    /// The next chunk of data; `None` at the end (or on a body error).
    async fn chunk(&mut self) -> Option<Bytes> {
        loop {
            match self.0.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => return Some(data),
                    Err(_trailers) => continue,
                },
                Err(_) => return None,
            }
        }
    }
}

/// An event stream being read: [`next`](Self::next) gives each event as a
/// browser would dispatch it.
#[derive(Debug)]
pub struct Events {
    status: StatusCode,
    headers: HeaderMap,
    body: BodyStream,
    parser: Parser,
    ready: std::collections::VecDeque<Event>,
    ended: bool,
}

impl Events {
    /// The response's status: 200 for a stream, else the refusal (400 for
    /// a bad section, the guard's error…).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The next event; `None` once the response has ended. Waits as long
    /// as the stream takes: wrap it in `tokio::time::timeout` to bound it.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match self.body.chunk().await {
                Some(chunk) => self.parser.feed(&chunk, &mut self.ready),
                None => self.ended = true,
            }
        }
    }

    /// The last event id the stream set, as a browser keeps it for its
    /// reconnection (also set by a frame with an `id:` and no data).
    pub fn last_event_id(&self) -> Option<&str> {
        Some(self.parser.last_event_id.as_str()).filter(|id| !id.is_empty())
    }
}

/// One event, as a browser's `EventSource` dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The last event id when it was dispatched (`MessageEvent.lastEventId`);
    /// `None` when empty.
    pub id: Option<String>,
    /// The event type: `"message"` unless an `event:` field named another.
    pub event: String,
    /// The data lines, joined with `\n`.
    pub data: String,
}

/// The WHATWG event-stream interpretation, fed bytes as they come.
#[derive(Debug, Default)]
struct Parser {
    /// Bytes of an incomplete line.
    partial: Vec<u8>,
    /// The previous chunk ended in CR: an LF that starts this one is part
    /// of that line end.
    after_cr: bool,
    data: String,
    event: String,
    last_event_id: String,
    /// The stream's first line, for the byte-order mark.
    started: bool,
}

impl Parser {
    fn feed(&mut self, mut chunk: &[u8], out: &mut std::collections::VecDeque<Event>) {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.partial.extend_from_slice(&chunk[..end]);
            let line = std::mem::take(&mut self.partial);
            self.line(&line, out);
            let crlf = chunk[end] == b'\r' && chunk.get(end + 1) == Some(&b'\n');
            if chunk[end] == b'\r' && end + 1 == chunk.len() {
                self.after_cr = true;
            }
            chunk = &chunk[end + if crlf { 2 } else { 1 }..];
        }
        self.partial.extend_from_slice(chunk);
    }

    fn line(&mut self, line: &[u8], out: &mut std::collections::VecDeque<Event>) {
        let text = String::from_utf8_lossy(line);
        let mut text: &str = &text;
        if !self.started {
            self.started = true;
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        if text.is_empty() {
            self.dispatch(out);
            return;
        }
        if text.starts_with(':') {
            return; // a comment (keep-alive)
        }
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => value.clone_into(&mut self.event),
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_event_id),
            _ => {} // `retry` and unknown fields change no event
        }
    }

    fn dispatch(&mut self, out: &mut std::collections::VecDeque<Event>) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the last line's `\n`
        out.push_back(Event {
            id: Some(self.last_event_id.clone()).filter(|id| !id.is_empty()),
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::default();
        let mut out = std::collections::VecDeque::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out.into_iter().collect()
    }

    #[test]
    fn events_are_parsed_as_a_browser_does() {
        let events = parse(&[
            b"\xEF\xBB\xBFid: 1\n\n: keep-alive\r\ndata: a\r\ndata:b\r",
            b"\nevent: progress\n\ndata\n\n",
            b"id: 7\ndata: x\ny\n\n",
        ]);
        let event = |id: Option<&str>, name: &str, data: &str| Event {
            id: id.map(str::to_owned),
            event: name.to_owned(),
            data: data.to_owned(),
        };
        assert_eq!(
            events,
            [
                event(Some("1"), "progress", "a\nb"),
                event(Some("1"), "message", ""),
                event(Some("7"), "message", "x"),
            ]
        );
    }

    #[test]
    fn an_event_without_data_sets_the_id_only() {
        let mut parser = Parser::default();
        let mut out = std::collections::VecDeque::new();
        parser.feed(b"id: abc\n\n", &mut out);
        assert!(out.is_empty());
        assert_eq!(parser.last_event_id, "abc");
    }
}
