//! Wake-ups for consumers waiting on a key's queue.
//!
//! A consumer of a key holds a [`Waiter`]; a send to its key wakes *one*
//! consumer of that key in this process that is waiting (in memory: the
//! producer calls [`Wakers::wake`]; on Redis: the one pub/sub subscription
//! per process does), or leaves a permit for the next one that waits, so a
//! send costs one take, not one per consumer. A consumer is registered only
//! from just before a take until it is woken: one busy writing a frame (or
//! stalled on a slow client) is not, so a wake-up never goes to a consumer
//! that would sit on it, and one woken while its take found a message is
//! passed on to the next waiter when it re-arms. The map holds one entry per
//! key with a consumer, removed when its last consumer leaves; with a
//! [`Change`] sender (Redis), the first and last consumer of a key are
//! announced so the process subscribes to that key's channel only while it
//! has a consumer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

use super::lock;

/// A key gained its first consumer in this process, or lost its last.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Watched(String),
    Unwatched(String),
}

#[derive(Debug, Default)]
pub(crate) struct Wakers {
    keys: Mutex<HashMap<String, Entry>>,
    /// Told of each [`Change`], in order (sent under the map's lock).
    changes: Option<mpsc::UnboundedSender<Change>>,
}

/// One key's wake-up and how many [`Waiter`]s hold it.
///
/// The count, not `Arc::strong_count`, decides when the entry goes: it only
/// changes under the map's lock, whereas a waiter's `Arc` is released after
/// its `drop` has unlocked (so consumers leaving at once each saw the other
/// still there and none removed the entry), and clones of the `Arc` made
/// elsewhere (the key stream keeps one) would keep it alive as well. An entry
/// thus exists exactly while a waiter of its key does; none is ever dead.
#[derive(Debug)]
struct Entry {
    notify: Arc<Notify>,
    waiters: usize,
}

impl Wakers {
    /// Wake-ups that announce each key's first and last consumer on `changes`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn announcing(changes: mpsc::UnboundedSender<Change>) -> Self {
        Self {
            keys: Mutex::default(),
            changes: Some(changes),
        }
    }

    /// Registers interest in `key` until the returned waiter is dropped.
    pub(crate) fn watch(self: &Arc<Self>, key: &str) -> Waiter {
        let mut keys = lock(&self.keys);
        let entry = keys.entry(key.to_owned()).or_insert_with(|| {
            if let Some(changes) = &self.changes {
                let _ = changes.send(Change::Watched(key.to_owned()));
            }
            Entry {
                notify: Arc::new(Notify::new()),
                waiters: 0,
            }
        });
        entry.waiters += 1;
        Waiter {
            key: key.to_owned(),
            notify: Arc::clone(&entry.notify),
            // Only Redis hands messages to one connection directly.
            own: self.changes.as_ref().map(|_| Arc::new(Notify::new())),
            wakers: Arc::clone(self),
        }
    }

    /// Wakes one waiting consumer of `key` in this process (or the next
    /// one to wait): a send needs one take.
    pub(crate) fn wake(&self, key: &str) {
        if let Some(notify) = self.notify(key) {
            notify.notify_one();
        }
    }

    /// `key`'s wake-up, taken out of the lock before anyone is woken.
    fn notify(&self, key: &str) -> Option<Arc<Notify>> {
        lock(&self.keys)
            .get(key)
            .map(|entry| Arc::clone(&entry.notify))
    }

    /// Wakes every waiting consumer of `key`: after its wake-ups may have
    /// been missed (its channel was just subscribed, a check found
    /// messages waiting).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn wake_waiters(&self, key: &str) {
        if let Some(notify) = self.notify(key) {
            notify.notify_waiters();
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    /// Wakes every consumer: after a gap in wake-ups (a lost subscription),
    /// anything may have been sent meanwhile.
    pub(crate) fn wake_all(&self) {
        let all: Vec<_> = lock(&self.keys)
            .values()
            .map(|entry| Arc::clone(&entry.notify))
            .collect();
        for notify in all {
            notify.notify_waiters();
        }
    }

    #[cfg(test)]
    pub(crate) fn watched(&self) -> usize {
        lock(&self.keys).len()
    }
}

/// A consumer's registration; dropping it unregisters.
#[derive(Debug)]
pub(crate) struct Waiter {
    key: String,
    pub(crate) notify: Arc<Notify>,
    /// This consumer's own wake-up: messages handed to its connection
    /// alone (Redis hand-offs), so no other consumer of the key takes it.
    /// A wake-up with nobody waiting is kept for its next wait. `None` in
    /// process, where there are none.
    pub(crate) own: Option<Arc<Notify>>,
    wakers: Arc<Wakers>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut keys = lock(&self.wakers.keys);
        let Some(entry) = keys.get_mut(&self.key) else {
            return;
        };
        // Always ours while we live (an entry goes only at zero waiters);
        // checked so a broken invariant can never unregister someone else.
        let ours = Arc::ptr_eq(&entry.notify, &self.notify);
        debug_assert!(ours, "the entry for `{}` is not this waiter's", self.key);
        if !ours {
            return;
        }
        entry.waiters -= 1;
        if entry.waiters == 0 {
            keys.remove(&self.key);
            if let Some(changes) = &self.wakers.changes {
                let _ = changes.send(Change::Unwatched(self.key.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures_util::FutureExt as _;

    #[tokio::test]
    async fn one_send_wakes_one_waiting_consumer_of_its_key_only() {
        let wakers = Arc::new(Wakers::default());
        let a1 = wakers.watch("a");
        let a2 = wakers.watch("a");
        let b = wakers.watch("b");
        let (n1, n2, nb) = (
            a1.notify.notified(),
            a2.notify.notified(),
            b.notify.notified(),
        );
        tokio::pin!(n1, n2, nb);
        n1.as_mut().enable();
        n2.as_mut().enable();
        nb.as_mut().enable();
        wakers.wake("a");
        let first = n1.as_mut().now_or_never().is_some();
        let second = n2.as_mut().now_or_never().is_some();
        assert!(first != second, "exactly one woken: {first} {second}");
        assert!(nb.as_mut().now_or_never().is_none());
        // A second send wakes the other one.
        wakers.wake("a");
        let other = if first { n2 } else { n1 };
        assert!(other.now_or_never().is_some());
    }

    #[tokio::test]
    async fn a_wake_up_taken_by_a_consumer_that_re_arms_goes_to_the_next() {
        let wakers = Arc::new(Wakers::default());
        let busy = wakers.watch("a");
        let idle = wakers.watch("a");
        let mut armed = Box::pin(Arc::clone(&busy.notify).notified_owned());
        armed.as_mut().enable();
        let waiting = idle.notify.notified();
        tokio::pin!(waiting);
        waiting.as_mut().enable();
        wakers.wake("a"); // the first registered gets it: `busy`
        // `busy` found a message with its take and re-arms without waiting.
        armed.set(Arc::clone(&busy.notify).notified_owned());
        assert!(waiting.now_or_never().is_some(), "passed on to `idle`");
    }

    #[tokio::test]
    async fn a_send_with_nobody_waiting_wakes_the_next_to_wait() {
        let wakers = Arc::new(Wakers::default());
        let consumer = wakers.watch("a");
        wakers.wake("a");
        assert!(consumer.notify.notified().now_or_never().is_some());
    }

    #[test]
    fn first_and_last_consumers_are_announced_in_order() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let wakers = Arc::new(Wakers::announcing(tx));
        let first = wakers.watch("k");
        let second = wakers.watch("k");
        drop(first);
        drop(second);
        let again = wakers.watch("k");
        drop(again);
        let mut seen = Vec::new();
        while let Ok(change) = rx.try_recv() {
            seen.push(change);
        }
        let (w, u) = (Change::Watched("k".into()), Change::Unwatched("k".into()));
        assert_eq!(seen, [w.clone(), u.clone(), w, u]);
    }

    #[test]
    fn last_waiter_removes_the_entry() {
        let wakers = Arc::new(Wakers::default());
        let first = wakers.watch("k");
        let second = wakers.watch("k");
        drop(first);
        assert_eq!(wakers.watched(), 1);
        drop(second);
        assert_eq!(wakers.watched(), 0);
    }

    #[test]
    fn a_clone_of_the_wake_up_does_not_keep_the_entry() {
        let wakers = Arc::new(Wakers::default());
        let waiter = wakers.watch("k");
        let clone = Arc::clone(&waiter.notify);
        drop(waiter);
        assert_eq!(wakers.watched(), 0);
        let again = wakers.watch("k");
        assert!(!Arc::ptr_eq(&again.notify, &clone));
        drop(clone);
        assert_eq!(wakers.watched(), 1);
        drop(again);
        assert_eq!(wakers.watched(), 0);
    }

    /// Consumers of one key leaving on several threads at once must still
    /// leave no entry behind: whichever leaves last has to see it is last.
    #[test]
    fn concurrent_last_waiters_remove_the_entry() {
        const THREADS: usize = 2;
        let wakers = Arc::new(Wakers::default());
        for iteration in 1..=20_000 {
            let barrier = Arc::new(std::sync::Barrier::new(THREADS));
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let waiter = wakers.watch("k");
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        barrier.wait();
                        drop(waiter);
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(
                wakers.watched(),
                0,
                "an entry outlived its consumers at iteration {iteration}"
            );
        }
    }
}
