//! The Redis backend: values as strings, key queues as lists, so producers
//! and consumers in different processes or machines share them.
//!
//! - Push is one Lua script: bound check, `RPUSH`, `PEXPIRE` and a `PUBLISH`
//!   on the wake channel, atomically, so nothing is ever overwritten or
//!   silently dropped.
//! - Take is `LPOP`: atomic, so each message reaches exactly one consumer.
//!   A take whose caller goes away mid-flight (client gone, shutdown) is
//!   finished in its own task and the message pushed back to the head.
//! - Consumers never block a connection (`BLPOP` would hold one per waiting
//!   consumer): every command shares one multiplexed connection, and one
//!   pub/sub subscription per process wakes the local consumers of a key.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::QueueLimits;
use super::wake::{Waiter, Wakers};
use crate::{Error, Result};

/// The channel every push publishes the key on.
const WAKE_CHANNEL: &str = "tiny:sse:wake";
/// Queues live under this prefix, apart from cache values.
const QUEUE_PREFIX: &str = "tiny:sse:queue:";
/// A command that takes longer is an error, so a dead server never hangs a stream.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The wake subscription reconnects with a capped exponential backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

const PUSH: &str = r"
local len = redis.call('LLEN', KEYS[1])
if len >= tonumber(ARGV[2]) then return -1 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return len + 1
";

const REQUEUE: &str = r"
redis.call('LPUSH', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

pub(crate) struct RedisBackend {
    /// The URL without its password, for messages.
    shown_url: String,
    client: redis::Client,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    push: redis::Script,
    requeue: redis::Script,
    wakers: Arc<Wakers>,
    subscribed: OnceLock<()>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("url", &self.shown_url)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Checks the URL; connects on first use.
    pub(crate) fn new(url: &str) -> Result<Self> {
        let shown_url = redact(url);
        let client = redis::Client::open(url).map_err(|e| {
            Error::internal(format!(
                "TINY_CACHE_URL `{shown_url}` is not a Redis URL like redis://127.0.0.1:6379/0: {e}"
            ))
        })?;
        Ok(Self {
            shown_url,
            client,
            connection: tokio::sync::OnceCell::new(),
            push: redis::Script::new(PUSH),
            requeue: redis::Script::new(REQUEUE),
            wakers: Arc::default(),
            subscribed: OnceLock::new(),
        })
    }

    fn error(&self, error: redis::RedisError) -> Error {
        Error::unavailable(format!("Redis at {} failed: {error}", self.shown_url), 1)
            .with_source(error)
    }

    async fn connection(&self) -> Result<ConnectionManager> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(2);
                ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .map_err(|e| {
                        Error::unavailable(
                            format!("cannot reach Redis at {}: {e}", self.shown_url),
                            1,
                        )
                        .with_source(e)
                    })
            })
            .await?;
        Ok(connection.clone())
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        let mut connection = self.connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
            .map_err(|e| self.error(e))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<String>> {
        let mut connection = self.connection().await?;
        connection.get(key).await.map_err(|e| self.error(e))
    }

    pub(crate) async fn set(&self, key: &str, value: String, ttl: Option<Duration>) -> Result<()> {
        let mut connection = self.connection().await?;
        let result = match ttl {
            Some(ttl) => {
                let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                connection.pset_ex::<_, _, ()>(key, value, millis).await
            }
            None => connection.set::<_, _, ()>(key, value).await,
        };
        result.map_err(|e| self.error(e))
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<bool> {
        let mut connection = self.connection().await?;
        let removed: usize = connection.del(key).await.map_err(|e| self.error(e))?;
        Ok(removed > 0)
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut connection = self.connection().await?;
        let pattern = format!("{}*", escape_glob(prefix));
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.error(e))?;
            keys.extend(batch.into_iter().filter(|k| !k.starts_with(QUEUE_PREFIX)));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    pub(crate) async fn get_by_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let keys = self.keys_with_prefix(prefix).await?;
        let mut connection = self.connection().await?;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(chunk)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.error(e))?;
            // A key deleted or of another type since the scan reads as nil.
            found.extend(
                chunk
                    .iter()
                    .zip(values)
                    .filter_map(|(key, value)| Some((key.clone(), value?))),
            );
        }
        Ok(found)
    }

    pub(crate) async fn delete_by_prefix(&self, prefix: &str) -> Result<usize> {
        let keys = self.keys_with_prefix(prefix).await?;
        let mut connection = self.connection().await?;
        let mut removed = 0;
        for chunk in keys.chunks(500) {
            let n: usize = redis::cmd("UNLINK")
                .arg(chunk)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.error(e))?;
            removed += n;
        }
        Ok(removed)
    }

    pub(crate) async fn push(&self, key: &str, message: String, limits: QueueLimits) -> Result<()> {
        let mut connection = self.connection().await?;
        let ttl_ms = u64::try_from(limits.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let length: i64 = self
            .push
            .key(queue_key(key))
            .arg(message)
            .arg(limits.max_len)
            .arg(ttl_ms)
            .arg(WAKE_CHANNEL)
            .arg(key)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.error(e))?;
        if length < 0 {
            return Err(super::queue_full(key, limits.max_len));
        }
        Ok(())
    }

    /// `LPOP`, finished in its own task: if the caller is dropped while the
    /// command is in flight, a taken message goes back to the head.
    pub(crate) async fn take(
        self: &Arc<Self>,
        key: &str,
        limits: QueueLimits,
    ) -> Result<Option<String>> {
        let mut connection = self.connection().await?;
        let backend = Arc::clone(self);
        let key = key.to_owned();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let taken: redis::RedisResult<Option<String>> =
                connection.lpop(queue_key(&key), None).await;
            let taken = taken.map_err(|e| backend.error(e));
            if let Err(Ok(Some(message))) = sender.send(taken) {
                tracing::debug!(key, "consumer left during a take: message requeued");
                if let Err(error) = backend.requeue(&key, message, limits).await {
                    tracing::error!(key, %error, "a taken message could not be requeued");
                }
            }
        });
        receiver
            .await
            .map_err(|_| Error::internal("the Redis take task ended without an answer"))?
    }

    pub(crate) async fn requeue(
        &self,
        key: &str,
        message: String,
        limits: QueueLimits,
    ) -> Result<()> {
        let mut connection = self.connection().await?;
        let ttl_ms = u64::try_from(limits.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.requeue
            .key(queue_key(key))
            .arg(message)
            .arg(ttl_ms)
            .arg(WAKE_CHANNEL)
            .arg(key)
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|e| self.error(e))
    }

    pub(crate) async fn queue_len(&self, key: &str) -> Result<usize> {
        let mut connection = self.connection().await?;
        connection
            .llen(queue_key(key))
            .await
            .map_err(|e| self.error(e))
    }

    /// Registers a consumer; the first one starts this process's wake subscription.
    pub(crate) fn watch(self: &Arc<Self>, key: &str) -> Waiter {
        self.subscribed.get_or_init(|| {
            tokio::spawn(subscribe(
                self.client.clone(),
                Arc::clone(&self.wakers),
                self.shown_url.clone(),
            ));
        });
        self.wakers.watch(key)
    }
}

/// The one wake subscription of this process. Reconnects forever with a
/// capped backoff; after each (re)subscription every local consumer is woken,
/// since sends during the gap were not announced. Consumers also re-check on
/// their poll period, so a lost subscription delays, never loses.
async fn subscribe(client: redis::Client, wakers: Arc<Wakers>, shown_url: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(mut pubsub)) => match pubsub.subscribe(WAKE_CHANNEL).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    wakers.wake_all();
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        if let Ok(key) = message.get_payload::<String>() {
                            wakers.wake(&key);
                        }
                    }
                    tracing::warn!(url = %shown_url, "Redis wake subscription lost; reconnecting");
                }
                Err(error) => {
                    tracing::warn!(url = %shown_url, %error, "cannot subscribe for wake-ups")
                }
            },
            Ok(Err(error)) => {
                tracing::warn!(url = %shown_url, %error, "cannot connect for wake-ups")
            }
            Err(_) => tracing::warn!(url = %shown_url, "timed out connecting for wake-ups"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn queue_key(key: &str) -> String {
    format!("{QUEUE_PREFIX}{key}")
}

/// Escapes Redis glob characters so a prefix matches literally.
fn escape_glob(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://:pw@h"), "redis://:***@h");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    async fn backend() -> Arc<RedisBackend> {
        // Needs the real Redis at `TINY_TEST_REDIS_URL` (tests/run.sh starts it).
        let url = std::env::var("TINY_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
        let backend = Arc::new(RedisBackend::new(&url).unwrap());
        backend
            .ping()
            .await
            .unwrap_or_else(|e| panic!("Redis is needed at {url}: {e}"));
        backend
    }

    const LIMITS: QueueLimits = QueueLimits {
        max_len: 10,
        ttl: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn a_take_abandoned_in_flight_is_not_lost() {
        let backend = backend().await;
        let key = format!(
            "abandoned-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        );
        backend.push(&key, "only".into(), LIMITS).await.unwrap();
        // Polled once, then dropped: its task is spawned, the caller is gone.
        assert!(futures_util::FutureExt::now_or_never(backend.take(&key, LIMITS)).is_none());
        // On this single-threaded runtime, let that task send its LPOP first,
        // so every take below is ordered after it on the connection.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(message) = backend.take(&key, LIMITS).await.unwrap() {
                assert_eq!(message, "only");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the abandoned message was lost"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn requeue_puts_the_message_at_the_head() {
        let backend = backend().await;
        let key = format!(
            "head-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        );
        backend.push(&key, "b".into(), LIMITS).await.unwrap();
        backend.requeue(&key, "a".into(), LIMITS).await.unwrap();
        assert_eq!(
            backend.take(&key, LIMITS).await.unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            backend.take(&key, LIMITS).await.unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(backend.take(&key, LIMITS).await.unwrap(), None);
    }

    #[test]
    fn a_malformed_url_names_itself() {
        let error = RedisBackend::new("redis://:pw@[bad").unwrap_err();
        assert!(error.message().contains("TINY_CACHE_URL"), "{error}");
        assert!(!error.message().contains("pw"), "{error}");
    }
}
