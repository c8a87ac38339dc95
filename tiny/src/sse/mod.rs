//! Server-Sent Events: the [`sse()`](crate::sse()) handle, [`Event`], and the stream modes.
//!
//! Four ways to feed a stream, the first three as in the PHP original:
//!
//! - **poll**: a function called at once, then every period
//!   ([`Sse::stream`], `#[sse(poll = 5)]`);
//! - **key**: messages queued under a cache key by any task or process,
//!   each to one consumer;
//! - **pg**: PostgreSQL `NOTIFY` on a channel (`Sse::stream_pg`,
//!   `#[sse(pg = "user_updates")]`, with the `postgres` feature);
//! - **topic**: messages published to a topic, each to every subscriber
//!   ([`Sse::publish`], [`Sse::stream_topic`], `#[sse(topic = "job:<section>")]`).
//!
//! Every mode ends in the same [`EventStream`] response: WHATWG framing,
//! `Content-Type: text/event-stream`, `Cache-Control: no-store`,
//! `X-Accel-Buffering: no`, keep-alive comments, `[DONE]` ending the response,
//! and a clean end on shutdown.

mod event;
mod guard;
mod key;
mod message;
mod permit;
#[cfg(feature = "postgres")]
mod pg;
mod poll;
mod response;
mod settings;
mod template;
mod topic;

use std::future::Future;
use std::time::Duration;

pub use event::{DONE, Event, IntoEvent};
pub use message::DEFAULT_MESSAGE_MAX_BYTES;
pub(crate) use message::{from_env as message_max_from_env, set_max as set_message_max_bytes};
pub(crate) use permit::StreamCaps;
pub use response::{EventStream, live_streams};
pub use settings::{DEFAULT_KEEP_ALIVE, KeepAlive};
pub(crate) use settings::{RequestScope, StreamDefaults};
pub use template::{MAX_PLACEHOLDER_LEN, Template};

/// The entry points `#[sse]`'s generated code calls, one per mode, and the
/// glue they share; reached only through `tiny::__private`.
pub(crate) mod glue {
    pub use crate::sse::guard::{Guard, render};
    pub use crate::sse::key::key_stream;
    #[cfg(feature = "postgres")]
    pub use crate::sse::pg::pg_stream;
    pub use crate::sse::poll::{hold_request, poll_stream};
    pub use crate::sse::settings::StreamOptions;
    pub use crate::sse::template::template;
    pub use crate::sse::topic::topic_stream;
    pub use tiny_syntax::template::Part;

    /// Without the `postgres` feature `#[sse(pg = …)]` is a compile error
    /// (`__require_postgres!`); this stub keeps that error the only one.
    #[cfg(not(feature = "postgres"))]
    pub async fn pg_stream(_channel: String, _options: StreamOptions) -> axum::response::Response {
        axum::response::IntoResponse::into_response(crate::Error::internal(
            "tiny was built without its `postgres` feature",
        ))
    }
}

/// The entry point of the SSE toolkit; get one with [`tiny::sse()`](crate::sse()).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sse {
    _private: (),
}

/// The SSE toolkit, as `tiny::sse()` in the PHP original.
///
/// ```
/// use std::time::Duration;
/// let stream = tiny::sse().stream(|| async { Some("tick") }, Duration::from_secs(5));
/// ```
pub fn sse() -> Sse {
    Sse { _private: () }
}

impl Sse {
    /// Poll mode: calls `produce` at once, then every `every`; each `Some`
    /// is one frame, `None` sends nothing, [`DONE`] sends `data: [DONE]` and
    /// ends the response. Calls stop as soon as the client is gone.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tiny::prelude::*;
    ///
    /// #[controller]
    /// pub struct Countdown;
    ///
    /// #[controller]
    /// impl Countdown {
    ///     fn get(&self) -> tiny::sse::EventStream {
    ///         let mut left = 3;
    ///         tiny::sse().stream(
    ///             move || {
    ///                 left -= 1;
    ///                 let value = if left < 0 { tiny::sse::DONE.to_owned() } else { left.to_string() };
    ///                 async move { Some(value) }
    ///             },
    ///             Duration::from_secs(1),
    ///         )
    ///     }
    /// }
    /// ```
    pub fn stream<F, Fut, T>(&self, produce: F, every: Duration) -> EventStream
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Option<T>> + Send + 'static,
        T: IntoEvent + 'static,
    {
        poll::stream(produce, every)
    }

    /// Appends `data` to `key`'s queue for a key stream: `&str` and `String`
    /// as-is, any other serde value as JSON. Every message is kept (a FIFO
    /// per key, never overwritten) and delivered to exactly one consumer
    /// lineage (a browser's `EventSource` and its reconnections);
    /// `"0"`, `""` and other falsy values included. [`DONE`] ends the stream
    /// that takes it.
    ///
    /// On Redis a dropped connection is retried for up to 10 s under the
    /// same message identity, so `Ok` means queued exactly once. Fails when
    /// the key is empty, the cache is unusable, the message is over 64 KiB
    /// (413; `TINY_MESSAGE_MAX_BYTES`), or the queue is full (503 with
    /// `Retry-After`: 10 000 unread messages or 1 MiB of them by default,
    /// `TINY_QUEUE_MAX_LEN`, `TINY_QUEUE_MAX_BYTES`; nobody is reading it,
    /// and nothing queued is dropped to make room); a Redis failure's
    /// message says whether the message may have been queued anyway.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> tiny::Result<()> {
    /// use serde_json::json;
    ///
    /// tiny::sse().send_key("user:42:updates", json!({ "status": "processed", "order": 1234 })).await?;
    /// tiny::sse().send_key("user:42:updates", tiny::sse::DONE).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send_key<T: serde::Serialize>(&self, key: &str, data: T) -> crate::Result<()> {
        let sent = key::send(key, &data).await;
        crate::metrics::key_send(sent.is_ok());
        sent
    }

    /// Key mode: streams the messages sent to `key`, each to exactly one
    /// consumer lineage, in order; [`DONE`] ends the response. A waiting
    /// consumer is woken as soon as a message is sent; `every` is only the
    /// fallback re-check period (1 s in the PHP original).
    ///
    /// Each frame carries an `id:`. A browser that reconnects sends the last
    /// one it read (`Last-Event-ID`, or `?lastEventId=` on a first request)
    /// and gets the messages its earlier connection was handed but it never
    /// read, then new ones; an id that cannot be honoured opens the stream
    /// with `event: resync` instead. Messages handed to a tab that never
    /// comes back go to the next consumer after the retention window
    /// ([`CacheBuilder::key_retention`](crate::cache::CacheBuilder::key_retention), 5 min).
    ///
    /// Fails with 500 when the cache is misconfigured and 503 when Redis
    /// cannot be reached.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tiny::prelude::*;
    ///
    /// #[controller]
    /// pub struct Jobs;
    ///
    /// #[controller]
    /// impl Jobs {
    ///     async fn get(&self, req: &Request) -> tiny::Result<EventStream> {
    ///         let key = format!("job:{}", req.path().section);
    ///         tiny::sse().stream_key(key, Duration::from_secs(1)).await
    ///     }
    /// }
    /// ```
    pub async fn stream_key(
        &self,
        key: impl Into<String>,
        every: Duration,
    ) -> crate::Result<EventStream> {
        key::stream(key.into(), every).await
    }

    /// Publishes `data` to `topic`: every stream subscribed to it
    /// (`#[sse(topic = …)]`, [`stream_topic`](Self::stream_topic)) gets it,
    /// in publish order, with an id, and the topic's history keeps it for
    /// streams that resume (the last 1 000 messages of the last 10 min by
    /// default: `TINY_TOPIC_HISTORY`, `TINY_TOPIC_TTL`). `data` is anything
    /// [`IntoEvent`]: a `String` or `&str`, a `serde_json::Value`, or an
    /// [`Event`] for a named event (its name and data are sent; its id is
    /// replaced by the message's own). [`DONE`] ends every subscriber's
    /// stream.
    ///
    /// Fails when the topic is empty, the data is over 64 KiB (413;
    /// `TINY_MESSAGE_MAX_BYTES`), the event's
    /// name holds a line break, or `TINY_TOPIC_HISTORY`/`TINY_TOPIC_TTL`
    /// are malformed. Topics live in this process (see [`crate::topic`]).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> tiny::Result<()> {
    /// use serde_json::json;
    /// use tiny::sse::Event;
    ///
    /// let step = Event::json(&json!({ "step": 1, "of": 10 }))?.event("progress");
    /// tiny::sse().publish("job:42", step).await?;
    /// tiny::sse().publish("job:42", tiny::sse::DONE).await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, topic: &str, data: impl IntoEvent) -> crate::Result<()> {
        topic::publish(topic, data).await
    }

    /// Topic mode: streams every message [published](Self::publish) to
    /// `topic` from now on, in order, each with an `id:`; [`DONE`] ends the
    /// response. Called while tiny answers a request, the stream resumes
    /// from the request's `Last-Event-ID` header or `?lastEventId=`: it
    /// first replays the messages after it from the topic's history, or
    /// starts with `event: resync` when they are no longer kept. A client
    /// that reads so slowly that the history moves past it gets
    /// `event: resync` and goes on from the newest message.
    ///
    /// ```
    /// use tiny::prelude::*;
    ///
    /// #[controller]
    /// pub struct JobProgress;
    ///
    /// #[controller]
    /// impl JobProgress {
    ///     async fn get(&self, req: &Request) -> tiny::Result<EventStream> {
    ///         tiny::sse().stream_topic(format!("job:{}", req.path().section)).await
    ///     }
    /// }
    /// ```
    pub async fn stream_topic(&self, topic: impl Into<String>) -> crate::Result<EventStream> {
        topic::stream(&topic.into()).await
    }

    /// pg mode: each `NOTIFY` on `channel` is one frame, served from the
    /// process's one listening connection ([`tiny::pg::listener()`](crate::pg::listener)).
    /// `data` is the payload when it is valid JSON, else the payload as a
    /// JSON string; after a reconnection the stream gets an `event: resync`
    /// frame (notifications sent meanwhile are lost: refetch).
    ///
    /// Errors: 400 for a channel name PostgreSQL would not keep as written
    /// (empty, longer than 63 bytes, a NUL); 503 with `Retry-After` while
    /// the database is unreachable; 500 when `DATABASE_URL` is unset or
    /// malformed.
    ///
    /// ```no_run
    /// use tiny::prelude::*;
    ///
    /// #[controller]
    /// pub struct Orders;
    ///
    /// #[controller]
    /// impl Orders {
    ///     async fn get(&self, req: &Request) -> tiny::Result<tiny::sse::EventStream> {
    ///         // Any string is a safe channel name: it is sent quoted.
    ///         let shop = req.query_value("shop").unwrap_or_else(|| "main".into());
    ///         tiny::sse().stream_pg(&format!("orders {shop}")).await
    ///     }
    /// }
    /// ```
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn stream_pg(&self, channel: &str) -> crate::Result<EventStream> {
        crate::pg::listener()?.stream(channel).await
    }
}
