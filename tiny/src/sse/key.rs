//! Key mode: messages queued under a cache key, each delivered to exactly one
//! consumer, in FIFO order.
//!
//! A consumer takes from the queue; when it is empty it waits for a wake-up
//! (sent by every `send_key`) or, as a fallback, its poll period. The
//! registration for the wake-up is armed *before* the take, so a message sent
//! between an empty take and the wait still wakes it.

use std::time::Duration;

use axum::response::{IntoResponse as _, Response};
use futures_util::Stream;

use super::Event;
use super::response::{EventStream, Frame};
use super::settings::StreamOptions;
use crate::cache::{Cache, Waiter};
use crate::{Error, Result};

/// `#[sse(key = …)]`, after the template and the guard passed.
pub async fn key_stream(key: String, every: Duration, options: StreamOptions) -> Response {
    match stream(key, every).await {
        Ok(stream) => options.apply(stream).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The stream behind [`Sse::stream_key`](super::Sse::stream_key): checks the
/// backend answers, registers for wake-ups, then takes.
pub(crate) async fn stream(key: String, every: Duration) -> Result<EventStream> {
    if key.is_empty() {
        return Err(Error::internal("stream_key needs a non-empty key"));
    }
    let cache = crate::cache();
    cache.ping().await?;
    let waiter = cache.watch(&key)?;
    Ok(EventStream::new(Box::pin(source(
        cache, key, waiter, every,
    ))))
}

/// Appends `data` to `key`'s queue: the work of [`Sse::send_key`](super::Sse::send_key).
pub(crate) async fn send<T: serde::Serialize>(key: &str, data: &T) -> Result<()> {
    if key.is_empty() {
        return Err(Error::internal("send_key needs a non-empty key"));
    }
    let message = message_text(key, data)?;
    crate::cache().push(key, message).await
}

/// The frames of a key stream.
fn source(
    cache: Cache,
    key: String,
    waiter: Waiter,
    every: Duration,
) -> impl Stream<Item = Frame> + Send {
    let state = Consumer {
        cache,
        key,
        waiter,
        every: every.max(Duration::from_millis(1)),
    };
    futures_util::stream::unfold(state, |consumer| async move {
        let message = consumer.next().await;
        Some((Frame::Event(Event::data(message)), consumer))
    })
}

struct Consumer {
    cache: Cache,
    key: String,
    waiter: Waiter,
    every: Duration,
}

impl Consumer {
    /// Waits for the next message; backend errors are logged and retried
    /// every period, so a stream outlives a Redis restart.
    async fn next(&self) -> String {
        let notify = std::sync::Arc::clone(&self.waiter.notify);
        loop {
            let woken = notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.cache.take(&self.key).await {
                Ok(Some(message)) => return message,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(key = %self.key, %error, "key stream cannot read its queue; retrying");
                }
            }
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(self.every) => {}
            }
        }
    }
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
