//! tiny: controllers and live Server-Sent Events streams on axum.
//!
//! A `#[controller]` struct answers the path named after it; an
//! `#[sse(...)]` attribute on its `get` method turns it into an event stream
//! fed by a polled function, a cache key, or PostgreSQL `LISTEN/NOTIFY`.
//!
//! ```no_run
//! use tiny::prelude::*;
//!
//! #[controller]                  // GET /heartbeat
//! pub struct Heartbeat;
//!
//! #[controller]
//! impl Heartbeat {
//!     #[sse(poll = 5)]           // called at once, then every 5 s
//!     async fn get(&self) -> Option<String> {
//!         Some(json!({ "ts": unix_time(), "load": load_average() }).to_string())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> tiny::Result<()> {
//!     tiny::App::new().serve().await  // every #[controller] in the binary
//! }
//! ```
//!
//! In the browser:
//!
//! ```js
//! const es = new EventSource('/heartbeat');
//! es.onmessage = ({ data }) => console.log(JSON.parse(data));
//! ```
//!
//! # Controllers
//!
//! The route comes from the struct's name in kebab-case (`UserUpdates` →
//! `/user-updates`, `Home` → `/`), or from `#[controller(path = "/sse/dashboard")]`.
//! A controller answers its path and every deeper one; the request's
//! [`path()`](Request::path) splits it into `controller`, `section` and `slug`.
//! Methods are named after verbs (`get`, `post`, `put`, `patch`, `delete`,
//! `options`), take `&self` and then any of `&Request` or `Request`,
//! [`State<T>`] and axum extractors (see [State](#state)), may be sync or
//! async, and return anything axum can answer with, or [`Result<T>`](Result).
//!
//! ## Controllers in a library crate
//!
//! Controllers register themselves when their crate is linked into the
//! binary. A crate that only defines controllers is linked once the binary
//! names it, so an app split into crates mounts a library's controllers with
//! [`App::new()`] and one line in `main.rs`:
//!
//! ```text
//! use my_controllers as _; // links the crate: App::new() mounts its controllers
//! ```
//!
//! Without that line (and with no other use of the crate) the linker leaves
//! the crate out, and its paths answer 404. [`App::mount`] adds a controller
//! by type instead, which names the crate as well.
//!
//! # Streams
//!
//! `#[sse(poll = N)]` calls the method at once and then every `N` (seconds,
//! or `"250ms"`, `"2s"`); each `Some(x)` is one frame and
//! [`DONE`](sse::DONE) ends the response. The same is available without
//! macros through [`sse()`]. Every stream is framed per the WHATWG spec, so no
//! payload can inject an event, sends a keep-alive comment every 15 s, stops
//! the moment its client is gone, and ends cleanly on shutdown.
//!
//! `#[sse(pg = "user_updates")]` (feature `postgres`) streams each PostgreSQL
//! `NOTIFY` on a channel as one frame; every pg stream of a process shares one
//! listening connection (`tiny::pg`), which survives database restarts.
//!
//! `#[sse(key = "user:<section>:updates")]` streams the messages queued under
//! a cache key by [`sse().send_key(…)`](sse::Sse::send_key), each to exactly
//! one consumer, in order; the method body runs first as a guard.
//!
//! `#[sse(topic = "job:<section>")]` streams the messages published to a
//! topic by [`sse().publish(…)`](sse::Sse::publish), each to every
//! subscriber, with a bounded history for streams that resume ([`topic`]).
//!
//! # Choosing a mode
//!
//! | mode | who gets a message | replay on reconnect | across instances |
//! |---|---|---|---|
//! | `poll` | each stream calls its own producer | none: each frame is the current state | n/a |
//! | `key` | exactly one consumer lineage (a tab and its reconnections) | what its lineage was handed and never read | Redis (`TINY_CACHE_URL`) |
//! | `topic` | every subscriber | a bounded history per topic | Redis (`TINY_CACHE_URL`) |
//! | `pg` | every subscriber | a per-process ring per channel | PostgreSQL |
//!
//! A dashboard that recomputes its state is `poll`; a job's progress or a
//! chat room seen by every open tab is `topic`; a per-user inbox whose
//! messages must be handled once is `key`; rows changing in the database
//! are `pg`. Every frame of a mode with a history carries an `id:`; a page
//! refetches on `event: resync`.
//!
//! # State
//!
//! Controllers are built once, so what the app builds at start (a pool, a
//! configuration, a client) reaches a method as [`State<T>`], handed over
//! with [`App::manage`]. Methods also take axum extractors ([`extract`]):
//! any from the request's head, and one body extractor last.
//!
//! ```
//! use tiny::State;
//! use tiny::extract::Query;
//! use tiny::prelude::*;
//!
//! pub struct Config { pub greeting: String }
//!
//! #[derive(serde::Deserialize)]
//! pub struct Who { name: String }
//!
//! #[controller]
//! pub struct Hello;
//!
//! #[controller]
//! impl Hello {
//!     fn get(&self, config: State<Config>, Query(who): Query<Who>) -> String {
//!         format!("{}, {}", config.greeting, who.name)
//!     }
//!
//!     fn post(&self, Json(who): Json<Who>) -> Json<serde_json::Value> {
//!         Json(json!({ "created": who.name }))
//!     }
//! }
//!
//! let app = tiny::App::new().manage(Config { greeting: "hello".into() });
//! ```
//!
//! An app that mounts a controller taking a `State<T>` it does not manage
//! refuses to start, naming `T` and the controller.
//!
//! # Errors
//!
//! A method returning [`Result<T>`] answers an `Err` with its status. `?`
//! works on parse errors (400), axum rejections (their status), I/O and
//! JSON errors, `tokio_postgres` errors (409 for a unique violation, 503
//! with `Retry-After` while the database is unreachable, else 500) and
//! Redis errors. A client that accepts JSON gets `{"error": "…", "status":
//! N}`; a 5xx body carries the reason phrase and an error id only, the
//! detail goes to the log under that id.
//!
//! ```
//! use tiny::prelude::*;
//!
//! #[controller]
//! pub struct Orders;
//!
//! #[controller]
//! impl Orders {
//!     fn get(&self, req: &Request) -> tiny::Result<String> {
//!         let id: u64 = req.path().section.parse()?;        // 400 when not a number
//!         if id == 0 {
//!             return Err(tiny::Error::not_found("no order 0")); // 404
//!         }
//!         Ok(format!("order {id}"))
//!     }
//! }
//! ```
//!
//! # Middleware and layers
//!
//! [`App::layer`] wraps every route in a tower layer (tracing, auth,
//! timeouts) and keeps tiny's serving, limits and shutdown.
//! [`App::router`] is a plain `axum::Router` to nest in an app of your own:
//! serve it with [`App::graceful_shutdown`] so open streams end on SIGTERM.
//! A compression layer must skip `text/event-stream`.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let app = tiny::App::new();
//! let router = axum::Router::new().nest("/live", app.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router)
//!     .with_graceful_shutdown(app.graceful_shutdown())
//!     .await
//! # }
//! ```
//!
//! # Testing
//!
//! [`test::Client`] drives an app in process, without a socket; its
//! [`sse`](test::Client::sse) reads a stream event by event and works under
//! `tokio::time::pause()`.
//!
//! ```
//! use tiny::prelude::*;
//!
//! #[controller]
//! pub struct Ping;
//!
//! #[controller]
//! impl Ping {
//!     fn get(&self) -> &'static str { "pong" }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let client = tiny::test::Client::new(tiny::App::empty().mount::<Ping>());
//! assert_eq!(client.get("/ping").await.text(), "pong");
//! # }
//! ```
//!
//! # Deployment
//!
//! - **Address:** `TINY_ADDR=0.0.0.0:8080` (default `127.0.0.1:8080`).
//! - **Behind a proxy** (nginx, a load balancer): turn response buffering
//!   off for streams (tiny sends `X-Accel-Buffering: no`), keep
//!   `proxy_read_timeout` above the keep-alive period (15 s), pass the
//!   original `Host` (origins are checked against it) or list the public
//!   origin in `TINY_CORS_ORIGINS`. Terminating TLS there with HTTP/2 lifts
//!   the browsers' six-streams-per-host limit; the proxy may speak HTTP/2
//!   to tiny as well, in cleartext with prior knowledge (h2c).
//! - **systemd or a container:** tiny ends every stream on SIGTERM and exits
//!   0 within `TINY_SHUTDOWN_TIMEOUT` (10 s); raise the file-descriptor limit
//!   (`LimitNOFILE=`, `--ulimit nofile=`): open streams are capped at 90 % of
//!   it.
//! - **Several instances:** share `TINY_CACHE_URL=redis://…` for keys and
//!   topics, and `DATABASE_URL` for pg streams.
//! - **Settings:** every limit has an environment variable (below) and an
//!   `App` method; a malformed one stops the start with a message naming it.
//! - **Many idle streams:** the allocator is the binary's choice, and for
//!   this load it is worth making. On glibc an idle HTTP/1.1 stream holds
//!   about 12 KB of RSS, on jemalloc about 9 KB (BENCHMARKS.md, "Memory per
//!   idle stream"): hyper's two 8 KiB buffers per connection are mostly
//!   untouched, and jemalloc keeps their untouched pages out of RSS. Add
//!   `tikv-jemallocator = "0.6"` and, in `main.rs`:
//!
//!   ```ignore
//!   #[global_allocator]
//!   static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
//!   ```
//!
//! # Feature flags
//!
//! tiny's default build needs no server besides itself. Optional backends:
//!
//! | feature | what it adds |
//! |---|---|
//! | `postgres` | `#[sse(pg = "channel")]`, `sse().stream_pg(…)` and `tiny::pg`: PostgreSQL `LISTEN/NOTIFY` streams over one shared connection per process |
//! | `redis` | `TINY_CACHE_URL=redis://…`: [`cache()`] and key-mode queues in Redis, shared by every process |
//!
//! Without `postgres`, `#[sse(pg = …)]` is a compile error that names the
//! feature; without `redis`, a `redis://` cache URL is refused at start-up
//! with a message naming the feature.
//!
//! # Environment
//!
//! Every setting has a default that suits a server nobody configured.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TINY_ADDR` | `127.0.0.1:8080` | the address [`App::serve`] binds |
//! | `TINY_TLS_CERT`, `TINY_TLS_KEY` | unset: plain HTTP/1.1, or HTTP/2 with prior knowledge | PEM paths of the certificate chain and its private key: serve HTTPS, with HTTP/2 for clients that offer it ([`App::tls`]); reloaded on SIGHUP |
//! | `TINY_H2_MAX_STREAMS` | 256 | streams one HTTP/2 connection may have open at once ([`App::h2_max_streams`]) |
//! | `TINY_H2_KEEP_ALIVE` | 20 s | HTTP/2 PING interval; a PING unanswered as long closes the connection ([`App::h2_keep_alive`]) |
//! | `TINY_CACHE_URL` | unset: in process | `redis://host:port/db` to share the cache and key queues through Redis (feature `redis`) |
//! | `TINY_QUEUE_MAX_LEN` | 10 000 | messages a key's queue holds before `send_key` is refused |
//! | `TINY_QUEUE_MAX_BYTES` | 1 MiB | bytes of unread messages a key's queue holds before `send_key` is refused |
//! | `TINY_CACHE_MAX_BYTES` | 64 MiB | bytes the in-process cache holds, values and queues together |
//! | `TINY_MESSAGE_MAX_BYTES` | 64 KiB | the largest message `send_key` and `publish` accept ([`App::message_max_bytes`]) |
//! | `TINY_QUEUE_TTL` | 86 400 | seconds unread messages live after their key's last send |
//! | `TINY_TOPIC_HISTORY` | 1 000 | messages a topic keeps for streams that resume |
//! | `TINY_TOPIC_TTL` | `10m` | how long a topic keeps a message; `30s`, `250ms` or bare seconds |
//! | `DATABASE_URL` | unset | the PostgreSQL database pg streams listen on (feature `postgres`); checked at start-up when a pg stream is mounted |
//! | `TINY_WRITE_TIMEOUT` | `30s` | a connection whose writes make no progress this long is ended ([`App::write_timeout`]); `5s`, `250ms`, `2m` or bare seconds |
//! | `RUST_LOG` | `info` | the log filter ([`tracing_subscriber::EnvFilter`] syntax), logs on stderr |

#![cfg_attr(docsrs, feature(doc_cfg))]

mod app;
pub mod cache;
mod connection;
mod controller;
mod cors;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod db;
mod error;
mod h2c;
mod history;
mod limits;
mod metrics;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod pg;
mod request;
pub mod sse;
mod state;
pub mod test;
mod tls;
pub mod topic;

pub use app::{App, DEFAULT_ADDR, DEFAULT_BODY_LIMIT};
pub use axum::Json;
/// axum's extractors (`Query`, `Form`, `Path`, `Extension`…), for verb
/// method arguments without a direct dependency on axum.
pub use axum::extract;
pub use axum::http;
pub use axum::response::Html;
pub use cache::{cache, try_cache};
pub use controller::{BoxFuture, Controller, Route, Verb};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use db::{db, try_db};
pub use error::{Error, Result};
pub use limits::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_H2_KEEP_ALIVE, DEFAULT_H2_MAX_STREAMS, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_WRITE_TIMEOUT, MAX_HEAD_BYTES,
};
pub use request::{PathSections, Request};
pub use sse::{DEFAULT_KEEP_ALIVE, sse};
pub use state::State;

/// Marks a controller: on a struct it sets the route, on the struct's `impl`
/// block it turns verb-named methods into handlers.
///
/// ```
/// use tiny::prelude::*;
///
/// #[controller(path = "/sse/dashboard")]
/// pub struct Dashboard;
///
/// #[controller]
/// impl Dashboard {
///     fn get(&self, req: &Request) -> String {
///         format!("section: {}", req.path().section)
///     }
/// }
/// ```
pub use tiny_macros::controller;

/// Makes the `get` method of a `#[controller]` impl an event stream (a
/// browser's `EventSource` only sends GET: on any other verb it is a
/// compile error). One mode per stream:
///
/// - `poll = N`: the method (returning `Option<T>`) is called at once, then
///   every `N` (integer seconds, or `"250ms"`, `"2s"`, `"1m"`; default 10 s).
/// - `key = "user:<section>:updates"`: the method body is a guard (`()` or
///   `Ok(())` opens the stream, `Err(e)` answers `e`), then the messages
///   sent to the key with [`sse().send_key(…)`](sse::Sse::send_key) are
///   streamed, each to exactly one consumer, in order; [`DONE`](sse::DONE)
///   ends the stream. With `key`, `poll = N` is only the fallback re-check
///   period (default 1 s): a waiting stream is woken as soon as a message is
///   sent.
/// - `keep_alive = "30s"`: this stream's keep-alive period (default: the
///   app's); `keep_alive = "off"` sends none.
/// - `retry = "2s"`: opens the stream with `retry:`.
/// - `pg = "channel"` (feature `postgres`): the method body is a guard (`()`
///   or `Ok(())` opens the stream, `Err(e)` answers `e`), then each `NOTIFY`
///   on the channel is one frame. The channel may use `<controller>`,
///   `<section>` and `<slug>`, filled from the path (400 when a value is
///   empty, longer than 128 bytes or outside `[A-Za-z0-9._-]`).
/// - `topic = "job:<section>"`: the method body is a guard, then every
///   message [published](sse::Sse::publish) to the topic is streamed to
///   every subscriber, with an id; a stream that resumes replays the
///   topic's history after its `Last-Event-ID` ([`topic`]).
///
/// `key`, `pg` and `topic` take the same templates: `<controller>`,
/// `<section>` and `<slug>` are filled from the path, and a request whose
/// value is empty, longer than 128 bytes or has a byte outside
/// `[A-Za-z0-9._-]` is answered 400 before anything streams.
///
/// ```
/// use tiny::prelude::*;
///
/// #[controller]
/// pub struct Ticks;
///
/// #[controller]
/// impl Ticks {
///     #[sse(poll = "250ms", keep_alive = "30s")]
///     fn get(&self) -> Option<Event> {
///         Some(Event::data(unix_time().to_string()).event("tick"))
///     }
/// }
/// ```
pub use tiny_macros::sse;

/// What most apps need: `use tiny::prelude::*;`.
pub mod prelude {
    pub use crate::sse::{DONE, Event, EventStream};
    pub use crate::{App, Html, Json, Request, controller, load_average, sse, unix_time};
    pub use serde_json::json;
}

/// Seconds since the Unix epoch, as PHP's `time()`.
///
/// ```
/// assert!(tiny::unix_time() > 1_700_000_000);
/// ```
pub fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The one-minute load average, as PHP's `sys_getloadavg()[0]`; `None` where
/// the system does not report it (it is read from `/proc/loadavg`).
///
/// ```
/// if let Some(load) = tiny::load_average() {
///     assert!(load >= 0.0);
/// }
/// ```
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What `#[controller]` and `#[sse]` expand to. Not a public API: it only
/// re-exports, so each behaviour lives once, in its own module.
#[doc(hidden)]
pub mod __private {
    pub use crate::app::Registration;
    pub use crate::controller::{Buildable, Controller, Route, Verb, build, not_allowed};
    pub use crate::sse::glue::*;
    pub use crate::sse::{EventStream, IntoEvent, KeepAlive, Template};
    pub use crate::state::{from_parts, from_request, request_parts};
    pub use axum::response::{IntoResponse, Response};
    pub use inventory;
    pub use std::boxed::Box;
    pub use std::sync::Arc;
    pub use std::time::Duration;
}

/// Expands to nothing with the `postgres` feature, and to a compile error
/// naming the feature without it; `#[sse(pg = …)]` expands to a call.
#[doc(hidden)]
#[cfg(feature = "postgres")]
#[macro_export]
macro_rules! __require_postgres {
    () => {};
}

#[doc(hidden)]
#[cfg(not(feature = "postgres"))]
#[macro_export]
macro_rules! __require_postgres {
    () => {
        ::core::compile_error!(
            "`#[sse(pg = …)]` needs tiny's `postgres` feature: \
             tiny = { version = \"…\", features = [\"postgres\"] }"
        );
    };
}
