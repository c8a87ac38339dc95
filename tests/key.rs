//! Key mode over real sockets, on both backends: the in-process cache and the
//! real Redis at `TINY_TEST_REDIS_URL`.

#[path = "support/eventsource.rs"]
mod eventsource;
#[path = "support/instances.rs"]
mod instances;
mod support;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource::{Connection, Dice, Dispatched, EventSource};
use futures_util::future::join_all;
use instances::Instance;
use redis::AsyncCommands as _;
use support::services::{redis_admin, redis_url, redis_url_db, unique};
use support::{DEADLINE, TestServer, client, eventually};
use tiny::Request;
use tiny::prelude::*;

#[controller(path = "/queue")]
pub struct Queue;

#[controller]
impl Queue {
    #[sse(key = "test:<section>")]
    fn get(&self) {}
}

/// Waits an hour between re-checks: only a wake-up can deliver in time.
#[controller(path = "/sleepy")]
pub struct Sleepy;

#[controller]
impl Sleepy {
    #[sse(key = "test:<section>", poll = 3600)]
    fn get(&self) {}
}

#[controller(path = "/guarded")]
pub struct Guarded;

#[controller]
impl Guarded {
    #[sse(key = "test:<section>")]
    async fn get(&self, req: &Request) -> tiny::Result<()> {
        match req.header("authorization") {
            Some("Bearer letmein") => Ok(()),
            _ => Err(tiny::Error::unauthorized(
                "send `Authorization: Bearer letmein`",
            )),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

/// Makes this test process's `tiny::cache()` the given backend.
async fn install(backend: Backend, max_len: usize) -> tiny::cache::Cache {
    install_with(
        backend,
        tiny::cache::Cache::builder().queue_max_len(max_len),
    )
    .await
}

/// [`install`] with a builder of the test's own.
async fn install_with(
    backend: Backend,
    mut builder: tiny::cache::CacheBuilder,
) -> tiny::cache::Cache {
    if let Backend::Redis = backend {
        let url = redis_url();
        redis_admin(&url).await; // fails naming Redis when it is down
        builder = builder.url(url);
    }
    builder.install().expect("install the cache")
}

async fn server() -> TestServer {
    TestServer::start(
        tiny::App::empty()
            .mount::<Queue>()
            .mount::<Sleepy>()
            .mount::<Guarded>(),
    )
    .await
}

async fn send(key: &str, message: impl serde::Serialize) {
    tiny::sse().send_key(key, message).await.expect("send_key");
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Memory).await;
                }
            )*
        }
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Redis).await;
                }
            )*
        }
    };
}

on_both_backends!(
    every_message_reaches_exactly_one_of_four_consumers,
    falsy_values_are_delivered,
    done_is_sent_then_the_response_ends,
    a_full_queue_refuses_the_send,
    a_message_over_the_cap_is_413_and_queues_nothing,
    a_queue_past_its_byte_cap_refuses_the_send_and_drops_nothing,
    bad_sections_are_400_and_take_nothing,
    a_consumer_that_left_takes_nothing,
    a_send_wakes_the_consumer_before_its_poll_period,
    the_guard_runs_before_the_stream_opens,
    messages_sent_before_the_consumer_wait_for_it,
    a_consumer_cut_again_and_again_loses_and_repeats_nothing,
    a_vanished_consumers_messages_go_to_the_next_after_the_window,
    an_older_connection_takes_nothing_once_its_lineage_reconnected,
    a_cursor_that_cannot_be_honoured_opens_with_resync,
    a_connection_cut_before_its_first_message_comes_back_recognised,
    a_stalled_reader_is_ended_by_the_write_timeout_and_its_lineage_resumes_with_nothing_lost,
);

async fn every_message_reaches_exactly_one_of_four_consumers(backend: Backend) {
    const PER_PRODUCER: usize = 10_000;
    install(backend, 4 * PER_PRODUCER).await;
    let server = server().await;
    let section = unique("exactly-once");
    let key = format!("test:{section}");
    let mut consumers = Vec::new();
    for _ in 0..4 {
        consumers.push(server.events(&format!("/queue/{section}")).await);
    }
    let producers: Vec<_> = (0..2)
        .map(|producer| {
            let key = key.clone();
            tokio::spawn(async move {
                for seq in 0..PER_PRODUCER {
                    send(&key, format!("{producer}:{seq}")).await;
                }
            })
        })
        .collect();
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = consumers
        .into_iter()
        .map(|mut reader| {
            let received = received.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while received.load(std::sync::atomic::Ordering::SeqCst) < 2 * PER_PRODUCER {
                    let next =
                        tokio::time::timeout(Duration::from_millis(200), reader.next_unbounded())
                            .await;
                    if let Ok(Some(event)) = next {
                        received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        got.push(event.data);
                    }
                }
                got
            })
        })
        .collect();
    for producer in producers {
        producer.await.expect("producer");
    }
    let per_consumer: Vec<Vec<String>> =
        tokio::time::timeout(Duration::from_secs(120), join_all(readers))
            .await
            .expect("consumers did not receive every message in time")
            .into_iter()
            .map(|r| r.expect("reader"))
            .collect();

    let mut seen = HashSet::new();
    for got in &per_consumer {
        let mut last = [None::<usize>; 2];
        for message in got {
            assert!(seen.insert(message.clone()), "{message} delivered twice");
            let (producer, seq) = message.split_once(':').expect("producer:seq");
            let (producer, seq): (usize, usize) = (producer.parse().unwrap(), seq.parse().unwrap());
            // FIFO per producer: a consumer never sees a producer's messages out of order.
            assert!(
                last[producer].is_none_or(|l| l < seq),
                "{message} after {:?}",
                last[producer]
            );
            last[producer] = Some(seq);
        }
    }
    assert_eq!(seen.len(), 2 * PER_PRODUCER, "every message delivered once");
    assert!(
        per_consumer.iter().filter(|got| !got.is_empty()).count() > 1,
        "the work was shared between consumers"
    );
    assert_eq!(tiny::cache().queue_len(&key).await.unwrap(), 0);
}

async fn falsy_values_are_delivered(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("falsy");
    let mut reader = server.events(&format!("/queue/{section}")).await;
    let falsy = ["0", "", "false", "null", "[]", "{}", " "];
    for value in falsy {
        send(&format!("test:{section}"), value).await;
    }
    for value in falsy {
        assert_eq!(reader.data().await, value);
    }
}

async fn done_is_sent_then_the_response_ends(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("done");
    let key = format!("test:{section}");
    let mut reader = server.events(&format!("/queue/{section}")).await;
    send(
        &key,
        serde_json::json!({ "status": "processed", "order": 1234 }),
    )
    .await;
    send(&key, tiny::sse::DONE).await;
    let events = reader.until_end().await;
    let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, [r#"{"status":"processed","order":1234}"#, "[DONE]"]);
    // The ended stream takes nothing more.
    send(&key, "after").await;
    eventually("the stream to close", || tiny::sse::live_streams() == 0).await;
    assert_eq!(tiny::cache().queue_len(&key).await.unwrap(), 1);
}

async fn a_full_queue_refuses_the_send(backend: Backend) {
    install(backend, 3).await;
    let key = format!("test:{}", unique("bound"));
    for n in 0..3 {
        send(&key, n).await;
    }
    let error = tiny::sse().send_key(&key, 3).await.unwrap_err();
    assert_eq!(error.status(), 503);
    assert!(error.message().contains(&key), "{error}");
    assert!(error.message().contains("full"), "{error}");
    assert_eq!(
        tiny::cache().queue_len(&key).await.unwrap(),
        3,
        "nothing dropped"
    );
}

async fn a_message_over_the_cap_is_413_and_queues_nothing(backend: Backend) {
    install(backend, 100).await;
    let key = format!("test:{}", unique("too-big"));
    let max = tiny::sse::DEFAULT_MESSAGE_MAX_BYTES;
    let error = tiny::sse()
        .send_key(&key, "x".repeat(max + 1))
        .await
        .unwrap_err();
    assert_eq!(error.status(), 413);
    assert!(
        error.message().contains("TINY_MESSAGE_MAX_BYTES"),
        "{error}"
    );
    assert_eq!(tiny::cache().queue_len(&key).await.unwrap(), 0);
    send(&key, "x".repeat(max)).await;
    assert_eq!(tiny::cache().queue_len(&key).await.unwrap(), 1);
}

async fn a_queue_past_its_byte_cap_refuses_the_send_and_drops_nothing(backend: Backend) {
    install_with(backend, tiny::cache::Cache::builder().queue_max_bytes(1000)).await;
    let server = server().await;
    let section = unique("bytes");
    let key = format!("test:{section}");
    let expected: Vec<String> = (0..10).map(|n| format!("{n}{}", "x".repeat(99))).collect();
    for message in &expected {
        send(&key, message).await;
    }
    let error = tiny::sse().send_key(&key, "y").await.unwrap_err();
    assert_eq!(error.status(), 503);
    assert!(error.message().contains("TINY_QUEUE_MAX_BYTES"), "{error}");
    let mut reader = server.events(&format!("/queue/{section}")).await;
    for message in &expected {
        assert_eq!(&reader.data().await, message);
    }
    // Read: the room is back.
    send(&key, "after").await;
    assert_eq!(reader.data().await, "after");
}

async fn bad_sections_are_400_and_take_nothing(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let long = "x".repeat(129);
    for path in [
        "/queue/a:b",
        "/queue/%2A",
        "/queue/",
        "/queue/a%20b",
        &format!("/queue/{long}"),
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert!(
            !response.text().await.unwrap().is_empty(),
            "{path} says why"
        );
    }
    assert_eq!(tiny::sse::live_streams(), 0);
}

async fn a_consumer_that_left_takes_nothing(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("left");
    let key = format!("test:{section}");
    let reader = server.events(&format!("/queue/{section}")).await;
    eventually("the stream to open", || tiny::sse::live_streams() == 1).await;
    drop(reader);
    eventually("the server to notice the client left", || {
        tiny::sse::live_streams() == 0
    })
    .await;
    send(&key, "kept").await;
    assert_eq!(tiny::cache().queue_len(&key).await.unwrap(), 1);
    let mut next = server.events(&format!("/queue/{section}")).await;
    assert_eq!(next.data().await, "kept");
}

async fn a_send_wakes_the_consumer_before_its_poll_period(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("wake");
    let mut reader = server.events(&format!("/sleepy/{section}")).await;
    // Once a frame is read, the consumer is back to an empty take and waits:
    // with a one-hour poll period, only a wake-up delivers within the deadline.
    for round in 0..5 {
        send(&format!("test:{section}"), round).await;
        assert_eq!(reader.data().await, round.to_string());
    }
}

async fn the_guard_runs_before_the_stream_opens(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("guard");
    let key = format!("test:{section}");
    send(&key, "secret").await;
    let refused = client()
        .get(server.url(&format!("/guarded/{section}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("Bearer letmein"));
    assert_eq!(
        tiny::cache().queue_len(&key).await.unwrap(),
        1,
        "a refused stream takes nothing"
    );
    let response = client()
        .get(server.url(&format!("/guarded/{section}")))
        .header("authorization", "Bearer letmein")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = support::EventReader::new(response);
    assert_eq!(reader.data().await, "secret");
}

async fn messages_sent_before_the_consumer_wait_for_it(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("early");
    let key = format!("test:{section}");
    for n in 0..5 {
        send(&key, n).await;
    }
    let mut reader = server.events(&format!("/queue/{section}")).await;
    for n in 0..5 {
        assert_eq!(reader.data().await, n.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_in_another_process_feeds_a_consumer_through_redis() {
    install(Backend::Redis, 100).await;
    let server = server().await;
    let user = unique("worker");
    // The example streams `user:<id>:updates`; this test's controller reads `test:<section>`.
    #[controller(path = "/user-updates")]
    pub struct UserUpdates;
    #[controller]
    impl UserUpdates {
        #[sse(key = "user:<section>:updates")]
        fn get(&self) {}
    }
    let server2 = TestServer::start(tiny::App::empty().mount::<UserUpdates>()).await;
    let mut reader = server2.events(&format!("/user-updates/{user}")).await;
    let output = Command::new(support::examples::example_binary("order_worker"))
        .args([user.as_str(), "3", "--done"])
        .env("TINY_CACHE_URL", redis_url())
        .output()
        .expect("run order_worker");
    assert!(
        output.status.success(),
        "order_worker failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let data: Vec<_> = reader
        .until_end()
        .await
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(
        data,
        [
            r#"{"status":"processed","order":1234}"#,
            r#"{"status":"processed","order":1235}"#,
            r#"{"status":"processed","order":1236}"#,
            "[DONE]",
        ]
    );
    drop(server);
}

/// Ids of the Redis clients on database `db`, except the caller.
async fn clients_on(admin: &mut redis::aio::MultiplexedConnection, db: u8) -> Vec<String> {
    let me: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(admin)
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(admin)
        .await
        .unwrap();
    list.lines()
        .filter(|line| line.split(' ').any(|f| f == format!("db={db}")))
        .filter_map(|line| {
            line.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .map(str::to_owned)
        })
        .filter(|id| *id != me.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_waiting_consumers_share_a_few_redis_connections() {
    // Database 5 is this test's alone, so its clients can be counted.
    let url = redis_url_db(5);
    let mut admin = redis_admin(&url).await;
    tiny::cache::Cache::builder().url(&url).install().unwrap();
    let server = server().await;
    let base = unique("many");
    let readers =
        join_all((0..1000).map(|n| server.events_owned(format!("/queue/{base}-{n}")))).await;
    eventually("1000 streams open", || tiny::sse::live_streams() == 1000).await;
    let connections = clients_on(&mut admin, 5).await;
    assert!(!connections.is_empty(), "tiny's connections are on db 5");
    assert!(
        connections.len() <= 3,
        "1000 waiting consumers hold {} Redis connections",
        connections.len()
    );
    // And each of them is still woken by its own key.
    send(&format!("test:{base}-999"), "hi").await;
    let mut last = readers.into_iter().last().unwrap();
    assert_eq!(last.data().await, "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_redis_connections_are_survived() {
    // Database 6 is this test's alone, so killing its clients hurts no one else.
    let url = redis_url_db(6);
    let mut admin = redis_admin(&url).await;
    tiny::cache::Cache::builder().url(&url).install().unwrap();
    let server = server().await;
    let section = unique("kill");
    let key = format!("test:{section}");
    let mut reader = server.events(&format!("/queue/{section}")).await;
    send(&key, "before").await;
    assert_eq!(reader.data().await, "before");

    let ids = clients_on(&mut admin, 6).await;
    assert!(!ids.is_empty(), "tiny's connections are on db 6");
    for id in ids {
        let _: redis::RedisResult<()> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(&id)
            .query_async(&mut admin)
            .await;
    }
    // The next command on a killed connection may fail once; the connection
    // manager then reconnects. A send is retried like a caller would.
    let mut sent = false;
    for _ in 0..20 {
        if tiny::sse().send_key(&key, "after").await.is_ok() {
            sent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sent, "send_key never recovered after CLIENT KILL");
    assert_eq!(reader.data().await, "after", "the open stream kept going");
    forget_queue(&mut admin, &key).await;
}

/// Deletes every Redis key of `key`'s queue (they share one hash tag).
async fn forget_queue(admin: &mut redis::aio::MultiplexedConnection, key: &str) {
    let names: Vec<String> = admin.keys(format!("tiny:{{{key}}}:*")).await.unwrap();
    if !names.is_empty() {
        let _: () = admin.del(names).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_answers_503_with_retry_after() {
    // Nothing listens on port 1.
    tiny::cache::Cache::builder()
        .url("redis://127.0.0.1:1/0")
        .install()
        .unwrap();
    let server = server().await;
    let response = client()
        .get(server.url(&format!("/queue/{}", unique("down"))))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    // 5xx bodies carry no internal detail (the URL is logged, not sent).
    let body = response.text().await.unwrap();
    assert!(!body.contains("redis://"), "{body}");
    let error = tiny::sse().send_key("test:x", "m").await.unwrap_err();
    assert_eq!(error.status(), 503);
}

#[test]
fn serve_refuses_to_start_on_a_bad_cache_url() {
    let binary = support::examples::example_binary("user_updates");
    for (url, expected) in [
        ("bogus://x", "TINY_CACHE_URL `bogus://x` is not supported"),
        (
            "redis://127.0.0.1:1/0",
            "cannot reach Redis at redis://127.0.0.1:1/0",
        ),
    ] {
        let output = Command::new(&binary)
            .env("TINY_CACHE_URL", url)
            .env("TINY_ADDR", "127.0.0.1:0")
            .output()
            .expect("run user_updates");
        assert!(
            !output.status.success(),
            "started with TINY_CACHE_URL={url}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "printed `listening on` with {url}"
        );
    }
}

// --- Delivery under faults: an EventSource stand-in that reconnects as a
// browser does (`Last-Event-ID` = the last id it holds). ---

/// What a consumer saw: the data of its messages in arrival order, and the
/// `resync` events (there must be none while cursors are honoured).
#[derive(Debug, Default)]
struct Consumed {
    messages: Vec<String>,
    resyncs: Vec<Dispatched>,
    cuts: usize,
    resets: usize,
    connections: usize,
    refusals: usize,
}

/// Reads `source` until `seen` holds `until` distinct messages, cutting its
/// connection every 50–500 ms (a reset or a close, at random).
async fn consume_with_cuts(
    mut source: EventSource,
    seen: Arc<Mutex<HashSet<String>>>,
    until: usize,
    cut: bool,
    seed: u64,
) -> Consumed {
    let mut dice = Dice::new(seed);
    let mut consumed = Consumed::default();
    source.ready().await;
    let mut next_cut = tokio::time::Instant::now() + dice.between(50, 500);
    while seen.lock().unwrap().len() < until {
        tokio::select! {
            event = source.next() => {
                if event.event == "resync" {
                    consumed.resyncs.push(event);
                } else {
                    seen.lock().unwrap().insert(event.data.clone());
                    consumed.messages.push(event.data);
                }
            }
            () = tokio::time::sleep_until(next_cut), if cut => {
                let reset = dice.coin();
                source.cut(reset);
                consumed.cuts += 1;
                consumed.resets += usize::from(reset);
                next_cut = tokio::time::Instant::now() + dice.between(50, 500);
            }
            // Another consumer may have received the last message.
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    consumed.connections = source.connections;
    consumed.refusals = source.refusals;
    consumed
}

/// Lost and duplicated counts of `expected` over everything consumed.
struct Tally {
    lost: Vec<String>,
    duplicated: Vec<String>,
}

fn tally(expected: &[String], consumed: &[&Consumed]) -> Tally {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for consumer in consumed {
        for message in &consumer.messages {
            *counts.entry(message).or_default() += 1;
        }
    }
    Tally {
        lost: expected
            .iter()
            .filter(|m| !counts.contains_key(m.as_str()))
            .cloned()
            .collect(),
        duplicated: counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(m, _)| (*m).to_owned())
            .collect(),
    }
}

/// Each consumer saw each producer's messages (`<producer>:<n>`) in order.
fn assert_fifo_per_producer(consumer: &Consumed) {
    let mut last = std::collections::HashMap::<&str, usize>::new();
    for message in &consumer.messages {
        let (producer, n) = message.split_once(':').expect("<producer>:<n>");
        let n: usize = n.parse().unwrap();
        if let Some(before) = last.insert(producer, n) {
            assert!(before < n, "{message} arrived after {producer}:{before}");
        }
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64)
}

async fn a_consumer_cut_again_and_again_loses_and_repeats_nothing(backend: Backend) {
    const MESSAGES: usize = 2000;
    install(backend, MESSAGES).await;
    let server = server().await;
    let section = unique("cut");
    let key = format!("test:{section}");
    let expected: Vec<String> = (0..MESSAGES).map(|n| format!("p:{n}")).collect();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let source = EventSource::new(vec![server.addr], format!("/queue/{section}"));
    let consumer = tokio::spawn(consume_with_cuts(
        source,
        seen.clone(),
        MESSAGES,
        true,
        seed(),
    ));
    // Paced over ~4 s, so the cuts land all through the run.
    let mut ticks = tokio::time::interval(Duration::from_millis(2));
    for message in &expected {
        ticks.tick().await;
        send(&key, message).await;
    }
    let consumed = tokio::time::timeout(Duration::from_secs(120), consumer)
        .await
        .expect("the consumer did not receive every message in time")
        .unwrap();
    let Tally { lost, duplicated } = tally(&expected, &[&consumed]);
    println!(
        "{backend:?}: {MESSAGES} sent, {} received over {} connections ({} cuts, {} of them resets): {} lost, {} duplicated",
        consumed.messages.len(),
        consumed.connections,
        consumed.cuts,
        consumed.resets,
        lost.len(),
        duplicated.len()
    );
    assert!(consumed.cuts >= 3, "the run was too short to cut");
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    assert_eq!(consumed.messages, expected, "FIFO");
    assert!(consumed.resyncs.is_empty(), "{:?}", consumed.resyncs);
}

async fn a_vanished_consumers_messages_go_to_the_next_after_the_window(backend: Backend) {
    const WINDOW: Duration = Duration::from_secs(1);
    install_with(backend, tiny::cache::Cache::builder().key_retention(WINDOW)).await;
    let server = server().await;
    let section = unique("vanished");
    let key = format!("test:{section}");
    let path = format!("/queue/{section}");
    let mut tab = EventSource::new(vec![server.addr], path.clone());
    tab.ready().await;
    for m in ["a", "b", "c"] {
        send(&key, m).await;
    }
    for m in ["a", "b", "c"] {
        assert_eq!(tab.next().await.data, m);
    }
    // The tab is closed: it never confirms what it read.
    let cursor = tab.last_event_id.clone();
    drop(tab);
    let vanished = tokio::time::Instant::now();
    let mut next = EventSource::new(vec![server.addr], path.clone());
    next.ready().await;
    send(&key, "d").await;
    let mut got = Vec::new();
    let mut reclaimed_after = None;
    while got.len() < 4 {
        let data = next.next().await.data;
        if data == "a" {
            reclaimed_after = Some(vanished.elapsed());
        }
        got.push(data);
    }
    let reclaimed_after = reclaimed_after.expect("`a` was handed over");
    assert!(
        reclaimed_after >= WINDOW,
        "handed over after {reclaimed_after:?}, within the window"
    );
    got.retain(|m| m != "d");
    assert_eq!(got, ["a", "b", "c"], "at least once, in order");
    // Should the tab come back after all, it is told to refetch.
    let mut late = Connection::open(server.addr, &path, &cursor).await.unwrap();
    let first = tokio::time::timeout(DEADLINE, late.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.event.as_str(), first.data.as_str()),
        ("resync", r#"{"reason":"trimmed"}"#)
    );
}

async fn an_older_connection_takes_nothing_once_its_lineage_reconnected(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("fenced");
    let key = format!("test:{section}");
    let path = format!("/queue/{section}");
    let mut old = Connection::open(server.addr, &path, "").await.unwrap();
    old.until_last_event_id_changes().await;
    send(&key, "a").await;
    assert_eq!(old.next().await.unwrap().data, "a");
    // The browser reconnects while the old socket still looks open to the
    // server (a half-open connection, say).
    let mut new = Connection::open(server.addr, &path, &old.last_event_id)
        .await
        .unwrap();
    for m in ["b", "c"] {
        send(&key, m).await;
    }
    for m in ["b", "c"] {
        let event = tokio::time::timeout(DEADLINE, new.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((event.event.as_str(), event.data.as_str()), ("message", m));
    }
    let rest = tokio::time::timeout(DEADLINE, old.next())
        .await
        .expect("the older connection's stream did not end");
    assert_eq!(rest, None, "the older connection took a message");
}

async fn a_cursor_that_cannot_be_honoured_opens_with_resync(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let (mine, other) = (unique("cursor"), unique("other"));
    let path = format!("/queue/{mine}");
    let opening_id = |section: String| {
        let addr = server.addr;
        async move {
            let mut c = Connection::open(addr, &format!("/queue/{section}"), "")
                .await
                .unwrap();
            c.until_last_event_id_changes().await;
            c.last_event_id.clone()
        }
    };
    let real = opening_id(mine.clone()).await;
    let foreign = opening_id(other).await;
    // The same history, a lineage it never issued.
    let (head, tail) = real.split_at(14);
    let mut tail = tail.to_owned();
    let swapped = if tail.starts_with('A') { "B" } else { "A" };
    tail.replace_range(..1, swapped);
    let forged = format!("{head}{tail}");
    for (cursor, reason, in_query) in [
        ("nonsense", "unknown", false),
        ("nonsense", "unknown", true),
        (forged.as_str(), "unknown", false),
        (foreign.as_str(), "epoch", false),
    ] {
        // A stream of another lineage on this key that the server has not
        // yet seen closed could take the live message below (and keep it
        // pending for that lineage): wait until every earlier one is gone.
        eventually("the earlier streams to end", || {
            tiny::sse::live_streams() == 0
        })
        .await;
        let mut stream = if in_query {
            Connection::open(server.addr, &format!("{path}?lastEventId={cursor}"), "").await
        } else {
            Connection::open(server.addr, &path, cursor).await
        }
        .unwrap();
        let first = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.event.as_str(), first.data.clone()),
            ("resync", format!(r#"{{"reason":"{reason}"}}"#)),
            "cursor {cursor:?}"
        );
        assert_ne!(first.id, cursor, "a new lineage's id follows");
        // Then the stream is live.
        send(&format!("test:{mine}"), "live").await;
        let live = tokio::time::timeout(DEADLINE, stream.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.data, "live");
        let lineage = |id: &str| id.split_once('.').unwrap().0.to_owned();
        assert_eq!(lineage(&live.id), lineage(&first.id));
    }
}

async fn a_connection_cut_before_its_first_message_comes_back_recognised(backend: Backend) {
    install(backend, 100).await;
    let server = server().await;
    let section = unique("early-cut");
    let path = format!("/queue/{section}");
    let mut first = Connection::open(server.addr, &path, "").await.unwrap();
    first.until_last_event_id_changes().await;
    let cursor = first.last_event_id.clone();
    first.reset();
    send(&format!("test:{section}"), "m").await;
    let mut back = Connection::open(server.addr, &path, &cursor).await.unwrap();
    let event = tokio::time::timeout(DEADLINE, back.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (event.event.as_str(), event.data.as_str()),
        ("message", "m")
    );
    assert_eq!(
        event.id.split_once('.').unwrap().0,
        cursor.split_once('.').unwrap().0,
        "the same lineage"
    );
}

/// Two `user_updates` processes sharing Redis, as a deployment runs them.
fn two_instances(env: &[(&str, &str)]) -> (Instance, Instance) {
    let url = redis_url();
    let mut all = vec![("TINY_CACHE_URL", url.as_str())];
    all.extend_from_slice(env);
    (
        Instance::start("user_updates", &all),
        Instance::start("user_updates", &all),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_consumers_over_two_instances_get_every_message_once() {
    const PER_PRODUCER: usize = 1000;
    install(Backend::Redis, 10_000).await;
    let (a, b) = two_instances(&[]);
    let section = unique("two-instances");
    let path = format!("/user-updates/{section}");
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let consumers: Vec<_> = (0..4)
        .map(|n| {
            // Each reconnects to the other instance in turn.
            let servers = if n % 2 == 0 {
                vec![a.addr, b.addr]
            } else {
                vec![b.addr, a.addr]
            };
            tokio::spawn(consume_with_cuts(
                EventSource::new(servers, path.clone()),
                seen.clone(),
                2 * PER_PRODUCER,
                true,
                seed() + n,
            ))
        })
        .collect();
    let producers: Vec<_> = [a.url(&path), b.url(&path)]
        .into_iter()
        .enumerate()
        .map(|(producer, url)| {
            tokio::spawn(async move {
                let client = client();
                let mut ticks = tokio::time::interval(Duration::from_millis(3));
                for n in 0..PER_PRODUCER {
                    ticks.tick().await;
                    let response = client
                        .post(&url)
                        .body(format!("{producer}:{n}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 202);
                }
            })
        })
        .collect();
    for producer in producers {
        producer.await.unwrap();
    }
    let consumed: Vec<Consumed> =
        tokio::time::timeout(Duration::from_secs(120), join_all(consumers))
            .await
            .expect("the consumers did not receive every message in time")
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let expected: Vec<String> = (0..2)
        .flat_map(|p| (0..PER_PRODUCER).map(move |n| format!("{p}:{n}")))
        .collect();
    let all: Vec<&Consumed> = consumed.iter().collect();
    let Tally { lost, duplicated } = tally(&expected, &all);
    println!(
        "4 consumers over 2 instances: {} sent, received {:?} over {:?} connections ({:?} cuts): {} lost, {} duplicated",
        expected.len(),
        consumed
            .iter()
            .map(|c| c.messages.len())
            .collect::<Vec<_>>(),
        consumed.iter().map(|c| c.connections).collect::<Vec<_>>(),
        consumed.iter().map(|c| c.cuts).collect::<Vec<_>>(),
        lost.len(),
        duplicated.len()
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    for consumer in &consumed {
        assert!(consumer.resyncs.is_empty(), "{:?}", consumer.resyncs);
        assert_fifo_per_producer(consumer);
    }
    assert!(
        consumed.iter().filter(|c| !c.messages.is_empty()).count() > 1,
        "the work was shared"
    );
    assert_eq!(
        tiny::cache()
            .queue_len(&format!("user:{section}:updates"))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lineage_comes_back_to_another_instance_after_a_shutdown() {
    install(Backend::Redis, 100).await;
    let (a, b) = two_instances(&[]);
    let section = unique("restart");
    let key = format!("user:{section}:updates");
    let path = format!("/user-updates/{section}");
    let post = |url: String, body: &'static str| async move {
        let response = client().post(url).body(body).send().await.unwrap();
        assert_eq!(response.status(), 202);
    };
    let mut tab = Connection::open(a.addr, &path, "").await.unwrap();
    tab.until_last_event_id_changes().await;
    post(a.url(&path), "x").await;
    assert_eq!(tab.next().await.unwrap().data, "x");
    let cursor = tab.last_event_id.clone();
    // Handed to the stream on `a`, never read by the tab.
    post(b.url(&path), "y").await;
    post(b.url(&path), "z").await;
    let start = tokio::time::Instant::now();
    while tiny::cache().queue_len(&key).await.unwrap() > 0 {
        assert!(start.elapsed() < DEADLINE, "instance a never took y and z");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.stop();
    drop(tab);
    let mut back = Connection::open(b.addr, &path, &cursor).await.unwrap();
    for m in ["y", "z"] {
        let event = tokio::time::timeout(DEADLINE, back.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((event.event.as_str(), event.data.as_str()), ("message", m));
    }
}

/// Kills every connection of clients on database `db` but the caller's
/// (commands and pub/sub alike); returns how many of each it killed.
/// `CLIENT KILL TYPE normal SKIPME yes` would do the same to every other
/// test running against this server.
async fn kill_clients_on(admin: &mut redis::aio::MultiplexedConnection, db: u8) -> (usize, usize) {
    let me: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(admin)
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(admin)
        .await
        .unwrap();
    let (mut normal, mut pubsub) = (0, 0);
    for line in list.lines() {
        let field = |name: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or("")
                .to_owned()
        };
        if field("db=") != db.to_string() || field("id=") == me.to_string() {
            continue;
        }
        let killed: redis::RedisResult<i64> = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(field("id="))
            .query_async(admin)
            .await;
        if killed.is_ok_and(|n| n > 0) {
            if field("flags=").contains('P') {
                pubsub += 1;
            } else {
                normal += 1;
            }
        }
    }
    (normal, pubsub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redis_connection_killed_again_and_again_loses_nothing() {
    const PER_PRODUCER: usize = 2000;
    // Database 7 is this test's alone: killing its clients hurts no one else.
    let url = redis_url_db(7);
    let mut admin = redis_admin(&url).await;
    tiny::cache::Cache::builder()
        .url(&url)
        .queue_max_len(10_000)
        .install()
        .unwrap();
    let server = server().await;
    let section = unique("killed");
    let key = format!("test:{section}");
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let consumer = tokio::spawn(consume_with_cuts(
        EventSource::new(vec![server.addr], format!("/queue/{section}")),
        seen.clone(),
        2 * PER_PRODUCER,
        false,
        seed(),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = tokio::spawn({
        let stop = stop.clone();
        async move {
            let (mut rounds, mut kills) = (0, (0, 0));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (normal, pubsub) = kill_clients_on(&mut admin, 7).await;
                kills = (kills.0 + normal, kills.1 + pubsub);
                rounds += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (rounds, kills)
        }
    });
    let producers: Vec<_> = (0..2)
        .map(|producer| {
            let key = key.clone();
            tokio::spawn(async move {
                let mut ok_first = Vec::new();
                let mut errors = Vec::new();
                for n in 0..PER_PRODUCER {
                    let message = format!("{producer}:{n}");
                    match tiny::sse().send_key(&key, &message).await {
                        Ok(()) => ok_first.push(message),
                        Err(error) => {
                            errors.push(error.message().to_owned());
                            // A caller that must deliver sends again.
                            while tiny::sse().send_key(&key, &message).await.is_err() {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                }
                (ok_first, errors)
            })
        })
        .collect();
    let mut ok_first = HashSet::new();
    let mut errors = Vec::new();
    for producer in producers {
        let (ok, failed) = producer.await.unwrap();
        ok_first.extend(ok);
        errors.extend(failed);
    }
    let consumed = tokio::time::timeout(Duration::from_secs(180), consumer)
        .await
        .expect("the consumer did not receive every message in time")
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (rounds, kills) = killer.await.unwrap();
    let expected: Vec<String> = (0..2)
        .flat_map(|p| (0..PER_PRODUCER).map(move |n| format!("{p}:{n}")))
        .collect();
    let Tally { lost, duplicated } = tally(&expected, &[&consumed]);
    let duplicated_ok: Vec<_> = duplicated
        .iter()
        .filter(|m| ok_first.contains(*m))
        .collect();
    println!(
        "Redis connections killed every 100 ms ({rounds} rounds: {} command, {} pub/sub connections): {} sent, {} Ok the first time, {} send errors, \
         {} received over {} connections ({} refused): {} lost, {} duplicated ({} of them Ok the first time)",
        kills.0,
        kills.1,
        expected.len(),
        ok_first.len(),
        errors.len(),
        consumed.messages.len(),
        consumed.connections,
        consumed.refusals,
        lost.len(),
        duplicated.len(),
        duplicated_ok.len()
    );
    assert!(
        kills.0 >= 10 && kills.1 >= 1,
        "the run was too short to kill much: {kills:?}"
    );
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(duplicated_ok.is_empty(), "duplicated: {duplicated_ok:?}");
    for error in &errors {
        assert!(
            error.contains("queued"),
            "the error says whether it was queued: {error}"
        );
    }
    assert_fifo_per_producer(&consumed);
    forget_queue(&mut redis_admin(&url).await, &key).await;
}

/// A consumer reads a few messages, then stops reading: once the socket
/// buffers are full the write timeout ends its connection. What it was
/// handed but never read stays pending for its lineage, and its return with
/// the last id it read gets exactly the rest, in order.
async fn a_stalled_reader_is_ended_by_the_write_timeout_and_its_lineage_resumes_with_nothing_lost(
    backend: Backend,
) {
    const MESSAGES: usize = 300;
    install_with(
        backend,
        tiny::cache::Cache::builder()
            .queue_max_len(MESSAGES)
            .queue_max_bytes(MESSAGES * tiny::sse::DEFAULT_MESSAGE_MAX_BYTES),
    )
    .await;
    let server = TestServer::start(
        tiny::App::empty()
            .mount::<Queue>()
            .write_timeout(Duration::from_millis(500)),
    )
    .await;
    let section = unique("stalled");
    let key = format!("test:{section}");
    // 64 KiB each, the most a message may hold: far more than the socket
    // buffers hold.
    let expected: Vec<String> = (0..MESSAGES)
        .map(|n| format!("{n:04}:{}", "x".repeat(64 * 1024 - 5)))
        .collect();
    for message in &expected {
        send(&key, message).await;
    }
    let mut stalled = server.events(&format!("/queue/{section}")).await;
    let mut read = Vec::new();
    let mut last_id = String::new();
    while read.len() < 3 {
        let event = stalled.next().await.expect("a message");
        if !event.data.is_empty() {
            read.push(event.data.clone());
        }
        last_id = event.id.clone();
    }
    // Reads nothing more: the server must end it, not hold it.
    eventually("the stalled stream is ended", || {
        tiny::sse::live_streams() == 0
    })
    .await;
    drop(stalled);

    let response = client()
        .get(server.url(&format!("/queue/{section}")))
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    let mut resumed = support::EventReader::new(response);
    while read.len() < MESSAGES {
        let event = resumed.next().await.expect("the rest of the messages");
        assert_ne!(event.event, "resync", "the lineage was not recognised");
        if !event.data.is_empty() {
            read.push(event.data);
        }
    }
    let lost = expected.iter().filter(|m| !read.contains(m)).count();
    let unique: HashSet<&String> = read.iter().collect();
    let duplicated = read.len() - unique.len();
    println!("{backend:?}: {MESSAGES} sent, {lost} lost, {duplicated} duplicated");
    assert_eq!((lost, duplicated), (0, 0));
    assert!(read == expected, "out of order");
}

/// A process listens to a key's wake channel only while it has a consumer
/// of that key: a send elsewhere costs it nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_subscribes_to_a_keys_channel_only_while_it_has_a_consumer() {
    install(Backend::Redis, 100).await;
    let server = server().await;
    let section = unique("channel");
    let admin = redis_admin(&redis_url()).await;
    let channel = format!("tiny:{{test:{section}}}:wake");
    let subscribers = |admin: redis::aio::MultiplexedConnection| {
        let channel = channel.clone();
        async move {
            let mut admin = admin;
            let counts: Vec<(String, u64)> = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut admin)
                .await
                .unwrap();
            counts[0].1
        }
    };
    assert_eq!(subscribers(admin.clone()).await, 0);
    let mut reader = server.events(&format!("/queue/{section}")).await;
    tokio::time::timeout(DEADLINE, async {
        while subscribers(admin.clone()).await == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("subscribed while a consumer waits");
    send(&format!("test:{section}"), "m").await;
    assert_eq!(reader.data().await, "m");
    drop(reader);
    tokio::time::timeout(DEADLINE, async {
        while subscribers(admin.clone()).await > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("unsubscribed after the last consumer left");
}
