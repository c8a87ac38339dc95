//! The same services written by hand on plain axum 0.8 + tokio, as a Rust
//! developer would without tiny: `axum::serve`, `axum::response::sse::Sse`
//! with its default keep-alive, a `tokio::sync::broadcast` fan-out fed by one
//! tokio-postgres LISTEN connection, and for key streams an in-process map of
//! channels (or, on Redis, a `BLPOP` loop per stream on its own connection).

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

use crate::tiny_server::ProducePlan;
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
            .route("/stats", get(stats))
            .with_state(AppState {
                keys,
                notifications,
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
