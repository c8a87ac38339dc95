//! pg mode: each `NOTIFY` on a channel is one frame.
//!
//! The listener (`pg/`) hands out notices as data; they become frames here,
//! once per notice: the first subscriber to write it fills the notice's
//! shared cell and every other stream writes the same bytes. `data` is the
//! payload as-is when it is valid JSON, else the payload as a JSON string,
//! so the browser's `JSON.parse(e.data)` always works; `id` is the notice's
//! position in its channel's history, which the browser sends back as
//! `Last-Event-ID` to resume.

use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use serde::de::IgnoredAny;

use super::event::Event;
use super::response::{EventStream, Frame};
use super::settings::{self, StreamOptions};
use crate::Result;
use crate::pg::{Delivery, Listener, Notice, Resync, Subscription};

/// `#[sse(pg = …)]`: subscribes to `channel` (already rendered from the
/// template and past the guard), resuming from the request's cursor; 400
/// for a name PostgreSQL would not keep, 503 with `Retry-After` while the
/// database is unreachable.
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
    /// valid JSON and the payload as a JSON string otherwise, `id` its
    /// position in the channel's history.
    ///
    /// Called while tiny answers a request (in a `#[controller]` method), the
    /// stream resumes from the request's `Last-Event-ID` header or
    /// `?lastEventId=` ([`Request::last_event_id`](crate::Request::last_event_id)):
    /// it first replays the notifications after it, or starts with
    /// `event: resync` when they are no longer kept. Elsewhere (a plain axum
    /// handler) it starts live; use [`stream_from`](Self::stream_from) there
    /// to resume. After a reconnection of the listener, or when its client
    /// fell further behind than the history keeps, the stream gets an
    /// `event: resync` frame and goes on: the page should refetch.
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
        let last_event_id = settings::last_event_id();
        self.stream_from(channel, last_event_id.as_deref()).await
    }

    /// [`stream`](Self::stream), resuming after `last_event_id` (the id of
    /// the last event the client received: the `Last-Event-ID` header a
    /// browser's `EventSource` sends when it reconnects, or a query
    /// parameter), or starting live with `None`. For handlers outside
    /// tiny's controllers:
    ///
    /// ```no_run
    /// use axum::http::HeaderMap;
    ///
    /// async fn audit(headers: HeaderMap) -> tiny::Result<tiny::sse::EventStream> {
    ///     let last = headers.get("last-event-id").and_then(|id| id.to_str().ok());
    ///     tiny::pg::listener()?.stream_from("audit_log", last).await
    /// }
    ///
    /// let app: axum::Router = axum::Router::new().route("/audit", axum::routing::get(audit));
    /// ```
    pub async fn stream_from(
        &self,
        channel: &str,
        last_event_id: Option<&str>,
    ) -> Result<EventStream> {
        let subscription = self.subscribe(channel, last_event_id).await?;
        Ok(stream(subscription))
    }
}

/// The frame of one notification. `None` only if it cannot be encoded,
/// which an event with data and a cursor for its id never fails to be.
fn notification_frame(notice: &Notice) -> Option<Bytes> {
    // `IgnoredAny` makes serde_json validate without building a value, and
    // without recursion: no nesting depth can overflow the stack.
    let payload = notice.payload();
    let data = if serde_json::from_str::<IgnoredAny>(payload).is_ok() {
        payload.to_owned()
    } else {
        serde_json::Value::String(payload.to_owned()).to_string()
    };
    encode(Event::data(data).id(notice.id().to_string()))
}

fn encode(event: Event) -> Option<Bytes> {
    event
        .encode()
        .inspect_err(|error| tracing::error!(%error, "pg frame not encoded"))
        .ok()
}

/// The `reason` an `event: resync` gives.
fn reason(resync: Resync) -> &'static str {
    match resync {
        Resync::Unknown => "unknown",
        Resync::Epoch => "epoch",
        Resync::Trimmed => "trimmed",
        Resync::Lagged => "lagged",
        Resync::Reconnected => "reconnected",
    }
}

/// The frame of a delivery: a notice's shared frame, or one of this stream's
/// own.
fn frame(delivery: Delivery) -> Option<Frame> {
    match delivery {
        // `None` only for a notice that cannot be encoded, which none is:
        // skipped, like any unsendable event.
        Delivery::Notice(notice) => notice
            .rendered(notification_frame)
            .map(|frame| Frame::Encoded(frame.clone())),
        // An id and no data: the browser keeps the id for its reconnect and
        // dispatches no event.
        Delivery::Start(at) => Some(Frame::Event(Event::default().id(at.to_string()))),
        // With the id to resume from, so the next reconnect is recognised.
        Delivery::Resync { reason: why, at } => {
            crate::metrics::resynced("pg");
            if why == Resync::Lagged {
                crate::metrics::lagged("pg");
            }
            Some(Frame::Event(Event::resync(reason(why)).id(at.to_string())))
        }
    }
}

/// The stream of a subscription; dropping it (client gone) leaves the
/// channel.
fn stream(subscription: Subscription) -> EventStream {
    let frames = futures_util::stream::unfold(subscription, |mut subscription| async move {
        loop {
            if let Some(frame) = frame(subscription.next().await?) {
                return Some((frame, subscription));
            }
        }
    });
    EventStream::new(Box::pin(frames)).with_mode("pg")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Cursor;

    const AT: Cursor = Cursor {
        epoch: 0x0123_4567_89ab_cdef,
        seq: 7,
    };

    fn text(frame: Option<Frame>) -> String {
        let bytes = match frame.unwrap() {
            Frame::Encoded(bytes) => bytes,
            Frame::Event(event) => event.encode().unwrap(),
        };
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn notification(payload: &str) -> String {
        let notice = std::sync::Arc::new(Notice::new(AT, payload.to_owned()));
        text(frame(Delivery::Notice(notice)))
    }

    #[test]
    fn json_payloads_go_as_is_others_as_json_strings() {
        let id = "id: 0123456789abcdef-7\n";
        assert_eq!(
            notification(r#"{"id":1}"#),
            format!("{id}data: {{\"id\":1}}\n\n")
        );
        assert_eq!(notification("42"), format!("{id}data: 42\n\n"));
        assert_eq!(
            notification("processed"),
            format!("{id}data: \"processed\"\n\n")
        );
        assert_eq!(notification(""), format!("{id}data: \"\"\n\n"));
        assert_eq!(
            notification("a\nb\r\nc"),
            format!("{id}data: \"a\\nb\\r\\nc\"\n\n")
        );
        assert_eq!(
            notification("{\"a\":\n1}"),
            format!("{id}data: {{\"a\":\ndata: 1}}\n\n")
        );
    }

    #[test]
    fn deep_nesting_is_validated_without_recursion() {
        let deep = format!("{}{}", "[".repeat(3999), "]".repeat(3999));
        assert!(notification(&deep).ends_with(&format!("data: {deep}\n\n")));
        let unbalanced = "[".repeat(7999);
        assert!(notification(&unbalanced).contains("\ndata: \"[[["));
    }

    #[test]
    fn a_notice_is_rendered_once_for_every_subscriber() {
        let notice = std::sync::Arc::new(Notice::new(AT, "x".to_owned()));
        let first = notice.rendered(notification_frame).unwrap().clone();
        let again = notice.rendered(|_| unreachable!("rendered twice")).unwrap();
        assert_eq!(first.as_ptr(), again.as_ptr());
    }

    #[test]
    fn a_stream_starts_with_its_position_and_no_event() {
        assert_eq!(
            text(frame(Delivery::Start(AT))),
            "id: 0123456789abcdef-7\n\n"
        );
    }

    #[test]
    fn resync_is_a_named_event_with_json_data_and_the_id_to_resume_from() {
        for (why, name) in [
            (Resync::Unknown, "unknown"),
            (Resync::Epoch, "epoch"),
            (Resync::Trimmed, "trimmed"),
            (Resync::Lagged, "lagged"),
            (Resync::Reconnected, "reconnected"),
        ] {
            assert_eq!(
                text(frame(Delivery::Resync {
                    reason: why,
                    at: AT
                })),
                format!(
                    "event: resync\nid: 0123456789abcdef-7\ndata: {{\"reason\":\"{name}\"}}\n\n"
                )
            );
        }
    }
}
