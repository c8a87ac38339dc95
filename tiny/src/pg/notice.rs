//! What the listener hands its subscribers, as data: a numbered
//! notification, where a stream starts, or the news that it cannot carry on
//! from where its client left off. The stream layer decides what each looks
//! like on the wire; the listener knows nothing of frames.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::history::Cursor;

/// One `NOTIFY` on a channel, numbered in the channel's history and shared
/// by every subscriber of the channel.
#[derive(Debug)]
pub(crate) struct Notice {
    id: Cursor,
    payload: String,
    /// Filled once by the first subscriber that renders the notice, read by
    /// the rest: a fan-out to N streams renders once, not N times.
    rendered: OnceLock<Option<Bytes>>,
}

impl Notice {
    pub(crate) fn new(id: Cursor, payload: String) -> Self {
        Self {
            id,
            payload,
            rendered: OnceLock::new(),
        }
    }

    /// Its position in the channel's history: what a client resumes from.
    pub(crate) fn id(&self) -> Cursor {
        self.id
    }

    pub(crate) fn payload(&self) -> &str {
        &self.payload
    }

    /// The notice as its consumer renders it, computed on first use.
    pub(crate) fn rendered(&self, render: impl FnOnce(&Notice) -> Option<Bytes>) -> Option<&Bytes> {
        self.rendered.get_or_init(|| render(self)).as_ref()
    }
}

/// What a subscription yields.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// The next notification, in the channel's order.
    Notice(Arc<Notice>),
    /// The stream starts live at this position (its client sent no cursor):
    /// a client that keeps it and comes back gets what it missed.
    Start(Cursor),
    /// Notifications may be missing between the client's position and
    /// `at`, from where the stream goes on; the page should refetch.
    Resync { reason: Resync, at: Cursor },
}

/// Why a stream could not carry on from where its client left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resync {
    /// The client's cursor is not one this process wrote.
    Unknown,
    /// The client's cursor is from another history of the channel (before a
    /// reconnection of the listener, before the channel was last unused, or
    /// from another process).
    Epoch,
    /// What followed the client's cursor was trimmed from the history.
    Trimmed,
    /// The stream fell further behind than the history keeps.
    Lagged,
    /// The listening connection was lost and is back: notifications sent
    /// meanwhile are gone.
    Reconnected,
}
