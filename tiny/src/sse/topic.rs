//! Topic mode: every subscriber of a topic gets every message published to
//! it, in order, each with an id; `[DONE]` ends every subscriber's stream.
//!
//! The backend (`topic/`) hands out messages as data; they become frames
//! here, once per message: the first subscriber to write it fills the
//! message's shared cell and every other stream writes the same bytes.

use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;

use super::event::{DONE, Event, IntoEvent};
use super::response::{EventStream, Frame};
use super::settings::{StreamOptions, last_event_id};
use crate::topic::{Delivery, Message, Subscription};
use crate::{Error, Result};

/// `#[sse(topic = …)]`, after the template and the guard passed.
pub async fn topic_stream(topic: String, options: StreamOptions) -> Response {
    match stream(&topic).await {
        Ok(stream) => options.apply(stream).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The stream behind [`Sse::stream_topic`](super::Sse::stream_topic):
/// subscribes at the request's cursor, if it sent one.
pub(crate) async fn stream(topic: &str) -> Result<EventStream> {
    if topic.is_empty() {
        return Err(Error::internal("stream_topic needs a non-empty topic"));
    }
    let topics = crate::topic::topics()?;
    let cursor = last_event_id().filter(|id| !id.is_empty());
    let subscription = topics.subscribe(topic, cursor.as_deref()).await?;
    Ok(frames(subscription))
}

/// Publishes `data` to `topic`: the work of [`Sse::publish`](super::Sse::publish).
/// The event's name and data are kept; its own `id` is replaced by the
/// message's place in the topic, and `retry` and comments are not sent.
pub(crate) async fn publish(topic: &str, data: impl IntoEvent) -> Result<()> {
    if topic.is_empty() {
        return Err(Error::internal("publish needs a non-empty topic"));
    }
    let event = data.into_event()?;
    let text = event.data_ref().unwrap_or_default();
    super::message::check(text.len(), || format!("the message for topic `{topic}`"))?;
    let name = event.name().map(str::to_owned);
    // Refused here, where the publisher learns of it, rather than skipped
    // by every subscriber: a name with a line break cannot be written.
    if let Some(name) = &name {
        Event::default().event(name.as_str()).encode()?;
    }
    let topics = crate::topic::topics()?;
    topics.publish(topic, name, text.to_owned()).await
}

/// The frame of one message. `None` only if it cannot be encoded, which a
/// name checked by `publish` and a cursor for its id never fail to be.
fn message_frame(message: &Message) -> Option<Bytes> {
    let mut event = Event::data(message.data()).id(message.id());
    if let Some(name) = message.name() {
        event = event.event(name);
    }
    event
        .encode()
        .inspect_err(|error| tracing::error!(%error, "topic frame not encoded"))
        .ok()
}

/// Whether a message is the [`DONE`] sentinel, which ends the stream.
fn is_done(message: &Message) -> bool {
    message.name().is_none() && message.data() == DONE
}

/// The frame of a delivery, and whether it ends the stream.
fn frame(delivery: Delivery) -> Option<(Frame, bool)> {
    match delivery {
        Delivery::Message(message) => {
            let done = is_done(&message);
            message
                .rendered(message_frame)
                .map(|frame| (Frame::Encoded(frame.clone()), done))
        }
        // An id and no data: the browser keeps the id for its reconnect and
        // dispatches no event.
        Delivery::Start(at) => Some((Frame::Event(Event::default().id(at)), false)),
        // With the id to resume from, so the next reconnect is recognised.
        Delivery::Resync { reason, at } => {
            crate::metrics::resynced("topic");
            if reason == crate::topic::Resync::Lagged {
                crate::metrics::lagged("topic");
            }
            Some((Frame::Event(Event::resync(reason.reason()).id(at)), false))
        }
    }
}

/// The stream of a subscription; it ends after `[DONE]`, and dropping it
/// (client gone) leaves the topic.
fn frames(subscription: Subscription) -> EventStream {
    let frames = futures_util::stream::unfold(Some(subscription), |subscription| async move {
        let mut subscription = subscription?;
        loop {
            if let Some((frame, done)) = frame(subscription.next().await?) {
                return Some((frame, (!done).then_some(subscription)));
            }
        }
    });
    EventStream::new(Box::pin(frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::Resync;

    const AT: &str = "0123456789abcdef-7";

    fn text(frame: Option<(Frame, bool)>) -> (String, bool) {
        let (frame, done) = frame.unwrap();
        let bytes = match frame {
            Frame::Encoded(bytes) => bytes,
            Frame::Event(event) => event.encode().unwrap(),
        };
        (String::from_utf8(bytes.to_vec()).unwrap(), done)
    }

    fn message(name: Option<&str>, data: &str) -> Delivery {
        Delivery::Message(std::sync::Arc::new(Message::new(
            AT.to_owned(),
            name.map(str::to_owned),
            data.to_owned(),
        )))
    }

    #[test]
    fn messages_keep_their_name_and_carry_their_id() {
        assert_eq!(
            text(frame(message(Some("progress"), "{\"step\":1}"))),
            (
                "event: progress\nid: 0123456789abcdef-7\ndata: {\"step\":1}\n\n".to_owned(),
                false
            )
        );
        assert_eq!(
            text(frame(message(None, "a\nb"))),
            (
                "id: 0123456789abcdef-7\ndata: a\ndata: b\n\n".to_owned(),
                false
            )
        );
    }

    #[test]
    fn done_is_written_and_ends_the_stream_a_named_one_does_not() {
        assert_eq!(
            text(frame(message(None, DONE))),
            ("id: 0123456789abcdef-7\ndata: [DONE]\n\n".to_owned(), true)
        );
        assert!(!text(frame(message(Some("x"), DONE))).1);
    }

    #[test]
    fn resync_names_its_reason_and_the_id_to_resume_from() {
        assert_eq!(
            text(frame(Delivery::Resync {
                reason: Resync::Lagged,
                at: AT.to_owned()
            })),
            (
                "event: resync\nid: 0123456789abcdef-7\ndata: {\"reason\":\"lagged\"}\n\n"
                    .to_owned(),
                false
            )
        );
        assert_eq!(
            text(frame(Delivery::Start(AT.to_owned()))),
            ("id: 0123456789abcdef-7\n\n".to_owned(), false)
        );
    }
}
