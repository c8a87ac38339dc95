//! The Redis backend: values as strings, key queues as the model of
//! `queue.rs` in Redis keys, so producers and consumers in different
//! processes or machines share them.
//!
//! - Every key-queue change is one Lua script (`redis/*.lua`; the consumer
//!   scripts after `redis/prelude.lua`), so it is atomic. A key's state
//!   lives under one hash tag, `tiny:{<key>}:…`, so on Redis Cluster it all
//!   sits in one slot: `meta` (epoch, tag secret, hand-out sequence),
//!   `ready` (list), `lineages` (hash: current connection), `seen` and
//!   `gone` (sorted sets), one `pending:<lineage>` sorted set per lineage,
//!   `parked` (list: connections that found nothing to take, in turn) and
//!   `credit` (hash: the hand-offs each may still get), and one
//!   `sent:<identity>` string per recent send. Everything lives a queue
//!   TTL after its last use; identities for [`IDENTITY_HORIZON`].
//! - The frequent scripts do the least. A take hands out up to a batch at
//!   once (fence check, pop, number, record pending: one command each,
//!   however many messages) and, when nothing more is there, *parks* the
//!   connection for [`HAND_OFFS`] messages. A send to a key with a parked
//!   connection (the parked ones take turns) hands the message to it
//!   directly, as a take would (numbered, recorded pending for its
//!   lineage), and its wake-up carries the message: the consumer writes it
//!   without a take of its own, and takes again only once half its
//!   hand-offs are used. Nothing older is ready then: a take parks only
//!   when it left the ready list empty, and whatever fills it again (a
//!   send that queues, a reclaim) empties `parked` first; whatever ends a
//!   connection (a newer one of its lineage, a release, a reclaim, a new
//!   history) unparks it, so a send needs no fence check of its own.
//!   Otherwise a send queues the message (identity, push, byte count,
//!   expiry, wake-up). The lease renewal, aging, the
//!   bound and the reclaim of stale lineages are a script of their own
//!   (`renew_all.lua`) that each process runs for every live connection it
//!   serves at once, four times per retention window: an idle stream sends
//!   no command of its own. (`LPOP` with a count: Redis 6.2 or later.)
//! - Why not Streams with a consumer group: a consumer group cannot fence an
//!   older connection of a consumer, and `XAUTOCLAIM` cannot tell a live
//!   consumer from a dead one (only idle time); both are the point here.
//! - A take whose answer is lost costs nothing: the entries are pending for
//!   the lineage and the next take returns them. A hand-off whose wake-up
//!   is lost costs nothing either: it is pending too, and the consumer asks
//!   Redis (which returns pending entries first, in order) whenever it may
//!   have missed one: the subscription came back, a plain wake-up, its
//!   mailbox full, and once a minute a check finds pending entries above
//!   what the process heard of. A send whose answer is lost is retried with
//!   the same identity; the script answers an identity it has seen with the
//!   first result, so `Ok` means queued (or handed) once.
//! - Consumers never block a connection (`BLPOP` would hold one per waiting
//!   consumer): every consumer command shares one multiplexed connection,
//!   sends another (so a send never waits behind the takes of the
//!   process), and one pub/sub connection per process, read on a thread of
//!   its own (`tiny-redis-wake`), wakes the local consumers of a key. A
//!   send publishes on its key's own channel, `tiny:{<key>}:wake`, which a
//!   process subscribes to only while it has a consumer of that key: a
//!   process without one hears nothing of it. A waiting consumer sends
//!   Redis nothing (its lease renewal aside);
//!   instead of a poll per stream, the process checks every key it has
//!   consumers of in one script call every [`CHECK_EVERY`], for wake-ups
//!   lost with the subscription.
//! - A connection that stopped (a stalled client, a dead process) holds at
//!   most [`HAND_OFFS`] messages beyond what it wrote; they are replayed
//!   to its lineage when it returns, or reclaimed after the retention
//!   window. Nothing sent after `[DONE]` is handed to the connection that
//!   took it, and a lineage's return tells its older connection's process
//!   (a fence on the channel), so that stream ends at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;

use super::queue::{
    Batch, END, Handed, Lease, Lineage, Lost, Opened, Position, Refused, Resume, Taken,
};
use super::wake::{Change, Waiter, Wakers};
use super::{QueueLimits, token};
use crate::{Error, Result};

/// How often a process checks, in one call, whether any key it has a
/// consumer of holds messages nobody was woken for (a subscription that
/// dropped, a wake-up published before its channel was subscribed).
const CHECK_EVERY: Duration = Duration::from_secs(10);
/// Every how many of those checks the hand-offs are checked too
/// ([`RedisBackend::check_handed`]): once a minute.
const CHECK_HANDED_ROUNDS: u64 = 6;
/// Keys per call of that check.
const CHECK_BATCH: usize = 500;
/// The check: the 1-based indexes of the KEYS (ready lists) that are not
/// empty. Idle keys have no list at all (Redis deletes an empty one), so
/// the common answer costs one `EXISTS`, however many keys.
/// The check for hand-offs: the 1-based indexes of the KEYS (pending
/// zsets) holding an entry above ARGV (the highest sequence heard of).
const CHECK_HANDED: &str = "local found = {} \
    for i, key in ipairs(KEYS) do \
      if #redis.call('ZRANGEBYSCORE', key, '(' .. ARGV[i], '+inf', 'LIMIT', 0, 1) > 0 then \
        found[#found + 1] = i \
      end \
    end \
    return found";
const CHECK: &str = "if redis.call('EXISTS', unpack(KEYS)) == 0 then return {} end \
    local found = {} \
    for i, key in ipairs(KEYS) do \
      if redis.call('LLEN', key) > 0 then found[#found + 1] = i end \
    end \
    return found";
/// Every key-queue key starts so; `get_by_prefix` and `delete_by_prefix`
/// leave them alone.
const QUEUE_PREFIX: &str = "tiny:{";
/// A command that takes longer is an error, so a dead server never hangs a stream.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The wake subscription reconnects with a capped exponential backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long `send_key` retries a send whose connection dropped.
const SEND_RETRY_FOR: Duration = Duration::from_secs(10);
/// How long a send identity is remembered: well past the last retry.
const IDENTITY_HORIZON: Duration = Duration::from_secs(60);
/// How long opening a stream retries a dropped connection before 503.
const OPEN_RETRY_FOR: Duration = Duration::from_secs(3);

macro_rules! script {
    ($file:literal) => {
        concat!(include_str!("redis/prelude.lua"), include_str!($file))
    };
}

const SEND: &str = include_str!("redis/send.lua");
const OPEN: &str = script!("redis/open.lua");
const TAKE: &str = include_str!("redis/take.lua");
const RENEW_ALL: &str = script!("redis/renew_all.lua");
/// Leases per `renew_all` call.
const RENEW_BATCH: usize = 100;
/// How many messages sends may hand a waiting connection directly
/// (`send.lua`) before it takes again; it parks again (with a take) once
/// half are used. So a connection that stopped (a stalled client, a dead
/// process) holds at most this many beyond what it wrote; its mailbox at
/// most the queue's byte cap of them. 64, not 16: a steady stream re-parks
/// every 32 messages instead of every 8, and in the flat-out key scenario
/// that took the takes from 5 300 to 3 100 per 23 000 messages (the rest
/// are each connection's first), see BENCHMARKS.md.
const HAND_OFFS: u32 = 64;
const RELEASE: &str = script!("redis/release.lua");

pub(crate) struct RedisBackend {
    /// The URL without its password, for messages.
    shown_url: String,
    client: redis::Client,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    /// Sends go on a connection of their own: a producer's send never
    /// waits behind the takes of this process's consumers in one pipeline.
    send_connection: tokio::sync::OnceCell<ConnectionManager>,
    scripts: Scripts,
    /// Identities of this process's sends: this prefix and a counter.
    sender: u64,
    sends: std::sync::atomic::AtomicU64,
    wakers: Arc<Wakers>,
    /// The first and last consumer of each key, for the subscription task
    /// (taken by it when the first consumer starts it).
    changes: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Change>>>,
    subscribed: OnceLock<()>,
    /// Every live key connection of this process, by connection token:
    /// their leases are renewed together ([`RedisBackend::renew_all`]).
    leases: Arc<std::sync::Mutex<HashMap<u64, (String, Lease)>>>,
    /// The mailbox of every live key connection of this process, by key
    /// and connection token.
    mailboxes: Arc<Mailboxes>,
    limits: QueueLimits,
}

type Mailboxes = std::sync::Mutex<HashMap<String, HashMap<u64, Arc<Mailbox>>>>;

/// What sends handed one waiting connection of this process directly
/// (`send.lua`), as heard on its key's channel, until its consumer takes
/// them. Each is pending for the lineage in Redis already: the mailbox only
/// spares the consumer a take. Bounded by [`HAND_OFFS`] per park, so twice
/// that at most.
#[derive(Debug)]
struct Mailbox {
    state: std::sync::Mutex<MailboxState>,
    /// The consumer's own wake-up ([`Waiter::own`]).
    own: Arc<tokio::sync::Notify>,
    /// The lineage's pending zset, for the periodic check.
    pending: String,
}

#[derive(Debug, Default)]
struct MailboxState {
    /// In increasing `seq` order (one channel, in publish order).
    handed: VecDeque<Handed>,
    /// The message bytes in `handed`: at most the queue's byte cap, as
    /// the ready list's (past it the next take asks Redis).
    bytes: usize,
    /// Hand-offs may have been missed (the channel was just subscribed, or
    /// the subscription came back): the next take asks Redis, which has
    /// every one of them pending, in order.
    gap: bool,
    /// Hand-offs Redis may still make before the connection parks again,
    /// as far as this process knows; 0 also while a take from Redis has
    /// not said that nothing more is pending (the mailbox is not used then).
    credit: u32,
    /// The highest sequence this process knows of for the connection
    /// (taken, or heard of): a pending entry above it was handed off
    /// unheard.
    heard: u64,
}

impl MailboxState {
    /// The head hand-off, out of the byte count.
    fn pop(&mut self) -> Option<Handed> {
        let head = self.handed.pop_front()?;
        self.bytes = self.bytes.saturating_sub(head.message.len());
        Some(head)
    }

    fn clear(&mut self) {
        self.handed.clear();
        self.bytes = 0;
    }

    /// Keeps a hand-off heard, unless that would pass twice [`HAND_OFFS`]
    /// or `max_bytes`: then the next take asks Redis, which has it pending.
    fn keep(&mut self, handed: Handed, max_bytes: usize) {
        let bytes = self.bytes + handed.message.len();
        if self.handed.len() < 2 * HAND_OFFS as usize && bytes <= max_bytes {
            self.bytes = bytes;
            self.handed.push_back(handed);
        } else {
            self.gap = true;
        }
    }
}

/// A live connection's lease, renewed by its process until dropped, and
/// its mailbox.
#[derive(Debug)]
pub(crate) struct Held {
    leases: Arc<std::sync::Mutex<HashMap<u64, (String, Lease)>>>,
    mailboxes: Arc<Mailboxes>,
    key: String,
    connection: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        super::lock(&self.leases).remove(&self.connection);
        let mut mailboxes = super::lock(&self.mailboxes);
        if let Some(of_key) = mailboxes.get_mut(&self.key) {
            of_key.remove(&self.connection);
            if of_key.is_empty() {
                mailboxes.remove(&self.key);
            }
        }
    }
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
    pub(crate) fn new(url: &str, limits: QueueLimits) -> Result<Self> {
        let shown_url = redact(url);
        let client = redis::Client::open(url).map_err(|e| {
            Error::internal(format!(
                "TINY_CACHE_URL `{shown_url}` is not a Redis URL like redis://127.0.0.1:6379/0: {e}"
            ))
        })?;
        let (changes, watched) = mpsc::unbounded_channel();
        Ok(Self {
            shown_url,
            client,
            connection: tokio::sync::OnceCell::new(),
            send_connection: tokio::sync::OnceCell::new(),
            scripts: Scripts {
                send: redis::Script::new(&send_script(limits)),
                open: redis::Script::new(OPEN),
                take: redis::Script::new(TAKE),
                renew_all: redis::Script::new(RENEW_ALL),
                check: redis::Script::new(CHECK),
                check_handed: redis::Script::new(CHECK_HANDED),
                release: redis::Script::new(RELEASE),
            },
            sender: token::random(),
            sends: std::sync::atomic::AtomicU64::new(0),
            wakers: Arc::new(Wakers::announcing(changes)),
            changes: std::sync::Mutex::new(Some(watched)),
            subscribed: OnceLock::new(),
            leases: Arc::default(),
            mailboxes: Arc::default(),
            limits,
        })
    }

    fn error(&self, error: redis::RedisError) -> Error {
        Error::unavailable(format!("Redis at {} failed: {error}", self.shown_url), 1)
            .with_source(error)
    }

    async fn connection(&self) -> Result<ConnectionManager> {
        shared(&self.connection, &self.client, &self.shown_url).await
    }

    async fn send_connection(&self) -> Result<ConnectionManager> {
        shared(&self.send_connection, &self.client, &self.shown_url).await
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

    /// Queues `message`, retrying a dropped connection with the same
    /// identity for [`SEND_RETRY_FOR`].
    pub(crate) async fn push(&self, key: &str, message: String, limits: QueueLimits) -> Result<()> {
        let mut connection = self.send_connection().await?;
        let n = self
            .sends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let identity = format!("{:016x}{n:x}", self.sender);
        let names = QueueKeys::new(key);
        let sent = names.sent(&identity);
        let mut retry = Retry::new(SEND_RETRY_FOR);
        let outcome = loop {
            let attempt = self
                .send_once(&mut connection, &names, &sent, &message)
                .await;
            match attempt {
                Err(error) if retry.again(&error).await => {}
                other => break other,
            }
        };
        match outcome {
            Ok(queued) if queued > 0 => Ok(()),
            Ok(-2) => Err(super::queue_full(key, Refused::Bytes, limits)),
            Ok(_) => Err(super::queue_full(key, Refused::Len, limits)),
            Err(error) if retry.tried => Err(Error::unavailable(
                format!(
                    "Redis at {} did not confirm the send to `{key}` within {} s ({error}): \
                     the message may have been queued, and sending it again may deliver it twice",
                    self.shown_url,
                    SEND_RETRY_FOR.as_secs()
                ),
                1,
            )
            .with_source(error)),
            Err(error) => Err(Error::unavailable(
                format!(
                    "Redis at {} refused the send to `{key}` ({error}): the message was not queued",
                    self.shown_url
                ),
                1,
            )
            .with_source(error)),
        }
    }

    /// One run of the send script, under the identity key `sent`: 1
    /// queued, 2 queued before under this identity, -1 full by length, -2
    /// by bytes.
    async fn send_once(
        &self,
        connection: &mut ConnectionManager,
        names: &QueueKeys,
        sent: &str,
        message: &str,
    ) -> redis::RedisResult<i64> {
        let mut invocation = self.scripts.send.key(&names.ready);
        invocation
            .key(sent)
            .key(&names.bytes)
            .key(&names.parked)
            .key(&names.credit)
            .key(&names.meta)
            .arg(message)
            .arg(unix_millis());
        invocation.invoke_async(connection).await
    }

    /// Starts a consumer connection; retried while the connection drops
    /// (the script gives the same answer when run twice).
    pub(crate) async fn open(
        &self,
        key: &str,
        resume: Option<Resume>,
        limits: QueueLimits,
    ) -> Result<Opened> {
        let mut connection = self.connection().await?;
        let (nonce, token) = (token::random(), token::random());
        let names = QueueKeys::new(key);
        let pending_of = resume.map_or(nonce, |r| r.lineage.nonce);
        let history = (hex(token::random()), secret());
        let (cursor_epoch, cursor_lineage, cursor_tag, cursor_seq) = match resume {
            Some(r) => (
                hex(r.epoch),
                hex(r.lineage.nonce),
                hex(r.lineage.tag),
                r.seq.to_string(),
            ),
            None => Default::default(),
        };
        let mut retry = Retry::new(OPEN_RETRY_FOR);
        let (epoch, lineage, tag, lost) = loop {
            let attempt = names
                .invoke(&self.scripts.open, pending_of, &limits)
                .arg(&history.0)
                .arg(&history.1)
                .arg(hex(nonce))
                .arg(hex(token))
                .arg(&cursor_epoch)
                .arg(&cursor_lineage)
                .arg(&cursor_tag)
                .arg(&cursor_seq)
                .invoke_async::<(String, String, String, String)>(&mut connection)
                .await;
            match attempt {
                Ok(opened) => break opened,
                Err(error) if retry.again(&error).await => {}
                Err(error) => return Err(self.error(error)),
            }
        };
        let lost = match lost.as_str() {
            "unknown" => Some(Lost::Unknown),
            "epoch" => Some(Lost::Epoch),
            "trimmed" => Some(Lost::Trimmed),
            _ => None,
        };
        let lineage = Lineage {
            nonce: unhex(&lineage)?,
            tag: unhex(&tag)?,
        };
        let after = match resume {
            Some(resume) if lost.is_none() => resume.seq,
            _ => 0,
        };
        Ok(Opened {
            epoch: unhex(&epoch)?,
            lease: Lease {
                lineage,
                connection: token,
            },
            after,
            lost,
        })
    }

    /// One take of up to `batch`: from the connection's mailbox when sends
    /// handed it messages, else from Redis. The consumer retries on error (a
    /// lost answer left the messages pending for this lineage, where the
    /// retry finds them).
    pub(crate) async fn take(
        &self,
        key: &str,
        lease: Lease,
        position: Position,
        batch: Batch,
    ) -> Result<Taken> {
        let mailbox = super::lock(&self.mailboxes)
            .get(key)
            .and_then(|of_key| of_key.get(&lease.connection))
            .cloned();
        if let Some(mailbox) = &mailbox {
            let mut state = super::lock(&mailbox.state);
            state.heard = state.heard.max(position.after);
            while state
                .handed
                .front()
                .is_some_and(|handed| handed.seq <= position.after)
            {
                state.pop();
            }
            if !state.gap && state.credit > HAND_OFFS / 2 && !state.handed.is_empty() {
                let handed = from_mailbox(&mut state, batch);
                return Ok(Taken::Messages {
                    handed,
                    more: !state.handed.is_empty(),
                    replayed: false,
                });
            }
            // Redis has every hand-off pending for the lineage: the take
            // below returns them in order, then parks the connection again.
            // Until a take says nothing more is pending (and parks), the
            // mailbox is not used: an entry of it may lie beyond pending
            // ones never heard of (a batch that was full, a lost answer).
            state.clear();
            state.gap = false;
            state.credit = 0;
        }
        let mut connection = self.connection().await?;
        let names = QueueKeys::new(key);
        let mut invocation = self.scripts.take.key(&names.meta);
        let hand_offs = if mailbox.is_some() { HAND_OFFS } else { 0 };
        invocation
            .key(&names.ready)
            .key(&names.lineages)
            .key(names.pending(lease.lineage.nonce))
            .key(&names.bytes)
            .key(&names.parked)
            .key(&names.credit)
            .arg(hex(lease.lineage.nonce))
            .arg(hex(lease.connection))
            .arg(position.after)
            // Hand-offs are pending entries after the position too.
            .arg(flag(position.replay || mailbox.is_some()))
            .arg(unix_millis())
            .arg(batch.max_messages.max(1))
            .arg(batch.max_bytes)
            .arg(batch.end)
            .arg(hand_offs);
        let (status, more, found) = invocation
            .invoke_async::<(i64, i64, Vec<(u64, String)>)>(&mut connection)
            .await
            .map_err(|e| self.error(e))?;
        let ended = found
            .last()
            .is_some_and(|(_, message)| message == batch.end);
        if let Some(mailbox) = &mailbox
            && status >= 0
            && more == 0
            && !ended
        {
            super::lock(&mailbox.state).credit = HAND_OFFS;
        }
        Ok(match status {
            -1 => Taken::Refused,
            _ if found.is_empty() => Taken::Empty,
            _ => Taken::Messages {
                handed: found
                    .into_iter()
                    .map(|(seq, message)| Handed {
                        seq,
                        message: message.into(),
                    })
                    .collect(),
                more: more == 1,
                // Only a replay the stream asked for (after a reconnect or
                // a lost answer): hand-offs are written for the first time.
                replayed: status == 2 && position.replay,
            },
        })
    }

    /// Marks the connection ended, in its own task (called from a drop).
    /// A release that never arrives is harmless: the lineage is then stale
    /// after the window, as if its process had died.
    pub(crate) fn release(
        self: &Arc<Self>,
        key: &str,
        lease: Lease,
        done: bool,
        limits: QueueLimits,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let backend = Arc::clone(self);
        let key = key.to_owned();
        runtime.spawn(async move {
            let Ok(mut connection) = backend.connection().await else {
                return;
            };
            let names = QueueKeys::new(&key);
            let mut retry = Retry::new(Duration::from_secs(2));
            loop {
                let attempt = names
                    .invoke(&backend.scripts.release, lease.lineage.nonce, &limits)
                    .arg(hex(lease.lineage.nonce))
                    .arg(hex(lease.connection))
                    .arg(flag(done))
                    .invoke_async::<i64>(&mut connection)
                    .await;
                match attempt {
                    Err(error) if retry.again(&error).await => {}
                    Err(error) => {
                        tracing::debug!(key, %error, "a stream's end was not recorded; its lineage expires instead");
                        return;
                    }
                    Ok(_) => return,
                }
            }
        });
    }

    pub(crate) async fn queue_len(&self, key: &str) -> Result<usize> {
        let mut connection = self.connection().await?;
        connection
            .llen(QueueKeys::new(key).ready)
            .await
            .map_err(|e| self.error(e))
    }

    /// Registers a consumer; the first one starts this process's wake
    /// subscription task.
    pub(crate) fn watch(self: &Arc<Self>, key: &str) -> Waiter {
        self.subscribed.get_or_init(|| {
            let changes = super::lock(&self.changes).take();
            if let Some(changes) = changes {
                start_subscription(Arc::clone(self), changes);
            }
        });
        self.wakers.watch(key)
    }

    /// Has this process renew `lease` (of a connection on `key`) with the
    /// others until the returned guard is dropped.
    /// Its mailbox for hand-offs is registered meanwhile; `own` is the
    /// consumer's own wake-up, for them.
    pub(crate) fn hold(&self, key: &str, lease: Lease, own: Arc<tokio::sync::Notify>) -> Held {
        super::lock(&self.leases).insert(lease.connection, (key.to_owned(), lease));
        let mailbox = Arc::new(Mailbox {
            state: std::sync::Mutex::default(),
            own,
            pending: QueueKeys::new(key).pending(lease.lineage.nonce),
        });
        super::lock(&self.mailboxes)
            .entry(key.to_owned())
            .or_default()
            .insert(lease.connection, mailbox);
        Held {
            leases: Arc::clone(&self.leases),
            mailboxes: Arc::clone(&self.mailboxes),
            key: key.to_owned(),
            connection: lease.connection,
        }
    }

    /// A message a send handed to `connection` of `key` (heard on the
    /// key's channel): into its mailbox, and its consumer woken.
    fn handed(&self, key: &str, connection: u64, handed: Handed) {
        let mailbox = super::lock(&self.mailboxes)
            .get(key)
            .and_then(|of_key| of_key.get(&connection))
            .cloned();
        // A connection gone meanwhile: the message stays pending for its
        // lineage, as anything it was handed.
        let Some(mailbox) = mailbox else { return };
        {
            let mut state = super::lock(&mailbox.state);
            state.credit = state.credit.saturating_sub(1);
            state.heard = state.heard.max(handed.seq);
            state.keep(handed, self.limits.max_bytes);
        }
        mailbox.own.notify_one();
    }

    /// Hand-offs to the connections of `key` (every key: `None`) may have
    /// been missed: their next take asks Redis.
    fn mark_gaps(&self, key: Option<&str>) {
        let mailboxes: Vec<Arc<Mailbox>> = {
            let all = super::lock(&self.mailboxes);
            match key {
                Some(key) => all
                    .get(key)
                    .into_iter()
                    .flat_map(|m| m.values())
                    .cloned()
                    .collect(),
                None => all.values().flat_map(|m| m.values()).cloned().collect(),
            }
        };
        for mailbox in mailboxes {
            super::lock(&mailbox.state).gap = true;
            mailbox.own.notify_one();
        }
    }

    /// [`RedisBackend::mark_gaps`] for `key`'s connections without waking
    /// them: a plain wake-up wakes one consumer, as in process.
    fn mark_gaps_quietly(&self, key: &str) {
        if let Some(of_key) = super::lock(&self.mailboxes).get(key) {
            for mailbox in of_key.values() {
                super::lock(&mailbox.state).gap = true;
            }
        }
    }

    /// `connection` of `key` was fenced (its lineage came back on another):
    /// its next take asks Redis, is refused, and its stream ends.
    fn fenced(&self, key: &str, connection: u64) {
        let mailbox = super::lock(&self.mailboxes)
            .get(key)
            .and_then(|of_key| of_key.get(&connection))
            .cloned();
        if let Some(mailbox) = mailbox {
            super::lock(&mailbox.state).gap = true;
            mailbox.own.notify_one();
        }
    }

    /// The hand-off part of the [`CHECK_EVERY`] check: marks the mailboxes
    /// whose lineage has a pending entry this process never heard of (a
    /// wake-up lost with the subscription), so their consumer asks Redis.
    async fn check_handed(&self) {
        let mailboxes: Vec<Arc<Mailbox>> = super::lock(&self.mailboxes)
            .values()
            .flat_map(|of_key| of_key.values().cloned())
            .collect();
        if mailboxes.is_empty() {
            return;
        }
        let Ok(mut connection) = self.connection().await else {
            return;
        };
        for batch in mailboxes.chunks(CHECK_BATCH) {
            let mut invocation = self.scripts.check_handed.prepare_invoke();
            for mailbox in batch {
                let heard = super::lock(&mailbox.state).heard;
                invocation.key(&mailbox.pending).arg(heard);
            }
            match invocation.invoke_async::<Vec<usize>>(&mut connection).await {
                Ok(found) => {
                    for index in found {
                        if let Some(mailbox) = index.checked_sub(1).and_then(|i| batch.get(i)) {
                            super::lock(&mailbox.state).gap = true;
                            mailbox.own.notify_one();
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "the hand-off check failed; retried at the next round");
                    return;
                }
            }
        }
    }

    /// How often the process renews the leases it holds: four times per
    /// retention window (or queue TTL, when shorter), so a live lineage is
    /// never taken for one that vanished.
    fn renew_every(&self) -> Duration {
        (self.limits.retention.min(self.limits.ttl) / 4).max(Duration::from_millis(1))
    }

    /// Renews every lease this process holds, [`RENEW_BATCH`] per call,
    /// and wakes the consumers of a connection that is no longer its
    /// lineage's current one, so their stream ends.
    async fn renew_all(&self, full: bool) {
        let held: Vec<(String, Lease)> = super::lock(&self.leases).values().cloned().collect();
        if held.is_empty() {
            return;
        }
        let Ok(mut connection) = self.connection().await else {
            return;
        };
        let limits = self.limits;
        for batch in held.chunks(RENEW_BATCH) {
            let mut invocation = self.scripts.renew_all.prepare_invoke();
            invocation
                .arg(flag(full))
                .arg(millis(limits.ttl))
                .arg(millis(limits.retention))
                .arg(limits.max_len);
            for (key, lease) in batch {
                let names = QueueKeys::new(key);
                invocation
                    .key(&names.meta)
                    .key(&names.ready)
                    .key(&names.lineages)
                    .key(names.pending(lease.lineage.nonce))
                    .key(&names.seen)
                    .key(&names.gone)
                    .key(&names.bytes)
                    .arg(format!("{}pending:", names.base))
                    .arg(hex(lease.lineage.nonce))
                    .arg(hex(lease.connection))
                    .arg(&names.wake);
            }
            match invocation.invoke_async::<Vec<i64>>(&mut connection).await {
                Ok(results) => {
                    for ((key, _), result) in batch.iter().zip(results) {
                        if result < 0 {
                            // Its next take is refused and the stream ends.
                            self.mark_gaps(Some(key));
                            self.wakers.wake_waiters(key);
                        }
                    }
                }
                Err(error) => {
                    // Retried at the next round, well within the window.
                    tracing::warn!(url = %self.shown_url, %error, "renewing the key streams' leases failed");
                    return;
                }
            }
        }
    }

    /// The check behind [`CHECK_EVERY`]: wakes the waiting consumers of
    /// each key in `keys` whose queue holds messages.
    async fn check(&self, keys: &[String]) {
        let Ok(mut connection) = self.connection().await else {
            return;
        };
        for batch in keys.chunks(CHECK_BATCH) {
            let mut invocation = self.scripts.check.prepare_invoke();
            for key in batch {
                invocation.key(QueueKeys::new(key).ready);
            }
            match invocation.invoke_async::<Vec<usize>>(&mut connection).await {
                Ok(found) => {
                    for index in found {
                        if let Some(key) = index.checked_sub(1).and_then(|i| batch.get(i)) {
                            self.mark_gaps(Some(key));
                            self.wakers.wake_waiters(key);
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "the key-queue check failed; consumers re-check on their own");
                    self.mark_gaps(None);
                    self.wakers.wake_all();
                    return;
                }
            }
        }
    }
}

/// Runs [`subscribe`] on a thread of its own, on a current-thread runtime:
/// reading the hand-offs and wake-ups of every key then never takes the
/// app's runtime workers from its own tasks. Measured in the suite's
/// flat-out key scenario, where the producer shares the process, that
/// took its send round trip at p10 from 78 to about 50 µs (BENCHMARKS.md,
/// session 7). Where no thread can be started, the app's runtime runs it.
fn start_subscription(backend: Arc<RedisBackend>, changes: mpsc::UnboundedReceiver<Change>) {
    let handed_over = Arc::new(std::sync::Mutex::new(Some((backend, changes))));
    let taken = Arc::clone(&handed_over);
    let started = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|runtime| {
            std::thread::Builder::new()
                .name("tiny-redis-wake".to_owned())
                .spawn(move || {
                    if let Some((backend, changes)) = super::lock(&taken).take() {
                        runtime.block_on(subscribe(backend, changes));
                    }
                })
        });
    if let Err(error) = started {
        tracing::warn!(%error, "cannot start the Redis wake-up thread; the app's runtime reads the wake-ups");
        if let Some((backend, changes)) = super::lock(&handed_over).take() {
            tokio::spawn(subscribe(backend, changes));
        }
    }
}

/// The one wake subscription of this process: subscribed to the channel of
/// each key it has a consumer of, from its first consumer to its last.
/// Reconnects forever with a capped backoff; after each (re)subscription
/// the key's (or every key's) waiting consumers are woken, since sends
/// during the gap were not announced to them, and every [`CHECK_EVERY`] the
/// keys are checked in one call for messages nobody was woken for.
async fn subscribe(backend: Arc<RedisBackend>, mut changes: mpsc::UnboundedReceiver<Change>) {
    let wakers = Arc::clone(&backend.wakers);
    // Channel -> key, for every key with a consumer here.
    let mut watched: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut backoff = Duration::from_millis(100);
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renew = tokio::time::interval(backend.renew_every());
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: u64 = 0;
    let mut checks: u64 = 0;
    'connect: loop {
        let connected =
            tokio::time::timeout(CONNECT_TIMEOUT, backend.client.get_async_pubsub()).await;
        let pubsub = match connected {
            Ok(Ok(pubsub)) => pubsub,
            outcome => {
                let error = match outcome {
                    Ok(Err(error)) => error.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(url = %backend.shown_url, %error, "cannot connect for key wake-ups; retrying");
                // Keep track of consumers meanwhile; they re-check on their own.
                let retry = tokio::time::sleep(backoff);
                tokio::pin!(retry);
                loop {
                    tokio::select! {
                        () = &mut retry => break,
                        change = changes.recv() => match change {
                            None => return,
                            Some(change) => apply(&mut watched, change),
                        },
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue 'connect;
            }
        };
        let (mut sink, mut messages) = pubsub.split();
        for channel in watched.keys() {
            if let Err(error) = sink.subscribe(channel).await {
                tracing::warn!(url = %backend.shown_url, %error, "cannot subscribe for key wake-ups; reconnecting");
                continue 'connect;
            }
        }
        backoff = Duration::from_millis(100);
        backend.mark_gaps(None);
        wakers.wake_all();
        loop {
            tokio::select! {
                change = changes.recv() => {
                    let Some(change) = change else { return };
                    let outcome = match &change {
                        Change::Watched(key) => {
                            let channel = QueueKeys::new(key).wake;
                            let subscribed = sink.subscribe(&channel).await;
                            // A send between the consumer's first take and
                            // this subscription was not heard: look again.
                            backend.mark_gaps(Some(key));
                            wakers.wake_waiters(key);
                            subscribed
                        }
                        Change::Unwatched(key) => sink.unsubscribe(QueueKeys::new(key).wake).await,
                    };
                    apply(&mut watched, change);
                    if let Err(error) = outcome {
                        tracing::warn!(url = %backend.shown_url, %error, "key wake-up subscription failed; reconnecting");
                        continue 'connect;
                    }
                }
                message = messages.next() => match message {
                    Some(message) => {
                        if let Some(key) = watched.get(message.get_channel_name()) {
                            let payload = message.get_payload_bytes();
                            if let Some(connection) = fence(payload) {
                                backend.fenced(key, connection);
                            } else if let Some((connection, handed)) = hand_off(payload) {
                                backend.handed(key, connection, handed);
                            } else {
                                // Messages wait in the ready list: whichever
                                // consumer is woken must ask Redis, whatever
                                // its mailbox holds.
                                backend.mark_gaps_quietly(key);
                                wakers.wake(key);
                            }
                        }
                    }
                    None => {
                        tracing::warn!(url = %backend.shown_url, "Redis wake subscription lost; reconnecting");
                        continue 'connect;
                    }
                },
                _ = check.tick() => {
                    let keys: Vec<String> = watched.values().cloned().collect();
                    checks += 1;
                    if !keys.is_empty() {
                        backend.check(&keys).await;
                        // A command per connection: once a minute only (a
                        // lost subscription is noticed, and its gap marked,
                        // at once; this is the safety net behind that).
                        if checks % CHECK_HANDED_ROUNDS == 0 {
                            backend.check_handed().await;
                        }
                    }
                }
                _ = renew.tick() => {
                    // Aging and the bound on pending entries (memory only)
                    // every other round: once per half window.
                    rounds += 1;
                    backend.renew_all(rounds % 2 == 1).await;
                }
            }
        }
    }
}

/// A hand-off heard on a key's channel: `h<connection, 16 hex><seq>:<message>`
/// (`send.lua`); `None` for a plain wake-up (`w`).
fn hand_off(payload: &[u8]) -> Option<(u64, Handed)> {
    let rest = payload.strip_prefix(b"h")?;
    let connection = u64::from_str_radix(std::str::from_utf8(rest.get(..16)?).ok()?, 16).ok()?;
    let rest = &rest[16..];
    let colon = rest.iter().position(|&b| b == b':')?;
    let seq = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    let message = std::str::from_utf8(&rest[colon + 1..]).ok()?;
    Some((
        connection,
        Handed {
            seq,
            message: message.into(),
        },
    ))
}

/// A fence heard on a key's channel: `f<connection, 16 hex>` (`open.lua`).
fn fence(payload: &[u8]) -> Option<u64> {
    let hex = std::str::from_utf8(payload.strip_prefix(b"f")?).ok()?;
    u64::from_str_radix(hex, 16).ok()
}

/// Up to `batch` of a mailbox's hand-offs, from its head.
fn from_mailbox(mailbox: &mut MailboxState, batch: Batch) -> Vec<Handed> {
    let mut handed = Vec::new();
    let mut bytes = 0;
    while handed.len() < batch.max_messages.max(1) && (handed.is_empty() || bytes < batch.max_bytes)
    {
        let Some(next) = mailbox.pop() else {
            break;
        };
        bytes += next.message.len();
        let end = *next.message == *batch.end;
        handed.push(next);
        if end {
            break;
        }
    }
    handed
}

/// Keeps the channel -> key map of the subscription task.
fn apply(watched: &mut std::collections::HashMap<String, String>, change: Change) {
    match change {
        Change::Watched(key) => {
            watched.insert(QueueKeys::new(&key).wake, key);
        }
        Change::Unwatched(key) => {
            watched.remove(&QueueKeys::new(&key).wake);
        }
    }
}

struct Scripts {
    send: redis::Script,
    open: redis::Script,
    take: redis::Script,
    renew_all: redis::Script,
    check: redis::Script,
    check_handed: redis::Script,
    release: redis::Script,
}

/// The Redis keys of one key's queue, all under one hash tag.
struct QueueKeys {
    meta: String,
    ready: String,
    lineages: String,
    seen: String,
    gone: String,
    /// Bytes of the messages in `ready`.
    bytes: String,
    /// The channel a send publishes on, so only processes with a consumer
    /// of this key hear of it.
    wake: String,
    /// Connections that found nothing to take, in turn (a list a send
    /// rotates), and how many messages a send may hand each directly (a
    /// hash).
    parked: String,
    credit: String,
    /// `pending:<lineage>` follows.
    base: String,
}

impl QueueKeys {
    fn new(key: &str) -> Self {
        // `{` and `}` inside the tag would end it early; `%` keeps the
        // escape reversible.
        let mut tag = String::with_capacity(key.len());
        for c in key.chars() {
            match c {
                '%' => tag.push_str("%25"),
                '{' => tag.push_str("%7B"),
                '}' => tag.push_str("%7D"),
                c => tag.push(c),
            }
        }
        let base = format!("{QUEUE_PREFIX}{tag}}}:");
        Self {
            meta: format!("{base}meta"),
            ready: format!("{base}ready"),
            lineages: format!("{base}lineages"),
            seen: format!("{base}seen"),
            gone: format!("{base}gone"),
            bytes: format!("{base}bytes"),
            wake: format!("{base}wake"),
            parked: format!("{base}parked"),
            credit: format!("{base}credit"),
            base,
        }
    }

    /// A lineage's pending entries.
    fn pending(&self, lineage: u64) -> String {
        format!("{}pending:{}", self.base, hex(lineage))
    }

    /// A send's identity, remembered for [`IDENTITY_HORIZON`].
    fn sent(&self, identity: &str) -> String {
        format!("{}sent:{identity}", self.base)
    }

    /// One of the consumer scripts that share `redis/prelude.lua`, with
    /// its KEYS and leading ARGV.
    fn invoke<'a>(
        &self,
        script: &'a redis::Script,
        lineage: u64,
        limits: &QueueLimits,
    ) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.key(&self.meta);
        invocation
            .key(&self.ready)
            .key(&self.lineages)
            .key(self.pending(lineage))
            .key(&self.seen)
            .key(&self.gone)
            .key(&self.bytes)
            .arg(format!("{}pending:", self.base))
            .arg(millis(limits.ttl))
            .arg(millis(limits.retention));
        invocation
    }
}

/// Retries of a command that failed on its connection (dropped, timed
/// out), with a short doubling pause, until a deadline.
struct Retry {
    deadline: tokio::time::Instant,
    pause: Duration,
    /// An attempt failed after it may have reached the server.
    tried: bool,
}

impl Retry {
    fn new(within: Duration) -> Self {
        Self {
            deadline: tokio::time::Instant::now() + within,
            pause: Duration::from_millis(10),
            tried: false,
        }
    }

    /// Waits and returns true when `error` is worth another attempt.
    async fn again(&mut self, error: &redis::RedisError) -> bool {
        if matches!(error.retry_method(), redis::RetryMethod::NoRetry) {
            return false;
        }
        self.tried = true;
        if tokio::time::Instant::now() + self.pause > self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(500));
        true
    }
}

/// `send.lua` after the line that gives it the constants it would
/// otherwise be passed on every call, so a send carries only its keys,
/// message and time. The ones it hands to Redis are strings already.
fn send_script(limits: QueueLimits) -> String {
    format!(
        "local HORIZON, TTL, MAX_LEN, MAX_BYTES, DONE = '{}', '{}', {}, {}, '{}'\n{SEND}",
        millis(IDENTITY_HORIZON),
        millis(limits.ttl),
        limits.max_len,
        limits.max_bytes,
        END
    )
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// This process's clock, for the hand-out time of pending entries (aged
/// out after a window of minutes: a skew between processes is harmless).
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

fn hex(value: u64) -> String {
    format!("{value:016x}")
}

fn unhex(text: &str) -> Result<u64> {
    u64::from_str_radix(text, 16).map_err(|_| {
        Error::internal(format!(
            "Redis returned `{text}` where a key-queue id belongs"
        ))
    })
}

/// A new history's tag secret: 128 unguessable bits.
fn secret() -> String {
    format!("{:016x}{:016x}", token::random(), token::random())
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

/// The multiplexed connection kept in `cell`, made on first use: it
/// reconnects by itself, with the timeouts every Redis command of tiny
/// shares (the cache's and the topics').
pub(crate) async fn shared(
    cell: &tokio::sync::OnceCell<ConnectionManager>,
    client: &redis::Client,
    shown_url: &str,
) -> Result<ConnectionManager> {
    let connection = cell
        .get_or_try_init(|| async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(2);
            ConnectionManager::new_with_config(client.clone(), config)
                .await
                .map_err(|e| {
                    Error::unavailable(format!("cannot reach Redis at {shown_url}: {e}"), 1)
                        .with_source(e)
                })
        })
        .await?;
    Ok(connection.clone())
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub(crate) fn redact(url: &str) -> String {
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
    use crate::cache::queue::ONE;

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
        backend_with(LIMITS).await
    }

    async fn backend_with(limits: QueueLimits) -> Arc<RedisBackend> {
        // Needs the real Redis at `TINY_TEST_REDIS_URL` (tests/run.sh starts it).
        let url = std::env::var("TINY_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
        let backend = Arc::new(RedisBackend::new(&url, limits).unwrap());
        backend
            .ping()
            .await
            .unwrap_or_else(|e| panic!("Redis is needed at {url}: {e}"));
        backend
    }

    const LIMITS: QueueLimits = QueueLimits {
        max_len: 10,
        max_bytes: 1024,
        ttl: Duration::from_secs(60),
        retention: Duration::from_secs(60),
    };

    /// A retention window short enough for a test to wait out.
    const SHORT_WINDOW: QueueLimits = QueueLimits {
        retention: Duration::from_millis(200),
        ..LIMITS
    };

    fn at(after: u64) -> Position {
        Position {
            after,
            replay: true,
        }
    }

    fn unique(name: &str) -> String {
        format!("{name}-{:016x}", token::random())
    }

    async fn take_all(
        backend: &RedisBackend,
        key: &str,
        lease: Lease,
        mut after: u64,
    ) -> Vec<String> {
        let mut got = Vec::new();
        while let Some((seq, message)) = backend
            .take(key, lease, at(after), ONE)
            .await
            .unwrap()
            .first()
        {
            got.push(message);
            after = seq;
        }
        got
    }

    #[tokio::test]
    async fn a_lost_take_answer_is_taken_again() {
        let backend = backend().await;
        let key = unique("lost-take");
        for m in ["a", "b"] {
            backend.push(&key, m.into(), LIMITS).await.unwrap();
        }
        let opened = backend.open(&key, None, LIMITS).await.unwrap();
        let first = backend.take(&key, opened.lease, at(0), ONE).await.unwrap();
        let Taken::Messages { handed, .. } = first else {
            panic!("expected a message, got {first:?}");
        };
        assert_eq!(&*handed[0].message, "a");
        let seq = handed[0].seq;
        // Its answer never reached the stream: the retry gets the same entry.
        let again = backend.take(&key, opened.lease, at(0), ONE).await.unwrap();
        let expected = Taken::Messages {
            handed,
            more: true,
            replayed: true,
        };
        assert_eq!(again, expected);
        assert_eq!(take_all(&backend, &key, opened.lease, seq).await, ["b"]);
    }

    fn texts(taken: &Taken) -> Vec<&str> {
        match taken {
            Taken::Messages { handed, .. } => handed.iter().map(|h| &*h.message).collect(),
            _ => Vec::new(),
        }
    }

    fn last_seq(taken: &Taken) -> u64 {
        match taken {
            Taken::Messages { handed, .. } => handed.last().map_or(0, |h| h.seq),
            _ => panic!("expected messages, got {taken:?}"),
        }
    }

    #[tokio::test]
    async fn a_take_hands_out_a_batch_and_stops_after_done() {
        let backend = backend().await;
        let key = unique("batch");
        for m in ["a", "b", "[DONE]", "c", "d", "e"] {
            backend.push(&key, m.into(), LIMITS).await.unwrap();
        }
        let opened = backend.open(&key, None, LIMITS).await.unwrap();
        let batch = Batch {
            max_messages: 10,
            max_bytes: 1024,
            end: "[DONE]",
        };
        let first = backend
            .take(&key, opened.lease, at(0), batch)
            .await
            .unwrap();
        assert_eq!(texts(&first), ["a", "b", "[DONE]"]);
        assert!(matches!(first, Taken::Messages { more: true, .. }));
        assert_eq!(backend.queue_len(&key).await.unwrap(), 3, "c, d, e wait");
        // A lost answer: the same batch again, from the pending entries.
        let again = backend
            .take(&key, opened.lease, at(0), batch)
            .await
            .unwrap();
        assert_eq!(texts(&again), texts(&first));
        // Two at most, then by bytes: the first always, the next only
        // while under the byte bound.
        let two = Batch {
            max_messages: 2,
            ..batch
        };
        let next = backend
            .take(&key, opened.lease, at(last_seq(&again)), two)
            .await
            .unwrap();
        assert_eq!(texts(&next), ["c", "d"]);
        let last = last_seq(&next);
        let by_bytes = Batch {
            max_bytes: 1,
            ..batch
        };
        let rest = backend
            .take(&key, opened.lease, at(last), by_bytes)
            .await
            .unwrap();
        assert_eq!(texts(&rest), ["e"]);
        assert!(matches!(rest, Taken::Messages { more: false, .. }));
    }

    #[tokio::test]
    async fn the_byte_cap_counts_what_is_ready_as_messages_come_and_go() {
        let limits = QueueLimits {
            max_bytes: 10,
            ..LIMITS
        };
        let backend = backend_with(limits).await;
        let key = unique("bytes");
        let full = |result: Result<()>| {
            result
                .expect_err("over the byte cap")
                .to_string()
                .contains("bytes of unread messages")
        };
        // One message is its own count; a second adds the first's size.
        assert!(full(backend.push(&key, "x".repeat(11), limits).await));
        backend.push(&key, "aaaa".into(), limits).await.unwrap();
        backend.push(&key, "bbbb".into(), limits).await.unwrap();
        assert!(full(backend.push(&key, "ccc".into(), limits).await));
        let opened = backend.open(&key, None, limits).await.unwrap();
        // Taking `aaaa` leaves one message: 4 bytes held, so 6 fit.
        let Some((seq, _)) = backend
            .take(&key, opened.lease, at(0), ONE)
            .await
            .unwrap()
            .first()
        else {
            panic!("a message");
        };
        backend.push(&key, "cccccc".into(), limits).await.unwrap();
        assert!(full(backend.push(&key, "d".into(), limits).await));
        assert_eq!(
            take_all(&backend, &key, opened.lease, seq).await,
            ["bbbb", "cccccc"]
        );
        // Empty again: the whole cap is free, and a count is kept again
        // from two messages on.
        backend.push(&key, "x".repeat(10), limits).await.unwrap();
        assert!(full(backend.push(&key, "y".into(), limits).await));
        assert_eq!(backend.queue_len(&key).await.unwrap(), 1);
    }

    /// A new connection on `key` with a mailbox, parked by a take that
    /// finds nothing: sends now hand it their messages.
    async fn parked(backend: &RedisBackend, key: &str, limits: QueueLimits) -> (Opened, Held) {
        let opened = backend.open(key, None, limits).await.unwrap();
        let held = backend.hold(key, opened.lease, Default::default());
        assert_eq!(
            backend.take(key, opened.lease, at(0), ONE).await.unwrap(),
            Taken::Empty
        );
        (opened, held)
    }

    #[tokio::test]
    async fn a_mailbox_keeps_at_most_the_byte_cap_and_the_rest_comes_from_redis() {
        let limits = QueueLimits {
            max_bytes: 10,
            ..LIMITS
        };
        let backend = backend_with(limits).await;
        let key = unique("mailbox-bytes");
        let (opened, _held) = parked(&backend, &key, limits).await;
        let mut connection = backend.send_connection().await.unwrap();
        let names = QueueKeys::new(&key);
        for (n, m) in ["aaaa", "bbbb", "ccc"].into_iter().enumerate() {
            let sent = names.sent(&format!("m-{n}"));
            let handed = backend
                .send_once(&mut connection, &names, &sent, m)
                .await
                .unwrap();
            assert_eq!(handed, 3, "handed to the waiting connection");
            // As the subscription hears it.
            let seq = u64::try_from(n).unwrap() + 1;
            backend.handed(
                &key,
                opened.lease.connection,
                Handed {
                    seq,
                    message: m.into(),
                },
            );
        }
        let mailbox =
            crate::cache::lock(&backend.mailboxes)[&key][&opened.lease.connection].clone();
        {
            let state = crate::cache::lock(&mailbox.state);
            assert_eq!(state.handed.len(), 2, "the third is over 10 bytes");
            assert_eq!(state.bytes, 8);
            assert!(state.gap, "the next take asks Redis");
        }
        let batch = Batch {
            max_messages: 10,
            max_bytes: 1024,
            end: "[DONE]",
        };
        let not_replaying = Position {
            after: 0,
            replay: false,
        };
        let taken = backend
            .take(&key, opened.lease, not_replaying, batch)
            .await
            .unwrap();
        assert_eq!(texts(&taken), ["aaaa", "bbbb", "ccc"]);
        assert_eq!(crate::cache::lock(&mailbox.state).bytes, 0);
    }

    #[tokio::test]
    async fn a_message_handed_to_a_waiting_connection_is_pending_for_its_lineage() {
        let backend = backend().await;
        let key = unique("hand-off");
        // Registered for hand-offs, but this process hears nothing of them
        // (no subscription runs here): a lost wake-up.
        let (opened, _held) = parked(&backend, &key, LIMITS).await;
        let mut connection = backend.send_connection().await.unwrap();
        let names = QueueKeys::new(&key);
        let handed = backend
            .send_once(&mut connection, &names, &names.sent("h-1"), "a")
            .await
            .unwrap();
        assert_eq!(handed, 3, "handed to the waiting connection");
        assert_eq!(backend.queue_len(&key).await.unwrap(), 0);
        // Nobody else takes it.
        let other = backend.open(&key, None, LIMITS).await.unwrap();
        assert_eq!(
            backend.take(&key, other.lease, at(0), ONE).await.unwrap(),
            Taken::Empty
        );
        // Its own next take finds it, pending, though the wake-up was lost.
        let not_replaying = Position {
            after: 0,
            replay: false,
        };
        let taken = backend
            .take(&key, opened.lease, not_replaying, ONE)
            .await
            .unwrap();
        assert_eq!(taken.first(), Some((1, "a".to_owned())));
        // `[DONE]` ends the hand-offs: what follows waits in the queue.
        for (n, m) in ["[DONE]", "b"].into_iter().enumerate() {
            let sent = names.sent(&format!("h-{}", n + 2));
            backend
                .send_once(&mut connection, &names, &sent, m)
                .await
                .unwrap();
        }
        assert_eq!(backend.queue_len(&key).await.unwrap(), 1);
    }

    const TEN: Batch = Batch {
        max_messages: 10,
        max_bytes: 1024,
        end: "[DONE]",
    };

    /// One run of the send script, as `push` makes it.
    async fn send(backend: &RedisBackend, key: &str, message: &str) -> i64 {
        let mut connection = backend.send_connection().await.unwrap();
        let names = QueueKeys::new(key);
        let sent = names.sent(&format!("{:016x}", token::random()));
        backend
            .send_once(&mut connection, &names, &sent, message)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_parked_connections_of_a_key_take_turns() {
        let backend = backend().await;
        let key = unique("turns");
        let (first, _a) = parked(&backend, &key, LIMITS).await;
        let (second, _b) = parked(&backend, &key, LIMITS).await;
        for m in ["m0", "m1", "m2", "m3"] {
            assert_eq!(send(&backend, &key, m).await, 3, "{m} handed off");
        }
        // No subscription runs here: each asks Redis for what it was handed.
        let one = backend.take(&key, first.lease, at(0), TEN).await.unwrap();
        let other = backend.take(&key, second.lease, at(0), TEN).await.unwrap();
        assert_eq!(texts(&one), ["m0", "m2"]);
        assert_eq!(texts(&other), ["m1", "m3"]);
    }

    /// Renews the process's leases, which reclaims stale lineages, until
    /// `done`.
    async fn renew_until(backend: &RedisBackend, mut done: impl AsyncFnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done().await {
            assert!(tokio::time::Instant::now() < deadline, "never reclaimed");
            backend.renew_all(true).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_reclaim_unparks_the_dead_connection_and_keeps_the_order() {
        let limits = SHORT_WINDOW;
        let backend = backend_with(limits).await;
        let key = unique("reclaim-parked");
        backend.push(&key, "a".into(), limits).await.unwrap();
        // Takes "a" and parks; then its process dies (no release, no renewal).
        let gone = backend.open(&key, None, limits).await.unwrap();
        let held = backend.hold(&key, gone.lease, Default::default());
        let taken = backend.take(&key, gone.lease, at(0), TEN).await.unwrap();
        assert_eq!(texts(&taken), ["a"]);
        drop(held);
        let (next, _held) = parked(&backend, &key, limits).await;
        renew_until(&backend, async || {
            backend.queue_len(&key).await.unwrap() > 0
        })
        .await;
        // "a" is back at the head: "b" queues behind it, handed to nobody.
        assert_eq!(send(&backend, &key, "b").await, 1, "queued, not handed off");
        let taken = backend.take(&key, next.lease, at(0), TEN).await.unwrap();
        assert_eq!(texts(&taken), ["a", "b"]);
        // Parked again by that take, and the dead connection no longer is.
        for m in ["c", "d"] {
            assert_eq!(send(&backend, &key, m).await, 3, "{m} handed off");
        }
        let after = last_seq(&taken);
        let taken = backend
            .take(&key, next.lease, at(after), TEN)
            .await
            .unwrap();
        assert_eq!(texts(&taken), ["c", "d"]);
    }

    #[tokio::test]
    async fn a_dead_connection_with_nothing_pending_is_unparked_by_the_reclaim() {
        let limits = SHORT_WINDOW;
        let backend = backend_with(limits).await;
        let key = unique("reclaim-idle");
        let (gone, held) = parked(&backend, &key, limits).await;
        drop(held);
        let (next, _held) = parked(&backend, &key, limits).await;
        let names = QueueKeys::new(&key);
        let connection = backend.connection().await.unwrap();
        renew_until(&backend, async || {
            let known: bool = connection
                .clone()
                .hexists(&names.lineages, hex(gone.lease.lineage.nonce))
                .await
                .unwrap();
            !known
        })
        .await;
        // Both go to the live connection, none to the dead one's turn.
        for m in ["c", "d"] {
            assert_eq!(send(&backend, &key, m).await, 3, "{m} handed off");
        }
        let taken = backend.take(&key, next.lease, at(0), TEN).await.unwrap();
        assert_eq!(texts(&taken), ["c", "d"]);
    }

    #[tokio::test]
    async fn a_connection_parked_past_its_history_is_handed_nothing() {
        let backend = backend().await;
        // The next consumer opens before the send, or after it.
        for opens_first in [true, false] {
            let key = unique("expired-history");
            let (_old, _held) = parked(&backend, &key, LIMITS).await;
            // What the queue TTL does once no consumer renewed the key: its
            // consumer state expires, the parked list (a minute) outlives it.
            let names = QueueKeys::new(&key);
            let mut connection = backend.connection().await.unwrap();
            let () = connection
                .del(&[&names.meta, &names.lineages, &names.seen])
                .await
                .unwrap();
            let mut fresh = None;
            if opens_first {
                fresh = Some(backend.open(&key, None, LIMITS).await.unwrap());
            }
            assert_eq!(send(&backend, &key, "x").await, 1, "queued, not handed off");
            let fresh = match fresh {
                Some(fresh) => fresh,
                None => backend.open(&key, None, LIMITS).await.unwrap(),
            };
            let taken = backend.take(&key, fresh.lease, at(0), ONE).await.unwrap();
            assert_eq!(texts(&taken), ["x"], "opens first: {opens_first}");
        }
    }

    #[tokio::test]
    async fn a_send_retried_under_its_identity_is_queued_once() {
        let backend = backend().await;
        let key = unique("send-twice");
        let mut connection = backend.connection().await.unwrap();
        let names = QueueKeys::new(&key);
        let sent = names.sent("id-1");
        let first = backend
            .send_once(&mut connection, &names, &sent, "m")
            .await
            .unwrap();
        let again = backend
            .send_once(&mut connection, &names, &sent, "m")
            .await
            .unwrap();
        assert_eq!((first, again), (1, 2));
        assert_eq!(backend.queue_len(&key).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_return_confirms_exactly_its_cursor_and_fences_the_old_connection() {
        let backend = backend().await;
        let key = unique("return");
        for m in ["a", "b", "c"] {
            backend.push(&key, m.into(), LIMITS).await.unwrap();
        }
        let old = backend.open(&key, None, LIMITS).await.unwrap();
        let Some((a, _)) = backend
            .take(&key, old.lease, at(0), ONE)
            .await
            .unwrap()
            .first()
        else {
            panic!("a message");
        };
        backend.take(&key, old.lease, at(a), ONE).await.unwrap();
        let resume = Resume {
            epoch: old.epoch,
            lineage: old.lease.lineage,
            seq: a,
        };
        let new = backend.open(&key, Some(resume), LIMITS).await.unwrap();
        assert_eq!(
            (new.lost, new.lease.lineage, new.after),
            (None, old.lease.lineage, a)
        );
        assert_eq!(
            backend.take(&key, old.lease, at(a), ONE).await.unwrap(),
            Taken::Refused
        );
        assert_eq!(take_all(&backend, &key, new.lease, a).await, ["b", "c"]);
    }

    #[tokio::test]
    async fn cursors_that_cannot_be_honoured_say_why() {
        let backend = backend().await;
        let key = unique("cursor");
        let opened = backend.open(&key, None, LIMITS).await.unwrap();
        backend.release(&key, opened.lease, false, LIMITS);
        let resume = Resume {
            epoch: opened.epoch,
            lineage: opened.lease.lineage,
            seq: 0,
        };
        let mut foreign = resume;
        foreign.epoch ^= 1;
        let mut forged = resume;
        forged.lineage.nonce ^= 1;
        for (cursor, lost) in [(foreign, Some(Lost::Epoch)), (forged, Some(Lost::Unknown))] {
            assert_eq!(
                backend.open(&key, Some(cursor), LIMITS).await.unwrap().lost,
                lost
            );
        }
        // Released with nothing pending, it is forgotten yet recognised.
        let again = backend.open(&key, Some(resume), LIMITS).await.unwrap();
        assert_eq!(
            (again.lost, again.lease.lineage),
            (None, opened.lease.lineage)
        );
    }

    #[tokio::test]
    async fn the_process_renewal_keeps_live_leases_and_wakes_a_refused_one() {
        let backend = backend().await;
        let key = unique("renew-all");
        // No wake subscription task: its wake-ups on (re)subscribing would
        // race the check below that a renewal alone wakes nobody.
        let _ = backend.subscribed.set(());
        let first = backend.open(&key, None, LIMITS).await.unwrap();
        let _first = backend.hold(&key, first.lease, Default::default());
        let waiter = backend.watch(&key);
        let woken = Arc::clone(&waiter.notify).notified_owned();
        tokio::pin!(woken);
        woken.as_mut().enable();
        backend.renew_all(true).await;
        assert!(
            futures_util::FutureExt::now_or_never(woken.as_mut()).is_none(),
            "a current lease is renewed quietly"
        );
        // The lineage comes back on another connection: the first is refused.
        let resume = Resume {
            epoch: first.epoch,
            lineage: first.lease.lineage,
            seq: 0,
        };
        let second = backend.open(&key, Some(resume), LIMITS).await.unwrap();
        let _second = backend.hold(&key, second.lease, Default::default());
        backend.renew_all(true).await;
        tokio::time::timeout(Duration::from_secs(5), woken)
            .await
            .expect("the refused connection's consumer is woken");
        assert_eq!(
            backend.take(&key, first.lease, at(0), ONE).await.unwrap(),
            Taken::Refused
        );
    }

    #[tokio::test]
    async fn a_stale_lineage_gives_its_messages_back_in_order() {
        let limits = QueueLimits {
            retention: Duration::from_millis(300),
            ..LIMITS
        };
        let backend = backend_with(limits).await;
        let key = unique("stale");
        for m in ["a", "b", "c"] {
            backend.push(&key, m.into(), limits).await.unwrap();
        }
        let gone = backend.open(&key, None, limits).await.unwrap();
        let mut after = 0;
        for _ in 0..2 {
            let Some((seq, _)) = backend
                .take(&key, gone.lease, at(after), ONE)
                .await
                .unwrap()
                .first()
            else {
                panic!("a message");
            };
            after = seq;
        }
        // Its connection died without a release: only the window frees them.
        let next = backend.open(&key, None, limits).await.unwrap();
        let Some((seq, message)) = backend
            .take(&key, next.lease, at(0), ONE)
            .await
            .unwrap()
            .first()
        else {
            panic!("a message");
        };
        assert_eq!(message, "c");
        // The live consumer's lease, renewed by the process with the others.
        let _held = backend.hold(&key, next.lease, Default::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        let mut after = seq;
        while got.len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never reclaimed: {got:?}"
            );
            // The process renews its live leases; that is when stale
            // lineages are reclaimed.
            backend.renew_all(true).await;
            match backend
                .take(&key, next.lease, at(after), ONE)
                .await
                .unwrap()
                .first()
            {
                Some((seq, message)) => {
                    got.push(message);
                    after = seq;
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        assert_eq!(got, ["a", "b"]);
        let resume = Resume {
            epoch: gone.epoch,
            lineage: gone.lease.lineage,
            seq: 0,
        };
        assert_eq!(
            backend.open(&key, Some(resume), limits).await.unwrap().lost,
            Some(Lost::Trimmed)
        );
    }

    #[tokio::test]
    async fn a_reclaim_wakes_the_key_with_a_plain_wake_up_whatever_its_name() {
        let limits = SHORT_WINDOW;
        let backend = backend_with(limits).await;
        // Published as it is, this name reads as a fence of a connection.
        let key = format!("f{:x}", token::random() >> 4);
        assert!(fence(key.as_bytes()).is_some());
        backend.push(&key, "a".into(), limits).await.unwrap();
        let gone = backend.open(&key, None, limits).await.unwrap();
        assert!(
            backend
                .take(&key, gone.lease, at(0), ONE)
                .await
                .unwrap()
                .first()
                .is_some()
        );
        let next = backend.open(&key, None, limits).await.unwrap();
        let _held = backend.hold(&key, next.lease, Default::default());
        let mut pubsub = backend.client.get_async_pubsub().await.unwrap();
        pubsub.subscribe(QueueKeys::new(&key).wake).await.unwrap();
        let mut heard = pubsub.on_message();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let payload = loop {
            assert!(tokio::time::Instant::now() < deadline, "never reclaimed");
            // The stale lineage's message goes back to the queue here.
            backend.renew_all(true).await;
            if let Ok(Some(message)) =
                tokio::time::timeout(Duration::from_millis(50), heard.next()).await
            {
                break message.get_payload_bytes().to_vec();
            }
        };
        assert!(
            fence(&payload).is_none() && hand_off(&payload).is_none(),
            "the wake-up reads as a fence or a hand-off: {}",
            String::from_utf8_lossy(&payload)
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_wake_ups_are_read_on_a_thread_of_their_own() {
        fn wake_threads() -> usize {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim() == "tiny-redis-wake")
                .count()
        }
        let before = wake_threads();
        let backend = backend().await;
        let _waiter = backend.watch(&unique("thread"));
        // The thread names itself once it runs.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while wake_threads() == before {
            assert!(tokio::time::Instant::now() < deadline, "no wake-up thread");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(wake_threads(), before + 1);
    }

    #[test]
    fn every_key_of_a_queue_shares_one_hash_tag() {
        let names = QueueKeys::new("user:{42}%:updates");
        let (pending, sent) = (names.pending(7), names.sent("x"));
        for name in [&names.meta, &names.ready, &names.lineages, &pending, &sent] {
            assert!(
                name.starts_with("tiny:{user:%7B42%7D%25:updates}:"),
                "{name}"
            );
        }
    }

    #[test]
    fn a_malformed_url_names_itself() {
        let error = RedisBackend::new("redis://:pw@[bad", LIMITS).unwrap_err();
        assert!(error.message().contains("TINY_CACHE_URL"), "{error}");
        assert!(!error.message().contains("pw"), "{error}");
    }
}
