//! The shared LISTEN connection: one per process whatever the number of
//! streams, fan-out in memory, reconnection.
//!
//! One task owns the connection and the channel map; handles talk to it over
//! a command queue. tokio-postgres hands notifications only to code that
//! drives its `Connection` with `poll_message`, and never reconnects, so the
//! task drives the connection itself — also while its own queries (`LISTEN`,
//! `UNLISTEN`, the health check) are in flight, because a query makes no
//! progress unless the connection is polled — and on any failure drops it and
//! reconnects with capped exponential backoff.
//!
//! Each channel in use has a [`History`] of [`Notice`]s: notifications
//! numbered in arrival order under a random epoch, the last
//! [`DEFAULT_HISTORY_LEN`] of the last [`DEFAULT_HISTORY_AGE`] (or
//! [`ListenerBuilder::history`]). The history is the data and the only queue
//! a channel has: every subscriber keeps its own cursor into it and reads the
//! entries after it, and a `watch` (one value, no queue) only wakes
//! subscribers that have caught up. So a resumed stream replays from the
//! same history it then reads live from, with nothing lost or doubled
//! between the two, and a subscriber that stops reading holds no memory
//! beyond the history.
//!
//! Bursts (a transaction's `NOTIFY`s all arrive at its commit) are paced
//! to the readers: the task yields every [`FAN_OUT_BATCH`] notifications so
//! subscriber tasks run between them, and when the history is full it waits
//! for the subscribers that still need its oldest entry before trimming it,
//! for at most [`PACE_LIMIT`] after that entry arrived; meanwhile the rest
//! of the burst waits in PostgreSQL, not in memory. So every subscriber
//! that reads the history's length within that time gets every
//! notification, and one that does not — a client that stopped reading, or
//! reads far slower than the others — holds the channel up at most that
//! long per history's length of notifications, is told it fell behind
//! ([`Resync::Lagged`]) and goes on from the newest entry.
//!
//! The epoch changes when the history is created (the channel's first
//! `LISTEN`) and when the connection is re-established (notifications sent
//! while it was down are gone): a cursor from before is recognised, never
//! read as a position in the new history.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{
    AsyncMessage, Client, Config, Connection, NoTls, Notification, SimpleQueryMessage, Socket,
};

use super::channel;
use super::notice::{Delivery, Notice, Resync};
use crate::history::{Cursor, Gap, History, Limits, Next};
use crate::{Error, Result};

/// How many notifications a channel keeps, for streams that resume and for
/// subscribers that are behind; change it with [`ListenerBuilder::history`].
///
/// ```
/// assert_eq!(tiny::pg::DEFAULT_HISTORY_LEN, 1000);
/// ```
pub const DEFAULT_HISTORY_LEN: usize = 1000;

/// How long a channel keeps a notification, for streams that resume; change
/// it with [`ListenerBuilder::history`].
///
/// ```
/// assert_eq!(tiny::pg::DEFAULT_HISTORY_AGE, std::time::Duration::from_secs(300));
/// ```
pub const DEFAULT_HISTORY_AGE: Duration = Duration::from_secs(5 * 60);

/// Notifications the task fans out in a row before it yields, so that during
/// a burst subscriber tasks run and drain the history as it fills.
pub(crate) const FAN_OUT_BATCH: usize = 32;

/// How long, at most, the task holds a burst back for a subscriber that has
/// yet to read the oldest notification of a full history (see
/// [`Feed::make_room`]). So a subscriber falls behind only when it cannot
/// read the history's length of notifications within this time, and one
/// that stopped reading holds the others up at most this long (then it is
/// no longer waited for, until it reads again).
pub(crate) const PACE_LIMIT: Duration = Duration::from_secs(1);

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_HEALTH_CHECK_EVERY: Duration = Duration::from_secs(10);
const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(100);
const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection that lived this long was healthy: losing it retries at once
/// and restarts the backoff. One lost sooner waits, so a server that accepts
/// and then drops connections is not hammered.
const STABLE_AFTER: Duration = Duration::from_secs(10);

type PgConnection = Connection<Socket, NoTlsStream>;
type Channels = HashMap<Arc<str>, Feed>;

/// What a channel's subscribers share with the task.
struct Shared {
    /// The notifications: written by the task only, read by every
    /// subscriber. Bounded by the listener's history limits.
    ring: RwLock<History<Arc<Notice>>>,
    /// Set while the task waits for subscribers to read the oldest entry of
    /// the full history before it trims it ([`Feed::make_room`]).
    pacing: AtomicBool,
    /// Notified by subscribers that read on while `pacing` is set. Holds at
    /// most one permit.
    progress: Notify,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, History<Arc<Notice>>> {
        self.ring.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, History<Arc<Notice>>> {
        self.ring.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One channel in use, as the task sees it.
struct Feed {
    shared: Arc<Shared>,
    /// Bumped after each write; wakes the subscribers that wait for one.
    /// A `watch` holds one value, so it queues nothing.
    wake: watch::Sender<()>,
    /// Each subscriber's position: the sequence number of the last entry it
    /// read. At most twice as many as open subscriptions: a closed one's is
    /// pruned by the next scan, or once the list has doubled.
    readers: Vec<Arc<AtomicU64>>,
    /// `readers` is pruned when it reaches this length.
    prune_at: usize,
    /// As of the last scan of `readers`, no subscriber still needs the
    /// entries up to this one: trimming them needs no new scan.
    read_through: u64,
    /// The connection was re-established: the history starts a new epoch
    /// with the first notification, or once `LISTEN` is back, whichever
    /// comes first (a notification proves the channel is listened to again).
    new_epoch_due: bool,
}

impl Feed {
    fn new(limits: Limits) -> Self {
        Self {
            shared: Arc::new(Shared {
                ring: RwLock::new(History::new(limits)),
                pacing: AtomicBool::new(false),
                progress: Notify::new(),
            }),
            wake: watch::Sender::new(()),
            readers: Vec::new(),
            prune_at: 16,
            read_through: 0,
            new_epoch_due: false,
        }
    }

    /// Starts the new epoch if one is due, and wakes the subscribers, which
    /// find their cursors in the old one and tell their clients to resync.
    fn start_due_epoch(&mut self) {
        if std::mem::take(&mut self.new_epoch_due) {
            self.shared.write().reset();
            self.read_through = 0;
            self.wake.send_replace(());
        }
    }

    /// Appends a notification and wakes the subscribers that wait for one.
    fn push(&mut self, payload: &str) {
        self.start_due_epoch();
        let payload = payload.to_owned();
        self.shared.write().push(std::time::Instant::now(), |id| {
            Arc::new(Notice::new(id, payload))
        });
        self.wake.send_replace(());
    }

    /// Forgets the positions of closed subscriptions (only the feed still
    /// holds them).
    fn prune(&mut self) {
        self.readers
            .retain(|position| Arc::strong_count(position) > 1);
        self.prune_at = (self.readers.len() * 2).max(16);
    }

    /// Paces a burst to its readers: when the history is full, waits until
    /// every subscriber that has not already fallen behind has read the
    /// oldest entry, which the next push trims — or until that entry is
    /// [`PACE_LIMIT`] old: a subscriber that cannot keep up with that does
    /// not hold the channel up any longer, and gets `resync` when it reads
    /// on. Meanwhile the notifications wait in PostgreSQL, not here.
    async fn make_room(&mut self) {
        while let Some(give_up) = self.slowest_needs_the_oldest() {
            let progress = self.shared.progress.notified();
            let _ = tokio::time::timeout_at(Instant::from_std(give_up), progress).await;
        }
        self.shared.pacing.store(false, Ordering::SeqCst);
    }

    /// When a subscriber still needs the entry the next push trims, and it
    /// is not yet [`PACE_LIMIT`] old: when to stop waiting for it.
    fn slowest_needs_the_oldest(&mut self) -> Option<std::time::Instant> {
        let (oldest, written) = self.shared.read().next_trimmed()?;
        let give_up = written + PACE_LIMIT;
        if oldest.seq <= self.read_through || std::time::Instant::now() >= give_up {
            return None;
        }
        // Raised before the scan: a subscriber that moves on after it sees
        // the flag and notifies (see `Subscription::read`).
        self.shared.pacing.store(true, Ordering::SeqCst);
        self.prune();
        // Sequence numbers start at 1: `oldest.seq - 1` cannot underflow.
        let slowest = self
            .readers
            .iter()
            .map(|position| position.load(Ordering::SeqCst))
            // Those further behind have lost entries already.
            .filter(|&seq| seq >= oldest.seq - 1)
            .min();
        match slowest {
            Some(seq) if seq == oldest.seq - 1 => Some(give_up),
            slowest => {
                self.read_through = slowest.unwrap_or(u64::MAX);
                None
            }
        }
    }
}

/// A handle to a LISTEN connection and its fan-out; cheap to clone.
///
/// [`tiny::pg::listener()`](super::listener) is the process's own, built
/// from `DATABASE_URL`, and serves every `#[sse(pg = …)]` stream and
/// [`tiny::sse().stream_pg(…)`](crate::sse::Sse::stream_pg). Build another
/// to stream from a second database, or to tune its settings:
///
/// ```no_run
/// use std::time::Duration;
///
/// # async fn run() -> tiny::Result<()> {
/// let listener = tiny::pg::Listener::builder("postgres://postgres@127.0.0.1:5432/audit")?
///     .history(10_000, Duration::from_secs(60))
///     .health_check(Duration::from_secs(5), Duration::from_secs(2))
///     .build()?;
/// let stream = listener.stream("audit_log").await?; // an EventStream response
/// # Ok(()) }
/// ```
///
/// The connection is opened by the first subscription, not by `build`. The
/// task behind a handle ends when the last handle and the last stream are
/// gone, closing its connection.
#[derive(Clone)]
pub struct Listener {
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// A listener on `url` (`postgres://user:password@host:port/dbname`, or
    /// the `key=value` form) with the default settings. Fails when `url` is
    /// not a connection string, or outside a tokio runtime; it does not
    /// connect yet.
    pub fn new(url: &str) -> Result<Self> {
        Self::builder(url)?.build()
    }

    /// A listener on `url` with settings to tune before [`build`](ListenerBuilder::build).
    pub fn builder(url: &str) -> Result<ListenerBuilder> {
        Ok(ListenerBuilder::new(super::parse_url(url)?))
    }

    /// Joins `channel`: `LISTEN` when it is the channel's first subscriber.
    /// With `last_event_id` (a notice's [`id`](Notice::id) as the client
    /// sent it back), the subscription first replays what followed it, or
    /// starts with a [`Delivery::Resync`] saying why it cannot.
    ///
    /// Errors: 400 when `channel` is empty, longer than
    /// [`MAX_CHANNEL_LEN`](super::MAX_CHANNEL_LEN) bytes or holds a NUL;
    /// 503 with `Retry-After` while the database is unreachable.
    pub(crate) async fn subscribe(
        &self,
        channel: &str,
        last_event_id: Option<&str>,
    ) -> Result<Subscription> {
        channel::check(channel)?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Subscribe(Subscribe {
            channel: channel.into(),
            last_event_id: last_event_id.map(Box::from),
            reply,
        }))?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// The channels the connection is listening on, as the server reports
    /// them (`pg_listening_channels()`, run on the listening connection):
    /// a channel appears while it has subscribers and disappears once its
    /// last one has left. 503 while the database is unreachable.
    ///
    /// ```no_run
    /// # async fn run() -> tiny::Result<()> {
    /// let channels = tiny::pg::listener()?.listening_channels().await?;
    /// println!("pg streams in use: {channels:?}");
    /// # Ok(()) }
    /// ```
    pub async fn listening_channels(&self) -> Result<Vec<String>> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::ListeningChannels { reply })?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// The process id of the listening connection's server backend (as in
    /// `pg_stat_activity.pid`), or `None` while not connected.
    ///
    /// ```no_run
    /// # async fn run() -> tiny::Result<()> {
    /// if let Some(pid) = tiny::pg::listener()?.backend_pid().await {
    ///     println!("SELECT * FROM pg_stat_activity WHERE pid = {pid}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn backend_pid(&self) -> Option<i32> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::BackendPid { reply }).ok()?;
        answer.await.ok().flatten()
    }

    /// Whether the task behind this handle still runs (it stops with the
    /// runtime it was spawned on).
    pub(crate) fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    fn send(&self, command: Command) -> Result<()> {
        self.commands.send(command).map_err(|_| stopped())
    }
}

fn stopped() -> Error {
    Error::unavailable(
        "the PostgreSQL listener has stopped: the runtime it ran on shut down",
        1,
    )
}

/// The settings of a [`Listener`]; from [`Listener::builder`].
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> tiny::Result<()> {
/// let listener = tiny::pg::Listener::builder("postgres://postgres@127.0.0.1:5432/test")?
///     .history(100, Duration::from_secs(30))
///     .connect_timeout(Duration::from_secs(2))
///     .health_check(Duration::from_secs(5), Duration::from_secs(2))
///     .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(10))
///     .build()?; // does not connect yet
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ListenerBuilder {
    settings: Settings,
}

#[derive(Debug, Clone)]
struct Settings {
    config: Config,
    history: Limits,
    connect_timeout: Duration,
    health_check_every: Duration,
    query_timeout: Duration,
    backoff: ExponentialBuilder,
    backoff_max: Duration,
}

impl ListenerBuilder {
    fn new(mut config: Config) -> Self {
        if config.get_application_name().is_none() {
            // Tells a DBA looking at pg_stat_activity which process listens.
            config.application_name(format!("tiny listener {}", std::process::id()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        // TCP keepalives find a peer that vanished even while no query is in
        // flight; tokio-postgres waits 2 h by default before the first probe.
        config.keepalives(true);
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(30));
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(Duration::from_secs(10));
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(3);
        }
        let mut builder = Self {
            settings: Settings {
                config,
                history: Limits {
                    len: DEFAULT_HISTORY_LEN,
                    age: DEFAULT_HISTORY_AGE,
                },
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                health_check_every: DEFAULT_HEALTH_CHECK_EVERY,
                query_timeout: DEFAULT_QUERY_TIMEOUT,
                backoff: ExponentialBuilder::new(),
                backoff_max: DEFAULT_BACKOFF_MAX,
            },
        };
        builder = builder.reconnect_backoff(DEFAULT_BACKOFF_MIN, DEFAULT_BACKOFF_MAX);
        builder
    }

    /// How much each channel's history keeps: the last `len`
    /// notifications (at least 1; default [`DEFAULT_HISTORY_LEN`]) of the
    /// last `max_age` (default [`DEFAULT_HISTORY_AGE`]), whichever is
    /// fewer. A stream that resumes gets what its client missed when it is
    /// still kept, else `event: resync`; a subscriber that falls further
    /// behind gets `event: resync` and goes on live.
    ///
    /// The memory a channel holds is at most `len` notifications (a payload
    /// is under 8 000 bytes, and its encoded frame about as much again),
    /// whatever the number of its subscribers and however slowly they read.
    pub fn history(mut self, len: usize, max_age: Duration) -> Self {
        self.settings.history = Limits {
            len: len.max(1),
            age: max_age,
        };
        self
    }

    /// How long one connection attempt (TCP, TLS-less startup,
    /// authentication) may take (default 5 s); a stream requested meanwhile
    /// waits at most this long before its 503.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self.settings.config.connect_timeout(timeout);
        self
    }

    /// Runs `SELECT 1` on the listening connection every `every` (default
    /// 10 s) and reconnects when no answer comes within `timeout` (default
    /// 5 s, also the limit for `LISTEN` and `UNLISTEN`): a connection whose
    /// peer vanished silently is otherwise never noticed.
    pub fn health_check(mut self, every: Duration, timeout: Duration) -> Self {
        self.settings.health_check_every = every.max(Duration::from_millis(1));
        self.settings.query_timeout = timeout;
        self
    }

    /// The delay before each reconnection attempt grows from `min` to `max`
    /// (defaults 100 ms and 5 s), doubling, with random jitter of up to the
    /// delay itself so a fleet of processes does not reconnect in step.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        self.settings.backoff = ExponentialBuilder::new()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        self.settings.backoff_max = max;
        self
    }

    /// Starts the listener's task on the current tokio runtime; fails
    /// outside one. The connection opens on the first subscription.
    pub fn build(self) -> Result<Listener> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::internal("a PostgreSQL listener must be built inside a tokio runtime")
        })?;
        let (commands, queue) = mpsc::unbounded_channel();
        let task = Task {
            backoff: self.settings.backoff.build(),
            settings: Arc::new(self.settings),
            commands: queue,
            handle: commands.downgrade(),
            channels: Channels::new(),
            link: Link::Down {
                retry_at: Instant::now(),
            },
            waiting: Vec::new(),
            fanned_out: 0,
        };
        runtime.spawn(task.run());
        Ok(Listener { commands })
    }
}

/// What handles ask of the task. The queue is unbounded, but each request
/// waits for its answer and each subscription sends one `Leave` when dropped,
/// so it holds at most one command per request in flight and per stream.
enum Command {
    Subscribe(Subscribe),
    Leave {
        channel: Arc<str>,
    },
    ListeningChannels {
        reply: oneshot::Sender<Result<Vec<String>>>,
    },
    BackendPid {
        reply: oneshot::Sender<Option<i32>>,
    },
}

/// A request to join a channel.
struct Subscribe {
    channel: Arc<str>,
    /// The client's cursor, as it sent it.
    last_event_id: Option<Box<str>>,
    reply: oneshot::Sender<Result<Subscription>>,
}

/// One subscriber of a channel: its own cursor into the channel's history.
/// It holds no notices of its own, so however far behind it is, it costs
/// no memory beyond the history.
pub(crate) struct Subscription {
    shared: Arc<Shared>,
    /// The position of the last delivery.
    cursor: Cursor,
    /// `cursor.seq`, for the task to pace bursts by.
    position: Arc<AtomicU64>,
    /// Handed out before anything else: where the stream starts, or why it
    /// cannot resume from its client's cursor.
    opening: Option<Delivery>,
    // Declaration order is drop order: the receiver goes before `leave`, so
    // when the task handles `Leave` it already counts one subscriber less.
    wake: watch::Receiver<()>,
    leave: Leave,
}

struct Leave {
    channel: Arc<str>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Leave {
            channel: self.channel.clone(),
        });
    }
}

impl Subscription {
    /// Joins `feed` at the client's cursor, if it sent one that the history
    /// can continue from, else at the newest notification.
    fn join(feed: &mut Feed, last_event_id: Option<&str>, leave: Leave) -> Self {
        // Subscribed before the cursor is resolved: whatever is written
        // after this moment wakes the subscriber, and the replay and the
        // live notifications are read from the same history by the same
        // cursor, so none is missed or doubled between the two.
        let wake = feed.wake.subscribe();
        let mut ring = feed.shared.write();
        ring.trim(std::time::Instant::now());
        let head = ring.head();
        let (cursor, opening) = match last_event_id.map(|id| ring.resume(id)) {
            None => (head, Some(Delivery::Start(head))),
            // The client has its cursor: the replay follows it.
            Some(Ok(cursor)) => {
                crate::metrics::replayed("pg", head.seq.saturating_sub(cursor.seq));
                (cursor, None)
            }
            Some(Err(gap)) => {
                let reason = match gap {
                    Gap::Unknown => Resync::Unknown,
                    Gap::Epoch => Resync::Epoch,
                    Gap::Trimmed => Resync::Trimmed,
                };
                (head, Some(Delivery::Resync { reason, at: head }))
            }
        };
        drop(ring);
        let position = Arc::new(AtomicU64::new(cursor.seq));
        if feed.readers.len() >= feed.prune_at {
            feed.prune();
        }
        feed.readers.push(Arc::clone(&position));
        feed.read_through = feed.read_through.min(cursor.seq);
        Self {
            shared: Arc::clone(&feed.shared),
            cursor,
            position,
            opening,
            wake,
            leave,
        }
    }

    /// The next delivery: the notice after the subscriber's cursor, in
    /// order, waiting for one when there is none yet; `None` once the
    /// listener has stopped (the runtime it ran on shut down).
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        if let Some(opening) = self.opening.take() {
            return Some(opening);
        }
        loop {
            if let Some(delivery) = self.read() {
                return Some(delivery);
            }
            // Caught up. Mark the wake-ups seen, then look again: a notice
            // written between the two reads is found by the second, one
            // written after it wakes `changed`.
            self.wake.borrow_and_update();
            if let Some(delivery) = self.read() {
                return Some(delivery);
            }
            self.wake.changed().await.ok()?;
        }
    }

    /// What follows the cursor in the history, if anything yet.
    fn read(&mut self) -> Option<Delivery> {
        let ring = self.shared.read();
        let reason = match ring.next(self.cursor) {
            Next::Entry(cursor, notice) => {
                let notice = Arc::clone(notice);
                drop(ring);
                self.moved_to(cursor);
                return Some(Delivery::Notice(notice));
            }
            Next::CaughtUp => return None,
            Next::Gap(Gap::Trimmed) => Resync::Lagged,
            // Only a re-established connection starts a new epoch while a
            // channel has subscribers.
            Next::Gap(Gap::Epoch | Gap::Unknown) => Resync::Reconnected,
        };
        let behind = self.cursor;
        let head = ring.head();
        drop(ring);
        self.moved_to(head);
        if reason == Resync::Lagged {
            tracing::warn!(
                channel = &*self.leave.channel,
                missed = self.cursor.seq - behind.seq,
                "a pg stream fell further behind than its channel's history keeps; \
                 it goes on from the newest notification, after `resync`"
            );
        }
        Some(Delivery::Resync {
            reason,
            at: self.cursor,
        })
    }

    /// Moves the cursor on, and tells the task if it waits for that.
    fn moved_to(&mut self, cursor: Cursor) {
        self.cursor = cursor;
        self.publish(cursor.seq);
    }

    fn publish(&self, seq: u64) {
        self.position.store(seq, Ordering::SeqCst);
        if self.shared.pacing.load(Ordering::SeqCst) {
            self.shared.progress.notify_one();
        }
    }
}

impl Drop for Subscription {
    /// A subscriber that leaves needs nothing more: the task need not wait
    /// for it.
    fn drop(&mut self) {
        self.publish(u64::MAX);
    }
}

/// The state of the connection.
enum Link {
    /// Not connected; the next attempt is due at `retry_at` (made then when
    /// streams are open, else on the next subscription).
    Down {
        retry_at: Instant,
    },
    Connecting(Pin<Box<dyn Future<Output = Result<Session, String>> + Send>>),
    Up(Box<Session>),
}

struct Session {
    client: Client,
    connection: PgConnection,
    pid: i32,
    since: Instant,
    health_check: Interval,
}

/// Why a query on the listening connection did not succeed.
enum Failure {
    /// The server answered with an error; the connection is fine.
    Query(tokio_postgres::Error),
    /// The connection is gone, or did not answer in time.
    Lost(String),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        if error.as_db_error().is_some() {
            Failure::Query(error)
        } else {
            Failure::Lost(error.to_string())
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Query(error) => error.fmt(f),
            Failure::Lost(reason) => f.write_str(reason),
        }
    }
}

enum Wake {
    Command(Option<Command>),
    Message(Option<std::result::Result<AsyncMessage, tokio_postgres::Error>>),
    HealthCheck,
    Connected(std::result::Result<Session, String>),
    RetryDue,
}

/// The task that owns the connection and the channel map.
struct Task {
    settings: Arc<Settings>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Weak, so the task ends once every handle and subscription is gone.
    handle: mpsc::WeakUnboundedSender<Command>,
    channels: Channels,
    link: Link,
    backoff: ExponentialBackoff,
    /// Subscriptions asked for while a connection attempt runs.
    waiting: Vec<Subscribe>,
    /// Notifications delivered so far, to yield every [`FAN_OUT_BATCH`].
    fanned_out: usize,
}

impl Task {
    async fn run(mut self) {
        loop {
            let wake = match &mut self.link {
                Link::Up(session) => tokio::select! {
                    command = self.commands.recv() => Wake::Command(command),
                    message = poll_fn(|cx| session.connection.poll_message(cx)) => Wake::Message(message),
                    _ = session.health_check.tick() => Wake::HealthCheck,
                },
                Link::Connecting(attempt) => tokio::select! {
                    command = self.commands.recv() => Wake::Command(command),
                    result = attempt => Wake::Connected(result),
                },
                Link::Down { retry_at } => {
                    // Reconnect by itself only for open streams; otherwise
                    // the next subscription does.
                    let in_use = !self.channels.is_empty();
                    let retry_at = *retry_at;
                    tokio::select! {
                        command = self.commands.recv() => Wake::Command(command),
                        () = tokio::time::sleep_until(retry_at), if in_use => Wake::RetryDue,
                    }
                }
            };
            match wake {
                // Every handle and every subscription is gone.
                Wake::Command(None) => return,
                Wake::Command(Some(command)) => self.command(command).await,
                Wake::Message(Some(Ok(AsyncMessage::Notification(notification)))) => {
                    deliver(&mut self.channels, &notification, &mut self.fanned_out).await;
                }
                Wake::Message(Some(Ok(_notice))) => {}
                Wake::Message(Some(Err(error))) => self.lost(&error.to_string()),
                Wake::Message(None) => self.lost("the server closed the connection"),
                Wake::HealthCheck => {
                    // Frees what has aged out of quiet channels' histories.
                    let now = std::time::Instant::now();
                    for feed in self.channels.values() {
                        feed.shared.write().trim(now);
                    }
                    self.health_check().await;
                }
                Wake::Connected(Ok(session)) => self.connected(Box::new(session)).await,
                Wake::Connected(Err(error)) => self.failed(&error),
                Wake::RetryDue => self.connect(),
            }
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Subscribe(request) => match &self.link {
                Link::Up(_) => self.subscribe(request).await,
                Link::Connecting(_) => self.waiting.push(request),
                Link::Down { retry_at } => {
                    let now = Instant::now();
                    if *retry_at <= now {
                        self.waiting.push(request);
                        self.connect();
                    } else {
                        let _ = request.reply.send(Err(unreachable(*retry_at - now)));
                    }
                }
            },
            Command::Leave { channel } => self.leave(&channel).await,
            Command::ListeningChannels { reply } => {
                let _ = reply.send(self.listening_channels().await);
            }
            Command::BackendPid { reply } => {
                let pid = match &self.link {
                    Link::Up(session) => Some(session.pid),
                    _ => None,
                };
                let _ = reply.send(pid);
            }
        }
    }

    /// Called while up: hands out a subscription, after `LISTEN` for a new
    /// channel.
    async fn subscribe(&mut self, request: Subscribe) {
        let Subscribe {
            channel,
            last_event_id,
            reply,
        } = request;
        let Some(commands) = self.handle.upgrade() else {
            return; // no handle is left, so nobody waits for the reply
        };
        let leave = Leave {
            channel: channel.clone(),
            commands,
        };
        let joined = match self.channels.get_mut(&channel) {
            Some(feed) => Ok(Subscription::join(feed, last_event_id.as_deref(), leave)),
            None => {
                // In the map before `LISTEN` runs, so a notification that
                // arrives with the answer already has somewhere to go, and
                // joined before, so that notification is the subscriber's.
                let mut feed = Feed::new(self.settings.history);
                let subscription = Subscription::join(&mut feed, last_event_id.as_deref(), leave);
                self.channels.insert(channel.clone(), feed);
                let sql = format!("LISTEN {}", channel::quote(&channel));
                match self.execute(&sql).await {
                    Ok(()) => Ok(subscription),
                    Err(failure) => {
                        // Dropping the subscription queues a `Leave` that
                        // finds the channel gone.
                        self.channels.remove(&channel);
                        Err(failure)
                    }
                }
            }
        };
        let answer = match joined {
            Ok(subscription) => Ok(subscription),
            Err(Failure::Query(error)) => Err(Error::internal(format!(
                "PostgreSQL refused to LISTEN on the channel: {error}"
            ))
            .with_source(error)),
            Err(Failure::Lost(reason)) => {
                self.lost(&reason);
                Err(self.unavailable())
            }
        };
        // A requester that gave up drops the subscription here, which sends
        // `Leave` and so undoes the `LISTEN`.
        let _ = reply.send(answer);
    }

    /// `UNLISTEN` once a channel's last subscriber has left.
    async fn leave(&mut self, channel: &Arc<str>) {
        let unused = self
            .channels
            .get(channel)
            .is_some_and(|feed| feed.wake.receiver_count() == 0);
        if !unused {
            return;
        }
        self.channels.remove(channel);
        if !matches!(self.link, Link::Up(_)) {
            return; // the next connection simply does not LISTEN on it
        }
        let sql = format!("UNLISTEN {}", channel::quote(channel));
        match self.execute(&sql).await {
            Ok(()) => {}
            Err(Failure::Query(error)) => {
                tracing::warn!(%error, channel = &**channel, "UNLISTEN failed");
            }
            Err(Failure::Lost(reason)) => self.lost(&reason),
        }
    }

    async fn listening_channels(&mut self) -> Result<Vec<String>> {
        let Link::Up(session) = &mut self.link else {
            return Err(self.unavailable());
        };
        let query = session
            .client
            .simple_query("SELECT pg_listening_channels() ORDER BY 1");
        let result = drive(
            &mut session.connection,
            &mut self.channels,
            self.settings.query_timeout,
            query,
        )
        .await;
        match result {
            Ok(messages) => Ok(messages
                .iter()
                .filter_map(|message| match message {
                    SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                    _ => None,
                })
                .collect()),
            Err(Failure::Query(error)) => Err(Error::internal(format!(
                "cannot read the listening channels: {error}"
            ))),
            Err(Failure::Lost(reason)) => {
                self.lost(&reason);
                Err(self.unavailable())
            }
        }
    }

    async fn health_check(&mut self) {
        let Link::Up(session) = &mut self.link else {
            return;
        };
        let query = session.client.simple_query("SELECT 1");
        let result = drive(
            &mut session.connection,
            &mut self.channels,
            self.settings.query_timeout,
            query,
        )
        .await;
        match result {
            Ok(_) => {}
            Err(Failure::Query(error)) => tracing::warn!(%error, "health check query failed"),
            Err(Failure::Lost(reason)) => self.lost(&format!("health check failed: {reason}")),
        }
    }

    /// Runs `sql` on the listening connection; only called while up.
    async fn execute(&mut self, sql: &str) -> std::result::Result<(), Failure> {
        let Link::Up(session) = &mut self.link else {
            return Err(Failure::Lost("not connected".to_owned()));
        };
        let query = session.client.batch_execute(sql);
        drive(
            &mut session.connection,
            &mut self.channels,
            self.settings.query_timeout,
            query,
        )
        .await
    }

    fn connect(&mut self) {
        self.link = Link::Connecting(Box::pin(open(self.settings.clone())));
    }

    async fn connected(&mut self, session: Box<Session>) {
        tracing::info!(
            backend_pid = session.pid,
            "PostgreSQL LISTEN connection established"
        );
        self.link = Link::Up(session);
        // Channels present now had streams open while the connection was
        // down: LISTEN again, then start a new epoch of each history, so
        // each stream tells its page that notifications sent meanwhile are
        // lost and it should refetch. Not before `LISTEN` is back: a page
        // that refetched earlier could miss a change made in between.
        self.channels
            .retain(|_, feed| feed.wake.receiver_count() > 0);
        if !self.channels.is_empty() {
            for feed in self.channels.values_mut() {
                feed.new_epoch_due = true;
            }
            let sql: String = self
                .channels
                .keys()
                .map(|channel| format!("LISTEN {};", channel::quote(channel)))
                .collect();
            match self.execute(&sql).await {
                Ok(()) => {
                    for feed in self.channels.values_mut() {
                        feed.start_due_epoch();
                    }
                    crate::metrics::pg_reconnected();
                    tracing::info!(
                        channels = self.channels.len(),
                        "listening again; open pg streams were sent `resync`"
                    );
                }
                Err(failure) => self.lost(&format!("LISTEN after reconnecting failed: {failure}")),
            }
        }
        for request in std::mem::take(&mut self.waiting) {
            if matches!(self.link, Link::Up(_)) {
                self.subscribe(request).await;
            } else {
                let _ = request.reply.send(Err(self.unavailable()));
            }
        }
    }

    /// A connection attempt failed: wait longer before the next one, and
    /// answer whoever waited for it with 503.
    fn failed(&mut self, error: &str) {
        let delay = self.next_delay();
        tracing::warn!(error, retry_in = ?delay, "cannot connect to PostgreSQL");
        self.link = Link::Down {
            retry_at: Instant::now() + delay,
        };
        for request in self.waiting.drain(..) {
            let _ = request.reply.send(Err(unreachable(delay)));
        }
    }

    /// The connection broke: streams stay open and the task reconnects.
    fn lost(&mut self, reason: &str) {
        let stable =
            matches!(&self.link, Link::Up(session) if session.since.elapsed() >= STABLE_AFTER);
        let delay = if stable {
            self.backoff = self.settings.backoff.build();
            Duration::ZERO
        } else {
            self.next_delay()
        };
        tracing::warn!(
            reason,
            open_channels = self.channels.len(),
            retry_in = ?delay,
            "lost the PostgreSQL LISTEN connection; reconnecting"
        );
        self.link = Link::Down {
            retry_at: Instant::now() + delay,
        };
    }

    fn next_delay(&mut self) -> Duration {
        self.backoff.next().unwrap_or(self.settings.backoff_max)
    }

    /// The 503 for a request made while not connected.
    fn unavailable(&self) -> Error {
        let wait = match &self.link {
            Link::Down { retry_at } => retry_at.saturating_duration_since(Instant::now()),
            _ => Duration::ZERO,
        };
        unreachable(wait)
    }
}

/// 503, retry after `wait` rounded up to whole seconds (at least 1).
fn unreachable(wait: Duration) -> Error {
    let seconds = u32::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u32::MAX)
        .max(1);
    Error::unavailable(
        format!("the database is unreachable; retry in {seconds} s"),
        seconds,
    )
}

/// One connection attempt, including `SELECT pg_backend_pid()`, within the
/// connect timeout.
async fn open(settings: Arc<Settings>) -> std::result::Result<Session, String> {
    let attempt = async {
        let (client, mut connection) = settings
            .config
            .connect(NoTls)
            .await
            .map_err(|error| error.to_string())?;
        let query = client.simple_query("SELECT pg_backend_pid()");
        let messages = drive(
            &mut connection,
            &mut Channels::new(),
            settings.query_timeout,
            query,
        )
        .await
        .map_err(|failure| failure.to_string())?;
        let pid = messages
            .iter()
            .find_map(|message| match message {
                SimpleQueryMessage::Row(row) => row.get(0).and_then(|pid| pid.parse().ok()),
                _ => None,
            })
            .ok_or("the server did not report its backend pid")?;
        let every = settings.health_check_every;
        let mut health_check = tokio::time::interval_at(Instant::now() + every, every);
        health_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Session {
            client,
            connection,
            pid,
            since: Instant::now(),
            health_check,
        })
    };
    tokio::time::timeout(settings.connect_timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:?}", settings.connect_timeout)))
}

/// Awaits `query` while driving `connection`, which the query needs to make
/// progress; notifications that arrive meanwhile are delivered as usual. The
/// connection counts as lost when it sends nothing for `limit`: not while
/// it streams notifications ahead of the answer, nor while delivering them
/// waits for subscribers.
async fn drive<T>(
    connection: &mut PgConnection,
    channels: &mut Channels,
    limit: Duration,
    query: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> std::result::Result<T, Failure> {
    let mut query = std::pin::pin!(query);
    let mut heard = Instant::now();
    // Re-armed when it fires rather than on every message: a burst touches
    // the timer once per `limit`, not once per notification.
    let silence = tokio::time::sleep_until(heard + limit);
    let mut silence = std::pin::pin!(silence);
    let mut fanned_out = 0;
    loop {
        let message = tokio::select! {
            biased;
            result = &mut query => return result.map_err(Failure::from),
            message = poll_fn(|cx| connection.poll_message(cx)) => message,
            () = &mut silence => {
                if heard + limit <= Instant::now() {
                    return Err(Failure::Lost(format!("no answer within {limit:?}")));
                }
                silence.as_mut().reset(heard + limit);
                continue;
            }
        };
        match message {
            Some(Ok(AsyncMessage::Notification(notification))) => {
                deliver(channels, &notification, &mut fanned_out).await;
            }
            Some(Ok(_notice)) => {}
            Some(Err(error)) => return Err(Failure::Lost(error.to_string())),
            None => {
                return Err(Failure::Lost("the server closed the connection".to_owned()));
            }
        }
        heard = Instant::now();
    }
}

/// Appends `notification` to its channel's history, as one shared notice,
/// once the history has room ([`Feed::make_room`]), and wakes the channel's
/// subscribers that wait. Yields every [`FAN_OUT_BATCH`] notifications
/// (counted in `fanned_out`): a transaction's notifications arrive together,
/// and the connection's buffer hands them out without ever returning
/// `Pending`, so subscriber tasks get their turn only this way.
async fn deliver(channels: &mut Channels, notification: &Notification, fanned_out: &mut usize) {
    // None: in flight when its channel was UNLISTENed.
    if let Some(feed) = channels.get_mut(notification.channel()) {
        feed.start_due_epoch();
        feed.make_room().await;
        feed.push(notification.payload());
    }
    *fanned_out = fanned_out.wrapping_add(1);
    if *fanned_out % FAN_OUT_BATCH == 0 {
        tokio::task::yield_now().await;
    }
}
