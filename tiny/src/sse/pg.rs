//! pg mode: each `NOTIFY` on a channel is one frame.
//!
//! The frames are built here, once per notification, by the listener's task
//! (see `pg/listener.rs`); every subscriber's stream then writes the same
//! bytes. `data` is the payload as-is when it is valid JSON, else the payload
//! as a JSON string, so the browser's `JSON.parse(e.data)` always works.

use bytes::Bytes;
use serde::de::IgnoredAny;

use super::event::Event;
use super::response::{EventStream, Frame};
use crate::pg::Subscription;

/// The frame of one notification. `None` only if it cannot be encoded,
/// which a data-only event never fails to be.
pub(crate) fn notification_frame(payload: &str) -> Option<Bytes> {
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
pub(crate) fn resync_frame() -> Option<Bytes> {
    encode(Event::data(r#"{"reason":"reconnected"}"#).event("resync"))
}

fn encode(event: Event) -> Option<Bytes> {
    event
        .encode()
        .inspect_err(|error| tracing::error!(%error, "pg frame not encoded"))
        .ok()
}

/// The stream of a subscription: ends when the subscriber falls behind its
/// backlog; dropping it (client gone) leaves the channel.
pub(crate) fn stream(subscription: Subscription) -> EventStream {
    let frames = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let frame = subscription.next().await?;
        Some((Frame::Encoded(frame), subscription))
    });
    EventStream::new(Box::pin(frames))
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
