//! The seed's Heartbeat: `{"ts": …, "load": …}` every 5 seconds at
//! `/heartbeat`, and a page at `/` that shows the values as they arrive.
//!
//! ```sh
//! cargo run --example heartbeat    # then open http://127.0.0.1:8080/
//! curl -N http://127.0.0.1:8080/heartbeat
//! ```

use tiny::prelude::*;

/// `GET /heartbeat`: one frame at once, then one every 5 s.
#[controller]
pub struct Heartbeat;

#[controller]
impl Heartbeat {
    #[sse(poll = 5)]
    async fn get(&self) -> Option<String> {
        Some(json!({ "ts": unix_time(), "load": load_average() }).to_string())
    }
}

/// `GET /`: the page whose script opens the stream.
#[controller]
pub struct Home;

#[controller]
impl Home {
    fn get(&self) -> Html<&'static str> {
        Html(PAGE)
    }
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tiny · heartbeat</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 3rem auto; max-width: 32rem; }
  dd { font: 2rem ui-monospace, monospace; margin: 0 0 1rem; }
  #status { color: #777; }
</style>
<h1>Heartbeat</h1>
<dl>
  <dt>Server time</dt><dd id="ts">…</dd>
  <dt>Load (1 min)</dt><dd id="load">…</dd>
  <dt>Beats received</dt><dd id="count">0</dd>
</dl>
<p id="status">connecting…</p>
<script>
  const es = new EventSource('/heartbeat');
  let count = 0;
  es.onopen = () => { document.getElementById('status').textContent = 'connected'; };
  es.onmessage = ({ data }) => {
    const { ts, load } = JSON.parse(data);
    document.getElementById('ts').textContent = new Date(ts * 1000).toLocaleTimeString();
    document.getElementById('load').textContent = load === null ? 'n/a' : load.toFixed(2);
    document.getElementById('count').textContent = ++count;
  };
  es.onerror = () => {
    document.getElementById('status').textContent = 'disconnected, the browser will retry';
  };
</script>
</html>
"#;

#[tokio::main]
async fn main() -> tiny::Result<()> {
    tiny::App::new().serve().await
}
