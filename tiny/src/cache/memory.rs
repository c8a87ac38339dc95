//! The embedded backend: values in moka, key queues in a map, all in process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::wake::{Waiter, Wakers};
use super::{QueueLimits, lock};
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

struct Queue {
    messages: VecDeque<String>,
    /// Unread messages expire this long after the last send to the key.
    expires_at: Instant,
}

/// How many sends between sweeps of expired queues.
const SWEEP_EVERY: u64 = 1024;

pub(crate) struct MemoryBackend {
    values: moka::sync::Cache<String, Entry>,
    queues: Mutex<QueueMap>,
    wakers: Arc<Wakers>,
}

#[derive(Default)]
struct QueueMap {
    queues: HashMap<String, Queue>,
    sends: u64,
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
        {
            let mut map = lock(&self.queues);
            map.sends += 1;
            if map.sends % SWEEP_EVERY == 0 {
                map.queues.retain(|_, queue| queue.expires_at > now);
            }
            let queue = map.queues.entry(key.to_owned()).or_insert_with(|| Queue {
                messages: VecDeque::new(),
                expires_at: now,
            });
            if queue.expires_at <= now {
                queue.messages.clear();
            }
            if queue.messages.len() >= limits.max_len {
                return Err(super::queue_full(key, limits.max_len));
            }
            queue.messages.push_back(message);
            queue.expires_at = now + limits.ttl;
        }
        self.wakers.wake(key);
        Ok(())
    }

    pub(crate) fn take(&self, key: &str) -> Option<String> {
        let mut map = lock(&self.queues);
        let queue = map.queues.get_mut(key)?;
        let message = if queue.expires_at > Instant::now() {
            queue.messages.pop_front()
        } else {
            None
        };
        if message.is_none() || queue.messages.is_empty() {
            map.queues.remove(key);
        }
        message
    }

    pub(crate) fn queue_len(&self, key: &str) -> usize {
        lock(&self.queues)
            .queues
            .get(key)
            .map_or(0, |queue| queue.messages.len())
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
