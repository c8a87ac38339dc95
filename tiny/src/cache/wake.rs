//! Wake-ups for consumers waiting on a key's queue.
//!
//! A waiting consumer holds a [`Waiter`]; a send to its key wakes every
//! consumer of that key in this process at once (in memory: the producer
//! calls [`Wakers::wake`]; on Redis: the one pub/sub subscription per process
//! does). Woken consumers race to take; the atomic take gives each message to
//! exactly one of them, the others wait again. The map holds one entry per key
//! with a waiting consumer, removed when its last consumer leaves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use super::lock;

#[derive(Debug, Default)]
pub(crate) struct Wakers {
    keys: Mutex<HashMap<String, Weak<Notify>>>,
}

impl Wakers {
    /// Registers interest in `key` until the returned waiter is dropped.
    pub(crate) fn watch(self: &Arc<Self>, key: &str) -> Waiter {
        let mut keys = lock(&self.keys);
        let notify = match keys.get(key).and_then(Weak::upgrade) {
            Some(notify) => notify,
            None => {
                let notify = Arc::new(Notify::new());
                keys.insert(key.to_owned(), Arc::downgrade(&notify));
                notify
            }
        };
        Waiter {
            key: key.to_owned(),
            notify,
            wakers: Arc::clone(self),
        }
    }

    /// Wakes every consumer of `key` in this process.
    pub(crate) fn wake(&self, key: &str) {
        let notify = lock(&self.keys).get(key).and_then(Weak::upgrade);
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
            .filter_map(Weak::upgrade)
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
        // Ours is the last strong reference: no consumer of this key is left.
        if Arc::strong_count(&self.notify) == 1 {
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
}
