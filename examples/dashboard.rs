//! The seed's dashboard client, served by a job that reports progress:
//! an unnamed message when it starts (`onmessage` + `JSON.parse`), named
//! `progress` events (`addEventListener('progress', …)`), and `[DONE]`, after
//! which the page closes its EventSource.
//!
//! ```sh
//! cargo run --example dashboard        # then open http://127.0.0.1:8080/
//! curl -N http://127.0.0.1:8080/sse/dashboard
//! ```

use std::time::Duration;

use tiny::prelude::*;

/// A job of ten steps; each stream runs its own.
struct Job {
    step: u32,
    steps: u32,
}

impl Job {
    /// One tick of work: what to tell the page about it.
    fn advance(&mut self) -> Option<Event> {
        self.step += 1;
        match self.step {
            1 => Some(Event::json(&json!({ "message": "job started", "steps": self.steps })).ok()?),
            n if n <= self.steps + 1 => {
                let done = n - 1;
                let progress =
                    json!({ "done": done, "of": self.steps, "percent": done * 100 / self.steps });
                Some(Event::json(&progress).ok()?.event("progress"))
            }
            _ => Some(Event::data(DONE)),
        }
    }
}

/// `GET /sse/dashboard`: the job's progress, then `[DONE]`.
#[controller(path = "/sse/dashboard")]
pub struct Dashboard;

#[controller]
impl Dashboard {
    fn get(&self, req: &Request) -> EventStream {
        // `?steps=N` makes the job longer or shorter (default 10).
        let steps = req
            .query_value("steps")
            .and_then(|s| s.parse().ok())
            .filter(|&s| (1..=1000).contains(&s))
            .unwrap_or(10);
        let mut job = Job { step: 0, steps };
        tiny::sse()
            .stream(
                move || std::future::ready(job.advance()),
                Duration::from_millis(300),
            )
            .retry(Duration::from_millis(500))
    }
}

/// `GET /`: the seed's client script.
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
<title>tiny · dashboard</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 3rem auto; max-width: 32rem; }
  progress { width: 100%; height: 1.5rem; }
  #log { color: #555; font: 14px ui-monospace, monospace; }
</style>
<h1>Dashboard</h1>
<progress id="bar" max="100" value="0"></progress>
<p><span id="percent">0</span>% · <span id="state">connecting…</span></p>
<ol id="log"></ol>
<script>
  window.opens = 0;
  const log = (text) => {
    const li = document.createElement('li');
    li.textContent = text;
    document.getElementById('log').append(li);
  };
  const updateUI = (payload) => {
    document.getElementById('state').textContent = payload.message;
    log(payload.message);
  };
  const updateProgress = ({ percent, done, of }) => {
    document.getElementById('bar').value = percent;
    document.getElementById('percent').textContent = percent;
    document.getElementById('state').textContent = `step ${done} of ${of}`;
  };

  const es = new EventSource('/sse/dashboard');
  window.es = es;
  es.onopen = () => { window.opens += 1; };
  es.onmessage = ({ data }) => {
    if (data === '[DONE]') {
      es.close();
      document.getElementById('state').textContent = 'done';
      log('[DONE]: stream closed');
      return;
    }
    const payload = JSON.parse(data);
    updateUI(payload);
  };
  es.addEventListener('progress', e => updateProgress(JSON.parse(e.data)));
  es.onerror = (err) => {
    console.warn('SSE disconnected, browser will retry');
    document.getElementById('state').textContent = 'disconnected, retrying…';
  };
</script>
</html>
"#;

#[tokio::main]
async fn main() -> tiny::Result<()> {
    tiny::App::new().serve().await
}
