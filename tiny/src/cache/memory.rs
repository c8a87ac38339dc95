//! The embedded backend: values in moka, key queue histories in a map
//! ([`KeyQueue`]: the state machine), all in process. No lock is held across
//! an `.await`: every queue operation is one short critical section.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::queue::{KeyQueue, Lease, Opened, Position, Resume, Taken};
use super::wake::{Waiter, Wakers};
use super::{QueueLimits, lock, token};
use crate::Result;

#[derive(Clone)]
struct Entry {
    value: Arc<str>,
    ttl: Option<Duration>,
}

/// Each entry lives for its own TTL, from when it was last set.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        entry.ttl
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        entry.ttl
    }
}

/// How many queue operations between sweeps of expired histories.
const SWEEP_EVERY: u64 = 1024;

pub(crate) struct MemoryBackend {
    values: moka::sync::Cache<String, Entry>,
    queues: Mutex<QueueMap>,
    wakers: Arc<Wakers>,
}

#[derive(Default)]
struct QueueMap {
    queues: HashMap<String, KeyQueue>,
    operations: u64,
}

impl QueueMap {
    /// `key`'s history, a new one when it has none or it expired.
    fn history(&mut self, key: &str, now: Instant, limits: QueueLimits) -> &mut KeyQueue {
        self.operations += 1;
        if self.operations % SWEEP_EVERY == 0 {
            self.queues.retain(|_, queue| !queue.expired(now));
        }
        // Looked up first: a key is allocated only for a new history.
        if !self.queues.contains_key(key) {
            self.queues
                .insert(key.to_owned(), KeyQueue::new(now, limits));
        }
        let queue = self.queues.get_mut(key).expect("inserted above");
        if queue.expired(now) {
            *queue = KeyQueue::new(now, limits);
        }
        queue
    }
}

impl MemoryBackend {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            values: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerEntryTtl)
                .build(),
            queues: Mutex::default(),
            wakers: Arc::default(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).map(|entry| entry.value.to_string())
    }

    pub(crate) fn set(&self, key: &str, value: String, ttl: Option<Duration>) {
        let entry = Entry {
            value: value.into(),
            ttl,
        };
        self.values.insert(key.to_owned(), entry);
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        self.values.remove(key).is_some()
    }

    pub(crate) fn get_by_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, entry)| (key.to_string(), entry.value.to_string()))
            .collect()
    }

    pub(crate) fn delete_by_prefix(&self, prefix: &str) -> usize {
        let keys: Vec<_> = self
            .values
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key)
            .collect();
        keys.iter()
            .filter(|key| self.values.remove(key.as_str()).is_some())
            .count()
    }

    pub(crate) fn push(&self, key: &str, message: String, limits: QueueLimits) -> Result<()> {
        let now = Instant::now();
        let pushed = lock(&self.queues)
            .history(key, now, limits)
            .push(message, now, limits);
        if !pushed {
            return Err(super::queue_full(key, limits.max_len));
        }
        self.wakers.wake(key);
        Ok(())
    }

    pub(crate) fn open(&self, key: &str, resume: Option<Resume>, limits: QueueLimits) -> Opened {
        let now = Instant::now();
        let (nonce, connection) = (token::random(), token::random());
        lock(&self.queues)
            .history(key, now, limits)
            .open(resume, nonce, connection, now, limits)
    }

    pub(crate) fn take(
        &self,
        key: &str,
        lease: Lease,
        position: Position,
        limits: QueueLimits,
    ) -> Taken {
        let now = Instant::now();
        let mut map = lock(&self.queues);
        match map.queues.get_mut(key) {
            Some(queue) if !queue.expired(now) => queue.take(lease, position, now, limits),
            // The history expired under the stream: its lineage is gone.
            _ => Taken::Refused,
        }
    }

    pub(crate) fn renew(&self, key: &str, lease: Lease, limits: QueueLimits) -> bool {
        let now = Instant::now();
        let mut map = lock(&self.queues);
        match map.queues.get_mut(key) {
            Some(queue) if !queue.expired(now) => queue.renew(lease, now, limits),
            _ => false,
        }
    }

    pub(crate) fn release(&self, key: &str, lease: Lease, done: bool, limits: QueueLimits) {
        let now = Instant::now();
        if let Some(queue) = lock(&self.queues).queues.get_mut(key) {
            queue.release(lease, done, now, limits);
        }
    }

    pub(crate) fn queue_len(&self, key: &str) -> usize {
        let now = Instant::now();
        lock(&self.queues)
            .queues
            .get(key)
            .filter(|queue| !queue.expired(now))
            .map_or(0, KeyQueue::ready_len)
    }

    pub(crate) fn watch(&self, key: &str) -> Waiter {
        self.wakers.watch(key)
    }
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("values", &self.values.entry_count())
            .finish_non_exhaustive()
    }
}
