//! Key mode: messages queued under a cache key, each delivered to exactly one
//! consumer, in FIFO order.
//!
//! A consumer takes from the queue; when it is empty it waits for a wake-up
//! (sent by every `send_key`) or, as a fallback, its poll period. The
//! registration for the wake-up is armed *before* the take, so a message sent
//! between an empty take and the wait still wakes it.

use std::time::Duration;

use futures_util::Stream;

use super::Event;
use super::response::Frame;
use crate::Result;
use crate::cache::{Cache, Waiter};

/// The frames of a key stream.
pub(crate) fn source(
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

/// Sends `message` to `key` as-is (`&str`, `String`), or as JSON.
pub(crate) fn message_text<T: serde::Serialize>(key: &str, data: &T) -> Result<String> {
    match serde_json::to_value(data) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        Ok(value) => Ok(value.to_string()),
        Err(e) => Err(crate::Error::internal(format!(
            "the message for `{key}` cannot be serialized: {e}"
        ))),
    }
}
