//! pg mode: each `NOTIFY` on a channel is one frame.
//!
//! The listener (`pg/`) hands out notices as data; they become frames here,
//! once per notice: the first subscriber to write it fills the notice's
//! shared cell and every other stream writes the same bytes. `data` is the
//! payload as-is when it is valid JSON, else the payload as a JSON string,
//! so the browser's `JSON.parse(e.data)` always works.

use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use serde::de::IgnoredAny;

use super::event::Event;
use super::response::{EventStream, Frame};
use super::settings::StreamOptions;
use crate::Result;
use crate::pg::{Listener, NoticeKind, Subscription};

/// `#[sse(pg = …)]`: subscribes to `channel` (already rendered from the
/// template and past the guard); 400 for a name PostgreSQL would not keep,
/// 503 with `Retry-After` while the database is unreachable.
pub async fn pg_stream(channel: String, options: StreamOptions) -> Response {
    let opened = match crate::pg::listener() {
        Ok(listener) => listener.stream(&channel).await,
        Err(error) => Err(error),
    };
    match opened {
        Ok(stream) => options.apply(stream).into_response(),
        Err(error) => error.into_response(),
    }
}

impl Listener {
    /// Subscribes to `channel` and returns the event stream of its
    /// notifications: one frame each, `data` being the payload when it is
    /// valid JSON and the payload as a JSON string otherwise. After a
    /// reconnection the stream gets an `event: resync` frame: notifications
    /// sent meanwhile are lost, so the page should refetch.
    ///
    /// Errors: 400 when `channel` is empty, longer than
    /// [`MAX_CHANNEL_LEN`](crate::pg::MAX_CHANNEL_LEN) bytes or holds a NUL;
    /// 503 with `Retry-After` while the database is unreachable.
    ///
    /// ```no_run
    /// # async fn run(listener: tiny::pg::Listener) -> tiny::Result<()> {
    /// let stream: tiny::sse::EventStream = listener.stream("audit_log").await?;
    /// # Ok(()) }
    /// ```
    pub async fn stream(&self, channel: &str) -> Result<EventStream> {
        let subscription = self.subscribe(channel).await?;
        Ok(stream(subscription))
    }
}

fn render(kind: &NoticeKind) -> Option<Bytes> {
    match kind {
        NoticeKind::Notification(payload) => notification_frame(payload),
        NoticeKind::Reconnected => resync_frame(),
    }
}

/// The frame of one notification. `None` only if it cannot be encoded,
/// which a data-only event never fails to be.
fn notification_frame(payload: &str) -> Option<Bytes> {
    // `IgnoredAny` makes serde_json validate without building a value, and
    // without recursion: no nesting depth can overflow the stack.
    let data = if serde_json::from_str::<IgnoredAny>(payload).is_ok() {
        payload.to_owned()
    } else {
        serde_json::Value::String(payload.to_owned()).to_string()
    };
    encode(Event::data(data))
}

/// `event: resync`, sent to every open stream after a reconnection:
/// notifications sent while the connection was down are lost, so the page
/// should refetch what it shows.
fn resync_frame() -> Option<Bytes> {
    encode(Event::resync("reconnected"))
}

fn encode(event: Event) -> Option<Bytes> {
    event
        .encode()
        .inspect_err(|error| tracing::error!(%error, "pg frame not encoded"))
        .ok()
}

/// The stream of a subscription: ends when the subscriber falls behind its
/// backlog; dropping it (client gone) leaves the channel.
fn stream(subscription: Subscription) -> EventStream {
    let frames = futures_util::stream::unfold(subscription, |mut subscription| async move {
        loop {
            let notice = subscription.next().await?;
            // `None` only for an event that cannot be encoded, which a
            // data-only event never is: skipped, like any unsendable event.
            if let Some(frame) = notice.rendered(render) {
                return Some((Frame::Encoded(frame.clone()), subscription));
            }
        }
    });
    EventStream::new(Box::pin(frames)).with_mode("pg")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &str) -> String {
        String::from_utf8(notification_frame(payload).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn json_payloads_go_as_is_others_as_json_strings() {
        assert_eq!(frame(r#"{"id":1}"#), "data: {\"id\":1}\n\n");
        assert_eq!(frame("42"), "data: 42\n\n");
        assert_eq!(frame("processed"), "data: \"processed\"\n\n");
        assert_eq!(frame(""), "data: \"\"\n\n");
        assert_eq!(frame("a\nb\r\nc"), "data: \"a\\nb\\r\\nc\"\n\n");
        assert_eq!(frame("{\"a\":\n1}"), "data: {\"a\":\ndata: 1}\n\n");
    }

    #[test]
    fn deep_nesting_is_validated_without_recursion() {
        let deep = format!("{}{}", "[".repeat(3999), "]".repeat(3999));
        assert_eq!(frame(&deep), format!("data: {deep}\n\n"));
        let unbalanced = "[".repeat(7999);
        assert!(frame(&unbalanced).starts_with("data: \"[[["));
    }

    #[test]
    fn resync_is_a_named_event_with_json_data() {
        let bytes = resync_frame().unwrap();
        assert_eq!(
            &bytes[..],
            b"event: resync\ndata: {\"reason\":\"reconnected\"}\n\n"
        );
    }
}
