//! The Redis backend: topics shared by every process of a Redis server.
//!
//! Layout, per topic `<name>` (one hash tag per topic, so on Redis Cluster
//! all of a topic sits in one slot):
//!
//! - `tiny:{topic:<name>}:stream`: a Redis Stream, one entry per message
//!   (fields `n`, the event name when there is one, and `d`, the data),
//!   trimmed by `XADD … MAXLEN ~` and `XTRIM … MINID ~` to about the
//!   history's length and age, and expiring after the age with no publish;
//! - `tiny:{topic:<name>}:epoch`: a random value drawn when the stream is
//!   created, so a stream deleted or expired and created again is a new
//!   epoch; ids are `<epoch>-<stream id>`;
//! - the channel `tiny:{topic:<name>}:wake`: each publish sends the new
//!   entry's id on it.
//!
//! Publishing is one Lua script (`redis/publish.lua`: the epoch, `XADD`,
//! trims, `PUBLISH`). Each process holds one multiplexed connection for
//! commands and one pub/sub connection, however many subscribers it
//! serves, and subscribes to a topic's channel only while it has a
//! subscriber to that topic: an instance without subscribers does no work
//! for it. One task per process owns the pub/sub connection and a local
//! copy of the newest entries of each topic in use (bounded like the
//! history); a wake-up makes it read the entries after the last it has
//! (`redis/read.lua`) and wake the local subscribers, which read that copy
//! with their own cursors, as in process.
//!
//! The history a client sees is exact even though Redis trims
//! approximately: the local copy keeps at most the history's length, and
//! entries older than its age (by the stream id's time) are dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot, watch};

use super::{Delivery, Message, Resync};
use crate::cache::redis::{CONNECT_TIMEOUT, redact, shared};
use crate::cache::token;
use crate::history::Limits;
use crate::{Error, Result};

const PUBLISH: &str = include_str!("redis/publish.lua");
const READ: &str = include_str!("redis/read.lua");
/// Entries read per round trip when catching up.
const READ_BATCH: usize = 1000;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A Redis Stream entry id, `<ms>-<seq>`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct StreamId {
    ms: u64,
    seq: u64,
}

impl StreamId {
    fn parse(text: &str) -> Option<Self> {
        let (ms, seq) = text.split_once('-')?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A position in a topic: `<epoch as 16 hex digits>-<ms>-<seq>`. Epoch 0 is
/// the position of a subscriber that joined before the stream existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    epoch: u64,
    id: StreamId,
}

impl Position {
    fn parse(text: &str) -> Option<Self> {
        let (epoch, id) = text.split_once('-')?;
        if epoch.is_empty() || epoch.len() > 16 || !epoch.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            epoch: u64::from_str_radix(epoch, 16).ok()?,
            id: StreamId::parse(id)?,
        })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{}", self.epoch, self.id)
    }
}

/// The names of a topic's keys and channel.
struct Names {
    stream: String,
    epoch: String,
    channel: String,
}

impl Names {
    fn of(topic: &str) -> Self {
        Self {
            stream: format!("tiny:{{topic:{topic}}}:stream"),
            epoch: format!("tiny:{{topic:{topic}}}:epoch"),
            channel: format!("tiny:{{topic:{topic}}}:wake"),
        }
    }
}

/// The backend: shared by every stream of the process.
pub(crate) struct Redis {
    shown_url: String,
    client: redis::Client,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    publish: redis::Script,
    read: redis::Script,
    limits: Limits,
    /// The task that owns the pub/sub connection; started by the first
    /// subscription (and again if the runtime it ran on has shut down).
    task: Mutex<Option<mpsc::UnboundedSender<Command>>>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("url", &self.shown_url)
            .finish_non_exhaustive()
    }
}

impl Redis {
    pub(crate) fn new(url: &str, limits: Limits) -> Result<Self> {
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
            publish: redis::Script::new(PUBLISH),
            read: redis::Script::new(READ),
            limits,
            task: Mutex::new(None),
        })
    }

    fn error(&self, error: redis::RedisError) -> Error {
        Error::unavailable(format!("Redis at {} failed: {error}", self.shown_url), 1)
            .with_source(error)
    }

    async fn connection(&self) -> Result<ConnectionManager> {
        shared(&self.connection, &self.client, &self.shown_url).await
    }

    /// Publishes a message. Not retried: an error may follow a publish that
    /// took place (its reply was lost), and the message says so.
    pub(crate) async fn publish(
        &self,
        topic: &str,
        name: Option<String>,
        data: String,
    ) -> Result<()> {
        let names = Names::of(topic);
        let mut connection = self.connection().await?;
        let history_age = u64::try_from(self.limits.age.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let _: (String, String) = self
            .publish
            .key(&names.stream)
            .key(&names.epoch)
            .arg(self.limits.len)
            .arg(history_age)
            .arg(format!("{:016x}", new_epoch()))
            .arg(if name.is_some() { "1" } else { "0" })
            .arg(name.as_deref().unwrap_or_default())
            .arg(data)
            .arg(&names.channel)
            .invoke_async(&mut connection)
            .await
            .map_err(|e| {
                Error::unavailable(
                    format!(
                        "publishing to topic `{topic}` on Redis at {} failed; the message may have been published: {e}",
                        self.shown_url
                    ),
                    1,
                )
                .with_source(e)
            })?;
        Ok(())
    }

    /// Subscribes to `topic`: joins the process's local copy of it (made,
    /// and its channel subscribed, for the topic's first local subscriber),
    /// then places the cursor as in process.
    pub(crate) async fn subscribe(
        &'static self,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> Result<Subscription> {
        let (reply, answer) = oneshot::channel();
        let commands = self.commands();
        commands
            .send(Command::Join {
                topic: topic.into(),
                reply,
            })
            .map_err(|_| stopped())?;
        let feed = answer.await.unwrap_or_else(|_| Err(stopped()))?;
        let leave = Leave {
            topic: topic.into(),
            commands,
        };
        Ok(Subscription::join(feed, last_event_id, self.limits, leave))
    }

    /// The task's command queue, starting the task if it is not running.
    fn commands(&'static self) -> mpsc::UnboundedSender<Command> {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(commands) = task.as_ref().filter(|c| !c.is_closed()) {
            return commands.clone();
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(self, receiver));
        *task = Some(commands.clone());
        commands
    }

    /// Reads a topic for its local copy: its newest entries, or those after
    /// `after`.
    async fn read(&self, names: &Names, after: Option<StreamId>) -> Result<Read> {
        let mut connection = self.connection().await?;
        let mut invocation = self.read.key(&names.stream);
        invocation.key(&names.epoch);
        match after {
            // One more than the history keeps: the one before the oldest
            // kept tells whether a cursor there missed anything.
            None => invocation.arg("tail").arg(self.limits.len + 1),
            Some(after) => invocation
                .arg("after")
                .arg(READ_BATCH)
                .arg(after.to_string()),
        };
        let (epoch, deleted, entries): (Option<String>, String, RawEntries) = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| self.error(e))?;
        let epoch = epoch.and_then(|e| u64::from_str_radix(&e, 16).ok());
        let deleted = StreamId::parse(&deleted).unwrap_or_default();
        let entries = entries
            .into_iter()
            .filter_map(|(id, fields)| {
                let id = StreamId::parse(&id)?;
                let mut name = None;
                let mut data = String::new();
                let mut fields = fields.into_iter();
                while let (Some(field), Some(value)) = (fields.next(), fields.next()) {
                    match field.as_str() {
                        "n" => name = Some(value),
                        "d" => data = value,
                        _ => {}
                    }
                }
                Some((id, name, data))
            })
            .collect();
        Ok(Read {
            epoch,
            deleted,
            entries,
        })
    }
}

/// Stream entries as Redis answers them: id, then field and value pairs.
type RawEntries = Vec<(String, Vec<String>)>;

struct Read {
    /// `None`: the stream does not exist.
    epoch: Option<u64>,
    deleted: StreamId,
    entries: Vec<(StreamId, Option<String>, String)>,
}

fn stopped() -> Error {
    Error::unavailable(
        "the Redis topic subscriber has stopped: the runtime it ran on shut down",
        1,
    )
}

/// A random epoch, never 0 (0 stands for "before the stream existed").
fn new_epoch() -> u64 {
    token::random().max(1)
}

/// The local copy of one topic, shared by its local subscribers.
#[derive(Debug)]
struct Feed {
    ring: RwLock<Ring>,
    /// Bumped after each change; holds one value, queues nothing.
    wake: watch::Sender<()>,
}

#[derive(Debug, Default)]
struct Ring {
    /// `None` while the stream does not exist.
    epoch: Option<u64>,
    /// Every entry after this id is in `entries` (or was never written):
    /// a cursor before it missed something.
    floor: StreamId,
    /// The newest entries, oldest first; at most the history's length.
    entries: VecDeque<(StreamId, Arc<Message>)>,
    /// The newest id read.
    last: StreamId,
}

impl Ring {
    fn head(&self) -> Position {
        Position {
            epoch: self.epoch.unwrap_or(0),
            id: self.last,
        }
    }

    /// Takes in what Redis said about the stream.
    fn apply(&mut self, read: Read, limits: Limits, fresh: bool) {
        if read.epoch != self.epoch || fresh {
            // A new stream (or the first read): start over.
            self.entries.clear();
            self.epoch = read.epoch;
            self.floor = read.deleted;
            self.last = read.deleted;
        }
        if read.deleted > self.floor {
            self.floor = read.deleted;
        }
        let mut entries = read.entries.into_iter().peekable();
        if fresh && entries.len() > limits.len {
            // The one before the oldest kept: a cursor there missed nothing.
            if let Some((id, ..)) = entries.next() {
                self.floor = self.floor.max(id);
            }
        }
        for (id, name, data) in entries {
            if id <= self.last {
                continue;
            }
            let epoch = self.epoch.unwrap_or(0);
            let message = Message::new(Position { epoch, id }.to_string(), name, data);
            self.entries.push_back((id, Arc::new(message)));
            self.last = id;
        }
        if self.last < self.floor {
            self.last = self.floor;
        }
        while self.entries.len() > limits.len {
            if let Some((id, _)) = self.entries.pop_front() {
                self.floor = id;
            }
        }
        self.trim(limits);
    }

    /// Drops the entries older than the history's age (by their ids' time).
    fn trim(&mut self, limits: Limits) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let oldest = now.saturating_sub(u64::try_from(limits.age.as_millis()).unwrap_or(u64::MAX));
        while let Some((id, _)) = self.entries.front() {
            if id.ms >= oldest {
                break;
            }
            self.floor = *id;
            self.entries.pop_front();
        }
    }
}

enum Command {
    Join {
        topic: Arc<str>,
        reply: oneshot::Sender<Result<Arc<Feed>>>,
    },
    Leave {
        topic: Arc<str>,
    },
}

/// Tells the task that a subscription ended.
#[derive(Debug)]
struct Leave {
    topic: Arc<str>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Leave {
            topic: Arc::clone(&self.topic),
        });
    }
}

/// A topic in use in this process.
struct InUse {
    feed: Arc<Feed>,
    names: Names,
    subscribers: usize,
}

/// The task: owns the pub/sub connection and the local copies.
async fn run(backend: &'static Redis, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut topics: HashMap<Arc<str>, InUse> = HashMap::new();
    let mut by_channel: HashMap<String, Arc<str>> = HashMap::new();
    let mut backoff = Duration::from_millis(100);
    'connect: loop {
        let pubsub = match tokio::time::timeout(CONNECT_TIMEOUT, backend.client.get_async_pubsub())
            .await
        {
            Ok(Ok(pubsub)) => pubsub,
            outcome => {
                let error = match outcome {
                    Ok(Err(error)) => error.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(url = %backend.shown_url, %error, "topic subscription to Redis failed; retrying");
                // Joins asked for meanwhile are refused, not left waiting.
                let retry = tokio::time::sleep(backoff);
                tokio::pin!(retry);
                loop {
                    tokio::select! {
                        () = &mut retry => break,
                        command = commands.recv() => match command {
                            None => return,
                            Some(Command::Join { reply, .. }) => {
                                let _ = reply.send(Err(Error::unavailable(
                                    format!("cannot reach Redis at {}: {error}", backend.shown_url),
                                    1,
                                )));
                            }
                            Some(Command::Leave { topic }) => {
                                leave(&mut topics, &mut by_channel, &topic);
                            }
                        },
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue 'connect;
            }
        };
        backoff = Duration::from_millis(100);
        let (mut sink, mut messages) = pubsub.split();
        // Back after a reconnect: subscribe again, then catch up (what was
        // published meanwhile is in the streams).
        for in_use in topics.values() {
            if let Err(error) = sink.subscribe(&in_use.names.channel).await {
                tracing::warn!(%error, "topic resubscription failed");
                continue 'connect;
            }
        }
        for in_use in topics.values() {
            catch_up(backend, in_use).await;
        }
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Join { topic, reply }) => {
                        if let Some(in_use) = topics.get_mut(&topic) {
                            in_use.subscribers += 1;
                            let _ = reply.send(Ok(Arc::clone(&in_use.feed)));
                            continue;
                        }
                        let names = Names::of(&topic);
                        // Subscribed before the first read: whatever is
                        // published after the read wakes this copy.
                        if let Err(error) = sink.subscribe(&names.channel).await {
                            let _ = reply.send(Err(backend.error(error)));
                            continue 'connect;
                        }
                        match backend.read(&names, None).await {
                            Ok(read) => {
                                let feed = Arc::new(Feed {
                                    ring: RwLock::new(Ring::default()),
                                    wake: watch::Sender::new(()),
                                });
                                feed.ring
                                    .write()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .apply(read, backend.limits, true);
                                by_channel.insert(names.channel.clone(), Arc::clone(&topic));
                                topics.insert(topic, InUse { feed: Arc::clone(&feed), names, subscribers: 1 });
                                let _ = reply.send(Ok(feed));
                            }
                            Err(error) => {
                                let _ = sink.unsubscribe(&names.channel).await;
                                let _ = reply.send(Err(error));
                            }
                        }
                    }
                    Some(Command::Leave { topic }) => {
                        if let Some(channel) = leave(&mut topics, &mut by_channel, &topic)
                            && sink.unsubscribe(&channel).await.is_err()
                        {
                            continue 'connect;
                        }
                    }
                },
                message = messages.next() => match message {
                    Some(message) => {
                        let channel = message.get_channel_name();
                        if let Some(in_use) = by_channel.get(channel).and_then(|t| topics.get(t)) {
                            catch_up(backend, in_use).await;
                        }
                    }
                    None => {
                        tracing::warn!(url = %backend.shown_url, "topic subscription to Redis lost; reconnecting");
                        continue 'connect;
                    }
                },
            }
        }
    }
}

/// One subscriber less; the channel to unsubscribe when it was the last.
fn leave(
    topics: &mut HashMap<Arc<str>, InUse>,
    by_channel: &mut HashMap<String, Arc<str>>,
    topic: &str,
) -> Option<String> {
    let in_use = topics.get_mut(topic)?;
    in_use.subscribers -= 1;
    if in_use.subscribers > 0 {
        return None;
    }
    let in_use = topics.remove(topic)?;
    by_channel.remove(&in_use.names.channel);
    Some(in_use.names.channel)
}

/// Reads what the local copy of a topic lacks, and wakes its subscribers.
async fn catch_up(backend: &Redis, in_use: &InUse) {
    loop {
        let last = in_use
            .feed
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last;
        let epoch = in_use
            .feed
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .epoch;
        let read = match backend.read(&in_use.names, Some(last)).await {
            // The stream was deleted or expired and made again: a new epoch,
            // read from its start like a first subscription's.
            Ok(read) if read.epoch != epoch => backend
                .read(&in_use.names, None)
                .await
                .map(|read| (read, true)),
            other => other.map(|read| (read, false)),
        };
        match read {
            Ok((read, fresh)) => {
                let more = !fresh && read.entries.len() >= READ_BATCH;
                in_use
                    .feed
                    .ring
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .apply(read, backend.limits, fresh);
                in_use.feed.wake.send_replace(());
                if !more {
                    return;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading a topic from Redis failed");
                return;
            }
        }
    }
}

/// One subscriber: its cursor into its topic's local copy.
#[derive(Debug)]
pub(crate) struct Subscription {
    feed: Arc<Feed>,
    cursor: Position,
    opening: Option<Delivery>,
    // Declaration order is drop order: the receiver goes before `leave`.
    wake: watch::Receiver<()>,
    _leave: Leave,
}

impl Subscription {
    fn join(feed: Arc<Feed>, last_event_id: Option<&str>, limits: Limits, leave: Leave) -> Self {
        let wake = feed.wake.subscribe();
        let mut ring = feed.ring.write().unwrap_or_else(PoisonError::into_inner);
        ring.trim(limits);
        let head = ring.head();
        let resync = |reason| {
            (
                head,
                Some(Delivery::Resync {
                    reason,
                    at: head.to_string(),
                }),
            )
        };
        let (cursor, opening) = match last_event_id {
            None => (head, Some(Delivery::Start(head.to_string()))),
            Some(id) => match Position::parse(id) {
                None => resync(Resync::Unknown),
                // Joined before the stream existed: everything since is new.
                Some(cursor) if cursor.epoch == 0 && cursor.id == StreamId::default() => {
                    (cursor, None)
                }
                Some(cursor) if Some(cursor.epoch) != ring.epoch => resync(Resync::Epoch),
                Some(cursor) if cursor.id > ring.last => resync(Resync::Unknown),
                Some(cursor) if cursor.id < ring.floor => resync(Resync::Trimmed),
                Some(cursor) => {
                    let behind = ring
                        .entries
                        .iter()
                        .filter(|(id, _)| *id > cursor.id)
                        .count();
                    crate::metrics::replayed("topic", behind as u64);
                    (cursor, None)
                }
            },
        };
        drop(ring);
        Self {
            feed,
            cursor,
            opening,
            wake,
            _leave: leave,
        }
    }

    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        if let Some(opening) = self.opening.take() {
            return Some(opening);
        }
        loop {
            if let Some(delivery) = self.read() {
                return Some(delivery);
            }
            self.wake.borrow_and_update();
            if let Some(delivery) = self.read() {
                return Some(delivery);
            }
            self.wake.changed().await.ok()?;
        }
    }

    fn read(&mut self) -> Option<Delivery> {
        let ring = self
            .feed
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let epoch = ring.epoch?;
        let reason = if self.cursor.epoch == 0 && self.cursor.id == StreamId::default() {
            // Joined before the stream existed: it starts at the beginning.
            self.cursor.epoch = epoch;
            None
        } else if self.cursor.epoch != epoch {
            Some(Resync::Epoch)
        } else if self.cursor.id < ring.floor {
            Some(Resync::Lagged)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.cursor = ring.head();
            return Some(Delivery::Resync {
                reason,
                at: self.cursor.to_string(),
            });
        }
        let next = ring
            .entries
            .partition_point(|(id, _)| *id <= self.cursor.id);
        let (id, message) = ring.entries.get(next)?;
        self.cursor.id = *id;
        Some(Delivery::Message(Arc::clone(message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_nothing_else_parses() {
        let position = Position {
            epoch: 0xab,
            id: StreamId {
                ms: 1_700_000_000_000,
                seq: 3,
            },
        };
        assert_eq!(position.to_string(), "00000000000000ab-1700000000000-3");
        assert_eq!(Position::parse(&position.to_string()), Some(position));
        for bad in ["", "ab", "ab-1", "ab-1-", "xyz-1-2", "ab-1-2-3", "ab--1-2"] {
            assert_eq!(Position::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_topic_sits_under_one_hash_tag() {
        let names = Names::of("job:42");
        assert_eq!(names.stream, "tiny:{topic:job:42}:stream");
        assert_eq!(names.epoch, "tiny:{topic:job:42}:epoch");
        assert_eq!(names.channel, "tiny:{topic:job:42}:wake");
    }
}
