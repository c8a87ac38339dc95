//! Verb method arguments beyond the request: managed state, axum
//! extractors from the head, and one body extractor last.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Query;
use tiny::Request;
use tiny::State;
use tiny::http::{HeaderMap, Method, StatusCode};
use tiny::prelude::*;
use tiny::test::Client;

#[derive(Default)]
pub struct Visits(AtomicU64);

pub struct Greeting(&'static str);

#[derive(serde::Deserialize)]
pub struct Page {
    n: u32,
}

#[derive(serde::Deserialize)]
pub struct NewUser {
    name: String,
}

#[controller]
pub struct Users;

#[controller]
impl Users {
    fn get(
        &self,
        visits: State<Visits>,
        Query(page): Query<Page>,
        headers: HeaderMap,
        req: &Request,
    ) -> String {
        let count = visits.0.fetch_add(1, Ordering::SeqCst) + 1;
        let agent = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        format!(
            "visit {count}, page {}, {agent}, {}",
            page.n,
            req.path().section
        )
    }

    async fn post(&self, greeting: State<Greeting>, Json(user): Json<NewUser>) -> String {
        format!("{} {}", greeting.0, user.name)
    }
}

/// A poll stream reads its state on every call.
#[controller]
pub struct Counts;

#[controller]
impl Counts {
    #[sse(poll = "10ms")]
    fn get(&self, visits: State<Visits>) -> Option<String> {
        Some(visits.0.fetch_add(1, Ordering::SeqCst).to_string())
    }
}

/// Asks for a state no test app manages.
pub struct Missing;

#[controller]
pub struct Needy;

#[controller]
impl Needy {
    fn get(&self, _missing: State<Missing>) -> &'static str {
        "unreachable"
    }
}

fn app() -> tiny::App {
    tiny::App::empty()
        .manage(Visits::default())
        .manage(Greeting("hello"))
        .mount::<Users>()
        .mount::<Counts>()
}

#[tokio::test]
async fn state_and_head_extractors_are_arguments() {
    let client = Client::new(app());
    for n in 1..=2 {
        let answer = client
            .request(Method::GET, "/users/ada?n=7")
            .header("user-agent", "tests")
            .send()
            .await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.text(), format!("visit {n}, page 7, tests, ada"));
    }
}

#[tokio::test]
async fn a_body_extractor_comes_last() {
    let client = Client::new(app());
    let answer = client
        .request(Method::POST, "/users")
        .json(&serde_json::json!({ "name": "ada" }))
        .send()
        .await;
    assert_eq!(
        (answer.status(), answer.text()),
        (StatusCode::OK, "hello ada".into())
    );
}

#[tokio::test]
async fn rejections_answer_with_axums_status_and_message() {
    let client = Client::new(app());
    let bad_query = client.get("/users?n=many").await;
    assert_eq!(bad_query.status(), StatusCode::BAD_REQUEST);
    assert!(bad_query.text().contains("n"), "{}", bad_query.text());
    let not_json = client
        .request(Method::POST, "/users")
        .body("name=ada")
        .send()
        .await;
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bad_json = client
        .request(Method::POST, "/users")
        .header("content-type", "application/json")
        .body("{\"nom\": 1}")
        .send()
        .await;
    assert_eq!(bad_json.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_json_client_gets_a_rejection_as_json() {
    let client = Client::new(app());
    let bad_json = client
        .request(Method::POST, "/users")
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body("{\"nom\": 1}")
        .send()
        .await;
    assert_eq!(bad_json.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_json.headers()["content-type"], "application/json");
    let body: serde_json::Value = bad_json.json().expect("a JSON body");
    assert_eq!(body["status"], 422);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("name")),
        "axum's message names the missing field: {body}"
    );
}

/// `GET /extended`: asks for an `Extension` no layer provides.
#[controller]
pub struct Extended;

#[controller]
impl Extended {
    fn get(&self, tiny::extract::Extension(name): tiny::extract::Extension<String>) -> String {
        name
    }
}

#[tokio::test]
async fn a_server_error_rejection_keeps_its_internal_detail_to_the_log() {
    let client = Client::new(tiny::App::empty().mount::<Extended>());
    let answer = client.get("/extended").await;
    assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = answer.text();
    assert!(text.starts_with("Internal Server Error"), "{text}");
    for detail in ["Extension", "String", "forgot"] {
        assert!(!text.contains(detail), "{text}");
    }
}

#[tokio::test]
async fn a_poll_method_gets_its_state_on_every_call() {
    let client = Client::new(app());
    let mut events = client.sse("/counts").await;
    let first: u64 = events.next().await.unwrap().data.parse().unwrap();
    let second: u64 = events.next().await.unwrap().data.parse().unwrap();
    assert_eq!(second, first + 1);
}

#[test]
fn an_app_without_a_state_its_controllers_take_refuses_to_start() {
    let error = tiny::App::empty()
        .mount::<Needy>()
        .try_router()
        .expect_err("refused");
    let message = error.message();
    assert!(message.contains("Needy"), "{message}");
    assert!(message.contains("extractors::Missing"), "{message}");
    assert!(message.contains("App::manage"), "{message}");
}
