//! Topics: every subscriber of a topic gets every message published to it
//! after it subscribed, in publish order, each with an id; a bounded history
//! per topic serves streams that resume from an id.
//!
//! This module is the backend below `sse/` (`#[sse(topic = "…")]`,
//! [`tiny::sse().publish(…)`](crate::sse::Sse::publish),
//! [`tiny::sse().stream_topic(…)`](crate::sse::Sse::stream_topic)): it keeps
//! messages and cursors and hands them out as data (`Delivery`); it knows
//! nothing of HTTP or frames.
//!
//! # Delivery
//!
//! - **Every subscriber gets every message** published after it subscribed,
//!   in publish order, once, with an `id:` (`<epoch>-<seq>`: the message's
//!   number in its topic, under a random epoch drawn when the topic's
//!   history began). A stream opened without a cursor first sends an `id:`
//!   line without data, so a browser that reconnects before the first
//!   message still resumes from there.
//! - **History:** each topic keeps its last [`DEFAULT_HISTORY_LEN`]
//!   messages of the last [`DEFAULT_HISTORY_AGE`] (`TINY_TOPIC_HISTORY`,
//!   `TINY_TOPIC_TTL`), also while it has no subscriber, so a client that
//!   comes back after the publisher finished still gets what it missed.
//! - **Resume:** a stream requested with `Last-Event-ID` or `?lastEventId=`
//!   replays the messages after that id, in order, then goes live, with none
//!   missed or doubled between the two (it subscribes before it replays, and
//!   replay and live messages are read from the same history by one cursor).
//! - **`event: resync`** (data `{"reason": "…"}`, and the id to resume from)
//!   when that cannot be done: `unknown` (not an id of this topic), `epoch`
//!   (from an earlier history of the topic: it expired, or another process
//!   kept it), `trimmed` (what followed it is no longer kept), and
//!   mid-stream `lagged`: the client read so slowly that the history moved
//!   past it; it goes on from the newest message. A slow subscriber never
//!   slows the publisher or the other subscribers: there is no queue per
//!   subscriber, only the topic's history.
//! - [`DONE`](crate::sse::DONE) ends every subscriber's stream (after it is
//!   written, with its id).
//!
//! In process by default. With `TINY_CACHE_URL=redis://…` (feature `redis`)
//! every process sharing the Redis server shares topics: a message
//! published on one instance reaches the subscribers of every instance,
//! and a client may resume on any of them (see the `redis` backend).

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;

use crate::history::Limits;
use crate::{Error, Result};

use memory::Memory;

/// How many messages a topic keeps for streams that resume, unless
/// `TINY_TOPIC_HISTORY` says otherwise.
///
/// ```
/// assert_eq!(tiny::topic::DEFAULT_HISTORY_LEN, 1000);
/// ```
pub const DEFAULT_HISTORY_LEN: usize = 1000;

/// How long a topic keeps a message for streams that resume, unless
/// `TINY_TOPIC_TTL` (`600`, `10m`, `30s`, `250ms`) says otherwise.
///
/// ```
/// assert_eq!(tiny::topic::DEFAULT_HISTORY_AGE, std::time::Duration::from_secs(600));
/// ```
pub const DEFAULT_HISTORY_AGE: Duration = Duration::from_secs(10 * 60);

/// One published message, numbered in its topic's history and shared by
/// every subscriber of the topic.
#[derive(Debug)]
pub(crate) struct Message {
    /// Its place in the topic, as the client sends it back: `<epoch>-<seq>`
    /// in process, `<epoch>-<stream id>` on Redis. Written once, shared.
    id: String,
    /// The event name (`event:`), if any.
    name: Option<String>,
    data: String,
    /// Filled once by the first subscriber that renders the message, read by
    /// the rest: a fan-out to N streams renders once, not N times.
    rendered: OnceLock<Option<Bytes>>,
}

impl Message {
    pub(crate) fn new(id: String, name: Option<String>, data: String) -> Self {
        Self {
            id,
            name,
            data,
            rendered: OnceLock::new(),
        }
    }

    /// Its position in the topic's history: what a client resumes from.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn data(&self) -> &str {
        &self.data
    }

    /// The message as its consumer renders it, computed on first use.
    pub(crate) fn rendered(
        &self,
        render: impl FnOnce(&Message) -> Option<Bytes>,
    ) -> Option<&Bytes> {
        self.rendered.get_or_init(|| render(self)).as_ref()
    }
}

/// What a subscription yields.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The next message, in the topic's order.
    Message(Arc<Message>),
    /// The stream starts live at this position (its client sent no cursor).
    Start(String),
    /// Messages may be missing between the client's position and `at`, from
    /// where the stream goes on; the page should refetch.
    Resync { reason: Resync, at: String },
}

/// Why a stream could not carry on from where its client left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resync {
    /// The client's cursor is not one this topic wrote.
    Unknown,
    /// The client's cursor is from another history of the topic.
    Epoch,
    /// What followed the client's cursor was trimmed from the history.
    Trimmed,
    /// The stream fell further behind than the history keeps.
    Lagged,
}

impl Resync {
    /// The `reason` a client is given.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Resync::Unknown => "unknown",
            Resync::Epoch => "epoch",
            Resync::Trimmed => "trimmed",
            Resync::Lagged => "lagged",
        }
    }
}

/// Where topics live: in this process, or in Redis for every process that
/// shares it.
#[derive(Debug)]
pub(crate) enum Topics {
    Memory(Memory),
    #[cfg(feature = "redis")]
    Redis(Box<redis::Redis>),
}

/// One subscriber of a topic.
#[derive(Debug)]
pub(crate) enum Subscription {
    Memory(memory::Subscription),
    #[cfg(feature = "redis")]
    Redis(redis::Subscription),
}

impl Topics {
    /// Appends a message to `topic` and wakes its subscribers.
    pub(crate) async fn publish(
        &self,
        topic: &str,
        name: Option<String>,
        data: String,
    ) -> Result<()> {
        match self {
            Topics::Memory(memory) => {
                memory.publish(topic, name, data);
                Ok(())
            }
            #[cfg(feature = "redis")]
            Topics::Redis(redis) => redis.publish(topic, name, data).await,
        }
    }

    /// Subscribes to `topic`, resuming after `last_event_id` when given.
    pub(crate) async fn subscribe(
        &'static self,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> Result<Subscription> {
        match self {
            Topics::Memory(memory) => {
                Ok(Subscription::Memory(memory.subscribe(topic, last_event_id)))
            }
            #[cfg(feature = "redis")]
            Topics::Redis(redis) => redis
                .subscribe(topic, last_event_id)
                .await
                .map(Subscription::Redis),
        }
    }
}

impl Subscription {
    /// The next delivery, waiting for one; `None` once the backend stopped.
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        match self {
            Subscription::Memory(subscription) => subscription.next().await,
            #[cfg(feature = "redis")]
            Subscription::Redis(subscription) => subscription.next().await,
        }
    }
}

/// The process's topics, built on first use from `TINY_CACHE_URL`,
/// `TINY_TOPIC_HISTORY` and `TINY_TOPIC_TTL`. A bad value is an error
/// naming the variable, every time.
pub(crate) fn topics() -> Result<&'static Topics> {
    static GLOBAL: OnceLock<std::result::Result<Topics, String>> = OnceLock::new();
    GLOBAL
        .get_or_init(from_env)
        .as_ref()
        .map_err(|message| Error::internal(message.clone()))
}

fn from_env() -> std::result::Result<Topics, String> {
    let limits = limits_from_env()?;
    let url = std::env::var("TINY_CACHE_URL").unwrap_or_default();
    let url = url.trim();
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Ok(Topics::Memory(Memory::new(limits)));
    }
    #[cfg(feature = "redis")]
    {
        redis::Redis::new(url, limits)
            .map(|redis| Topics::Redis(Box::new(redis)))
            .map_err(|error| error.message().to_owned())
    }
    #[cfg(not(feature = "redis"))]
    Err(
        "TINY_CACHE_URL is a Redis URL, but tiny was built without its `redis` feature: \
         tiny = { version = \"…\", features = [\"redis\"] }"
            .to_owned(),
    )
}

fn limits_from_env() -> std::result::Result<Limits, String> {
    let len = std::env::var("TINY_TOPIC_HISTORY").ok();
    let age = std::env::var("TINY_TOPIC_TTL").ok();
    limits(len.as_deref(), age.as_deref())
}

/// The history limits from the variables' values (`None`: unset).
fn limits(len: Option<&str>, age: Option<&str>) -> std::result::Result<Limits, String> {
    let mut problems = Vec::new();
    let len = match len.map(|v| v.trim().parse::<usize>()) {
        None => DEFAULT_HISTORY_LEN,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            problems.push("TINY_TOPIC_HISTORY must be a whole number of messages above 0");
            DEFAULT_HISTORY_LEN
        }
    };
    let age = match age.map(|v| tiny_syntax::duration::parse(v.trim())) {
        None => DEFAULT_HISTORY_AGE,
        Some(Ok(age)) if !age.is_zero() => age,
        Some(_) => {
            problems.push(
                "TINY_TOPIC_TTL must be a duration above 0: whole seconds (`600`) or \"10m\", \"30s\", \"250ms\"",
            );
            DEFAULT_HISTORY_AGE
        }
    };
    if problems.is_empty() {
        Ok(Limits { len, age })
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_read_their_variables() {
        assert_eq!(
            limits(None, None),
            Ok(Limits {
                len: DEFAULT_HISTORY_LEN,
                age: DEFAULT_HISTORY_AGE
            })
        );
        assert_eq!(
            limits(Some("5"), Some("250ms")),
            Ok(Limits {
                len: 5,
                age: Duration::from_millis(250)
            })
        );
        assert_eq!(
            limits(None, Some("30")).map(|l| l.age),
            Ok(Duration::from_secs(30))
        );
        let error = limits(Some("0"), Some("soon")).unwrap_err();
        assert!(error.contains("TINY_TOPIC_HISTORY"), "{error}");
        assert!(error.contains("TINY_TOPIC_TTL"), "{error}");
    }
}
