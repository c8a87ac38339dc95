//! `Event` and the WHATWG event-stream encoder: the only place frames are written.
//!
//! The format (HTML Living Standard, "Server-sent events", §9.2.6) ends a
//! field at CR, LF or CRLF. So `data` is split on all three into several
//! `data:` lines, which the browser joins back with `\n`; a comment is split
//! the same way. `event` and `id` are single-line by nature: one holding CR,
//! LF (or, for `id`, NUL, which browsers ignore the whole field for) is an
//! error, never a panic and never written, so no payload can forge a frame.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::{Error, Result};

/// The sentinel that ends a stream: `data: [DONE]` is sent, then the response ends.
///
/// Return it from a poll method, or send it to a key:
///
/// ```no_run
/// # async fn producer() -> tiny::Result<()> {
/// tiny::sse().send_key("user:42:updates", tiny::sse::DONE).await?;
/// # Ok(()) }
/// ```
pub const DONE: &str = "[DONE]";

/// One server-sent event.
///
/// Setters chain and never panic; a field that cannot be written (an `event`
/// or `id` with a line break) is reported by [`Event::encode`], and a stream
/// logs and skips such an event instead of writing it.
///
/// ```
/// use tiny::sse::Event;
///
/// let frame = Event::data("line 1\nline 2").event("progress").id("7").encode().unwrap();
/// assert_eq!(&frame[..], b"event: progress\nid: 7\ndata: line 1\ndata: line 2\n\n");
///
/// assert!(Event::data("x").event("a\nb").encode().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    data: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    comment: Option<String>,
}

impl Event {
    /// `event: resync` with data `{"reason": "…"}`: the stream could not
    /// carry on from where the client left off (an unknown cursor, a
    /// history that was trimmed or reset, notifications missed while a
    /// backend was away), so the page should refetch what it shows. Live
    /// events follow it.
    pub(crate) fn resync(reason: &str) -> Self {
        Self::data(serde_json::json!({ "reason": reason }).to_string()).event("resync")
    }

    /// An unnamed event carrying `data` (the browser's `onmessage`).
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            data: Some(data.into()),
            ..Self::default()
        }
    }

    /// An event whose data is `value` serialized as JSON.
    ///
    /// ```
    /// # use tiny::sse::Event;
    /// let event = Event::json(&serde_json::json!({ "status": "processed" })).unwrap();
    /// assert_eq!(&event.encode().unwrap()[..], b"data: {\"status\":\"processed\"}\n\n");
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self> {
        let data = serde_json::to_string(value)
            .map_err(|e| Error::internal(format!("event data cannot be serialized: {e}")))?;
        Ok(Self::data(data))
    }

    /// A comment line (`: …`), ignored by browsers; useful to keep proxies awake.
    pub fn comment(comment: impl Into<String>) -> Self {
        Self {
            comment: Some(comment.into()),
            ..Self::default()
        }
    }

    /// Sets or replaces the data.
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Names the event, for `addEventListener(name, …)` in the browser.
    pub fn event(mut self, name: impl Into<String>) -> Self {
        self.event = Some(name.into());
        self
    }

    /// Sets the id the browser sends back as `Last-Event-ID` when it reconnects.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Tells the browser how long to wait before reconnecting.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The data, if any.
    pub fn data_ref(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The event name, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// True for the [`DONE`] sentinel: data exactly `[DONE]`, no event name.
    pub fn is_done(&self) -> bool {
        self.event.is_none() && self.data.as_deref() == Some(DONE)
    }

    /// Encodes the event as one frame, or fails when `event` or `id` holds a
    /// line break (or `id` a NUL) and so cannot be written without changing
    /// the stream.
    pub fn encode(&self) -> Result<Bytes> {
        let mut frame = String::with_capacity(self.data.as_ref().map_or(0, |d| d.len()) + 16);
        self.encode_into(&mut frame)?;
        Ok(Bytes::from(frame))
    }

    fn encode_into(&self, frame: &mut String) -> Result<()> {
        if let Some(comment) = &self.comment {
            push_lines(frame, ": ", comment);
        }
        if let Some(name) = &self.event {
            check_single_line("event", name)?;
            frame.push_str("event: ");
            frame.push_str(name);
            frame.push('\n');
        }
        if let Some(id) = &self.id {
            check_single_line("id", id)?;
            frame.push_str("id: ");
            frame.push_str(id);
            frame.push('\n');
        }
        if let Some(retry) = self.retry {
            // Writing to a String cannot fail.
            let _ = writeln!(frame, "retry: {}", retry.as_millis());
        }
        if let Some(data) = &self.data {
            push_lines(frame, DATA, data);
        }
        if frame.is_empty() {
            // An event with no field at all still has to be a valid frame.
            frame.push(':');
            frame.push('\n');
        }
        frame.push('\n');
        Ok(())
    }
}

/// Appends the frame of one message with `id: <id_prefix><seq>`, as
/// `Event::data(data).id(…).encode()` would write it, without building
/// either: a stream writing many messages (key mode) encodes them all into
/// one buffer. `id_prefix` must be a single line without NUL (the caller
/// builds it from a fixed alphabet).
pub(crate) fn encode_message(frame: &mut String, id_prefix: &str, seq: u64, data: &str) {
    debug_assert!(check_single_line("id", id_prefix).is_ok());
    frame.push_str("id: ");
    frame.push_str(id_prefix);
    // Writing to a String cannot fail.
    let _ = write!(frame, "{seq}");
    frame.push('\n');
    push_lines(frame, DATA, data);
    frame.push('\n');
}

/// Always "data: " with the space: the parser strips exactly one leading
/// space, so data that starts with a space survives.
const DATA: &str = "data: ";

/// One `prefix` line per line of `text`, split as the parser splits them.
fn push_lines(frame: &mut String, prefix: &str, text: &str) {
    for line in lines(text) {
        frame.push_str(prefix);
        frame.push_str(line);
        frame.push('\n');
    }
}

fn check_single_line(field: &str, value: &str) -> Result<()> {
    let bad = value.bytes().find(|&b| matches!(b, b'\n' | b'\r' | 0));
    match bad {
        None => Ok(()),
        Some(byte) => Err(Error::internal(format!(
            "event `{field}` must be a single line, found byte {byte:#04x} in {value:?}"
        ))),
    }
}

/// Splits on CRLF, CR and LF, the three line ends of the event-stream format.
/// Always yields at least one line, so empty data is still one `data:` line.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

impl From<String> for Event {
    fn from(data: String) -> Self {
        Self::data(data)
    }
}

impl From<&str> for Event {
    fn from(data: &str) -> Self {
        Self::data(data)
    }
}

impl From<serde_json::Value> for Event {
    fn from(value: serde_json::Value) -> Self {
        Self::data(value.to_string())
    }
}

/// What a poll method may return inside `Some(…)`: `String`, `&str`,
/// [`Event`], `serde_json::Value`, `Json<T>`, or a `Result` of one of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent as a server-sent event",
    label = "a poll method returns `Option<T>` where `T` is an event",
    note = "use `String`, `&str`, `tiny::sse::Event`, `serde_json::Value` or `tiny::Json<T>`"
)]
pub trait IntoEvent {
    /// Converts into an event; fails when the value cannot be serialized.
    fn into_event(self) -> Result<Event>;
}

impl IntoEvent for Event {
    fn into_event(self) -> Result<Event> {
        Ok(self)
    }
}

impl IntoEvent for String {
    fn into_event(self) -> Result<Event> {
        Ok(Event::data(self))
    }
}

impl IntoEvent for &str {
    fn into_event(self) -> Result<Event> {
        Ok(Event::data(self))
    }
}

impl IntoEvent for serde_json::Value {
    fn into_event(self) -> Result<Event> {
        Ok(self.into())
    }
}

impl<T: Serialize> IntoEvent for axum::Json<T> {
    fn into_event(self) -> Result<Event> {
        Event::json(&self.0)
    }
}

impl<T: IntoEvent> IntoEvent for Result<T> {
    fn into_event(self) -> Result<Event> {
        self?.into_event()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(event: Event) -> String {
        String::from_utf8(event.encode().unwrap().to_vec()).unwrap()
    }

    #[test]
    fn data_is_split_on_every_line_end() {
        assert_eq!(
            encode(Event::data("a\r\nb\rc\nd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn trailing_line_end_gives_an_empty_last_line() {
        assert_eq!(encode(Event::data("a\n")), "data: a\ndata: \n\n");
    }

    #[test]
    fn empty_data_is_one_empty_line() {
        assert_eq!(encode(Event::data("")), "data: \n\n");
    }

    #[test]
    fn payload_cannot_inject_an_event() {
        let frame = encode(Event::data("x\n\nevent: admin\ndata: pwned"));
        assert_eq!(
            frame,
            "data: x\ndata: \ndata: event: admin\ndata: data: pwned\n\n"
        );
    }

    #[test]
    fn event_and_id_with_line_breaks_are_errors() {
        for bad in ["a\nb", "a\rb", "a\r\n"] {
            assert!(Event::data("x").event(bad).encode().is_err());
            assert!(Event::data("x").id(bad).encode().is_err());
        }
        assert!(Event::data("x").id("a\0b").encode().is_err());
        assert!(Event::data("x").event("a\0b").encode().is_err());
    }

    #[test]
    fn all_fields_in_order() {
        let event = Event::data("d")
            .event("e")
            .id("i")
            .retry(Duration::from_millis(1500));
        assert_eq!(encode(event), "event: e\nid: i\nretry: 1500\ndata: d\n\n");
    }

    #[test]
    fn a_message_frame_is_what_the_event_would_write() {
        for data in ["d", "", "a\r\nb\rc\n", "x\n\nevent: admin"] {
            let mut frame = String::new();
            encode_message(&mut frame, "p.", 42, data);
            assert_eq!(frame, encode(Event::data(data).id("p.42")));
        }
    }

    #[test]
    fn comments_are_split_too() {
        assert_eq!(encode(Event::comment("a\nb")), ": a\n: b\n\n");
    }

    #[test]
    fn done_is_recognised_only_unnamed() {
        assert!(Event::data(DONE).is_done());
        assert!(!Event::data(DONE).event("x").is_done());
        assert!(!Event::data("[DONE] ").is_done());
    }
}
