//! The embedded backend: values in moka, key queue histories in a map
//! ([`KeyQueue`]: the state machine), all in process. No lock is held across
//! an `.await`: every queue operation is one short critical section.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::Expiry;

use super::queue::{Batch, KeyQueue, Lease, Opened, Position, Resume, Taken};
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

/// How many queue operations (of one shard) between sweeps of its expired
/// histories.
const SWEEP_EVERY: u64 = 1024;
/// Key histories are spread over this many maps, each behind its own lock,
/// so a producer and the consumers of other keys rarely wait for each other.
const SHARDS: usize = 16;

pub(crate) struct MemoryBackend {
    values: moka::sync::Cache<String, Entry>,
    shards: Box<[Mutex<QueueMap>; SHARDS]>,
    hasher: RandomState,
    /// Bytes of the messages every history holds (ready and pending), all
    /// shards together: kept by [`QueueMap::update`] around each change.
    held_bytes: AtomicUsize,
    wakers: Arc<Wakers>,
    /// Bytes of values and queued messages together: values are evicted
    /// past it (moka weighs them), sends are refused.
    max_bytes: usize,
}

#[derive(Default)]
struct QueueMap {
    queues: HashMap<String, KeyQueue>,
    operations: u64,
}

/// Applies the change of a history's held bytes to the total.
fn account(held: &AtomicUsize, before: usize, after: usize) {
    if after >= before {
        held.fetch_add(after - before, Ordering::Relaxed);
    } else {
        held.fetch_sub(before - after, Ordering::Relaxed);
    }
}

impl QueueMap {
    /// Runs `change` on `key`'s history (a new one when it has none or it
    /// expired), keeping the byte total.
    fn update<R>(
        &mut self,
        key: &str,
        now: Instant,
        limits: QueueLimits,
        held: &AtomicUsize,
        change: impl FnOnce(&mut KeyQueue) -> R,
    ) -> R {
        self.sweep(now, held);
        let (queue, replaced) = Self::history(&mut self.queues, key, now, limits);
        account(held, replaced, 0);
        Self::tracked(queue, change, held)
    }

    /// Runs `change` on `queue`, keeping the byte total in `held`.
    fn tracked<R>(
        queue: &mut KeyQueue,
        change: impl FnOnce(&mut KeyQueue) -> R,
        held: &AtomicUsize,
    ) -> R {
        let before = queue.held_bytes();
        let result = change(queue);
        account(held, before, queue.held_bytes());
        result
    }

    /// [`QueueMap::update`] on an existing, unexpired history only.
    fn update_existing<R>(
        &mut self,
        key: &str,
        now: Instant,
        held: &AtomicUsize,
        change: impl FnOnce(&mut KeyQueue) -> R,
    ) -> Option<R> {
        let queue = self.queues.get_mut(key).filter(|q| !q.expired(now))?;
        Some(Self::tracked(queue, change, held))
    }

    /// Every [`SWEEP_EVERY`] operations, drops the expired histories.
    fn sweep(&mut self, now: Instant, held: &AtomicUsize) {
        self.operations += 1;
        if self.operations % SWEEP_EVERY != 0 {
            return;
        }
        let mut freed = 0;
        self.queues.retain(|_, queue| {
            let keep = !queue.expired(now);
            if !keep {
                freed += queue.held_bytes();
            }
            keep
        });
        account(held, freed, 0);
    }

    /// `key`'s history, a new one when it has none or it expired, and the
    /// bytes an expired one it replaced held.
    fn history<'a>(
        queues: &'a mut HashMap<String, KeyQueue>,
        key: &str,
        now: Instant,
        limits: QueueLimits,
    ) -> (&'a mut KeyQueue, usize) {
        // Looked up first: a key is allocated only for a new history.
        if !queues.contains_key(key) {
            queues.insert(key.to_owned(), KeyQueue::new(now, limits));
        }
        let queue = queues.get_mut(key).expect("inserted above");
        let mut replaced = 0;
        if queue.expired(now) {
            replaced = queue.held_bytes();
            *queue = KeyQueue::new(now, limits);
        }
        (queue, replaced)
    }
}

impl MemoryBackend {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            values: moka::sync::Cache::builder()
                .max_capacity(max_bytes as u64)
                .weigher(|key: &String, entry: &Entry| {
                    u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
                })
                .expire_after(PerEntryTtl)
                .build(),
            shards: Box::new(std::array::from_fn(|_| Mutex::default())),
            hasher: RandomState::new(),
            held_bytes: AtomicUsize::new(0),
            wakers: Arc::default(),
            max_bytes,
        }
    }

    /// The shard that holds `key`'s history.
    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, QueueMap> {
        let at = self.hasher.hash_one(key) as usize % SHARDS;
        lock(&self.shards[at])
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
        let values = usize::try_from(self.values.weighted_size()).unwrap_or(usize::MAX);
        let len = message.len();
        // Reserved before the push and released after it (which counts the
        // message itself when queued), so concurrent sends on other shards
        // never pass the total together.
        let reserved = self.held_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if reserved.saturating_add(values) > self.max_bytes {
            self.held_bytes.fetch_sub(len, Ordering::Relaxed);
            return Err(super::memory_full(self.max_bytes));
        }
        let message: Arc<str> = message.into();
        let pushed = self
            .shard(key)
            .update(key, now, limits, &self.held_bytes, |queue| {
                queue.push(message, now, limits)
            });
        self.held_bytes.fetch_sub(len, Ordering::Relaxed);
        match pushed {
            Ok(()) => {
                self.wakers.wake(key);
                Ok(())
            }
            Err(refused) => Err(super::queue_full(key, refused, limits)),
        }
    }

    pub(crate) fn open(&self, key: &str, resume: Option<Resume>, limits: QueueLimits) -> Opened {
        let now = Instant::now();
        let (nonce, connection) = (token::random(), token::random());
        self.shard(key)
            .update(key, now, limits, &self.held_bytes, |queue| {
                queue.open(resume, nonce, connection, now, limits)
            })
    }

    pub(crate) fn take(
        &self,
        key: &str,
        lease: Lease,
        position: Position,
        batch: Batch,
        limits: QueueLimits,
    ) -> Taken {
        let now = Instant::now();
        self.shard(key)
            .update_existing(key, now, &self.held_bytes, |queue| {
                queue.take(lease, position, batch, now, limits)
            })
            // The history expired under the stream: its lineage is gone.
            .unwrap_or(Taken::Refused)
    }

    pub(crate) fn renew(&self, key: &str, lease: Lease, limits: QueueLimits) -> bool {
        let now = Instant::now();
        self.shard(key)
            .update_existing(key, now, &self.held_bytes, |queue| {
                queue.renew(lease, now, limits)
            })
            .unwrap_or(false)
    }

    pub(crate) fn release(&self, key: &str, lease: Lease, done: bool, limits: QueueLimits) {
        let now = Instant::now();
        self.shard(key)
            .update_existing(key, now, &self.held_bytes, |queue| {
                queue.release(lease, done, now, limits);
            });
    }

    pub(crate) fn queue_len(&self, key: &str) -> usize {
        let now = Instant::now();
        self.shard(key)
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
