//! A numbered, epoch-stamped, bounded history: what a stream with resume
//! replays from.
//!
//! Every entry gets the next sequence number of its history; the history
//! itself carries a random epoch, drawn when it is created and again when it
//! is [reset](History::reset) (its source lost entries, so nothing before the
//! reset can be continued; numbering goes on). A [`Cursor`] (`<epoch>-<seq>`, in hex and
//! decimal) names a position; a client hands it back to resume, and a
//! cursor of another epoch, or one older than what is still kept, is
//! recognised as such instead of being silently read as a position in the
//! wrong history ([`Gap`]).
//!
//! The bound: at most [`Limits::len`] entries, none older than
//! [`Limits::age`] once the owner trims (which [`History::push`] does).
//! Readers never hold entries in place: a reader that falls further behind
//! than the bound finds a [`Gap::Trimmed`] and starts again from the head.
//!
//! The module knows nothing of HTTP, frames or PostgreSQL: the pg listener
//! keeps one per channel, and the in-process topics one per topic.
#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// How much a history keeps: entries beyond `len`, or older than `age`, are
/// trimmed, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The most entries kept (at least 1).
    pub(crate) len: usize,
    /// How long an entry is kept.
    pub(crate) age: Duration,
}

/// A position in a history: the entry numbered `seq` of the history drawn
/// as `epoch`. Written `<epoch as 16 hex digits>-<seq>`; `seq` 0 is the
/// position before the first entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) epoch: u64,
    pub(crate) seq: u64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{}", self.epoch, self.seq)
    }
}

impl Cursor {
    /// Reads a cursor as [`Display`](fmt::Display) writes it; `None` for
    /// anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (epoch, seq) = text.split_once('-')?;
        let digits = |part: &str, max: usize, radix: u32| {
            !part.is_empty() && part.len() <= max && part.chars().all(|c| c.is_digit(radix))
        };
        if !digits(epoch, 16, 16) || !digits(seq, 20, 10) {
            return None;
        }
        Some(Self {
            epoch: u64::from_str_radix(epoch, 16).ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

/// Why a cursor cannot be continued from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// Not a cursor this history could have written: unparseable, or ahead
    /// of its newest entry.
    Unknown,
    /// A cursor of another epoch: this history was reset since, or the
    /// cursor comes from another history (another process).
    Epoch,
    /// Entries after the cursor have been trimmed.
    Trimmed,
}

/// What follows a cursor.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<'a, T> {
    /// The entry right after the cursor, and its own cursor.
    Entry(Cursor, &'a T),
    /// The cursor is the newest position: nothing follows yet.
    CaughtUp,
    /// The cursor cannot be continued from.
    Gap(Gap),
}

/// The history. Not synchronised: its owner puts it behind a lock when
/// readers share it.
#[derive(Debug)]
pub(crate) struct History<T> {
    epoch: u64,
    /// The sequence number of `entries[0]`, or with no entries, the next
    /// one to be written.
    first: u64,
    /// Bounded by `limits` (see the module docs).
    entries: VecDeque<Entry<T>>,
    limits: Limits,
}

#[derive(Debug)]
struct Entry<T> {
    at: Instant,
    value: T,
}

impl<T> History<T> {
    /// An empty history with a fresh random epoch.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            epoch: random_epoch(),
            first: 1,
            entries: VecDeque::new(),
            limits: Limits {
                len: limits.len.max(1),
                ..limits
            },
        }
    }

    /// The newest position: the last entry written, or `seq` 0 before the
    /// first.
    pub(crate) fn head(&self) -> Cursor {
        Cursor {
            epoch: self.epoch,
            seq: self.first + self.entries.len() as u64 - 1,
        }
    }

    /// How many entries are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is kept (all trimmed, or none written yet).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The oldest entry kept, with the time it was written, when the next
    /// [`push`](Self::push) will trim it for the count limit.
    pub(crate) fn next_trimmed(&self) -> Option<(Cursor, Instant)> {
        if self.entries.len() < self.limits.len {
            return None;
        }
        let oldest = self.entries.front()?;
        let cursor = Cursor {
            epoch: self.epoch,
            seq: self.first,
        };
        Some((cursor, oldest.at))
    }

    /// Appends the entry `make` builds for its own cursor, then trims to the
    /// limits (by count, and by age as of `now`).
    pub(crate) fn push(&mut self, now: Instant, make: impl FnOnce(Cursor) -> T) -> Cursor {
        let cursor = Cursor {
            epoch: self.epoch,
            seq: self.head().seq + 1,
        };
        self.entries.push_back(Entry {
            at: now,
            value: make(cursor),
        });
        if self.entries.len() > self.limits.len {
            self.entries.pop_front();
            self.first += 1;
        }
        self.trim(now);
        cursor
    }

    /// Drops the entries older than the age limit as of `now`.
    pub(crate) fn trim(&mut self, now: Instant) {
        while let Some(entry) = self.entries.front() {
            if now.saturating_duration_since(entry.at) <= self.limits.age {
                break;
            }
            self.entries.pop_front();
            self.first += 1;
        }
    }

    /// Forgets every entry and draws a new epoch: the source lost entries,
    /// so no earlier cursor can be continued. Numbering goes on where it
    /// was, so sequence numbers alone still order every entry ever written.
    pub(crate) fn reset(&mut self) {
        self.epoch = random_epoch();
        self.first += self.entries.len() as u64;
        self.entries.clear();
    }

    /// The cursor a client handed back, checked against this history: `Ok`
    /// when every entry after it is still kept (the replay starts right
    /// after it), else why not.
    pub(crate) fn resume(&self, id: &str) -> Result<Cursor, Gap> {
        let cursor = Cursor::parse(id).ok_or(Gap::Unknown)?;
        match self.next(cursor) {
            Next::Gap(gap) => Err(gap),
            Next::Entry(..) | Next::CaughtUp => Ok(cursor),
        }
    }

    /// What follows `cursor`.
    pub(crate) fn next(&self, cursor: Cursor) -> Next<'_, T> {
        if cursor.epoch != self.epoch {
            return Next::Gap(Gap::Epoch);
        }
        let head = self.head().seq;
        if cursor.seq > head {
            return Next::Gap(Gap::Unknown);
        }
        if cursor.seq == head {
            return Next::CaughtUp;
        }
        // `first - 1 <= cursor.seq < head`, or what follows was trimmed.
        let Some(index) = (cursor.seq + 1).checked_sub(self.first) else {
            return Next::Gap(Gap::Trimmed);
        };
        match self.entries.get(index as usize) {
            Some(entry) => Next::Entry(
                Cursor {
                    epoch: self.epoch,
                    seq: cursor.seq + 1,
                },
                &entry.value,
            ),
            None => Next::Gap(Gap::Unknown),
        }
    }
}

/// A random epoch: std's `RandomState` is keyed from the operating system's
/// randomness once per thread and stepped for each new state, so epochs
/// differ between histories, processes and restarts.
fn random_epoch() -> u64 {
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one((DRAWN.fetch_add(1, Ordering::Relaxed), SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(len: usize, age_ms: u64) -> History<u32> {
        History::new(Limits {
            len,
            age: Duration::from_millis(age_ms),
        })
    }

    fn at(history: &History<u32>, seq: u64) -> Cursor {
        Cursor {
            epoch: history.epoch,
            seq,
        }
    }

    /// Every value after `cursor`, read the way a subscriber does.
    fn read(history: &History<u32>, mut cursor: Cursor) -> Result<Vec<u32>, Gap> {
        let mut values = Vec::new();
        loop {
            match history.next(cursor) {
                Next::Entry(next, value) => {
                    assert_eq!(next.seq, cursor.seq + 1);
                    values.push(*value);
                    cursor = next;
                }
                Next::CaughtUp => return Ok(values),
                Next::Gap(gap) => return Err(gap),
            }
        }
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_parses() {
        let cursor = Cursor {
            epoch: 0x00ab_cdef_0123_4567,
            seq: 42,
        };
        assert_eq!(cursor.to_string(), "00abcdef01234567-42");
        assert_eq!(Cursor::parse("00abcdef01234567-42"), Some(cursor));
        assert_eq!(
            Cursor::parse(
                &Cursor {
                    epoch: u64::MAX,
                    seq: u64::MAX
                }
                .to_string()
            ),
            Some(Cursor {
                epoch: u64::MAX,
                seq: u64::MAX
            })
        );
        for bad in [
            "",
            "-",
            "42",
            "abc-",
            "-1",
            "xyz-1",
            "+abc-1",
            "abc-+1",
            "abc-1-2",
            "abc- 1",
            "11111111111111111-1",
            "abc-99999999999999999999",
            "abc-1.0",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn entries_are_numbered_from_one_in_order() {
        let mut history = history(10, 60_000);
        let now = Instant::now();
        assert_eq!(history.head(), at(&history, 0));
        for value in 1..=3 {
            let cursor = history.push(now, |cursor| {
                assert_eq!(cursor.seq, u64::from(value));
                value
            });
            assert_eq!(cursor, history.head());
        }
        assert_eq!(read(&history, at(&history, 0)), Ok(vec![1, 2, 3]));
        assert_eq!(read(&history, at(&history, 2)), Ok(vec![3]));
        assert_eq!(history.next(history.head()), Next::CaughtUp);
    }

    #[test]
    fn the_count_limit_trims_the_oldest() {
        let mut history = history(5, 60_000);
        let now = Instant::now();
        for value in 1..=8 {
            history.push(now, |_| value);
        }
        assert_eq!(history.len(), 5);
        // 4..=8 are kept: a cursor at 3 misses nothing, one at 2 missed 3.
        assert_eq!(
            history.resume(&at(&history, 3).to_string()),
            Ok(at(&history, 3))
        );
        assert_eq!(read(&history, at(&history, 3)), Ok(vec![4, 5, 6, 7, 8]));
        assert_eq!(
            history.resume(&at(&history, 2).to_string()),
            Err(Gap::Trimmed)
        );
        assert_eq!(read(&history, at(&history, 0)), Err(Gap::Trimmed));
    }

    #[test]
    fn the_entry_the_next_push_trims_is_known_once_full() {
        let mut history = history(2, 60_000);
        let start = Instant::now();
        history.push(start, |_| 1);
        assert_eq!(history.next_trimmed(), None);
        history.push(start + Duration::from_millis(1), |_| 2);
        assert_eq!(history.next_trimmed(), Some((at(&history, 1), start)));
        history.push(start + Duration::from_millis(2), |_| 3);
        assert_eq!(
            history.next_trimmed(),
            Some((at(&history, 2), start + Duration::from_millis(1)))
        );
    }

    #[test]
    fn the_age_limit_trims_what_is_older() {
        let mut history = history(100, 1_000);
        let start = Instant::now();
        history.push(start, |_| 1);
        history.push(start + Duration::from_millis(600), |_| 2);
        history.trim(start + Duration::from_millis(1_000));
        assert_eq!(read(&history, at(&history, 0)), Ok(vec![1, 2]));
        // Pushing trims too.
        history.push(start + Duration::from_millis(1_001), |_| 3);
        assert_eq!(history.len(), 2);
        assert_eq!(
            history.resume(&at(&history, 0).to_string()),
            Err(Gap::Trimmed)
        );
        assert_eq!(read(&history, at(&history, 1)), Ok(vec![2, 3]));
        // Everything expired: the head still names the last entry written,
        // so a client that had read it misses nothing.
        history.trim(start + Duration::from_secs(60));
        assert_eq!(history.len(), 0);
        assert_eq!(
            history.resume(&at(&history, 3).to_string()),
            Ok(at(&history, 3))
        );
        assert_eq!(
            history.resume(&at(&history, 2).to_string()),
            Err(Gap::Trimmed)
        );
        history.push(start + Duration::from_secs(60), |_| 4);
        assert_eq!(read(&history, at(&history, 3)), Ok(vec![4]));
    }

    #[test]
    fn cursors_of_another_epoch_or_ahead_are_not_continued() {
        let mut history = history(10, 60_000);
        let now = Instant::now();
        history.push(now, |_| 1);
        let other = Cursor {
            epoch: history.epoch ^ 1,
            seq: 1,
        };
        assert_eq!(history.resume(&other.to_string()), Err(Gap::Epoch));
        assert_eq!(
            history.resume(&at(&history, 2).to_string()),
            Err(Gap::Unknown)
        );
        assert_eq!(history.resume("last-seen"), Err(Gap::Unknown));

        let before = history.head();
        history.reset();
        assert_ne!(history.head().epoch, before.epoch);
        assert_eq!(history.head().seq, before.seq);
        assert_eq!(history.next(before), Next::Gap(Gap::Epoch));
        assert_eq!(history.len(), 0);
        history.push(now, |_| 2);
        assert_eq!(read(&history, at(&history, 1)), Ok(vec![2]));
    }

    #[test]
    fn epochs_differ() {
        let epochs: std::collections::HashSet<u64> =
            (0..1000).map(|_| history(1, 1).head().epoch).collect();
        assert_eq!(epochs.len(), 1000);
    }

    #[test]
    fn a_zero_length_limit_keeps_one() {
        let mut history = history(0, 60_000);
        history.push(Instant::now(), |_| 1);
        assert_eq!(read(&history, at(&history, 0)), Ok(vec![1]));
    }
}
