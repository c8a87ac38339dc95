//! An event-stream parser written from the WHATWG HTML spec (§9.2.6,
//! "Interpreting an event stream"), independent of tiny's encoder, so tests
//! check the bytes the way a browser reads them.

/// A dispatched event, as a browser's `MessageEvent` would carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    /// The event type; `message` when no `event:` field was given.
    pub event: String,
    pub data: String,
    /// The last event ID after this event.
    pub id: String,
}

/// Incremental parser: feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct Parser {
    pending: Vec<u8>,
    started: bool,
    last_was_cr: bool,
    data: String,
    event_type: String,
    last_id: String,
    /// The reconnection time set by the last valid `retry:`, in ms.
    pub reconnection_time: Option<u64>,
    /// Comment lines seen (keep-alives are comments).
    pub comments: usize,
}

impl Parser {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<ServerEvent> {
        let mut events = Vec::new();
        for &byte in bytes {
            if self.last_was_cr {
                self.last_was_cr = false;
                if byte == b'\n' {
                    continue; // CRLF is one line end
                }
            }
            match byte {
                b'\r' => {
                    self.last_was_cr = true;
                    self.line(&mut events);
                }
                b'\n' => self.line(&mut events),
                other => self.pending.push(other),
            }
        }
        events
    }

    fn line(&mut self, events: &mut Vec<ServerEvent>) {
        let mut raw = std::mem::take(&mut self.pending);
        if !self.started {
            self.started = true;
            if raw.starts_with("\u{feff}".as_bytes()) {
                raw.drain(..3);
            }
        }
        let line = String::from_utf8_lossy(&raw).into_owned();
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.find(':') {
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_str(), ""),
        };
        match field {
            "event" => self.event_type = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            // An id holding NUL is ignored, as is a retry that is not all digits.
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.reconnection_time = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<ServerEvent>) {
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        let event_type = std::mem::take(&mut self.event_type);
        events.push(ServerEvent {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            id: self.last_id.clone(),
        });
    }
}
