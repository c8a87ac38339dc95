//! Origins: a page from another site cannot open a user's stream nor queue
//! messages in their name, unless its origin is listed.

mod support;

use support::{TestServer, client};
use tiny::http::StatusCode;
use tiny::prelude::*;

/// A key stream and its producer, as in the user_updates example.
#[controller(path = "/updates")]
pub struct Updates;

#[controller]
impl Updates {
    #[sse(key = "origins:<section>")]
    fn get(&self) {}

    async fn post(&self, req: &Request) -> tiny::Result<StatusCode> {
        let key = format!("origins:{}", req.path().section);
        tiny::sse().send_key(&key, req.text()?).await?;
        Ok(StatusCode::ACCEPTED)
    }
}

fn app() -> App {
    App::empty().mount::<Updates>()
}

#[tokio::test]
async fn another_origin_is_refused_before_the_queue_is_touched() {
    let server = TestServer::start(app()).await;
    tiny::sse()
        .send_key("origins:a", "for the user")
        .await
        .unwrap();
    // A page on another site opens the user's stream with their cookies.
    let stolen = client()
        .get(server.url("/updates/a"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), 403);
    assert!(stolen.text().await.unwrap().contains("TINY_CORS_ORIGINS"));
    // And posts in their name.
    let forged = client()
        .post(server.url("/updates/a"))
        .header("origin", "https://evil.example")
        .body("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // The user's own page (same origin) gets the message, and only it.
    let own_origin = format!("http://{}", server.addr);
    let response = client()
        .get(server.url("/updates/a"))
        .header("origin", &own_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = support::EventReader::new(response);
    assert_eq!(events.data().await, "for the user");
    tiny::sse().send_key("origins:a", "next").await.unwrap();
    assert_eq!(events.data().await, "next", "the forged message was queued");
}

#[tokio::test]
async fn a_listed_origin_gets_exact_cors_headers_and_preflights() {
    let server = TestServer::start(app().cors(["https://app.example"])).await;
    let response = client()
        .get(server.url("/updates/b"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert_eq!(headers["vary"], "origin");
    assert_eq!(headers["content-type"], "text/event-stream");

    let preflight = client()
        .request(reqwest::Method::OPTIONS, server.url("/updates/b"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert_eq!(headers["access-control-allow-headers"], "content-type");

    // Listing one origin allows that one only.
    let other = client()
        .get(server.url("/updates/b"))
        .header("origin", "https://app.example.evil")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
}
