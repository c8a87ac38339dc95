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
//! Each channel in use has one `broadcast` queue of [`Notice`]s. A
//! notification is one shared `Arc`, rendered once by the stream layer for
//! every subscriber; the queue keeps the last [`DEFAULT_BACKLOG`] notices
//! (or [`ListenerBuilder::backlog`]), so a
//! subscriber that stops reading costs no memory beyond them, never delays the
//! others, and is ended once it has fallen further behind (its `EventSource`
//! reconnects).

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{
    AsyncMessage, Client, Config, Connection, NoTls, Notification, SimpleQueryMessage, Socket,
};

use super::channel;
use super::notice::Notice;
use crate::{Error, Result};

/// How many frames a channel keeps for subscribers that are behind; one
/// further behind is ended. Change it with [`ListenerBuilder::backlog`].
///
/// ```
/// assert_eq!(tiny::pg::DEFAULT_BACKLOG, 256);
/// ```
pub const DEFAULT_BACKLOG: usize = 256;

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
type Channels = HashMap<Arc<str>, broadcast::Sender<Arc<Notice>>>;

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
///     .backlog(1024)
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
    /// Errors: 400 when `channel` is empty, longer than
    /// [`MAX_CHANNEL_LEN`](super::MAX_CHANNEL_LEN) bytes or holds a NUL;
    /// 503 with `Retry-After` while the database is unreachable.
    pub(crate) async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        channel::check(channel)?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Subscribe {
            channel: channel.into(),
            reply,
        })?;
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
///     .backlog(64)
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
    backlog: usize,
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
                backlog: DEFAULT_BACKLOG,
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

    /// How many frames a channel keeps for subscribers that are behind
    /// (default [`DEFAULT_BACKLOG`]); a subscriber further behind is ended.
    /// The memory a channel holds is at most this many frames.
    pub fn backlog(mut self, frames: usize) -> Self {
        self.settings.backlog = frames.max(1);
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
        };
        runtime.spawn(task.run());
        Ok(Listener { commands })
    }
}

/// What handles ask of the task. The queue is unbounded, but each request
/// waits for its answer and each subscription sends one `Leave` when dropped,
/// so it holds at most one command per request in flight and per stream.
enum Command {
    Subscribe {
        channel: Arc<str>,
        reply: oneshot::Sender<Result<Subscription>>,
    },
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

/// One subscriber of a channel: its notices.
pub(crate) struct Subscription {
    // Declaration order is drop order: the receiver goes first, so when the
    // task handles `Leave` it already counts one subscriber less.
    receiver: broadcast::Receiver<Arc<Notice>>,
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
    /// The next notice; `None` when the subscriber fell more than the
    /// backlog behind (its stream ends, so its client reconnects) or the
    /// listener stopped.
    pub(crate) async fn next(&mut self) -> Option<Arc<Notice>> {
        match self.receiver.recv().await {
            Ok(notice) => Some(notice),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    channel = &*self.leave.channel,
                    missed,
                    "a pg stream fell further behind than its backlog; ending it so its client reconnects"
                );
                None
            }
            Err(RecvError::Closed) => None,
        }
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
    waiting: Vec<(Arc<str>, oneshot::Sender<Result<Subscription>>)>,
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
                    fan_out(&self.channels, &notification);
                }
                Wake::Message(Some(Ok(_notice))) => {}
                Wake::Message(Some(Err(error))) => self.lost(&error.to_string()),
                Wake::Message(None) => self.lost("the server closed the connection"),
                Wake::HealthCheck => self.health_check().await,
                Wake::Connected(Ok(session)) => self.connected(Box::new(session)).await,
                Wake::Connected(Err(error)) => self.failed(&error),
                Wake::RetryDue => self.connect(),
            }
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Subscribe { channel, reply } => match &self.link {
                Link::Up(_) => self.subscribe(channel, reply).await,
                Link::Connecting(_) => self.waiting.push((channel, reply)),
                Link::Down { retry_at } => {
                    let now = Instant::now();
                    if *retry_at <= now {
                        self.waiting.push((channel, reply));
                        self.connect();
                    } else {
                        let _ = reply.send(Err(unreachable(*retry_at - now)));
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

    /// Called while up: hands out a receiver, after `LISTEN` for a new channel.
    async fn subscribe(&mut self, channel: Arc<str>, reply: oneshot::Sender<Result<Subscription>>) {
        let Some(commands) = self.handle.upgrade() else {
            return; // no handle is left, so nobody waits for the reply
        };
        let receiver = match self.channels.get(&channel) {
            Some(sender) => Ok(sender.subscribe()),
            None => {
                // In the map before `LISTEN` runs, so a notification that
                // arrives with the answer already has somewhere to go.
                let (sender, receiver) = broadcast::channel(self.settings.backlog);
                self.channels.insert(channel.clone(), sender);
                let sql = format!("LISTEN {}", channel::quote(&channel));
                match self.execute(&sql).await {
                    Ok(()) => Ok(receiver),
                    Err(failure) => {
                        self.channels.remove(&channel);
                        Err(failure)
                    }
                }
            }
        };
        let answer = match receiver {
            Ok(receiver) => Ok(Subscription {
                receiver,
                leave: Leave { channel, commands },
            }),
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
            .is_some_and(|sender| sender.receiver_count() == 0);
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
            &self.channels,
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
            &self.channels,
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
            &self.channels,
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
        // down: LISTEN again, then tell each stream that notifications sent
        // meanwhile are lost, so its page refetches.
        self.channels
            .retain(|_, sender| sender.receiver_count() > 0);
        if !self.channels.is_empty() {
            let sql: String = self
                .channels
                .keys()
                .map(|channel| format!("LISTEN {};", channel::quote(channel)))
                .collect();
            match self.execute(&sql).await {
                Ok(()) => {
                    let notice = Arc::new(Notice::reconnected());
                    for sender in self.channels.values() {
                        let _ = sender.send(Arc::clone(&notice));
                    }
                    tracing::info!(
                        channels = self.channels.len(),
                        "listening again; open pg streams were sent `resync`"
                    );
                }
                Err(failure) => self.lost(&format!("LISTEN after reconnecting failed: {failure}")),
            }
        }
        for (channel, reply) in std::mem::take(&mut self.waiting) {
            if matches!(self.link, Link::Up(_)) {
                self.subscribe(channel, reply).await;
            } else {
                let _ = reply.send(Err(self.unavailable()));
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
        for (_, reply) in self.waiting.drain(..) {
            let _ = reply.send(Err(unreachable(delay)));
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
            &Channels::new(),
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
/// progress; notifications that arrive meanwhile are fanned out as usual.
/// A query without an answer within `limit` counts as a lost connection.
async fn drive<T>(
    connection: &mut PgConnection,
    channels: &Channels,
    limit: Duration,
    query: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> std::result::Result<T, Failure> {
    let mut query = std::pin::pin!(query);
    let driven = poll_fn(|cx| {
        if let Poll::Ready(result) = query.as_mut().poll(cx) {
            return Poll::Ready(result.map_err(Failure::from));
        }
        loop {
            match connection.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notification(notification)))) => {
                    fan_out(channels, &notification);
                }
                Poll::Ready(Some(Ok(_notice))) => {}
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Err(Failure::Lost(error.to_string())));
                }
                Poll::Ready(None) => {
                    return Poll::Ready(Err(Failure::Lost(
                        "the server closed the connection".to_owned(),
                    )));
                }
                // The query's answer, if it came, woke this task.
                Poll::Pending => return Poll::Pending,
            }
        }
    });
    tokio::time::timeout(limit, driven)
        .await
        .unwrap_or_else(|_| Err(Failure::Lost(format!("no answer within {limit:?}"))))
}

/// Hands `notification` to every subscriber of its channel, as one shared
/// notice.
fn fan_out(channels: &Channels, notification: &Notification) {
    let Some(sender) = channels.get(notification.channel()) else {
        return; // in flight when its channel was UNLISTENed
    };
    if sender.receiver_count() == 0 {
        return;
    }
    // Never blocks: a full queue drops its oldest notice, and whoever had
    // not read it yet is ended on its next read.
    let _ = sender.send(Arc::new(Notice::notification(
        notification.payload().to_owned(),
    )));
}
