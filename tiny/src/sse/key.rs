//! Key mode: messages queued under a cache key, each delivered to exactly one
//! consumer lineage (an `EventSource` and its reconnections), in FIFO order.
//!
//! The cache keeps the delivery state (`cache/queue.rs`); this file turns it
//! into frames. Every frame carries `id: <history and lineage>.<seq>`, and a
//! stream opens with an `id:` line of its own and no data: browsers keep the
//! id of that frame too (WHATWG dispatch sets `lastEventId` before it drops
//! an event without data), so even a connection cut before its first message
//! comes back recognised. A browser that reconnects sends the last id it
//! read; the stream then confirms what that id covers, replays what its
//! lineage was handed after it, and goes on with new messages. A cursor
//! that cannot be honoured opens the stream with `event: resync` instead.
//!
//! A consumer takes (every message there, up to a batch, written as one
//! frame buffer); when there is nothing, it waits for a wake-up (each
//! `send_key` wakes one waiting consumer of its key, or on Redis hands the
//! message to one waiting connection and wakes that one) or, as a fallback,
//! its poll period (in process; on Redis one batched check per process
//! stands in for it, so an idle stream sends Redis nothing of its own).
//! The registration for the wake-up is armed *before* each take, so a
//! message sent between a take that found nothing and the wait still wakes
//! it, and dropped once a take found a message, so a consumer busy writing
//! (or stalled on a slow client) holds no wake-up another could use. A live
//! connection's lineage lease is renewed so it is never taken for a tab
//! that vanished: in process by the connection itself, eight times per
//! retention window (its wait is capped to that); on Redis by its process,
//! for all its connections in one call, four times per window.

use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse as _, Response};
use futures_util::StreamExt as _;
use tokio::sync::futures::OwnedNotified;

use super::event::encode_message;
use super::response::{EventStream, Frame};
use super::settings::{StreamOptions, last_event_id};
use super::{DONE, Event};
use crate::cache::{Batch, Cache, Held, Lease, Lineage, Lost, Position, Resume, Taken, Waiter};
use crate::{Error, Result};

/// The longest pause between retries of a take that failed (Redis down).
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);
/// What one wake-up takes and writes at most, as one frame buffer: a
/// consumer that finds several messages waiting writes them in one go,
/// and a slow client holds at most this much (plus one message) here.
const BATCH: Batch = Batch {
    max_messages: 64,
    max_bytes: 64 * 1024,
    end: DONE,
};

/// `#[sse(key = …)]`, after the template and the guard passed.
pub async fn key_stream(key: String, every: Duration, options: StreamOptions) -> Response {
    match stream(key, every).await {
        Ok(stream) => options.apply(stream).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The stream behind [`Sse::stream_key`](super::Sse::stream_key): registers
/// for wake-ups, opens the connection on the request's cursor, then takes.
pub(crate) async fn stream(key: String, every: Duration) -> Result<EventStream> {
    if key.is_empty() {
        return Err(Error::internal("stream_key needs a non-empty key"));
    }
    let cache = crate::cache();
    let cursor = last_event_id().filter(|id| !id.is_empty());
    let resume = cursor.as_deref().map(decode_id);
    let waiter = cache.watch(&key)?;
    let opened = cache.open(&key, resume.flatten()).await?;
    let lost = match resume {
        Some(None) => Some(Lost::Unknown),
        _ => opened.lost,
    };
    let ids = Ids::new(opened.epoch, opened.lease.lineage);
    let opening = match lost {
        Some(lost) => {
            crate::metrics::resynced("key");
            Event::resync(lost.reason())
        }
        None => Event::default(),
    }
    .id(ids.id(opened.after));
    // In process a waiting connection takes (and so renews its lease) at
    // least as often as a lease must be renewed; on Redis its process
    // renews it, with every other, and it waits for wake-ups only.
    let held = cache.hold(&key, opened.lease, &waiter);
    let renewal = match held {
        Held::ByConsumer => Some(cache.lease_renewal()),
        #[cfg(feature = "redis")]
        Held::ByProcess(_) => None,
    };
    let every = match (cache.recheck_every(every), renewal) {
        (Some(every), Some(renewal)) => Some(every.min(renewal)),
        (every, renewal) => every.or(renewal),
    }
    .map(|every| every.max(Duration::from_millis(1)));
    let armed = Box::pin(Arc::clone(&waiter.notify).notified_owned());
    let consumer = Consumer {
        cache,
        key,
        waiter,
        armed,
        every,
        recheck: every.map(|every| Box::pin(tokio::time::sleep(first_recheck(every)))),
        lease: opened.lease,
        ids,
        position: Position {
            after: opened.after,
            replay: true,
        },
        renewal,
        renewed_at: tokio::time::Instant::now(),
        wait: false,
        ended: None,
        _held: held,
    };
    let frames = futures_util::stream::once(async { Frame::Event(opening) }).chain(
        futures_util::stream::unfold(consumer, |mut consumer| async move {
            let frame = consumer.next().await?;
            Some((frame, consumer))
        }),
    );
    Ok(EventStream::new(Box::pin(frames)))
}

/// When a stream first re-checks its queue: at a random point of its first
/// period, so the streams opened together (a page of tabs, a benchmark)
/// do not all re-check in the same instant every period after.
fn first_recheck(every: Duration) -> Duration {
    let nanos = u64::try_from(every.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(crate::cache::token::random() % nanos)
}

/// Appends `data` to `key`'s queue: the work of [`Sse::send_key`](super::Sse::send_key).
pub(crate) async fn send<T: serde::Serialize>(key: &str, data: &T) -> Result<()> {
    if key.is_empty() {
        return Err(Error::internal("send_key needs a non-empty key"));
    }
    let message = message_text(key, data)?;
    super::message::check(message.len(), || format!("the message for `{key}`"))?;
    crate::cache().push(key, message).await
}

/// How a key stream's connection ended, for its release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// It wrote `[DONE]`: the browser closes and will not confirm.
    Done,
    /// Its lineage moved to a newer connection: nothing to release.
    Refused,
}

struct Consumer {
    cache: Cache,
    key: String,
    waiter: Waiter,
    /// The wake-up registration, re-armed before each take (in place: no
    /// allocation per message).
    armed: Pin<Box<OwnedNotified>>,
    /// The fallback re-check period; `None`: wake-ups only.
    every: Option<Duration>,
    /// Its timer: one for the stream's life, re-armed only when it fires,
    /// so a wake-up costs no timer of its own.
    recheck: Option<Pin<Box<tokio::time::Sleep>>>,
    lease: Lease,
    ids: Ids,
    /// The last sequence this connection wrote (or the cursor's), and
    /// whether entries after it may be pending for the lineage.
    position: Position,
    /// How often this connection renews its lineage's lease (`None`: its
    /// process does), and when it last did (the open counts).
    renewal: Option<Duration>,
    renewed_at: tokio::time::Instant,
    /// The last take found nothing more: wait before the next one.
    wait: bool,
    ended: Option<Ended>,
    /// Keeps the lease renewed by the process, where it is.
    _held: Held,
}

impl Consumer {
    /// The next frame: every message one take found, encoded into one
    /// buffer; `None` when this connection may take nothing more.
    /// Backend errors are logged and retried with a growing pause (a lost
    /// answer leaves the messages pending, where the retry finds them), so
    /// a stream outlives a Redis restart.
    async fn next(&mut self) -> Option<Frame> {
        if self.ended.is_some() {
            return None;
        }
        let mut pause = Duration::from_millis(10);
        loop {
            if self.wait {
                let own = async {
                    match &self.waiter.own {
                        Some(own) => own.notified().await,
                        None => std::future::pending().await,
                    }
                };
                let recheck = async {
                    match (&mut self.recheck, self.every) {
                        (Some(sleep), Some(every)) => {
                            sleep.as_mut().await;
                            sleep.as_mut().reset(tokio::time::Instant::now() + every);
                        }
                        _ => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = self.armed.as_mut() => {}
                    () = own => {}
                    () = recheck => {}
                }
            }
            self.armed
                .set(Arc::clone(&self.waiter.notify).notified_owned());
            self.armed.as_mut().enable();
            let started = tokio::time::Instant::now();
            let due = self
                .renewal
                .is_some_and(|renewal| started >= self.renewed_at + renewal);
            let taken = if due {
                match self.cache.renew(&self.key, self.lease).await {
                    Ok(true) => {
                        self.renewed_at = started;
                        self.take().await
                    }
                    Ok(false) => Ok(Taken::Refused),
                    Err(error) => Err(error),
                }
            } else {
                self.take().await
            };
            match taken {
                Ok(Taken::Messages {
                    handed,
                    more,
                    replayed,
                }) => {
                    if replayed {
                        crate::metrics::replayed("key", handed.len() as u64);
                    }
                    self.position.replay = replayed;
                    self.wait = !more;
                    // Unregistered until the next take (a wake-up this one
                    // got meanwhile passes to the next waiting consumer).
                    self.armed
                        .set(Arc::clone(&self.waiter.notify).notified_owned());
                    return Some(Frame::Encoded(self.encode(&handed)));
                }
                Ok(Taken::Empty) => {
                    self.position.replay = false;
                    self.wait = true;
                }
                Ok(Taken::Refused) => {
                    self.ended = Some(Ended::Refused);
                    return None;
                }
                Err(error) => {
                    tracing::warn!(key = %self.key, %error, "key stream cannot read its queue; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.every.unwrap_or(MAX_RETRY_PAUSE));
                    // The take may have run and its answer been lost.
                    self.position.replay = true;
                    self.wait = false;
                }
            }
        }
    }

    async fn take(&self) -> Result<Taken> {
        self.cache
            .take(&self.key, self.lease, self.position, BATCH)
            .await
    }

    /// One frame buffer for `handed`, in order; notes the last as written
    /// and `[DONE]` (a take stops after it) as the end.
    fn encode(&mut self, handed: &[crate::cache::Handed]) -> bytes::Bytes {
        let size: usize = handed.iter().map(|h| h.message.len() + 64).sum();
        let mut frame = String::with_capacity(size);
        for handed in handed {
            encode_message(&mut frame, &self.ids.prefix, handed.seq, &handed.message);
            // A new message is the newest pending entry: nothing after it
            // until the next lost answer or reconnect.
            self.position.after = handed.seq;
            if *handed.message == *DONE {
                self.ended = Some(Ended::Done);
            }
        }
        bytes::Bytes::from(frame)
    }
}

impl Drop for Consumer {
    /// The connection is gone (client left, `[DONE]`, shutdown): what it
    /// was handed stays pending for its lineage's return.
    fn drop(&mut self) {
        if self.ended != Some(Ended::Refused) {
            let done = self.ended == Some(Ended::Done);
            self.cache.release(&self.key, self.lease, done);
        }
    }
}

/// The `id:` values of one stream: the history's epoch and the lineage, 24
/// bytes in unpadded base64url, then `.` and the sequence. Opaque to clients.
struct Ids {
    prefix: String,
}

/// Characters of the encoded epoch and lineage (24 bytes).
const PREFIX_LEN: usize = 32;

impl Ids {
    fn new(epoch: u64, lineage: Lineage) -> Self {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&epoch.to_be_bytes());
        bytes[8..16].copy_from_slice(&lineage.nonce.to_be_bytes());
        bytes[16..].copy_from_slice(&lineage.tag.to_be_bytes());
        let mut prefix = String::with_capacity(PREFIX_LEN + 1);
        for chunk in bytes.chunks(3) {
            let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
            for shift in [18, 12, 6, 0] {
                prefix.push(char::from(BASE64URL[(n >> shift) as usize & 63]));
            }
        }
        prefix.push('.');
        Self { prefix }
    }

    fn id(&self, seq: u64) -> String {
        let mut id = String::with_capacity(self.prefix.len() + 20);
        id.push_str(&self.prefix);
        // Writing to a String cannot fail.
        let _ = write!(id, "{seq}");
        id
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The cursor in a `Last-Event-ID` this mode wrote; `None` for anything else.
fn decode_id(id: &str) -> Option<Resume> {
    let (prefix, seq) = id.split_once('.')?;
    if prefix.len() != PREFIX_LEN || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut bytes = [0u8; 24];
    for (chunk, out) in prefix.as_bytes().chunks(4).zip(bytes.chunks_mut(3)) {
        let mut n = 0u32;
        for &c in chunk {
            let value = BASE64URL.iter().position(|&b| b == c)?;
            n = n << 6 | value as u32;
        }
        out.copy_from_slice(&n.to_be_bytes()[1..]);
    }
    let word = |at: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_be_bytes(word)
    };
    Some(Resume {
        epoch: word(0),
        lineage: Lineage {
            nonce: word(8),
            tag: word(16),
        },
        seq: seq.parse().ok()?,
    })
}

/// The text queued for `data`: `&str` and `String` as-is, anything else as JSON.
fn message_text<T: serde::Serialize>(key: &str, data: &T) -> Result<String> {
    match serde_json::to_value(data) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        Ok(value) => Ok(value.to_string()),
        Err(e) => Err(Error::internal(format!(
            "the message for `{key}` cannot be serialized: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_knows_done_as_the_end() {
        assert_eq!(DONE, crate::cache::END);
        assert_eq!(BATCH.end, crate::cache::END);
    }

    #[test]
    fn ids_round_trip() {
        let lineage = Lineage {
            nonce: 0x0123_4567_89ab_cdef,
            tag: u64::MAX,
        };
        let ids = Ids::new(42, lineage);
        let id = ids.id(7);
        assert_eq!(id.len(), PREFIX_LEN + 2);
        assert_eq!(
            decode_id(&id),
            Some(Resume {
                epoch: 42,
                lineage,
                seq: 7
            })
        );
    }

    #[test]
    fn foreign_ids_are_not_cursors() {
        let good = Ids::new(1, Lineage { nonce: 2, tag: 3 }).id(4);
        let (prefix, _) = good.split_once('.').unwrap();
        for bad in [
            "",
            "7",
            "e1.7",
            &format!("{prefix}."),
            &format!("{prefix}.-1"),
            &format!("{prefix}.99999999999999999999999"),
            &format!("{}*.1", &prefix[1..]),
            &format!("{prefix}x.1"),
        ] {
            assert_eq!(decode_id(bad), None, "{bad:?}");
        }
    }
}
