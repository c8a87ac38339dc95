//! The same services written by hand on plain axum 0.8 + tokio, as a Rust
//! developer would without tiny: `axum::serve`, `axum::response::sse::Sse`
//! with its default keep-alive, a `tokio::sync::broadcast` fan-out fed by one
//! tokio-postgres LISTEN connection, and for key streams an in-process map of
//! channels (or, on Redis, a `BLPOP` loop per stream on its own connection).
//! Topics are a map of `broadcast` queues, one per topic; on Redis a publish
//! is a `PUBLISH`, and one `PSUBSCRIBE` connection per process feeds the
//! queues (no history: what tiny's topics keep for resuming is not built).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc};

use crate::tiny_server::{ProducePlan, burst};
use crate::{PG_CHANNEL, now_micros};

static LIVE_STREAMS: AtomicUsize = AtomicUsize::new(0);

/// Counts a stream while it lives, as `tiny::sse::live_streams()` does.
struct Live;

impl Live {
    fn new() -> Self {
        LIVE_STREAMS.fetch_add(1, Ordering::Relaxed);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_STREAMS.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Clone)]
struct AppState {
    keys: Keys,
    /// Notifications of the LISTEN connection, for every `/pg` stream. The
    /// queue keeps the last 256, as tiny's listener does.
    notifications: broadcast::Sender<String>,
    topics: Topics,
}

/// The prefix of a topic's Redis channel: `suite:topic:<topic>`.
const TOPIC_CHANNEL: &str = "suite:topic:";

/// Each topic's queue keeps the last 1 000 messages, as tiny's history does.
const TOPIC_QUEUE: usize = 1000;

#[derive(Clone)]
struct Topics {
    /// Every topic subscribed to or published to since the start; the suite
    /// uses a handful, so none is ever removed.
    by_name: Arc<Mutex<HashMap<String, TopicQueue>>>,
    /// On Redis: the connection publishes go through.
    redis: Option<redis::aio::MultiplexedConnection>,
}

struct TopicQueue {
    sender: broadcast::Sender<Arc<TopicMessage>>,
    /// The id of the last message: its number in this process's queue.
    last: u64,
}

/// One message, shared by every subscriber; each builds its own event from
/// it, as axum's `Event` API goes, with an `id:` as tiny's topic frames have.
struct TopicMessage {
    id: String,
    data: String,
}

impl Topics {
    fn queue<'a>(map: &'a mut HashMap<String, TopicQueue>, topic: &str) -> &'a mut TopicQueue {
        map.entry(topic.to_owned()).or_insert_with(|| TopicQueue {
            sender: broadcast::channel(TOPIC_QUEUE).0,
            last: 0,
        })
    }

    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Arc<TopicMessage>> {
        Self::queue(&mut self.by_name.lock().unwrap(), topic)
            .sender
            .subscribe()
    }

    /// Hands `data` to this process's subscribers of `topic`.
    fn deliver(&self, topic: &str, data: String) {
        let mut map = self.by_name.lock().unwrap();
        let queue = Self::queue(&mut map, topic);
        queue.last += 1;
        let message = TopicMessage {
            id: queue.last.to_string(),
            data,
        };
        let _ = queue.sender.send(Arc::new(message));
    }

    /// Publishes to every subscriber: here, or through Redis to every
    /// process subscribed to it.
    async fn publish(&self, topic: &str, data: String) {
        match &self.redis {
            None => self.deliver(topic, data),
            Some(producer) => {
                let _: () = redis::cmd("PUBLISH")
                    .arg(format!("{TOPIC_CHANNEL}{topic}"))
                    .arg(data)
                    .query_async(&mut producer.clone())
                    .await
                    .expect("PUBLISH");
            }
        }
    }

    /// The process's one pub/sub connection: every topic's messages, into
    /// the local queues.
    async fn follow(self, client: &redis::Client) {
        use futures_util::StreamExt as _;
        let mut pubsub = client.get_async_pubsub().await.expect("Redis");
        pubsub
            .psubscribe(format!("{TOPIC_CHANNEL}*"))
            .await
            .expect("PSUBSCRIBE");
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let topic = message.get_channel_name().strip_prefix(TOPIC_CHANNEL);
                if let (Some(topic), Ok(data)) = (topic, message.get_payload::<String>()) {
                    self.deliver(topic, data);
                }
            }
        });
    }
}

#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per server
enum Keys {
    Memory(Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>),
    Redis {
        client: redis::Client,
        producer: redis::aio::MultiplexedConnection,
    },
}

type EventResult = Result<Event, Infallible>;

/// Calls `produce` at once, then every `period`; `Some` is one event.
fn poll_stream(
    period: Duration,
    produce: fn() -> Option<String>,
) -> impl Stream<Item = EventResult> {
    let ticks = tokio::time::interval(period);
    futures_util::stream::unfold((ticks, Live::new()), move |(mut ticks, live)| async move {
        loop {
            ticks.tick().await;
            if let Some(data) = produce() {
                return Some((Ok(Event::default().data(data)), (ticks, live)));
            }
        }
    })
}

async fn idle() -> Sse<impl Stream<Item = EventResult>> {
    Sse::new(poll_stream(Duration::from_secs(3600), || None)).keep_alive(KeepAlive::default())
}

async fn poll() -> Sse<impl Stream<Item = EventResult>> {
    Sse::new(poll_stream(Duration::from_secs(1), || {
        Some(now_micros().to_string())
    }))
    .keep_alive(KeepAlive::default())
}

async fn key(State(state): State<AppState>, Path(key): Path<String>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use futures_util::StreamExt as _;
    let key = format!("bench:{key}");
    let live = Live::new();
    let stream = match state.keys {
        Keys::Memory(map) => {
            let (sender, receiver) = mpsc::unbounded_channel();
            map.lock().unwrap().insert(key.clone(), sender);
            futures_util::stream::unfold(
                (receiver, live, Forget { map, key }),
                |(mut receiver, live, forget)| async move {
                    let message = receiver.recv().await?;
                    let event: EventResult = Ok(Event::default().data(message));
                    Some((event, (receiver, live, forget)))
                },
            )
            .boxed()
        }
        Keys::Redis { client, .. } => {
            let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
            let connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .expect("Redis");
            futures_util::stream::unfold(
                (connection, live, key),
                |(mut connection, live, key)| async move {
                    loop {
                        let popped: Option<(String, String)> = redis::cmd("BLPOP")
                            .arg(&key)
                            .arg(0)
                            .query_async(&mut connection)
                            .await
                            .ok()?;
                        if let Some((_, message)) = popped {
                            let event: EventResult = Ok(Event::default().data(message));
                            return Some((event, (connection, live, key)));
                        }
                    }
                },
            )
            .boxed()
        }
    };
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Removes a key's channel when its stream ends.
struct Forget {
    map: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>,
    key: String,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.map.lock().unwrap().remove(&self.key);
    }
}

async fn produce(
    State(state): State<AppState>,
    Path((prefix, keys, count, pace)): Path<(String, u64, u64, u64)>,
) -> &'static str {
    let plan = ProducePlan::parse(&prefix, &format!("{keys}/{count}/{pace}")).expect("plan");
    tokio::spawn(async move {
        match state.keys {
            Keys::Memory(map) => {
                plan.run(|key, message| {
                    if let Some(sender) = map.lock().unwrap().get(&format!("bench:{key}")) {
                        let _ = sender.send(message);
                    }
                    async {}
                })
                .await
            }
            Keys::Redis { producer, .. } => {
                plan.run(|key, message| {
                    let mut producer = producer.clone();
                    async move {
                        let _: () = redis::cmd("RPUSH")
                            .arg(format!("bench:{key}"))
                            .arg(message)
                            .query_async(&mut producer)
                            .await
                            .expect("RPUSH");
                    }
                })
                .await
            }
        }
    });
    "started"
}

/// A subscriber of the one LISTEN connection: each notification's payload
/// is built into an event for this subscriber, as axum's `Event` API goes.
async fn pg(State(state): State<AppState>) -> Sse<impl Stream<Item = EventResult>> {
    let receiver = state.notifications.subscribe();
    let stream =
        futures_util::stream::unfold((receiver, Live::new()), |(mut receiver, live)| async move {
            loop {
                match receiver.recv().await {
                    Ok(payload) => {
                        let event: EventResult = Ok(Event::default().data(payload));
                        return Some((event, (receiver, live)));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// One connection, `LISTEN`ing on the channel, drives notifications into
/// the broadcast queue; returns its client, which must stay alive.
async fn listen(url: &str, notifications: broadcast::Sender<String>) -> tokio_postgres::Client {
    use tokio_postgres::AsyncMessage;
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    // Notifications reach only code that drives the connection itself.
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    let _ = notifications.send(notification.payload().to_owned());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("LISTEN connection: {error}"),
                None => return,
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {PG_CHANNEL}"))
        .await
        .expect("LISTEN");
    client
}

/// A subscriber of a topic's queue.
async fn topic(
    State(state): State<AppState>,
    Path(section): Path<String>,
) -> Sse<impl Stream<Item = EventResult>> {
    let receiver = state.topics.subscribe(&format!("bench:{section}"));
    let stream =
        futures_util::stream::unfold((receiver, Live::new()), |(mut receiver, live)| async move {
            loop {
                match receiver.recv().await {
                    Ok(message) => {
                        let event = Event::default().id(&message.id).data(&message.data);
                        return Some((Ok(event), (receiver, live)));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `count` messages to a topic, one after the other; answers once they are
/// published, as tiny's `/publish` does.
async fn publish(
    State(state): State<AppState>,
    Path((section, count)): Path<(String, usize)>,
) -> &'static str {
    let topic = format!("bench:{section}");
    for data in burst(count) {
        state.topics.publish(&topic, data).await;
    }
    "published"
}

async fn stats() -> String {
    LIVE_STREAMS.load(Ordering::Relaxed).to_string()
}

pub fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let keys = match std::env::var("TINY_CACHE_URL") {
            Ok(url) if url.starts_with("redis://") => {
                let client = redis::Client::open(url).expect("Redis URL");
                let producer = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("Redis");
                Keys::Redis { client, producer }
            }
            _ => Keys::Memory(Arc::default()),
        };
        let mut topics = Topics {
            by_name: Arc::default(),
            redis: None,
        };
        if let Keys::Redis { client, .. } = &keys {
            // Its own connection, waiting up to 5 s for an answer as tiny's
            // does: under a burst's fan-out the runtime is slow to read it.
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(5)));
            let producer = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .expect("Redis");
            topics.redis = Some(producer);
            topics.clone().follow(client).await;
        }
        let (notifications, _) = broadcast::channel(256);
        let _listener = match std::env::var("DATABASE_URL") {
            Ok(url) if std::env::var_os("SUITE_LISTEN").is_some() => {
                Some(listen(&url, notifications.clone()).await)
            }
            _ => None,
        };
        let app = Router::new()
            .route("/idle", get(idle))
            .route("/poll", get(poll))
            .route("/key/{key}", get(key))
            .route("/produce/{prefix}/{keys}/{count}/{pace}", get(produce))
            .route("/pg", get(pg))
            .route("/topic/{section}", get(topic))
            .route("/publish/{section}/{count}", get(publish))
            .route("/stats", get(stats))
            .with_state(AppState {
                keys,
                notifications,
                topics,
            });
        let addr = std::env::var("TINY_ADDR").expect("TINY_ADDR");
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!(
            "listening on http://{}",
            listener.local_addr().expect("addr")
        );
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.expect("serve");
    });
}
