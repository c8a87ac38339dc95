//! Controllers and routing over a real socket: routes from names, path
//! sections, verbs, 404/405/OPTIONS, request helpers, errors, and discovery.

mod support;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::wire::raw_request;
use support::{TestServer, client};
use tiny::prelude::*;

/// The sections of the request path, as the controller sees them.
fn sections(req: &Request) -> Json<Value> {
    let path = req.path();
    Json(json!({
        "controller": path.controller,
        "section": path.section,
        "slug": path.slug,
        "full": path.full,
    }))
}

/// `GET /user-updates…`: routed from its name.
#[controller]
pub struct UserUpdates;

#[controller]
impl UserUpdates {
    fn get(&self, req: &Request) -> Json<Value> {
        sections(req)
    }
}

/// `GET /http-status`: an acronym becomes one word.
#[controller]
pub struct HTTPStatus;

#[controller]
impl HTTPStatus {
    fn get(&self) -> &'static str {
        "http status"
    }
}

/// `GET /`.
#[controller]
pub struct Home;

#[controller]
impl Home {
    fn get(&self) -> &'static str {
        "home"
    }
}

/// `GET /sse/dashboard…`: the name is not the route.
#[controller(path = "/sse/dashboard")]
pub struct Dashboard;

#[controller]
impl Dashboard {
    async fn get(&self, req: Request) -> Json<Value> {
        sections(&req)
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Order {
    id: u32,
    item: String,
}

/// Every verb, sync and async, with and without the request.
#[controller]
pub struct Orders;

#[controller]
impl Orders {
    /// Sync, borrowing the request.
    fn get(&self, req: &Request) -> String {
        format!("order {}", req.path().section)
    }

    /// Async, owning the request, `tiny::Result<T>`.
    async fn post(&self, req: Request) -> tiny::Result<Json<Order>> {
        let order: Order = req.json()?;
        Ok(Json(order))
    }

    /// An `Err` answers with its status and message.
    async fn put(&self) -> tiny::Result<String> {
        Err(tiny::Error::forbidden("orders are read-only here"))
    }

    /// Async, borrowing the request.
    async fn patch(&self, req: &Request) -> tiny::Result<String> {
        Ok(format!("patched {}", req.text()?))
    }

    /// Sync, no request.
    fn delete(&self) -> (tiny::http::StatusCode, &'static str) {
        (tiny::http::StatusCode::ACCEPTED, "deleted")
    }
}

/// Only `get`: every other verb is 405.
#[controller]
pub struct ReadOnly;

#[controller]
impl ReadOnly {
    fn get(&self) -> &'static str {
        "read only"
    }
}

/// Its own `OPTIONS`, e.g. a CORS preflight.
#[controller]
pub struct Preflight;

#[controller]
impl Preflight {
    fn get(&self) -> &'static str {
        "preflight"
    }

    fn options(&self) -> ([(&'static str, &'static str); 1], &'static str) {
        ([("access-control-allow-methods", "GET")], "custom options")
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    n: u32,
    name: Option<String>,
}

/// `req.query()`.
#[controller]
pub struct Search;

#[controller]
impl Search {
    fn get(&self, req: &Request) -> tiny::Result<String> {
        let page: Page = req.query()?;
        Ok(format!(
            "page {} for {}",
            page.n,
            page.name.as_deref().unwrap_or("nobody")
        ))
    }
}

/// Claims `/user-updates` too. Its `Route` is written by hand, so it is not
/// registered for discovery: only the apps that mount it see the clash,
/// and `App::new()` in this binary stays valid.
pub struct Impostor;

impl tiny::Route for Impostor {
    const PATH: &'static str = "/user-updates";
    const NAME: &'static str = "Impostor";
    fn build() -> Self {
        Impostor
    }
}

#[controller]
impl Impostor {
    fn get(&self) -> &'static str {
        "impostor"
    }
}

async fn get_text(server: &TestServer, path: &str) -> (u16, String) {
    let response = client()
        .get(server.url(path))
        .send()
        .await
        .expect("request failed");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn get_sections(server: &TestServer, path: &str) -> Value {
    let response = client()
        .get(server.url(path))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("sections as JSON")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` header"))
        .to_str()
        .expect("visible ASCII")
}

#[tokio::test]
async fn the_route_is_the_name_in_kebab_case() {
    let server = TestServer::start(App::empty().mount::<UserUpdates>().mount::<HTTPStatus>()).await;
    let sections = get_sections(&server, "/user-updates").await;
    assert_eq!(sections["controller"], "user-updates");
    assert_eq!(
        get_text(&server, "/http-status").await,
        (200, "http status".into())
    );
    assert_eq!(get_text(&server, "/UserUpdates").await.0, 404);
    assert_eq!(get_text(&server, "/user_updates").await.0, 404);
}

#[tokio::test]
async fn home_answers_only_the_root() {
    let server = TestServer::start(App::empty().mount::<Home>()).await;
    assert_eq!(get_text(&server, "/").await, (200, "home".into()));
    // Home is not a catch-all: it would hide every 404.
    assert_eq!(get_text(&server, "/home").await.0, 404);
    assert_eq!(get_text(&server, "/about/team").await.0, 404);
}

#[tokio::test]
async fn a_path_override_replaces_the_name() {
    let server = TestServer::start(App::empty().mount::<Dashboard>()).await;
    let sections = get_sections(&server, "/sse/dashboard/eu/west").await;
    assert_eq!(
        sections,
        json!({
            "controller": "sse/dashboard",
            "section": "eu",
            "slug": "west",
            "full": "/sse/dashboard/eu/west",
        })
    );
    assert_eq!(get_text(&server, "/dashboard").await.0, 404);
    assert_eq!(get_text(&server, "/sse").await.0, 404);
}

#[tokio::test]
async fn deeper_paths_reach_the_controller_as_sections() {
    let server = TestServer::start(App::empty().mount::<UserUpdates>()).await;
    assert_eq!(
        get_sections(&server, "/user-updates").await,
        json!({ "controller": "user-updates", "section": "", "slug": "", "full": "/user-updates" })
    );
    assert_eq!(
        get_sections(&server, "/user-updates/").await,
        json!({ "controller": "user-updates", "section": "", "slug": "", "full": "/user-updates/" })
    );
    assert_eq!(
        get_sections(&server, "/user-updates/42").await,
        json!({ "controller": "user-updates", "section": "42", "slug": "", "full": "/user-updates/42" })
    );
    assert_eq!(
        get_sections(&server, "/user-updates/42/orders/7/items").await,
        json!({
            "controller": "user-updates",
            "section": "42",
            "slug": "orders/7/items",
            "full": "/user-updates/42/orders/7/items",
        })
    );
}

#[tokio::test]
async fn percent_encoded_segments_are_decoded() {
    let server = TestServer::start(App::empty().mount::<UserUpdates>()).await;
    assert_eq!(
        get_sections(&server, "/user-updates/J%C3%BCrgen/a%20b/c%3Fd").await,
        json!({
            "controller": "user-updates",
            "section": "Jürgen",
            "slug": "a b/c?d",
            "full": "/user-updates/Jürgen/a b/c?d",
        })
    );
}

#[tokio::test]
async fn a_path_that_is_not_utf8_once_decoded_is_400() {
    let server = TestServer::start(App::empty().mount::<UserUpdates>()).await;
    for path in ["/user-updates/%FF", "/user-updates/42/ok/%C3%28"] {
        let (status, message) = get_text(&server, path).await;
        assert_eq!(status, 400, "GET {path}");
        assert!(message.contains("not valid UTF-8"), "GET {path}: {message}");
    }
    // The server is unharmed.
    assert_eq!(
        get_sections(&server, "/user-updates/1").await["section"],
        "1"
    );
}

#[tokio::test]
async fn a_raw_non_utf8_byte_in_the_request_line_is_400_and_the_server_goes_on() {
    let server = TestServer::start(App::empty().mount::<UserUpdates>()).await;
    for request in [
        &b"GET /user-updates/\xFF HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"[..],
        b"GET /user-updates/42/caf\xE9 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"GET /user-updates/\xC3\x28 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        let response = raw_request(server.addr, request).await;
        assert_eq!(response.status, 400, "{}", response.text);
    }
    // After those refusals the server still serves.
    let response = raw_request(
        server.addr,
        b"GET /user-updates/caf%C3%A9 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert!(
        response.text.contains(r#""section":"café""#),
        "{}",
        response.text
    );
}

#[tokio::test]
async fn raw_utf8_in_the_request_line_reads_as_its_percent_encoded_form() {
    // Browsers always percent-encode; the `http` crate still accepts raw
    // UTF-8 in a path, and tiny then sees the same sections as for the
    // encoded form, never a different or half-decoded path.
    let server = TestServer::start(App::empty().mount::<UserUpdates>()).await;
    let response = raw_request(
        server.addr,
        "GET /user-updates/café/naïve HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            .as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let body = &response.text[response.text.find("\r\n\r\n").expect("a head") + 4..];
    let sections: Value = serde_json::from_str(body).expect("sections as JSON");
    assert_eq!(
        sections,
        get_sections(&server, "/user-updates/caf%C3%A9/na%C3%AFve").await
    );
    assert_eq!(sections["section"], "café");
    assert_eq!(sections["slug"], "naïve");
}

#[tokio::test]
async fn unknown_paths_are_404_with_a_message() {
    let server = TestServer::start(App::empty().mount::<UserUpdates>()).await;
    let (status, message) = get_text(&server, "/nowhere/at/all").await;
    assert_eq!(status, 404);
    assert!(message.contains("/nowhere/at/all"), "{message}");
    // A path that only starts with a controller's name is not under it.
    assert_eq!(get_text(&server, "/user-updatesX").await.0, 404);
    assert_eq!(get_text(&server, "/").await.0, 404);
}

#[tokio::test]
async fn a_missing_verb_is_405_with_allow() {
    let server = TestServer::start(App::empty().mount::<ReadOnly>()).await;
    for path in ["/read-only", "/read-only/section/slug"] {
        for method in [
            reqwest::Method::POST,
            reqwest::Method::PUT,
            reqwest::Method::PATCH,
            reqwest::Method::DELETE,
            reqwest::Method::TRACE,
        ] {
            let response = client()
                .request(method.clone(), server.url(path))
                .send()
                .await
                .expect("request failed");
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_eq!(
                header(&response, "allow"),
                "GET, HEAD, OPTIONS",
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn options_answers_204_with_allow_by_default() {
    let server = TestServer::start(App::empty().mount::<ReadOnly>().mount::<Orders>()).await;
    for (path, allow) in [
        ("/read-only", "GET, HEAD, OPTIONS"),
        ("/orders/1", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    ] {
        let response = client()
            .request(reqwest::Method::OPTIONS, server.url(path))
            .send()
            .await
            .expect("request failed");
        assert_eq!(response.status(), 204, "OPTIONS {path}");
        assert_eq!(header(&response, "allow"), allow, "OPTIONS {path}");
    }
}

#[tokio::test]
async fn a_user_defined_options_replaces_the_default() {
    let server = TestServer::start(App::empty().mount::<Preflight>()).await;
    let response = client()
        .request(reqwest::Method::OPTIONS, server.url("/preflight"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-methods"), "GET");
    assert_eq!(response.text().await.unwrap(), "custom options");
    // The 405 of a missing verb lists the user's OPTIONS once.
    let response = client()
        .post(server.url("/preflight"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), 405);
    assert_eq!(header(&response, "allow"), "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn head_is_answered_by_get_without_a_body() {
    let server = TestServer::start(App::empty().mount::<Orders>()).await;
    let response = client()
        .head(server.url("/orders/9"))
        .send()
        .await
        .expect("request failed");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/plain; charset=utf-8"
    );
    // What GET would send: "order 9".
    assert_eq!(header(&response, "content-length"), "7");
    assert_eq!(response.bytes().await.unwrap().len(), 0);
}

#[tokio::test]
async fn sync_and_async_methods_with_and_without_the_request() {
    let server = TestServer::start(App::empty().mount::<Orders>()).await;
    let http = client();

    // Sync, `&Request`.
    assert_eq!(
        get_text(&server, "/orders/12").await,
        (200, "order 12".into())
    );

    // Async, `Request`, `Ok(Json)`.
    let order = Order {
        id: 7,
        item: "tea".into(),
    };
    let response = http
        .post(server.url("/orders"))
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Order>().await.unwrap(), order);

    // Async, `&Request`.
    let response = http
        .patch(server.url("/orders/7"))
        .body("quantity=2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "patched quantity=2");

    // Sync, no request, a tuple response.
    let response = http.delete(server.url("/orders/7")).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.text().await.unwrap(), "deleted");
}

#[tokio::test]
async fn an_err_answers_with_its_status_and_message() {
    let server = TestServer::start(App::empty().mount::<Orders>()).await;
    let response = client().put(server.url("/orders/1")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.text().await.unwrap().trim_end(),
        "orders are read-only here"
    );
}

#[tokio::test]
async fn json_bodies_are_checked_before_the_method_sees_them() {
    let server = TestServer::start(App::empty().mount::<Orders>().body_limit(64)).await;
    let http = client();

    let response = http
        .post(server.url("/orders"))
        .header("content-type", "application/json")
        .body(r#"{"id": "seven"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response.text().await.unwrap().contains("invalid JSON body"),
        "a 400 says what is wrong"
    );

    let response = http
        .post(server.url("/orders"))
        .header("content-type", "text/plain")
        .body(r#"{"id": 1, "item": "tea"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert!(response.text().await.unwrap().contains("application/json"));

    let response = http
        .post(server.url("/orders"))
        .body(r#"{"id": 1, "item": "tea"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "no Content-Type is not JSON");

    let big = Order {
        id: 1,
        item: "x".repeat(100),
    };
    let response = http
        .post(server.url("/orders"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("64 bytes"));

    // Without a `Content-Length`, the limit holds all the same.
    let chunks = ["{\"id\": 1, ", "\"item\": \"", &"x".repeat(100), "\"}"];
    let stream = futures_util::stream::iter(chunks.map(|c| Ok::<_, std::io::Error>(c.to_owned())));
    let response = http
        .post(server.url("/orders"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // Under the limit, the same route works.
    let small = Order {
        id: 1,
        item: "tea".into(),
    };
    let response = http
        .post(server.url("/orders"))
        .json(&small)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_query_string_is_deserialized() {
    let server = TestServer::start(App::empty().mount::<Search>()).await;
    assert_eq!(
        get_text(&server, "/search?n=3&name=J%C3%BCrgen+X").await,
        (200, "page 3 for Jürgen X".into())
    );
    assert_eq!(
        get_text(&server, "/search?n=1").await,
        (200, "page 1 for nobody".into())
    );
    let (status, message) = get_text(&server, "/search?n=three").await;
    assert_eq!(status, 400);
    assert!(message.contains("invalid query string"), "{message}");
    assert_eq!(get_text(&server, "/search").await.0, 400, "`n` is required");
}

#[tokio::test]
async fn app_new_serves_every_controller_of_the_binary() {
    let server = TestServer::start(App::new()).await;
    assert_eq!(get_text(&server, "/").await, (200, "home".into()));
    assert_eq!(
        get_text(&server, "/http-status").await,
        (200, "http status".into())
    );
    assert_eq!(
        get_text(&server, "/orders/5").await,
        (200, "order 5".into())
    );
    assert_eq!(
        get_sections(&server, "/sse/dashboard/x").await["section"],
        "x"
    );
    assert_eq!(
        get_sections(&server, "/user-updates/1").await["controller"],
        "user-updates"
    );
    assert_eq!(
        get_text(&server, "/search?n=2").await,
        (200, "page 2 for nobody".into())
    );
    // `Impostor` is not registered, so it cannot take `/user-updates`.
    assert_eq!(get_text(&server, "/impostor").await.0, 404);
}

#[tokio::test]
async fn two_controllers_on_one_path_are_an_error() {
    let app = App::empty().mount::<UserUpdates>().mount::<Impostor>();
    let error = app
        .try_router()
        .expect_err("two controllers answer /user-updates");
    assert_eq!(error.status(), 500);
    for part in ["UserUpdates", "Impostor", "/user-updates", "path ="] {
        assert!(error.message().contains(part), "{part} in: {error}");
    }
    // Serving such an app fails at once instead of answering one of them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = App::empty()
        .mount::<UserUpdates>()
        .mount::<Impostor>()
        .run(listener, std::future::pending())
        .await;
    assert!(served.is_err());
    // `serve` refuses before it binds: the address is taken, yet the error
    // is about the paths, not the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let served = App::empty()
        .mount::<UserUpdates>()
        .mount::<Impostor>()
        .addr(taken.local_addr().unwrap())
        .serve()
        .await
        .expect_err("two controllers answer /user-updates");
    assert!(served.message().contains("both answer"), "{served}");
}

#[test]
fn router_panics_on_two_controllers_on_one_path() {
    let app = App::empty().mount::<UserUpdates>().mount::<Impostor>();
    let panic = std::panic::catch_unwind(|| app.router()).expect_err("router() must panic");
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(message.contains("/user-updates"), "{message}");
}

#[tokio::test]
async fn mounting_a_controller_twice_mounts_it_once() {
    let app = App::empty().mount::<UserUpdates>().mount::<UserUpdates>();
    assert!(app.try_router().is_ok());
    let server = TestServer::start(app).await;
    assert_eq!(
        get_sections(&server, "/user-updates/3").await["section"],
        "3"
    );
}

/// Answers with the URI it sees and its section, and its cookie.
#[controller(path = "/whoami")]
pub struct WhoAmI;

#[controller]
impl WhoAmI {
    fn get(&self, req: &Request) -> tiny::Result<Json<Value>> {
        Ok(Json(json!({
            "uri": req.uri().to_string(),
            "section": req.section_as::<u32>()?,
            "cookie": req.cookie("session"),
        })))
    }
}

#[tokio::test]
async fn nested_in_an_axum_app_the_request_keeps_its_original_uri() {
    let app = App::empty().mount::<WhoAmI>();
    let router = axum::Router::new().nest("/api", app.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let response = client()
        .get(format!("http://{addr}/api/whoami/7?x=1"))
        .header("cookie", "theme=dark; session=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "uri": "/api/whoami/7?x=1", "section": 7, "cookie": "abc" })
    );
    // A section that does not parse is the client's mistake.
    let bad = client()
        .get(format!("http://{addr}/api/whoami/seven"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn app_layers_wrap_pages_and_streams_and_serve_still_shuts_down() {
    use tiny::http::{HeaderValue, header};
    let app = App::empty()
        .mount::<WhoAmI>()
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                response
                    .headers_mut()
                    .insert(header::SERVER, HeaderValue::from_static("tiny-test"));
                response
            },
        ));
    let server = TestServer::start(app).await;
    let page = client().get(server.url("/whoami/1")).send().await.unwrap();
    assert_eq!(page.headers()["server"], "tiny-test");
    server
        .shutdown()
        .await
        .expect("tiny's serve and shutdown are kept");
}

#[test]
fn a_malformed_setting_is_an_error_from_try_router_and_a_logged_default_from_router() {
    let app = App::empty().mount::<WhoAmI>().cors(["not-an-origin"]);
    let error = app.try_router().expect_err("a malformed origin");
    assert!(error.message().contains("not-an-origin"), "{error}");
    // Nesting users get a router with no cross origin allowed, not a panic.
    let _router = app.router();
}
