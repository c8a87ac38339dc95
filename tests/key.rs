//! Key mode over real sockets, on both backends: the in-process cache and the
//! real Redis at `TINY_TEST_REDIS_URL`.

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use futures_util::future::join_all;
use redis::AsyncCommands as _;
use support::services::{redis_admin, redis_url, redis_url_db, unique};
use support::{TestServer, client, eventually};
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
    let mut builder = tiny::cache::Cache::builder().queue_max_len(max_len);
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
    bad_sections_are_400_and_take_nothing,
    a_consumer_that_left_takes_nothing,
    a_send_wakes_the_consumer_before_its_poll_period,
    the_guard_runs_before_the_stream_opens,
    messages_sent_before_the_consumer_wait_for_it,
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
    let _: () = admin.del(format!("tiny:sse:queue:{key}")).await.unwrap();
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
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("redis://127.0.0.1:1")
    );
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
