//! What the listener hands its subscribers, as data: a notification, or the
//! news that the connection was re-established (so notifications may have
//! been missed). The stream layer decides what a notice looks like on the
//! wire; the listener knows nothing of frames.

use std::sync::OnceLock;

use bytes::Bytes;

/// One event on a channel, shared by every subscriber of the channel.
#[derive(Debug)]
pub(crate) struct Notice {
    kind: NoticeKind,
    /// Filled once by the first subscriber that renders the notice, read by
    /// the rest: a fan-out to N streams renders once, not N times.
    rendered: OnceLock<Option<Bytes>>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoticeKind {
    /// A `NOTIFY` on the channel, with its payload.
    Notification(String),
    /// The listening connection was lost and is back: notifications sent
    /// meanwhile are gone.
    Reconnected,
}

impl Notice {
    pub(crate) fn notification(payload: String) -> Self {
        Self::new(NoticeKind::Notification(payload))
    }

    pub(crate) fn reconnected() -> Self {
        Self::new(NoticeKind::Reconnected)
    }

    fn new(kind: NoticeKind) -> Self {
        Self {
            kind,
            rendered: OnceLock::new(),
        }
    }

    /// The notice as its consumer renders it, computed on first use.
    pub(crate) fn rendered(
        &self,
        render: impl FnOnce(&NoticeKind) -> Option<Bytes>,
    ) -> Option<&Bytes> {
        self.rendered.get_or_init(|| render(&self.kind)).as_ref()
    }
}
