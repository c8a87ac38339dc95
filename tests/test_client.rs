//! `tiny::test::Client`, the in-process client users test their apps with,
//! used the way a user's `#[tokio::test]` would.

use tiny::Request;
use tiny::http::{Method, StatusCode};
use tiny::prelude::*;
use tiny::test::Client;

#[controller]
pub struct Greeting;

#[controller]
impl Greeting {
    fn get(&self, req: &Request) -> String {
        format!("hello {}", req.path().section)
    }

    fn post(&self, req: &Request) -> tiny::Result<String> {
        let value: serde_json::Value = req.json()?;
        Ok(format!("posted {}", value["name"]))
    }
}

/// One frame a minute, numbered: only paused time makes it testable.
#[controller]
pub struct Minutes;

static MINUTE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[controller]
impl Minutes {
    #[sse(poll = 60)]
    fn get(&self) -> Option<String> {
        Some(
            MINUTE
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                .to_string(),
        )
    }
}

#[controller(path = "/inbox")]
pub struct Inbox;

#[controller]
impl Inbox {
    #[sse(key = "inbox:<section>")]
    async fn get(&self, req: &Request) -> tiny::Result<()> {
        match req.header("authorization") {
            Some("Bearer ok") => Ok(()),
            _ => Err(tiny::Error::unauthorized("send `Authorization: Bearer ok`")),
        }
    }
}

fn client() -> Client {
    Client::new(
        tiny::App::empty()
            .mount::<Greeting>()
            .mount::<Minutes>()
            .mount::<Inbox>(),
    )
}

#[tokio::test]
async fn plain_requests_answer_with_status_and_body() {
    let client = client();
    let hello = client.get("/greeting/world").await;
    assert_eq!(hello.status(), StatusCode::OK);
    assert_eq!(hello.text(), "hello world");
    let posted = client
        .request(Method::POST, "/greeting")
        .json(&serde_json::json!({ "name": "ada" }))
        .send()
        .await;
    assert_eq!(posted.text(), r#"posted "ada""#);
    let missing = client.request(Method::DELETE, "/greeting").send().await;
    assert_eq!(missing.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(missing.headers().contains_key("allow"));
}

#[tokio::test(start_paused = true)]
async fn a_poll_stream_is_read_under_paused_time() {
    let mut events = client().sse("/minutes").await;
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let started = tokio::time::Instant::now();
    let first: u64 = events.next().await.unwrap().data.parse().unwrap();
    for n in 1..=3 {
        let event = events.next().await.expect("a frame");
        assert_eq!(event.event, "message");
        assert_eq!(event.data, (first + n).to_string());
    }
    // Three minutes of the stream's time, none of the test's.
    assert!(started.elapsed() >= std::time::Duration::from_secs(180));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_stream_resumes_from_its_last_event_id() {
    let client = client();
    let refused = client.sse("/inbox/ada").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let section = format!("ada{}", std::process::id());
    let key = format!("inbox:{section}");
    for n in 0..3 {
        tiny::sse().send_key(&key, n).await.unwrap();
    }
    let mut first = client
        .request(Method::GET, &format!("/inbox/{section}"))
        .header("authorization", "Bearer ok")
        .sse()
        .await;
    let zero = first.next().await.unwrap();
    assert_eq!(zero.data, "0");
    let cursor = zero.id.expect("key frames carry ids");
    drop(first); // gone after reading "0"; "1" and "2" may have been taken
    let mut back = client
        .request(Method::GET, &format!("/inbox/{section}"))
        .header("authorization", "Bearer ok")
        .last_event_id(&cursor)
        .sse()
        .await;
    assert_eq!(back.next().await.unwrap().data, "1");
    assert_eq!(back.next().await.unwrap().data, "2");
}

#[tokio::test]
async fn a_json_client_gets_a_405_as_json_with_allow() {
    let answer = client()
        .request(Method::PATCH, "/greeting")
        .header("accept", "application/json")
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer.headers().contains_key("allow"));
    let body: serde_json::Value = answer.json().expect("a JSON body");
    assert_eq!(body["status"], 405);
}
