//! Wake-ups for consumers waiting on a key's queue.
//!
//! A waiting consumer holds a [`Waiter`]; a send to its key wakes every
//! consumer of that key in this process at once (in memory: the producer
//! calls [`Wakers::wake`]; on Redis: the one pub/sub subscription per process
//! does). Woken consumers race to take; the atomic take gives each message to
//! exactly one of them, the others wait again. The map holds one entry per key
//! with a waiting consumer, removed when its last consumer leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::lock;

#[derive(Debug, Default)]
pub(crate) struct Wakers {
    keys: Mutex<HashMap<String, Entry>>,
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
    /// Registers interest in `key` until the returned waiter is dropped.
    pub(crate) fn watch(self: &Arc<Self>, key: &str) -> Waiter {
        let mut keys = lock(&self.keys);
        let entry = keys.entry(key.to_owned()).or_insert_with(|| Entry {
            notify: Arc::new(Notify::new()),
            waiters: 0,
        });
        entry.waiters += 1;
        Waiter {
            key: key.to_owned(),
            notify: Arc::clone(&entry.notify),
            wakers: Arc::clone(self),
        }
    }

    /// Wakes every consumer of `key` in this process.
    pub(crate) fn wake(&self, key: &str) {
        let notify = lock(&self.keys)
            .get(key)
            .map(|entry| Arc::clone(&entry.notify));
        if let Some(notify) = notify {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wake_reaches_every_consumer_of_the_key_only() {
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
        n1.await;
        n2.await;
        assert!(futures_util::FutureExt::now_or_never(nb).is_none());
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
