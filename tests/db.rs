//! `tiny::db()` against the real PostgreSQL at `DATABASE_URL`, and against
//! none: the errors a client sees.

use tiny::http::StatusCode;
use tiny::prelude::*;
use tiny::test::Client;

#[controller]
pub struct Sum;

#[controller]
impl Sum {
    async fn get(&self) -> tiny::Result<String> {
        let db = tiny::db().get().await?;
        let row = db.query_one("SELECT 1 + 1", &[]).await?;
        Ok(row.get::<_, i32>(0).to_string())
    }
}

/// Inserts the section twice into a table with a unique column.
#[controller]
pub struct Twice;

#[controller]
impl Twice {
    async fn post(&self, req: &tiny::Request) -> tiny::Result<&'static str> {
        let db = tiny::db().get().await?;
        db.batch_execute("CREATE TABLE IF NOT EXISTS tiny_db_test_unique (name text PRIMARY KEY)")
            .await?;
        let name = &req.path().section;
        for _ in 0..2 {
            db.execute(
                "INSERT INTO tiny_db_test_unique (name) VALUES ($1)",
                &[name],
            )
            .await?;
        }
        Ok("inserted twice?")
    }
}

fn app() -> tiny::App {
    tiny::App::empty().mount::<Sum>().mount::<Twice>()
}

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is needed (tests/run.sh sets it and starts PostgreSQL)")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_go_through_the_pool_and_a_unique_violation_is_409() {
    database_url();
    let client = Client::new(app());
    for _ in 0..3 {
        let sum = client.get("/sum").await;
        assert_eq!((sum.status(), sum.text()), (StatusCode::OK, "2".to_owned()));
    }
    let name = format!("n{}", std::process::id());
    let twice = client
        .request(tiny::http::Method::POST, &format!("/twice/{name}"))
        .header("accept", "application/json")
        .send()
        .await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
    let body: serde_json::Value = twice.json().unwrap();
    assert_eq!(body["status"], 409);
    let text = twice.text();
    assert!(
        !text.contains("tiny_db_test_unique") && !text.contains("pkey"),
        "no table or constraint names: {text}"
    );
}

/// A pool on a port nothing listens on.
static UNREACHABLE: std::sync::OnceLock<(tiny::db::Db, u16)> = std::sync::OnceLock::new();

#[controller]
pub struct Down;

#[controller]
impl Down {
    async fn get(&self) -> tiny::Result<&'static str> {
        let (db, _) = UNREACHABLE.get().expect("set by the test");
        let _connection = db.get().await?;
        Ok("connected?")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_unreachable_a_json_client_gets_503_without_driver_text() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    // Built while the database is down: nothing connects yet.
    let db = tiny::db::Db::from_url(&url).expect("a connection string");
    assert!(UNREACHABLE.set((db, port)).is_ok(), "set once");
    let client = Client::new(tiny::App::empty().mount::<Down>());
    let answer = client
        .request(tiny::http::Method::GET, "/down")
        .header("accept", "application/json")
        .send()
        .await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers().contains_key("retry-after"));
    let body: serde_json::Value = answer.json().expect("a JSON body");
    assert_eq!(body["status"], 503);
    assert_eq!(body["error"], "Service Unavailable");
    assert!(body["error_id"].is_string(), "{body}");
    let text = answer.text();
    for detail in ["127.0.0.1", &port.to_string(), "refused", "postgres"] {
        assert!(!text.contains(detail), "`{detail}` in {text}");
    }
}
