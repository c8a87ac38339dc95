//! Key queues with acknowledged delivery: the model both backends keep, the
//! data they hand out, and its in-process state machine.
//!
//! Per key there is a *history*: an `epoch` (random, fixed when the history
//! is created: first use, or first use after it expired), a hand-out
//! sequence, a FIFO of ready messages, and *lineages*. A lineage is one
//! consumer as a browser sees it: an `EventSource` and its reconnections. It
//! has one current connection (a token; a take from any other connection of
//! the lineage is refused, so an older, possibly half-open, connection takes
//! nothing more once the lineage came back), and a pending list of the
//! messages handed to it that it has not confirmed.
//!
//! - **take**: the lineage's first pending entry after the connection's
//!   position, else the head of the ready FIFO, numbered with the key's next
//!   sequence and appended to the pending list. A take whose answer was lost
//!   costs nothing: the entry is still pending and the next take returns it.
//! - **open** with a cursor (epoch, lineage, sequence) of this history:
//!   confirms (removes) exactly that lineage's pending entries up to the
//!   sequence, makes the new connection current, and the stream replays the
//!   rest. A cursor of another epoch, or one this key never issued, or of a
//!   lineage whose pending messages were given away, is [`Lost`].
//! - **renew**: a live connection renews its lineage's lease a few times
//!   per retention window (so liveness works across processes: one that
//!   dies simply stops renewing), and meanwhile does the bookkeeping no take
//!   needs: aging, the bound, and reclaiming stale lineages.
//! - **release** (a connection ended): the lineage stays for its return;
//!   with nothing pending it is forgotten, yet still recognised when it comes
//!   back, since lineage ids are signed per history.
//! - **reclaim**: a lineage not seen for the retention window (its
//!   connection ended, or its process died) gives its pending entries back
//!   to the head of the ready FIFO, in order, for the next consumer: at least
//!   once for tabs that vanished. A lineage whose stream ended with `[DONE]`
//!   keeps them for its own return only, then drops them: the browser closed
//!   on `[DONE]` and will not confirm. A lineage that lost its entries either
//!   way is remembered for a while, so its return gets `resync`.
//! - **aging**: entries a *live* lineage was handed more than a window ago
//!   count as delivered (the connection would have been ended by the write
//!   timeout had it not taken them), and a live lineage keeps at most
//!   `max_len` pending entries; so a long healthy stream does not accumulate
//!   them.
//!
//! Sequences number hand-outs, not sends: a reclaimed message gets a new
//! number when it is handed out again, so each lineage sees increasing
//! numbers and "confirm up to n" never confirms a message handed out later.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{QueueLimits, token};

/// A lineage: a random nonce and the history's signature of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lineage {
    pub(crate) nonce: u64,
    pub(crate) tag: u64,
}

/// Where a returning client left off: its `Last-Event-ID`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    pub(crate) epoch: u64,
    pub(crate) lineage: Lineage,
    pub(crate) seq: u64,
}

/// Why a cursor could not be honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lost {
    /// Not an id this key issued.
    Unknown,
    /// An id of an earlier history of the key (it expired, or was reset).
    Epoch,
    /// The lineage was away longer than the retention window: its pending
    /// messages went to other consumers or were dropped.
    Trimmed,
}

impl Lost {
    /// The `reason` a `resync` event carries.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Lost::Unknown => "unknown",
            Lost::Epoch => "epoch",
            Lost::Trimmed => "trimmed",
        }
    }
}

/// One connection of a lineage: what its takes and its release name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) lineage: Lineage,
    pub(crate) connection: u64,
}

/// A stream's start: the lineage it serves and where its replay begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    pub(crate) epoch: u64,
    pub(crate) lease: Lease,
    /// Takes return entries numbered above this.
    pub(crate) after: u64,
    /// Set when the client's cursor was not honoured: a new lineage serves it.
    pub(crate) lost: Option<Lost>,
}

/// Where a connection's take starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// The connection has written every entry numbered up to this.
    pub(crate) after: u64,
    /// Entries after `after` may be pending: after a reconnect, or a take
    /// whose answer was lost. Otherwise the newest pending entry is the one
    /// the connection wrote last, and a backend may skip looking.
    pub(crate) replay: bool,
}

/// The message that ends a stream (`tiny::sse::DONE`): nothing sent after
/// it is handed to the connection that takes it (it will write no more).
pub(crate) const END: &str = "[DONE]";

/// How much one take may hand out: a consumer that wakes to several
/// messages writes them in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Batch {
    /// At least 1.
    pub(crate) max_messages: usize,
    /// Bytes of messages past which no further one is added (the first is
    /// always taken).
    pub(crate) max_bytes: usize,
    /// The message that ends a stream (`[DONE]`): a take stops after it, so
    /// nothing sent after it is handed to a connection that will not write it.
    pub(crate) end: &'static str,
}

/// One message handed to a connection: its hand-out number and text, the
/// text shared with the queue's pending entry (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handed {
    pub(crate) seq: u64,
    pub(crate) message: Arc<str>,
}

/// What a take returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Taken {
    Messages {
        /// In increasing `seq` order; never empty.
        handed: Vec<Handed>,
        /// Another take would find a message at once.
        more: bool,
        /// They were pending already (a replay): keep `replay` on.
        replayed: bool,
    },
    Empty,
    /// This connection is no longer its lineage's current one (or the
    /// lineage is gone): the stream ends, and the browser reconnects.
    Refused,
}

/// Lineages whose pending entries were given away, remembered so that
/// their return gets `resync`; at most this many per key.
pub(crate) const GONE_MAX: usize = 10_000;
/// Aging never removes more than this per call, so no call is long.
const AGE_BATCH: usize = 100;

/// Why a push was refused: the queue is at one of its bounds. Nothing
/// already queued is ever dropped to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `max_len` unread messages.
    Len,
    /// `max_bytes` of unread messages.
    Bytes,
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    handed_at: Instant,
    message: Arc<str>,
}

#[derive(Debug)]
struct LineageState {
    /// The current connection; `None` once it ended.
    connection: Option<u64>,
    /// Its last connection ended after writing `[DONE]`.
    done: bool,
    /// Last open, take or release: a lineage unseen for the retention
    /// window is stale, whether its connection ended or its process died.
    seen: Instant,
    /// In increasing `seq` order.
    pending: VecDeque<Pending>,
}

impl LineageState {
    /// Drops what a live lineage was handed more than `retention` ago;
    /// the bytes it freed.
    fn age(&mut self, now: Instant, retention: Duration) -> usize {
        let mut freed = 0;
        for _ in 0..AGE_BATCH {
            match self.pending.front() {
                Some(entry) if entry.handed_at + retention <= now => {
                    freed += entry.message.len();
                    self.pending.pop_front();
                }
                _ => break,
            }
        }
        freed
    }
}

/// One key's history, in process.
#[derive(Debug)]
pub(crate) struct KeyQueue {
    epoch: u64,
    seq: u64,
    /// Bounded by `max_len` and `max_bytes` on push (reclaimed entries may
    /// exceed them).
    ready: VecDeque<Arc<str>>,
    /// Bytes of the messages in `ready`.
    ready_bytes: usize,
    /// Bytes of every message this history holds: ready and pending.
    held_bytes: usize,
    lineages: HashMap<u64, LineageState>,
    /// Nonce → when its pending entries were given away; at most `GONE_MAX`.
    gone: HashMap<u64, Instant>,
    /// The whole history goes this long after its last use.
    expires_at: Instant,
    /// No lineage can be stale before this: takes skip the scan until then.
    reclaim_at: Option<Instant>,
}

impl KeyQueue {
    pub(crate) fn new(now: Instant, limits: QueueLimits) -> Self {
        Self {
            epoch: token::random(),
            seq: 0,
            ready: VecDeque::new(),
            ready_bytes: 0,
            held_bytes: 0,
            lineages: HashMap::new(),
            gone: HashMap::new(),
            expires_at: now + limits.ttl,
            reclaim_at: None,
        }
    }

    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.expires_at <= now
    }

    pub(crate) fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Bytes of every message held, unread or pending: what the history
    /// costs the process, for the in-process backend's total bound.
    pub(crate) fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    fn keep(&mut self, now: Instant, limits: QueueLimits) {
        self.expires_at = now + limits.ttl;
    }

    fn tag(&self, nonce: u64) -> u64 {
        token::sign((self.epoch, nonce))
    }

    /// Appends `message`, unless the ready FIFO holds `max_len` messages
    /// or `max_bytes` would be passed.
    pub(crate) fn push(
        &mut self,
        message: Arc<str>,
        now: Instant,
        limits: QueueLimits,
    ) -> Result<(), Refused> {
        if self.ready.len() >= limits.max_len {
            return Err(Refused::Len);
        }
        if self.ready_bytes + message.len() > limits.max_bytes {
            return Err(Refused::Bytes);
        }
        self.ready_bytes += message.len();
        self.held_bytes += message.len();
        self.ready.push_back(message);
        self.keep(now, limits);
        Ok(())
    }

    /// Starts a connection `connection`: of the cursor's lineage when it can
    /// be honoured, else of a new lineage `nonce`.
    pub(crate) fn open(
        &mut self,
        resume: Option<Resume>,
        nonce: u64,
        connection: u64,
        now: Instant,
        limits: QueueLimits,
    ) -> Opened {
        let (mut nonce, mut after, mut lost) = (nonce, 0, None);
        if let Some(resume) = resume {
            if resume.epoch != self.epoch {
                lost = Some(Lost::Epoch);
            } else if resume.lineage.tag != self.tag(resume.lineage.nonce) {
                lost = Some(Lost::Unknown);
            } else if self.gone.contains_key(&resume.lineage.nonce) {
                lost = Some(Lost::Trimmed);
            } else {
                nonce = resume.lineage.nonce;
                after = resume.seq;
                if let Some(state) = self.lineages.get_mut(&nonce) {
                    while state.pending.front().is_some_and(|p| p.seq <= after) {
                        if let Some(confirmed) = state.pending.pop_front() {
                            self.held_bytes -= confirmed.message.len();
                        }
                    }
                }
            }
        }
        let state = self.lineages.entry(nonce).or_insert_with(|| LineageState {
            connection: None,
            done: false,
            seen: now,
            pending: VecDeque::new(),
        });
        state.connection = Some(connection);
        state.done = false;
        state.seen = now;
        self.keep(now, limits);
        self.note_seen(now, limits.retention);
        Opened {
            epoch: self.epoch,
            lease: Lease {
                lineage: Lineage {
                    nonce,
                    tag: self.tag(nonce),
                },
                connection,
            },
            after,
            lost,
        }
    }

    /// The next messages for `lease`'s connection at `position`, up to
    /// `batch`: its lineage's pending entries after the position, else the
    /// head of the ready FIFO. (In process looking for pending entries is
    /// cheap: it always looks.)
    pub(crate) fn take(
        &mut self,
        lease: Lease,
        position: Position,
        batch: Batch,
        now: Instant,
        limits: QueueLimits,
    ) -> Taken {
        let after = position.after;
        let Some(state) = self.lineages.get_mut(&lease.lineage.nonce) else {
            return Taken::Refused;
        };
        if state.connection != Some(lease.connection) {
            return Taken::Refused;
        }
        let mut handed = Vec::new();
        let mut bytes = 0;
        let full = |handed: &Vec<Handed>, bytes: usize| {
            handed.len() >= batch.max_messages.max(1) || bytes >= batch.max_bytes
        };
        let at = state.pending.partition_point(|p| p.seq <= after);
        if at < state.pending.len() {
            let mut next = at;
            while let Some(entry) = state.pending.get(next) {
                if !handed.is_empty() && full(&handed, bytes) {
                    break;
                }
                next += 1;
                bytes += entry.message.len();
                handed.push(Handed {
                    seq: entry.seq,
                    message: Arc::clone(&entry.message),
                });
                if *entry.message == *batch.end {
                    break;
                }
            }
            let more = next < state.pending.len() || !self.ready.is_empty();
            self.keep(now, limits);
            return Taken::Messages {
                handed,
                more,
                replayed: true,
            };
        }
        while handed.is_empty() || !full(&handed, bytes) {
            let Some(message) = self.ready.pop_front() else {
                break;
            };
            self.ready_bytes -= message.len();
            bytes += message.len();
            self.seq += 1;
            let end = *message == *batch.end;
            state.pending.push_back(Pending {
                seq: self.seq,
                handed_at: now,
                message: Arc::clone(&message),
            });
            handed.push(Handed {
                seq: self.seq,
                message,
            });
            if end {
                break;
            }
        }
        if handed.is_empty() {
            return Taken::Empty;
        }
        self.keep(now, limits);
        Taken::Messages {
            handed,
            more: !self.ready.is_empty(),
            replayed: false,
        }
    }

    /// Renews the lease of `lease`'s lineage (a live connection does so a
    /// few times per retention window), ages and bounds its pending
    /// entries, and reclaims those of stale lineages. False when the
    /// connection is not its lineage's current one.
    pub(crate) fn renew(&mut self, lease: Lease, now: Instant, limits: QueueLimits) -> bool {
        let Some(state) = self.lineages.get_mut(&lease.lineage.nonce) else {
            return false;
        };
        if state.connection != Some(lease.connection) {
            return false;
        }
        state.seen = now;
        self.held_bytes -= state.age(now, limits.retention);
        // Handed out `max_len` messages ago on a live connection: delivered.
        let excess = state.pending.len().saturating_sub(limits.max_len);
        for delivered in state.pending.drain(..excess) {
            self.held_bytes -= delivered.message.len();
        }
        self.keep(now, limits);
        self.reclaim(now, limits);
        true
    }

    /// `lease`'s connection ended (after writing `[DONE]` when `done`).
    pub(crate) fn release(&mut self, lease: Lease, done: bool, now: Instant, limits: QueueLimits) {
        let nonce = lease.lineage.nonce;
        let Some(state) = self.lineages.get_mut(&nonce) else {
            return;
        };
        if state.connection != Some(lease.connection) {
            return; // an older connection: the lineage has moved on
        }
        self.held_bytes -= state.age(now, limits.retention);
        if state.pending.is_empty() {
            // Nothing to keep: forgotten, and still recognised by its tag.
            self.lineages.remove(&nonce);
            return;
        }
        state.connection = None;
        state.done = done;
        state.seen = now;
        self.note_seen(now, limits.retention);
    }

    fn note_seen(&mut self, now: Instant, retention: Duration) {
        let stale_at = now + retention;
        if self.reclaim_at.is_none_or(|at| stale_at < at) {
            self.reclaim_at = Some(stale_at);
        }
    }

    /// Gives the pending entries of stale lineages back to the head of the
    /// ready FIFO, in order (those of a lineage that ended on `[DONE]` are
    /// dropped), and forgets the lineages.
    fn reclaim(&mut self, now: Instant, limits: QueueLimits) {
        if self.reclaim_at.is_none_or(|at| at > now) {
            return;
        }
        let retention = limits.retention;
        let stale: Vec<u64> = self
            .lineages
            .iter()
            .filter(|(_, state)| state.seen + retention <= now)
            .map(|(nonce, _)| *nonce)
            .collect();
        let mut back = Vec::new();
        for nonce in stale {
            let Some(state) = self.lineages.remove(&nonce) else {
                continue;
            };
            if state.pending.is_empty() {
                continue;
            }
            self.gone.insert(nonce, now);
            if state.done {
                let dropped: usize = state.pending.iter().map(|p| p.message.len()).sum();
                self.held_bytes -= dropped;
            } else {
                back.extend(state.pending);
            }
        }
        back.sort_by_key(|entry| entry.seq);
        for entry in back.into_iter().rev() {
            self.ready_bytes += entry.message.len();
            self.ready.push_front(entry.message);
        }
        self.reclaim_at = self
            .lineages
            .values()
            .map(|state| state.seen + retention)
            .min();
        self.trim_gone(now, limits.ttl);
    }

    fn trim_gone(&mut self, now: Instant, ttl: Duration) {
        self.gone.retain(|_, at| *at + ttl > now);
        if self.gone.len() > GONE_MAX {
            let mut ages: Vec<(Instant, u64)> = self.gone.iter().map(|(n, at)| (*at, *n)).collect();
            ages.sort_unstable();
            for (_, nonce) in &ages[..ages.len() - GONE_MAX] {
                self.gone.remove(nonce);
            }
        }
    }
}

#[cfg(test)]
impl Taken {
    /// The first message handed, for tests.
    pub(crate) fn first(self) -> Option<(u64, String)> {
        match self {
            Taken::Messages { handed, .. } => handed
                .into_iter()
                .next()
                .map(|h| (h.seq, h.message.to_string())),
            _ => None,
        }
    }
}

/// One message per take, for tests.
#[cfg(test)]
pub(crate) const ONE: Batch = Batch {
    max_messages: 1,
    max_bytes: usize::MAX,
    end: "[DONE]",
};

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: QueueLimits = QueueLimits {
        max_len: 100,
        max_bytes: 1024,
        ttl: Duration::from_secs(3600),
        retention: Duration::from_secs(60),
    };

    struct Clock(Instant);

    impl Clock {
        fn now(&self) -> Instant {
            self.0
        }
        fn pass(&mut self, by: Duration) {
            self.0 += by;
        }
    }

    fn queue_with(messages: &[&str], now: Instant) -> KeyQueue {
        let mut queue = KeyQueue::new(now, LIMITS);
        for m in messages {
            assert_eq!(queue.push((*m).into(), now, LIMITS), Ok(()));
        }
        queue
    }

    fn at(after: u64) -> Position {
        Position {
            after,
            replay: true,
        }
    }

    fn message(taken: Taken) -> (u64, String) {
        let shown = format!("{taken:?}");
        taken
            .first()
            .unwrap_or_else(|| panic!("expected a message, got {shown}"))
    }

    fn cursor(opened: &Opened, seq: u64) -> Resume {
        Resume {
            epoch: opened.epoch,
            lineage: opened.lease.lineage,
            seq,
        }
    }

    #[test]
    fn bytes_bound_the_ready_fifo_and_count_until_confirmed() {
        let clock = Clock(Instant::now());
        let limits = QueueLimits {
            max_bytes: 6,
            ..LIMITS
        };
        let mut queue = KeyQueue::new(clock.now(), limits);
        assert_eq!(queue.push("abc".into(), clock.now(), limits), Ok(()));
        assert_eq!(queue.push("def".into(), clock.now(), limits), Ok(()));
        assert_eq!(
            queue.push("g".into(), clock.now(), limits),
            Err(Refused::Bytes)
        );
        assert_eq!(queue.held_bytes(), 6);
        let opened = queue.open(None, 1, 10, clock.now(), limits);
        let (seq, _) = message(queue.take(opened.lease, at(0), ONE, clock.now(), limits));
        // Taken: room in the FIFO, but still held while pending.
        assert_eq!(queue.push("g".into(), clock.now(), limits), Ok(()));
        assert_eq!(queue.held_bytes(), 7);
        let cursor = cursor(&opened, seq);
        queue.open(Some(cursor), 2, 11, clock.now(), limits);
        assert_eq!(queue.held_bytes(), 4, "confirmed: freed");
    }

    #[test]
    fn a_take_hands_out_a_batch_and_stops_after_done() {
        let clock = Clock(Instant::now());
        let mut queue = queue_with(&["a", "b", "[DONE]", "c"], clock.now());
        let opened = queue.open(None, 1, 10, clock.now(), LIMITS);
        let batch = Batch {
            max_messages: 10,
            ..ONE
        };
        let Taken::Messages { handed, more, .. } =
            queue.take(opened.lease, at(0), batch, clock.now(), LIMITS)
        else {
            panic!("messages");
        };
        let texts: Vec<&str> = handed.iter().map(|h| &*h.message).collect();
        assert_eq!(texts, ["a", "b", "[DONE]"]);
        assert!(more, "`c` waits for the next consumer");
        assert_eq!(queue.ready_len(), 1);
        // A lost answer: the same batch again, from the pending entries.
        let again = queue.take(opened.lease, at(0), batch, clock.now(), LIMITS);
        let Taken::Messages {
            handed: replayed, ..
        } = again
        else {
            panic!("messages");
        };
        assert_eq!(replayed, handed);
    }

    #[test]
    fn a_lost_answer_is_taken_again() {
        let clock = Clock(Instant::now());
        let mut queue = queue_with(&["a", "b"], clock.now());
        let opened = queue.open(None, 1, 10, clock.now(), LIMITS);
        let first = message(queue.take(opened.lease, at(0), ONE, clock.now(), LIMITS));
        // The answer never arrived: the same take returns the same entry.
        assert_eq!(
            message(queue.take(opened.lease, at(0), ONE, clock.now(), LIMITS)),
            first
        );
        assert_eq!(
            message(queue.take(opened.lease, at(first.0), ONE, clock.now(), LIMITS)).1,
            "b"
        );
    }

    #[test]
    fn a_return_confirms_exactly_up_to_its_cursor_and_replays_the_rest() {
        let clock = Clock(Instant::now());
        let mut queue = queue_with(&["a", "b", "c", "d"], clock.now());
        let first = queue.open(None, 1, 10, clock.now(), LIMITS);
        let mut after = 0;
        for _ in 0..3 {
            after = message(queue.take(first.lease, at(after), ONE, clock.now(), LIMITS)).0;
        }
        // The browser read "a" only, then the connection died.
        let back = queue.open(Some(cursor(&first, 1)), 2, 11, clock.now(), LIMITS);
        assert_eq!(back.lost, None);
        assert_eq!(back.lease.lineage, first.lease.lineage);
        assert_eq!(back.after, 1);
        let mut got = Vec::new();
        let mut after = back.after;
        while let Some((seq, message)) = queue
            .take(back.lease, at(after), ONE, clock.now(), LIMITS)
            .first()
        {
            got.push(message);
            after = seq;
        }
        assert_eq!(got, ["b", "c", "d"]);
    }

    #[test]
    fn an_older_connection_takes_nothing_once_its_lineage_returned() {
        let clock = Clock(Instant::now());
        let mut queue = queue_with(&["a", "b"], clock.now());
        let old = queue.open(None, 1, 10, clock.now(), LIMITS);
        let (seq, _) = message(queue.take(old.lease, at(0), ONE, clock.now(), LIMITS));
        let new = queue.open(Some(cursor(&old, seq)), 2, 11, clock.now(), LIMITS);
        assert_eq!(
            queue.take(old.lease, at(seq), ONE, clock.now(), LIMITS),
            Taken::Refused
        );
        // Its release does not end the new connection either.
        queue.release(old.lease, false, clock.now(), LIMITS);
        assert_eq!(
            message(queue.take(new.lease, at(seq), ONE, clock.now(), LIMITS)).1,
            "b"
        );
    }

    #[test]
    fn cursors_that_cannot_be_honoured_say_why() {
        let clock = Clock(Instant::now());
        let mut queue = queue_with(&[], clock.now());
        let opened = queue.open(None, 1, 10, clock.now(), LIMITS);
        let mut foreign = cursor(&opened, 0);
        foreign.epoch ^= 1;
        assert_eq!(
            queue.open(Some(foreign), 2, 11, clock.now(), LIMITS).lost,
            Some(Lost::Epoch)
        );
        let mut forged = cursor(&opened, 0);
        forged.lineage.nonce ^= 1;
        let reopened = queue.open(Some(forged), 3, 12, clock.now(), LIMITS);
        assert_eq!(reopened.lost, Some(Lost::Unknown));
        assert_eq!(reopened.lease.lineage.nonce, 3, "a new lineage");
    }

    #[test]
    fn a_forgotten_lineage_is_still_recognised() {
        let clock = Clock(Instant::now());
        let mut queue = queue_with(&[], clock.now());
        let opened = queue.open(None, 1, 10, clock.now(), LIMITS);
        queue.release(opened.lease, false, clock.now(), LIMITS);
        assert!(queue.lineages.is_empty(), "nothing pending: nothing kept");
        let back = queue.open(Some(cursor(&opened, 0)), 2, 11, clock.now(), LIMITS);
        assert_eq!(back.lost, None);
        assert_eq!(back.lease.lineage, opened.lease.lineage);
    }

    #[test]
    fn a_vanished_lineage_gives_its_pending_messages_back_after_the_window() {
        let mut clock = Clock(Instant::now());
        let mut queue = queue_with(&["a", "b", "c"], clock.now());
        let gone = queue.open(None, 1, 10, clock.now(), LIMITS);
        let mut after = 0;
        for _ in 0..2 {
            after = message(queue.take(gone.lease, at(after), ONE, clock.now(), LIMITS)).0;
        }
        queue.release(gone.lease, false, clock.now(), LIMITS);
        let next = queue.open(None, 2, 11, clock.now(), LIMITS);
        let (seq, first) = message(queue.take(next.lease, at(0), ONE, clock.now(), LIMITS));
        assert_eq!(first, "c", "within the window the pending entries wait");
        assert!(queue.renew(next.lease, clock.now(), LIMITS));
        clock.pass(LIMITS.retention);
        assert!(queue.renew(next.lease, clock.now(), LIMITS));
        let mut got = Vec::new();
        let mut after = seq;
        while let Some((seq, message)) = queue
            .take(next.lease, at(after), ONE, clock.now(), LIMITS)
            .first()
        {
            got.push(message);
            after = seq;
        }
        assert_eq!(got, ["a", "b"], "back at the head, in order");
        let back = queue.open(Some(cursor(&gone, 0)), 3, 12, clock.now(), LIMITS);
        assert_eq!(back.lost, Some(Lost::Trimmed));
    }

    #[test]
    fn a_lineage_that_ended_on_done_keeps_its_messages_for_itself_only() {
        let mut clock = Clock(Instant::now());
        let mut queue = queue_with(&["a", "[DONE]"], clock.now());
        let first = queue.open(None, 1, 10, clock.now(), LIMITS);
        let a = message(queue.take(first.lease, at(0), ONE, clock.now(), LIMITS)).0;
        message(queue.take(first.lease, at(a), ONE, clock.now(), LIMITS));
        queue.release(first.lease, true, clock.now(), LIMITS);
        // Back within the window: its replay still has `[DONE]`.
        let back = queue.open(Some(cursor(&first, a)), 2, 11, clock.now(), LIMITS);
        assert_eq!(
            message(queue.take(back.lease, at(a), ONE, clock.now(), LIMITS)).1,
            "[DONE]"
        );
        queue.release(back.lease, true, clock.now(), LIMITS);
        clock.pass(LIMITS.retention);
        let other = queue.open(None, 3, 12, clock.now(), LIMITS);
        assert!(queue.renew(other.lease, clock.now(), LIMITS));
        assert_eq!(
            queue.take(other.lease, at(0), ONE, clock.now(), LIMITS),
            Taken::Empty,
            "nobody else gets a finished stream's messages"
        );
    }

    #[test]
    fn a_live_lineage_does_not_accumulate_pending_entries() {
        let mut clock = Clock(Instant::now());
        let mut queue = queue_with(&["a"], clock.now());
        let live = queue.open(None, 1, 10, clock.now(), LIMITS);
        let mut after = message(queue.take(live.lease, at(0), ONE, clock.now(), LIMITS)).0;
        clock.pass(LIMITS.retention);
        assert_eq!(queue.push("b".into(), clock.now(), LIMITS), Ok(()));
        after = message(queue.take(live.lease, at(after), ONE, clock.now(), LIMITS)).0;
        assert!(queue.renew(live.lease, clock.now(), LIMITS));
        assert_eq!(
            queue.lineages[&1].pending.len(),
            1,
            "`a` aged out: delivered"
        );
        for n in 0..2 * LIMITS.max_len {
            assert_eq!(
                queue.push(n.to_string().into(), clock.now(), LIMITS),
                Ok(())
            );
            after = message(queue.take(live.lease, at(after), ONE, clock.now(), LIMITS)).0;
        }
        assert!(queue.renew(live.lease, clock.now(), LIMITS));
        assert_eq!(queue.lineages[&1].pending.len(), LIMITS.max_len);
    }

    #[test]
    fn gone_lineages_are_bounded() {
        let now = Instant::now();
        let mut queue = queue_with(&[], now);
        for n in 0..GONE_MAX as u64 + 10 {
            queue
                .gone
                .insert(n, now + Duration::from_millis(n.min(GONE_MAX as u64)));
        }
        queue.trim_gone(now + Duration::from_secs(1), LIMITS.ttl);
        assert_eq!(queue.gone.len(), GONE_MAX);
    }
}
