//! Topic mode over real sockets: every subscriber gets every message, ids,
//! resume from `Last-Event-ID`, `resync`, and a bounded history; in this
//! process and through the `job_progress` example run as a server.

#[path = "support/instances.rs"]
mod instances;
mod support;

use futures_util::future::join_all;
use instances::Instance;
use support::services::{redis_admin, redis_url, redis_url_db, unique};
use support::{EventReader, ServerEvent, TestServer, client, free_addr, metrics_text};
use tiny::prelude::*;

#[controller(path = "/topic")]
pub struct Topic;

#[controller]
impl Topic {
    #[sse(topic = "test:<section>")]
    fn get(&self) {}
}

#[controller(path = "/guarded")]
pub struct Guarded;

#[controller]
impl Guarded {
    #[sse(topic = "test:<section>")]
    async fn get(&self, req: &Request) -> tiny::Result<()> {
        match req.header("authorization") {
            Some("Bearer letmein") => Ok(()),
            _ => Err(tiny::Error::unauthorized(
                "send `Authorization: Bearer letmein`",
            )),
        }
    }
}

async fn server() -> TestServer {
    TestServer::start(tiny::App::empty().mount::<Topic>().mount::<Guarded>()).await
}

/// Opens `url` as an `EventSource` would, resuming after `last_event_id`.
async fn open(url: &str, last_event_id: Option<&str>) -> EventReader {
    let mut request = client().get(url).header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = request.send().await.expect("request failed");
    assert_eq!(response.status(), 200, "GET {url}");
    EventReader::new(response)
}

/// `POST /jobs/<id>` on a job_progress instance.
async fn start_job(instance: &Instance, job: &str, steps: u32, delay_ms: u64) {
    let response = client()
        .post(instance.url(&format!("/jobs/{job}")))
        .json(&json!({ "steps": steps, "delay_ms": delay_ms }))
        .send()
        .await
        .expect("POST /jobs");
    assert_eq!(response.status(), 202);
}

/// The steps of `progress` events, and whether `[DONE]` came last.
fn steps(events: &[ServerEvent]) -> (Vec<u64>, bool) {
    let mut steps = Vec::new();
    let mut done = false;
    for event in events {
        assert!(!done, "an event after [DONE]: {events:?}");
        match event.event.as_str() {
            "progress" => {
                let value: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                steps.push(value["step"].as_u64().unwrap());
            }
            "message" if event.data == "[DONE]" => done = true,
            _ => panic!("unexpected event {event:?}"),
        }
    }
    (steps, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_message_in_order_then_done_ends_them() {
    const MESSAGES: usize = 500;
    let server = server().await;
    let topic = unique("all");
    let path = format!("/topic/{topic}");
    let mut readers = join_all((0..3).map(|_| server.events_owned(path.clone()))).await;
    for i in 0..MESSAGES {
        let event = Event::data(i.to_string()).event("n");
        tiny::sse()
            .publish(&format!("test:{topic}"), event)
            .await
            .unwrap();
    }
    tiny::sse()
        .publish(&format!("test:{topic}"), DONE)
        .await
        .unwrap();
    let received = join_all(readers.iter_mut().map(|r| r.until_end_within_deadline())).await;
    for events in received {
        assert_eq!(events.len(), MESSAGES + 1);
        let ids: std::collections::HashSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), MESSAGES + 1, "every frame has its own id");
        for (i, event) in events[..MESSAGES].iter().enumerate() {
            assert_eq!(
                (event.event.as_str(), event.data.as_str()),
                ("n", &*i.to_string())
            );
        }
        assert_eq!(events[MESSAGES].data, "[DONE]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_runs_and_bad_sections_are_400() {
    let server = server().await;
    let topic = unique("guarded");
    let refused = client()
        .get(server.url(&format!("/guarded/{topic}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let accepted = client()
        .get(server.url(&format!("/guarded/{topic}")))
        .header("authorization", "Bearer letmein")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    for bad in [
        "/topic/a%20b",
        "/topic/",
        &format!("/topic/{}", "x".repeat(129)),
    ] {
        let response = client().get(server.url(bad)).send().await.unwrap();
        assert_eq!(response.status(), 400, "GET {bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_gets_resync_first_then_live_messages() {
    let server = server().await;
    let topic = unique("unknown");
    let url = server.url(&format!("/topic/{topic}"));
    let mut by_header = open(&url, Some("not-a-cursor")).await;
    let mut by_query = open(&format!("{url}?lastEventId=0000000000000001-5"), None).await;
    for reader in [&mut by_header, &mut by_query] {
        let first = reader.next().await.expect("an event");
        assert_eq!(first.event, "resync");
        let data: serde_json::Value = serde_json::from_str(&first.data).unwrap();
        assert!(
            ["unknown", "epoch"].contains(&data["reason"].as_str().unwrap()),
            "{first:?}"
        );
        assert!(!first.id.is_empty(), "resync carries the id to resume from");
    }
    tiny::sse()
        .publish(&format!("test:{topic}"), "live")
        .await
        .unwrap();
    assert_eq!(by_header.data().await, "live");
    assert_eq!(by_query.data().await, "live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_left_after_step_5_resumes_after_the_job_with_exactly_the_rest() {
    const STEPS: u32 = 12;
    let instance = Instance::start("job_progress", &[]);
    let job = unique("job");
    let url = instance.url(&format!("/job-progress/{job}"));
    let mut leaving = open(&url, None).await;
    let mut staying = open(&url, None).await;
    start_job(&instance, &job, STEPS, 20).await;

    let mut last_id = String::new();
    for step in 1..=5 {
        let event = leaving.next().await.expect("a step");
        assert_eq!(steps(std::slice::from_ref(&event)).0, [step]);
        last_id = event.id;
    }
    drop(leaving);
    // The job ends while the first subscriber is away.
    let (all, done) = steps(&staying.until_end_within_deadline().await);
    assert_eq!(all, (1..=u64::from(STEPS)).collect::<Vec<_>>());
    assert!(done);

    let mut back = open(&url, Some(&last_id)).await;
    let (rest, done) = steps(&back.until_end_within_deadline().await);
    assert_eq!(rest, (6..=u64::from(STEPS)).collect::<Vec<_>>());
    assert!(done, "the replay ends with [DONE], which ends the response");
    instance.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bounded_by_count() {
    let instance = Instance::start("job_progress", &[("TINY_TOPIC_HISTORY", "5")]);
    let job = unique("count");
    let url = instance.url(&format!("/job-progress/{job}"));
    let mut reader = open(&url, None).await;
    start_job(&instance, &job, 12, 0).await;
    let events = reader.until_end_within_deadline().await;
    assert_eq!(steps(&events), ((1..=12).collect(), true));
    // 13 messages, 5 kept: steps 9..=12 and [DONE].
    let mut kept = open(&url, Some(&events[7].id)).await; // after step 8
    assert_eq!(
        steps(&kept.until_end_within_deadline().await),
        ((9..=12).collect(), true)
    );
    let mut trimmed = open(&url, Some(&events[6].id)).await; // after step 7
    let first = trimmed.next().await.expect("an event");
    assert_eq!(first.event, "resync");
    assert_eq!(first.data, r#"{"reason":"trimmed"}"#);
    instance.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bounded_by_time() {
    let instance = Instance::start("job_progress", &[("TINY_TOPIC_TTL", "1s")]);
    let job = unique("age");
    let url = instance.url(&format!("/job-progress/{job}"));
    let mut reader = open(&url, None).await;
    start_job(&instance, &job, 3, 0).await;
    let events = reader.until_end_within_deadline().await;
    assert_eq!(steps(&events), ((1..=3).collect(), true));
    // Right after the job the history still has what followed step 1…
    let mut early = open(&url, Some(&events[0].id)).await;
    let replayed = early.until_end_within_deadline().await;
    if replayed.first().is_some_and(|e| e.event != "resync") {
        assert_eq!(steps(&replayed), ((2..=3).collect(), true));
    }
    // …and once the TTL has passed, nothing: a resync, whatever the count.
    let start = tokio::time::Instant::now();
    loop {
        let mut late = open(&url, Some(&events[0].id)).await;
        let first = late.next().await.expect("an event");
        if first.event == "resync" {
            assert_eq!(first.data, r#"{"reason":"trimmed"}"#);
            break;
        }
        assert!(
            start.elapsed() < support::DEADLINE,
            "messages outlived TINY_TOPIC_TTL=1s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    instance.stop();
}

// On Redis: instances of the example share topics through TINY_CACHE_URL.

/// An instance of job_progress on Redis at `url`; fails naming Redis when
/// it is not reachable.
async fn on_redis(url: &str) -> Instance {
    redis_admin(url).await;
    Instance::start("job_progress", &[("TINY_CACHE_URL", url)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_subscribers_on_two_processes_each_get_every_step_then_done() {
    const STEPS: u32 = 20;
    let url = redis_url();
    let first = on_redis(&url).await;
    let second = on_redis(&url).await;
    let job = unique("shared");
    let path = format!("/job-progress/{job}");
    let mut readers = [
        open(&first.url(&path), None).await,
        open(&first.url(&path), None).await,
        open(&second.url(&path), None).await,
    ];
    start_job(&second, &job, STEPS, 10).await;
    let received = join_all(readers.iter_mut().map(|r| r.until_end_within_deadline())).await;
    for events in &received {
        assert_eq!(steps(events), ((1..=u64::from(STEPS)).collect(), true));
    }
    // Ids name the same messages on both instances.
    assert_eq!(received[0], received[2]);
    first.stop();
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_subscriber_resumes_on_another_process_with_exactly_the_rest() {
    const STEPS: u32 = 12;
    let url = redis_url();
    let first = on_redis(&url).await;
    let second = on_redis(&url).await;
    let job = unique("resume");
    let path = format!("/job-progress/{job}");
    let mut leaving = open(&first.url(&path), None).await;
    let mut staying = open(&first.url(&path), None).await;
    start_job(&first, &job, STEPS, 20).await;
    let mut last_id = String::new();
    for step in 1..=5 {
        let event = leaving.next().await.expect("a step");
        assert_eq!(steps(std::slice::from_ref(&event)).0, [step]);
        last_id = event.id;
    }
    drop(leaving);
    assert_eq!(
        steps(&staying.until_end_within_deadline().await),
        ((1..=u64::from(STEPS)).collect(), true)
    );
    let mut back = open(&second.url(&path), Some(&last_id)).await;
    assert_eq!(
        steps(&back.until_end_within_deadline().await),
        ((6..=u64::from(STEPS)).collect(), true)
    );
    let mut unknown = open(&second.url(&path), Some("not-a-cursor")).await;
    assert_eq!(unknown.next().await.expect("an event").event, "resync");
    first.stop();
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_history_is_bounded_by_count() {
    let url = redis_url();
    redis_admin(&url).await;
    let instance = Instance::start(
        "job_progress",
        &[("TINY_CACHE_URL", &url), ("TINY_TOPIC_HISTORY", "5")],
    );
    let job = unique("count");
    let path = instance.url(&format!("/job-progress/{job}"));
    let mut reader = open(&path, None).await;
    start_job(&instance, &job, 12, 0).await;
    let events = reader.until_end_within_deadline().await;
    assert_eq!(steps(&events), ((1..=12).collect(), true));
    drop(reader); // the next streams read the history from Redis afresh
    let mut kept = open(&path, Some(&events[7].id)).await;
    assert_eq!(
        steps(&kept.until_end_within_deadline().await),
        ((9..=12).collect(), true)
    );
    let mut trimmed = open(&path, Some(&events[6].id)).await;
    let first = trimmed.next().await.expect("an event");
    assert_eq!(first.event, "resync");
    assert_eq!(first.data, r#"{"reason":"trimmed"}"#);
    instance.stop();
}

/// The connections a Redis server has in database `db`.
async fn connections_in(admin: &mut redis::aio::MultiplexedConnection, db: u8) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(admin)
        .await
        .expect("CLIENT LIST");
    list.lines()
        .filter(|line| line.split(' ').any(|field| field == format!("db={db}")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_in_one_process_share_its_connections() {
    // A database of its own: the instance's connections are the ones there.
    const DB: u8 = 9;
    let url = redis_url_db(DB);
    let mut admin = redis_admin(&redis_url()).await;
    let instance = on_redis(&url).await;
    let job = unique("many");
    let path = instance.url(&format!("/job-progress/{job}"));
    let first = open(&path, None).await;
    let with_one = connections_in(&mut admin, DB).await;
    let mut readers = join_all((0..999).map(|_| open(&path, None))).await;
    readers.push(first);
    let with_a_thousand = connections_in(&mut admin, DB).await;
    // Topics hold one command connection and one pub/sub connection; the
    // app's cache (checked at start-up) holds its own, the third.
    assert!(
        with_a_thousand <= 3,
        "topics use one connection (plus one for pub/sub) per process, found {with_a_thousand} in all"
    );
    assert_eq!(
        with_one, with_a_thousand,
        "the connections do not grow with subscribers"
    );
    start_job(&instance, &job, 3, 0).await;
    let received = join_all(readers.iter_mut().map(|r| r.until_end_within_deadline())).await;
    for events in &received {
        assert_eq!(steps(events), ((1..=3).collect(), true));
    }
    instance.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_deleted_stream_is_a_new_epoch() {
    let url = redis_url();
    let mut admin = redis_admin(&url).await;
    let instance = on_redis(&url).await;
    let job = unique("epoch");
    let path = instance.url(&format!("/job-progress/{job}"));
    let mut reader = open(&path, None).await;
    start_job(&instance, &job, 2, 0).await;
    let events = reader.until_end_within_deadline().await;
    assert_eq!(steps(&events), ((1..=2).collect(), true));
    let deleted: usize = redis::cmd("DEL")
        .arg(format!("tiny:{{topic:job:{job}}}:stream"))
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(deleted, 1, "the topic's stream is where the layout says");
    let mut back = open(&path, Some(&events[0].id)).await;
    let first = back.next().await.expect("an event");
    assert_eq!(first.event, "resync");
    assert_eq!(first.data, r#"{"reason":"epoch"}"#);
    // The stream made again by the next job is read in full.
    start_job(&instance, &job, 3, 0).await;
    let again = back.until_end_within_deadline().await;
    assert_eq!(steps(&again), ((1..=3).collect(), true));
    assert_ne!(
        again[0].id.split('-').next(),
        events[0].id.split('-').next(),
        "another epoch"
    );
    instance.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_resyncs_are_counted_in_the_metrics() {
    let metrics_addr = free_addr();
    let server = TestServer::start(tiny::App::empty().mount::<Topic>().metrics(metrics_addr)).await;
    let topic = unique("counted");
    let url = server.url(&format!("/topic/{topic}"));
    let mut first = open(&url, None).await;
    for n in 0..3 {
        tiny::sse()
            .publish(&format!("test:{topic}"), n.to_string())
            .await
            .unwrap();
    }
    let zero = first.next().await.expect("an event");
    assert_eq!(zero.data, "0");
    let cursor = zero.id;
    drop(first);
    // Back after "0": "1" and "2" are replayed from the history.
    let mut back = open(&url, Some(&cursor)).await;
    assert_eq!(back.data().await, "1");
    assert_eq!(back.data().await, "2");
    let mut lost = open(&url, Some("not-a-cursor")).await;
    assert_eq!(lost.next().await.expect("an event").event, "resync");
    let text = metrics_text(metrics_addr).await;
    assert!(
        text.contains(r#"tiny_events_replayed_total{mode="topic"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"tiny_resyncs_total{mode="topic"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_message_over_the_cap_is_refused_with_413() {
    let topic = format!("test:{}", unique("too-big"));
    let max = tiny::sse::DEFAULT_MESSAGE_MAX_BYTES;
    let error = tiny::sse()
        .publish(&topic, "x".repeat(max + 1))
        .await
        .unwrap_err();
    assert_eq!(error.status(), 413);
    assert!(
        error.message().contains("TINY_MESSAGE_MAX_BYTES"),
        "{error}"
    );
    tiny::sse().publish(&topic, "x".repeat(max)).await.unwrap();
}
