//! `tiny::cache()`: a process-wide cache, and the queues behind key-mode streams.
//!
//! Built lazily on first use from `TINY_CACHE_URL`: unset, it lives in this
//! process (moka); `redis://…` (cargo feature `redis`) puts it in Redis, so
//! producers and consumers in different processes or machines share keys.
//! Values are any serde type, stored as JSON.
//!
//! Key queues ([`Sse::send_key`](crate::sse::Sse::send_key)) live on the same
//! backend: a FIFO per key with acknowledged delivery, so each message
//! reaches exactly one consumer lineage (a browser's `EventSource` and its
//! reconnections) and nothing is overwritten or lost with a connection. The
//! model, the same on both backends, is described in `queue.rs`: messages
//! handed to a connection stay pending for its lineage until it comes back
//! with a later id, or the retention window passes.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TINY_CACHE_URL` | unset: in process | `redis://host:port/db` to share through Redis |
//! | `TINY_QUEUE_MAX_LEN` | 10 000 | unread messages a key may hold before `send_key` fails; also the most a live consumer keeps pending |
//! | `TINY_QUEUE_MAX_BYTES` | 1 MiB | bytes of unread messages a key may hold before `send_key` fails |
//! | `TINY_CACHE_MAX_BYTES` | 64 MiB | bytes the in-process backend holds: values (the least used are evicted past it) and key queues (sends are refused past it) |
//! | `TINY_QUEUE_TTL` | 86 400 (1 day) | seconds a key's queue lives after its last use |
//! | `TINY_KEY_RETENTION` | 5 min | how long messages handed to a consumer that went away wait for it (`5s`, `250ms`, `2m` or seconds) |

mod memory;
mod queue;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod token;
mod wake;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};
#[cfg(test)]
pub(crate) use queue::END;
pub(crate) use queue::{
    Batch, Handed, Lease, Lineage, Lost, Opened, Position, Refused, Resume, Taken,
};
pub(crate) use wake::Waiter;

/// Largest number of messages a key's queue holds unless configured.
pub const DEFAULT_QUEUE_MAX_LEN: usize = 10_000;
/// How long unread messages live after the last send to their key.
pub const DEFAULT_QUEUE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Bytes of unread messages a key's queue holds unless configured
/// (`TINY_QUEUE_MAX_BYTES`).
pub const DEFAULT_QUEUE_MAX_BYTES: usize = 1024 * 1024;
/// Bytes the in-process backend holds, values and key queues together,
/// unless configured (`TINY_CACHE_MAX_BYTES`).
pub const DEFAULT_CACHE_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How long messages handed to a consumer that went away wait for it to
/// come back before they go to the next consumer.
pub const DEFAULT_KEY_RETENTION: Duration = Duration::from_secs(5 * 60);

/// The longest TTL or window a builder keeps (ten years), so deadlines
/// computed from them never overflow.
const LONGEST: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// Who renews a key connection's lease ([`Cache::hold`]).
#[derive(Debug)]
pub(crate) enum Held {
    /// The consumer, with [`Cache::renew`].
    ByConsumer,
    /// Its process, with the others, until this is dropped.
    #[cfg(feature = "redis")]
    #[allow(dead_code)] // held for its drop
    ByProcess(redis::Held),
}

/// Bounds of every key queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub(crate) max_len: usize,
    pub(crate) max_bytes: usize,
    pub(crate) ttl: Duration,
    pub(crate) retention: Duration,
}

/// Locks a map guarded only by short, non-panicking sections: a poisoned
/// lock still holds a consistent map.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The refusal of a send past one of a queue's bounds: 503 with
/// `Retry-After` (a consumer may drain it), naming the setting. Written for
/// the producer: no internal detail, so it is shown as it is.
pub(crate) fn queue_full(key: &str, refused: Refused, limits: QueueLimits) -> Error {
    let message = match refused {
        Refused::Len => format!(
            "the queue of key `{key}` is full ({} unread messages): nobody is reading it; \
             raise TINY_QUEUE_MAX_LEN or start a consumer",
            limits.max_len
        ),
        Refused::Bytes => format!(
            "the queue of key `{key}` is full ({} bytes of unread messages): nobody is reading \
             it; raise TINY_QUEUE_MAX_BYTES or start a consumer",
            limits.max_bytes
        ),
    };
    Error::unavailable(message, 1).exposed()
}

/// The refusal of a send when the in-process backend holds its total.
pub(crate) fn memory_full(max_bytes: usize) -> Error {
    Error::unavailable(
        format!(
            "the in-process cache holds its limit of {max_bytes} bytes of messages and values: \
             raise TINY_CACHE_MAX_BYTES, start consumers, or share the load through Redis \
             (TINY_CACHE_URL)"
        ),
        1,
    )
    .exposed()
}

#[derive(Debug)]
enum Backend {
    Memory(memory::MemoryBackend),
    #[cfg(feature = "redis")]
    Redis(Arc<redis::RedisBackend>),
}

#[derive(Debug)]
enum State {
    Ready(Backend),
    /// The configuration could not be used; every call returns this message.
    Broken(String),
}

/// A handle to a cache; cheap to clone.
///
/// ```
/// # #[tokio::main] async fn main() -> tiny::Result<()> {
/// use std::time::Duration;
///
/// let cache = tiny::cache();
/// cache.set("greeting", &"hello", Some(Duration::from_secs(60))).await?;
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    limits: QueueLimits,
}

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// The process-wide cache, built on first use from `TINY_CACHE_URL` (or the
/// one [`CacheBuilder::install`]ed before).
///
/// Never panics: when the configuration is unusable (a malformed URL, the
/// `redis` feature missing), every call on the handle returns an `Err` that
/// says what to fix; [`try_cache`] reports it up front.
///
/// With Redis, the connection and the wake-up subscription run on the Tokio
/// runtime that first uses the cache: one runtime per process (as
/// `#[tokio::main]` gives) is the supported shape.
pub fn cache() -> Cache {
    GLOBAL.get_or_init(Cache::from_env).clone()
}

/// [`cache()`], or the configuration error that makes it unusable.
///
/// ```
/// let cache = tiny::try_cache().expect("TINY_CACHE_URL is unset here: the in-process cache");
/// ```
pub fn try_cache() -> Result<Cache> {
    let cache = cache();
    cache.backend()?;
    Ok(cache)
}

impl Cache {
    /// A builder for a cache other than the environment's.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    fn from_env() -> Cache {
        let mut builder = Cache::builder();
        let mut problems = Vec::new();
        if let Ok(url) = std::env::var("TINY_CACHE_URL")
            && !url.trim().is_empty()
        {
            builder = builder.url(url.trim());
        }
        match std::env::var("TINY_QUEUE_MAX_LEN").map(|v| v.trim().parse::<usize>()) {
            Ok(Ok(n)) if n > 0 => builder = builder.queue_max_len(n),
            Ok(_) => problems.push("TINY_QUEUE_MAX_LEN must be a whole number above 0"),
            Err(_) => {}
        }
        match std::env::var("TINY_QUEUE_MAX_BYTES").map(|v| v.trim().parse::<usize>()) {
            Ok(Ok(n)) if n > 0 => builder = builder.queue_max_bytes(n),
            Ok(_) => problems.push("TINY_QUEUE_MAX_BYTES must be a whole number of bytes above 0"),
            Err(_) => {}
        }
        match std::env::var("TINY_CACHE_MAX_BYTES").map(|v| v.trim().parse::<usize>()) {
            Ok(Ok(n)) if n > 0 => builder = builder.memory_max_bytes(n),
            Ok(_) => problems.push("TINY_CACHE_MAX_BYTES must be a whole number of bytes above 0"),
            Err(_) => {}
        }
        match std::env::var("TINY_QUEUE_TTL").map(|v| v.trim().parse::<u64>()) {
            Ok(Ok(s)) if s > 0 => builder = builder.queue_ttl(Duration::from_secs(s)),
            Ok(_) => problems.push("TINY_QUEUE_TTL must be a whole number of seconds above 0"),
            Err(_) => {}
        }
        match std::env::var("TINY_KEY_RETENTION").map(|v| tiny_syntax::duration::parse(v.trim())) {
            Ok(Ok(window)) if !window.is_zero() => builder = builder.key_retention(window),
            Ok(_) => problems.push(
                "TINY_KEY_RETENTION must be a duration above 0: whole seconds (`300`) or \"5m\", \"30s\", \"250ms\"",
            ),
            Err(_) => {}
        }
        let built = if problems.is_empty() {
            builder.build()
        } else {
            Err(Error::internal(problems.join("; ")))
        };
        built.unwrap_or_else(|error| Cache {
            inner: Arc::new(Inner {
                state: State::Broken(error.message().to_owned()),
                limits: builder.limits,
            }),
        })
    }

    fn backend(&self) -> Result<&Backend> {
        match &self.inner.state {
            State::Ready(backend) => Ok(backend),
            State::Broken(message) => Err(Error::internal(message.clone())),
        }
    }

    /// Checks the backend answers (for Redis: connects and sends `PING`).
    pub async fn ping(&self) -> Result<()> {
        match self.backend()? {
            Backend::Memory(_) => Ok(()),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.ping().await,
        }
    }

    /// The value under `key`, or `None`; an `Err` when it does not decode as `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let raw = match self.backend()? {
            Backend::Memory(memory) => memory.get(key),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.get(key).await?,
        };
        raw.map(|raw| decode(key, &raw)).transpose()
    }

    /// Stores `value` under `key`, for `ttl` (`None`: until deleted or evicted).
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let raw = encode(key, value)?;
        match self.backend()? {
            Backend::Memory(memory) => {
                memory.set(key, raw, ttl);
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.set(key, raw, ttl).await,
        }
    }

    /// Removes `key`; true when it was there.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        match self.backend()? {
            Backend::Memory(memory) => Ok(memory.delete(key)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.delete(key).await,
        }
    }

    /// The value under `key`; when absent, computes it with `f`, stores it
    /// for `ttl` and returns it.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> tiny::Result<()> {
    /// let total: u64 = tiny::cache()
    ///     .remember("stats:total", None, || async { 42 })
    ///     .await?;
    /// assert_eq!(total, 42);
    /// # Ok(()) }
    /// ```
    pub async fn remember<T, F, Fut>(&self, key: &str, ttl: Option<Duration>, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        if let Some(value) = self.get(key).await? {
            return Ok(value);
        }
        let value = f().await;
        self.set(key, &value, ttl).await?;
        Ok(value)
    }

    /// Every value whose key starts with `prefix`, sorted by key.
    pub async fn get_by_prefix<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>> {
        let mut raw = match self.backend()? {
            Backend::Memory(memory) => memory.get_by_prefix(prefix),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.get_by_prefix(prefix).await?,
        };
        raw.sort_by(|a, b| a.0.cmp(&b.0));
        raw.into_iter()
            .map(|(key, raw)| decode(&key, &raw).map(|value| (key, value)))
            .collect()
    }

    /// Removes every key starting with `prefix`; returns how many were removed.
    pub async fn delete_by_prefix(&self, prefix: &str) -> Result<usize> {
        match self.backend()? {
            Backend::Memory(memory) => Ok(memory.delete_by_prefix(prefix)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.delete_by_prefix(prefix).await,
        }
    }

    /// Appends `message` to `key`'s queue; fails (503) when the queue is
    /// at its length or byte bound, or the in-process backend at its total.
    /// On Redis a dropped connection is retried with the same message
    /// identity, so `Ok` means queued exactly once.
    pub(crate) async fn push(&self, key: &str, message: String) -> Result<()> {
        let limits = self.inner.limits;
        match self.backend()? {
            Backend::Memory(memory) => memory.push(key, message, limits),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.push(key, message, limits).await,
        }
    }

    /// Starts a consumer connection on `key`: of the lineage `resume` names
    /// when it can be honoured, else of a new lineage.
    pub(crate) async fn open(&self, key: &str, resume: Option<Resume>) -> Result<Opened> {
        let limits = self.inner.limits;
        match self.backend()? {
            Backend::Memory(memory) => Ok(memory.open(key, resume, limits)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.open(key, resume, limits).await,
        }
    }

    /// The next messages for `lease`'s connection at `position`, up to `batch`.
    pub(crate) async fn take(
        &self,
        key: &str,
        lease: Lease,
        position: Position,
        batch: Batch,
    ) -> Result<Taken> {
        let limits = self.inner.limits;
        match self.backend()? {
            Backend::Memory(memory) => Ok(memory.take(key, lease, position, batch, limits)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.take(key, lease, position, batch).await,
        }
    }

    /// Renews the lease of `lease`'s lineage, a few times per retention
    /// window while its connection is live ([`Cache::lease_renewal`]), so
    /// it is never mistaken for one that vanished; also ages and bounds its
    /// pending entries and gives those of stale lineages back to the queue.
    /// False when the connection is no longer its lineage's current one.
    /// Only a connection [`Held::ByConsumer`] calls it; on Redis the process
    /// renews every lease it holds at once ([`Cache::hold`]).
    pub(crate) async fn renew(&self, key: &str, lease: Lease) -> Result<bool> {
        let limits = self.inner.limits;
        match self.backend()? {
            Backend::Memory(memory) => Ok(memory.renew(key, lease, limits)),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => Ok(true),
        }
    }

    /// `lease`'s connection ended (having written `[DONE]` when `done`); its
    /// pending messages stay for its lineage. Never waits: on Redis the
    /// update runs in its own task, and a lineage whose release never
    /// arrives (a dead process) is treated as gone after the window.
    pub(crate) fn release(&self, key: &str, lease: Lease, done: bool) {
        let limits = self.inner.limits;
        match &self.inner.state {
            State::Ready(Backend::Memory(memory)) => memory.release(key, lease, done, limits),
            #[cfg(feature = "redis")]
            State::Ready(Backend::Redis(redis)) => redis.release(key, lease, done, limits),
            State::Broken(_) => {}
        }
    }

    /// How often a live consumer renews its lineage's lease
    /// ([`Cache::renew`]): eight times per retention window (or queue TTL,
    /// when shorter).
    pub(crate) fn lease_renewal(&self) -> Duration {
        let limits = self.inner.limits;
        limits.retention.min(limits.ttl) / 8
    }

    /// Who keeps `lease`'s connection alive: in process the consumer
    /// renews it itself ([`Cache::renew`]; it costs no I/O); on Redis the
    /// process renews the leases of all its connections in one call, while
    /// the returned guard lives, and the consumer renews nothing.
    /// On Redis, messages may also be handed to the connection directly
    /// by a send while it waits: `waiter`'s own wake-up announces them.
    pub(crate) fn hold(&self, key: &str, lease: Lease, waiter: &Waiter) -> Held {
        match &self.inner.state {
            #[cfg(feature = "redis")]
            State::Ready(Backend::Redis(redis)) => {
                let own = waiter.own.clone().unwrap_or_default();
                Held::ByProcess(redis.hold(key, lease, own))
            }
            _ => {
                let _ = (key, lease, waiter);
                Held::ByConsumer
            }
        }
    }

    /// How often a waiting key consumer re-checks its queue without a
    /// wake-up, given the stream's `every`: in process, `every` (wake-ups
    /// cannot be lost there, so it is only a safety net); on Redis, never
    /// on its own, since one batched check per process covers wake-ups
    /// lost with the subscription.
    pub(crate) fn recheck_every(&self, every: Duration) -> Option<Duration> {
        match &self.inner.state {
            #[cfg(feature = "redis")]
            State::Ready(Backend::Redis(_)) => None,
            _ => Some(every),
        }
    }

    /// How many unread messages `key`'s queue holds.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> tiny::Result<()> {
    /// tiny::sse().send_key("jobs:7", "started").await?;
    /// assert_eq!(tiny::cache().queue_len("jobs:7").await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn queue_len(&self, key: &str) -> Result<usize> {
        match self.backend()? {
            Backend::Memory(memory) => Ok(memory.queue_len(key)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.queue_len(key).await,
        }
    }

    /// Registers for wake-ups on `key`'s queue.
    pub(crate) fn watch(&self, key: &str) -> Result<Waiter> {
        match self.backend()? {
            Backend::Memory(memory) => Ok(memory.watch(key)),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => Ok(redis.watch(key)),
        }
    }
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::internal(format!("the value for `{key}` cannot be serialized: {e}")))
}

fn decode<T: DeserializeOwned>(key: &str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|e| {
        Error::internal(format!(
            "the value under `{key}` does not decode as {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Configures a [`Cache`]: its backend and the bounds of its key queues.
///
/// ```
/// use std::time::Duration;
///
/// let cache = tiny::cache::Cache::builder()
///     .queue_max_len(50_000)
///     .queue_ttl(Duration::from_secs(3600))
///     .build()
///     .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct CacheBuilder {
    url: Option<String>,
    limits: QueueLimits,
    memory_max_bytes: usize,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            url: None,
            limits: QueueLimits {
                max_len: DEFAULT_QUEUE_MAX_LEN,
                max_bytes: DEFAULT_QUEUE_MAX_BYTES,
                ttl: DEFAULT_QUEUE_TTL,
                retention: DEFAULT_KEY_RETENTION,
            },
            memory_max_bytes: DEFAULT_CACHE_MAX_BYTES,
        }
    }
}

impl CacheBuilder {
    /// `redis://host:port/db` for Redis (feature `redis`); unset: in process.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Messages a key's queue may hold before `send_key` fails (default 10 000).
    pub fn queue_max_len(mut self, max_len: usize) -> Self {
        self.limits.max_len = max_len.max(1);
        self
    }

    /// Bytes of unread messages a key's queue may hold before `send_key`
    /// fails with 503 (default 1 MiB, `TINY_QUEUE_MAX_BYTES`). Nothing
    /// queued is dropped to make room. Both backends enforce it atomically.
    ///
    /// ```
    /// let cache = tiny::cache::Cache::builder().queue_max_bytes(256 * 1024).build().unwrap();
    /// ```
    pub fn queue_max_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_bytes = bytes.max(1);
        self
    }

    /// How long a key's queue lives after its last use (default 1 day):
    /// its unread messages, and the pending messages of its consumers.
    pub fn queue_ttl(mut self, ttl: Duration) -> Self {
        self.limits.ttl = ttl.clamp(Duration::from_millis(1), LONGEST);
        self
    }

    /// How long messages handed to a consumer that went away wait for it
    /// to come back (default 5 min, `TINY_KEY_RETENTION`). After that they
    /// go to the next consumer of the key: at least once for browser tabs
    /// that vanished. A consumer still connected counts what it was handed
    /// this long ago as delivered.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = tiny::cache::Cache::builder()
    ///     .key_retention(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn key_retention(mut self, window: Duration) -> Self {
        self.limits.retention = window.clamp(Duration::from_millis(1), LONGEST);
        self
    }

    /// Bytes the in-process backend holds (default 64 MiB,
    /// `TINY_CACHE_MAX_BYTES`); unused with Redis. Values count their key
    /// and text, and the least used are evicted past it, as in any cache;
    /// key queues count their messages, and a send that would pass it is
    /// refused (503) instead, since a queued message is never dropped.
    ///
    /// ```
    /// let cache = tiny::cache::Cache::builder().memory_max_bytes(16 << 20).build().unwrap();
    /// ```
    pub fn memory_max_bytes(mut self, bytes: usize) -> Self {
        self.memory_max_bytes = bytes.max(1);
        self
    }

    /// Builds the cache; fails when the URL is malformed or its backend is
    /// not compiled in. Connects lazily.
    pub fn build(&self) -> Result<Cache> {
        let backend = match self.url.as_deref() {
            None => Backend::Memory(memory::MemoryBackend::new(self.memory_max_bytes)),
            Some(url) => url_backend(url, self.limits)?,
        };
        Ok(Cache {
            inner: Arc::new(Inner {
                state: State::Ready(backend),
                limits: self.limits,
            }),
        })
    }

    /// Builds the cache and makes it what [`cache()`] returns; fails when
    /// `cache()` was already used.
    pub fn install(&self) -> Result<Cache> {
        let cache = self.build()?;
        GLOBAL.set(cache.clone()).map_err(|_| {
            Error::internal(
                "tiny::cache() is already in use: install the cache before its first use",
            )
        })?;
        Ok(cache)
    }
}

#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
fn url_backend(url: &str, limits: QueueLimits) -> Result<Backend> {
    if url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://")
    {
        #[cfg(feature = "redis")]
        return Ok(Backend::Redis(Arc::new(redis::RedisBackend::new(
            url, limits,
        )?)));
        #[cfg(not(feature = "redis"))]
        return Err(Error::internal(format!(
            "TINY_CACHE_URL is a Redis URL but tiny was built without its `redis` feature: \
             tiny = {{ features = [\"redis\"] }} (URL: {})",
            url.split('@').next_back().unwrap_or(url)
        )));
    }
    Err(Error::internal(format!(
        "TINY_CACHE_URL `{}` is not supported: leave it unset for the in-process cache, \
         or use redis://host:port/db",
        url.split('@').next_back().unwrap_or(url)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;

    #[tokio::test]
    async fn values_round_trip_as_json() {
        let cache = Cache::builder().build().unwrap();
        cache.set("n", &5u32, None).await.unwrap();
        assert_eq!(cache.get::<u32>("n").await.unwrap(), Some(5));
        assert!(cache.get::<String>("n").await.is_err());
        assert!(cache.delete("n").await.unwrap());
        assert_eq!(cache.get::<u32>("n").await.unwrap(), None);
    }

    #[tokio::test]
    async fn prefixes() {
        let cache = Cache::builder().build().unwrap();
        for key in ["a:2", "a:1", "b:1"] {
            cache.set(key, key, None).await.unwrap();
        }
        let found: Vec<(String, String)> = cache.get_by_prefix("a:").await.unwrap();
        assert_eq!(
            found,
            vec![("a:1".into(), "a:1".into()), ("a:2".into(), "a:2".into())]
        );
        assert_eq!(cache.delete_by_prefix("a:").await.unwrap(), 2);
        assert_eq!(
            cache.get::<String>("b:1").await.unwrap().as_deref(),
            Some("b:1")
        );
    }

    #[tokio::test]
    async fn remember_computes_once() {
        let cache = Cache::builder().build().unwrap();
        let mut calls = 0;
        for _ in 0..3 {
            let v: u32 = cache
                .remember("r", None, || {
                    calls += 1;
                    async { 7 }
                })
                .await
                .unwrap();
            assert_eq!(v, 7);
        }
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn ttl_expires_values() {
        let cache = Cache::builder().build().unwrap();
        cache
            .set("t", &1, Some(Duration::from_millis(50)))
            .await
            .unwrap();
        cache.set("forever", &1, None).await.unwrap();
        // moka reads the real clock: wait past the TTL.
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(cache.get::<i32>("t").await.unwrap(), None);
        assert_eq!(cache.get::<i32>("forever").await.unwrap(), Some(1));
    }

    /// Takes every message `key` has for a new consumer.
    async fn drain(cache: &Cache, key: &str) -> Vec<String> {
        let opened = cache.open(key, None).await.unwrap();
        let (mut after, mut got) = (opened.after, Vec::new());
        let at = |after| Position {
            after,
            replay: true,
        };
        while let Some((seq, message)) = cache
            .take(key, opened.lease, at(after), queue::ONE)
            .await
            .unwrap()
            .first()
        {
            got.push(message);
            after = seq;
        }
        cache.release(key, opened.lease, false);
        got
    }

    #[tokio::test]
    async fn queues_are_fifo_bounded_and_keep_falsy_values() {
        let cache = Cache::builder().queue_max_len(3).build().unwrap();
        for m in ["0", "", "false"] {
            cache.push("q", m.to_owned()).await.unwrap();
        }
        let full = cache.push("q", "x".into()).await.unwrap_err();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(full.message().contains("`q`"));
        assert!(full.message().contains("TINY_QUEUE_MAX_LEN"));
        assert_eq!(drain(&cache, "q").await, ["0", "", "false"]);
        assert_eq!(cache.queue_len("q").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_queue_past_its_bytes_refuses_and_keeps_what_it_holds() {
        let cache = Cache::builder().queue_max_bytes(10).build().unwrap();
        cache.push("q", "12345".into()).await.unwrap();
        cache.push("q", "67890".into()).await.unwrap();
        let full = cache.push("q", "x".into()).await.unwrap_err();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            full.message().contains("TINY_QUEUE_MAX_BYTES"),
            "{}",
            full.message()
        );
        let response = full.into_response();
        assert!(
            response
                .headers()
                .contains_key(axum::http::header::RETRY_AFTER)
        );
        assert_eq!(drain(&cache, "q").await, ["12345", "67890"]);
        // Taken messages no longer count against the key's bound.
        cache.push("q", "0123456789".into()).await.unwrap();
    }

    #[tokio::test]
    async fn the_in_process_backend_refuses_sends_past_its_total() {
        let cache = Cache::builder().memory_max_bytes(100).build().unwrap();
        for key in ["a", "b", "c"] {
            cache.push(key, "x".repeat(30)).await.unwrap();
        }
        let full = cache.push("d", "x".repeat(30)).await.unwrap_err();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            full.message().contains("TINY_CACHE_MAX_BYTES"),
            "{}",
            full.message()
        );
        // Pending (handed out, not confirmed) messages still count; a
        // confirmed one frees its bytes.
        let opened = cache.open("a", None).await.unwrap();
        let at = Position {
            after: 0,
            replay: true,
        };
        let Some((seq, _)) = cache
            .take("a", opened.lease, at, queue::ONE)
            .await
            .unwrap()
            .first()
        else {
            panic!("a message");
        };
        assert!(cache.push("d", "x".repeat(30)).await.is_err());
        let resume = Resume {
            epoch: opened.epoch,
            lineage: opened.lease.lineage,
            seq,
        };
        cache.open("a", Some(resume)).await.unwrap();
        cache.push("d", "x".repeat(30)).await.unwrap();
    }

    #[tokio::test]
    async fn unread_messages_expire() {
        let cache = Cache::builder()
            .queue_ttl(Duration::from_millis(20))
            .build()
            .unwrap();
        cache.push("q", "old".into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(cache.queue_len("q").await.unwrap(), 0);
        assert!(drain(&cache, "q").await.is_empty());
    }

    #[tokio::test]
    async fn an_expired_history_starts_a_new_epoch() {
        let cache = Cache::builder()
            .queue_ttl(Duration::from_millis(20))
            .build()
            .unwrap();
        let first = cache.open("q", None).await.unwrap();
        cache.release("q", first.lease, false);
        tokio::time::sleep(Duration::from_millis(40)).await;
        let resume = Resume {
            epoch: first.epoch,
            lineage: first.lease.lineage,
            seq: 0,
        };
        let again = cache.open("q", Some(resume)).await.unwrap();
        assert_eq!(again.lost, Some(Lost::Epoch));
        assert_ne!(again.epoch, first.epoch);
    }

    #[test]
    fn a_zero_retention_is_raised_to_a_millisecond() {
        let cache = Cache::builder()
            .key_retention(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(cache.inner.limits.retention, Duration::from_millis(1));
    }

    #[test]
    fn unsupported_urls_say_what_to_do() {
        let error = Cache::builder().url("memcached://x").build().unwrap_err();
        assert!(error.message().contains("redis://"), "{error}");
    }
}
