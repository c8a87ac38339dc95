//! The examples in a real headless Chromium: what a person opening the pages sees.

mod support;

use std::time::Duration;

use support::TestServer;
use support::browser::{Browser, ExampleServer, SelfSigned};
use support::cutter::Cutter;
use tiny::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_page_shows_new_values() {
    let server = ExampleServer::start("heartbeat", "127.0.0.1:0");
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    browser
        .wait_for(
            "two beats",
            "Number(document.getElementById('count').textContent) >= 2",
        )
        .await;
    let ts = browser
        .eval("document.getElementById('ts').textContent")
        .await;
    assert_ne!(ts, "…", "the time was filled in from the frame's JSON");
    let status = browser
        .eval("document.getElementById('status').textContent")
        .await;
    assert_eq!(status, "connected");
    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_progress_events_update_the_dashboard_and_done_closes_it() {
    let server = ExampleServer::start("dashboard", "127.0.0.1:0");
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    // The unnamed first message went through onmessage and JSON.parse.
    browser
        .wait_for(
            "the start message",
            "document.getElementById('log').textContent.includes('job started')",
        )
        .await;
    // Named `progress` events moved the bar.
    browser
        .wait_for("progress", "document.getElementById('bar').value > 0")
        .await;
    // `[DONE]` made the page close its EventSource.
    browser
        .wait_for(
            "the stream to be closed",
            "window.es.readyState === EventSource.CLOSED",
        )
        .await;
    assert_eq!(
        browser.eval("document.getElementById('bar').value").await,
        100
    );
    assert_eq!(
        browser
            .eval("document.getElementById('state').textContent")
            .await,
        "done"
    );
    // The stream asked for a 500 ms retry: a reconnect would have opened
    // again well within this wait. None follows a closed EventSource.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        browser.eval("window.opens").await,
        1,
        "the page reconnected after [DONE]"
    );
    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_by_itself_after_a_server_restart() {
    let server = ExampleServer::start("heartbeat", "127.0.0.1:0");
    let addr = server.addr;
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    browser
        .wait_for(
            "a beat",
            "Number(document.getElementById('count').textContent) >= 1",
        )
        .await;
    server.stop();
    browser
        .wait_for(
            "the page to notice",
            "document.getElementById('status').textContent.startsWith('disconnected')",
        )
        .await;
    let before = browser
        .eval("Number(document.getElementById('count').textContent)")
        .await
        .as_u64()
        .unwrap();
    let restarted = ExampleServer::start("heartbeat", &addr.to_string());
    browser
        .wait_for(
            "a beat from the restarted server",
            &format!("Number(document.getElementById('count').textContent) > {before}"),
        )
        .await;
    assert_eq!(
        browser
            .eval("document.getElementById('status').textContent")
            .await,
        "connected"
    );
    browser.close().await;
    restarted.stop();
}

/// Six streams of one page: HTTP/1.1 browsers allow six connections per host.
#[controller(path = "/ticks")]
pub struct Ticks;

#[controller]
impl Ticks {
    fn get(&self, req: &Request) -> EventStream {
        let n = req.path().section.clone();
        tiny::sse().stream(
            move || std::future::ready(Some(n.clone())),
            Duration::from_millis(200),
        )
    }
}

#[controller]
pub struct Home;

#[controller]
impl Home {
    fn get(&self) -> Html<&'static str> {
        Html(
            r#"<!doctype html><meta charset="utf-8"><title>six</title><script>
            window.got = [0, 0, 0, 0, 0, 0];
            for (let i = 0; i < 6; i++) {
              const es = new EventSource('/ticks/' + i);
              es.onmessage = ({ data }) => { if (data === String(i)) window.got[i] += 1; };
            }
            </script>"#,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_streams_from_one_page_all_receive() {
    let server = TestServer::start(tiny::App::empty().mount::<Ticks>().mount::<Home>()).await;
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    browser
        .wait_for(
            "every stream to receive twice",
            "window.got.every(n => n >= 2)",
        )
        .await;
    browser.close().await;
}

/// Twelve streams of one page: more than HTTP/1.1's six connections per
/// host, so they all receive only over HTTP/2.
#[controller]
pub struct Twelve;

#[controller]
impl Twelve {
    fn get(&self) -> Html<&'static str> {
        Html(
            r#"<!doctype html><meta charset="utf-8"><title>twelve</title><script>
            window.got = Array(12).fill(0);
            for (let i = 0; i < 12; i++) {
              const es = new EventSource('/ticks/' + i);
              es.onmessage = ({ data }) => { if (data === String(i)) window.got[i] += 1; };
            }
            </script>"#,
        )
    }
}

const NEGOTIATED: &str = "performance.getEntriesByType('navigation')[0].nextHopProtocol";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_streams_from_one_page_all_receive_over_http2() {
    let cert = SelfSigned::new();
    let app = tiny::App::empty()
        .mount::<Ticks>()
        .mount::<Twelve>()
        .tls(&cert.cert, &cert.key);
    let server = TestServer::start(app).await;
    let browser = Browser::start().await;
    let url = format!("https://localhost:{}/twelve", server.addr.port());
    browser.client.goto(&url).await.unwrap();
    assert_eq!(browser.eval(NEGOTIATED).await, "h2");
    browser
        .wait_for(
            "every stream to receive twice",
            "window.got.every(n => n >= 2)",
        )
        .await;
    assert_eq!(tiny::sse::live_streams(), 12, "twelve streams open at once");
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_example_over_https_is_served_over_http2() {
    let cert = SelfSigned::new();
    let server = ExampleServer::start_with("heartbeat", "127.0.0.1:0", &cert.env());
    assert!(server.url("/").starts_with("https://"));
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    assert_eq!(browser.eval(NEGOTIATED).await, "h2");
    browser
        .wait_for(
            "a beat",
            "Number(document.getElementById('count').textContent) >= 1",
        )
        .await;
    let stream = browser
        .eval("performance.getEntriesByType('resource').filter(e => e.name.endsWith('/heartbeat')).map(e => e.nextHopProtocol).join()")
        .await;
    assert!(
        stream == "h2" || stream == "",
        "the stream went over {stream}"
    );
    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_updates_page_receives_what_its_form_sends() {
    let server = ExampleServer::start("user_updates", "127.0.0.1:0");
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    browser
        .wait_for(
            "the stream to open",
            "document.getElementById('status').textContent === 'following user 42'",
        )
        .await;
    // Type a message and submit the form, as a person would.
    browser
        .type_into("#message", r#"{"status":"processed","order":1234}"#)
        .await;
    browser.click("#send button").await;
    browser
        .wait_for(
            "the message in the list",
            r#"document.getElementById('updates').textContent.includes('"order":1234')"#,
        )
        .await;
    // A producer elsewhere (here: plain HTTP) reaches the same page.
    let sent = support::client()
        .post(server.url("/user-updates/42"))
        .body("[DONE]")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    browser
        .wait_for(
            "[DONE] to close the stream",
            "document.getElementById('status').textContent === 'done'",
        )
        .await;
    browser.close().await;
    server.stop();
}

/// The network cuts the page's stream (both sockets reset, whatever was in
/// flight lost) three times while messages flow: the browser reconnects by
/// itself with `Last-Event-ID`, and the page ends with every message once,
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_updates_page_keeps_every_message_when_its_connection_is_cut() {
    let server = ExampleServer::start("user_updates", "127.0.0.1:0");
    let cutter = Cutter::start(server.addr).await;
    let browser = Browser::start().await;
    browser.client.goto(&cutter.url("/")).await.unwrap();
    browser
        .wait_for(
            "the stream to open",
            "document.getElementById('status').textContent === 'following user 42'",
        )
        .await;
    // Counts how often the stream opened, to await each reconnection.
    browser
        .eval("(window.opens = 1, es.addEventListener('open', () => window.opens += 1), true)")
        .await;
    let producer = support::client();
    let send = |body: String| {
        let request = producer.post(server.url("/user-updates/42")).body(body);
        async move {
            let sent = request.send().await.expect("send");
            assert_eq!(sent.status(), 202);
        }
    };
    const MESSAGES: usize = 120;
    for n in 1..=MESSAGES {
        send(format!("m{n}")).await;
        if n % 30 == 0 {
            // Cut while the last messages may still be in flight, then let
            // the browser come back before sending on.
            let opens = browser.eval("window.opens").await.as_u64().unwrap();
            assert!(cutter.cut_all() > 0, "the page had no connection to cut");
            browser
                .wait_for(
                    "the browser to reconnect",
                    &format!("window.opens > {opens}"),
                )
                .await;
        }
    }
    send("[DONE]".to_owned()).await;
    browser
        .wait_for(
            "[DONE] to close the stream",
            "document.getElementById('status').textContent === 'done'",
        )
        .await;
    let shown = browser
        .eval("[...document.querySelectorAll('#updates li')].map(li => li.textContent)")
        .await;
    let shown: Vec<String> = serde_json::from_value(shown).unwrap();
    let expected: Vec<String> = (1..=MESSAGES).map(|n| format!("m{n}")).collect();
    let lost = expected.iter().filter(|m| !shown.contains(m)).count();
    let duplicated = shown.len() - shown.iter().collect::<std::collections::HashSet<_>>().len();
    assert_eq!(
        (lost, duplicated),
        (0, 0),
        "lost {lost} and duplicated {duplicated} of {MESSAGES}: {shown:?}"
    );
    assert_eq!(shown, expected, "the page shows the messages out of order");
    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pg_updates_page_shows_rows_as_they_are_inserted() {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is not set: this test needs PostgreSQL (bash tests/run.sh sets it)");
    let server = ExampleServer::start("pg_updates", "127.0.0.1:0");
    let browser = Browser::start().await;
    browser.client.goto(&server.url("/")).await.unwrap();
    browser
        .wait_for(
            "the stream to open",
            "document.getElementById('status').textContent === 'live'",
        )
        .await;
    // Through the page's form.
    let from_form = support::services::unique("form");
    browser.type_into("#add input[name=name]", &from_form).await;
    browser.click("#add button").await;
    browser
        .wait_for(
            "the form's row",
            &format!("document.getElementById('rows').textContent.includes('{from_form}')"),
        )
        .await;
    // Through another program: the seed's trigger notifies whoever inserts.
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    tokio::spawn(connection);
    let from_sql = support::services::unique("psql");
    db.execute("INSERT INTO users (name) VALUES ($1)", &[&from_sql])
        .await
        .unwrap();
    browser
        .wait_for(
            "the inserted row",
            &format!("document.getElementById('rows').textContent.includes('{from_sql}')"),
        )
        .await;
    browser.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_on_a_job_page_both_reach_the_full_bar_and_done() {
    const STEPS: u64 = 8;
    let server = ExampleServer::start("job_progress", "127.0.0.1:0");
    let browser = Browser::start().await;
    let page = server.url(&format!("/job/{}", support::services::unique("tabs")));
    let subscribed = "document.getElementById('status').textContent === 'waiting'";
    browser.client.goto(&page).await.unwrap();
    let first = browser.client.window().await.unwrap();
    browser.wait_for("the first tab's stream", subscribed).await;
    let second = browser.client.new_window(true).await.unwrap().handle;
    browser
        .client
        .switch_to_window(second.clone())
        .await
        .unwrap();
    browser.client.goto(&page).await.unwrap();
    browser
        .wait_for("the second tab's stream", subscribed)
        .await;

    // Both tabs subscribed: the job starts (as the Start button would).
    let job = page.rsplit('/').next().unwrap();
    let started = support::client()
        .post(server.url(&format!("/jobs/{job}")))
        .json(&json!({ "steps": STEPS, "delay_ms": 50 }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);

    for tab in [first, second] {
        browser.client.switch_to_window(tab).await.unwrap();
        browser
            .wait_for(
                "done",
                "document.getElementById('status').textContent === 'done'",
            )
            .await;
        assert_eq!(
            browser
                .eval("[document.getElementById('progress').value, document.getElementById('progress').max]")
                .await,
            json!([STEPS, STEPS]),
            "every step reached this tab"
        );
    }
    browser.close().await;
    server.stop();
}
