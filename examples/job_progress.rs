//! Job progress with broadcast topics: a background worker publishes, every
//! open page follows. `POST /jobs/<id>` starts a job that publishes
//! `event: progress` with `{"step": i, "of": N}` on topic `job:<id>`, then
//! `[DONE]`; `GET /job-progress/<id>` is the topic's stream, and
//! `GET /job/<id>` a page with a progress bar. Open it in two tabs: both
//! follow the whole job (key mode would split the steps between them).
//!
//! ```sh
//! cargo run --example job_progress                 # in-process topics; open http://127.0.0.1:8080/job/42
//! curl -N http://127.0.0.1:8080/job-progress/42     # a subscriber
//! curl -X POST http://127.0.0.1:8080/jobs/42        # 10 steps, 300 ms apart
//! curl -H 'content-type: application/json' -d '{"steps": 20, "delay_ms": 100}' http://127.0.0.1:8080/jobs/42
//! ```
//!
//! A page that reconnects (or a `curl -H 'Last-Event-ID: …'`) gets the
//! steps it missed from the topic's history, even after the job ended.

use std::time::Duration;

use serde::Deserialize;
use tiny::http::StatusCode;
use tiny::prelude::*;
use tiny::sse::Template;

/// `GET /job-progress/<id>`: every message published to `job:<id>`.
#[controller]
pub struct JobProgress;

#[controller]
impl JobProgress {
    #[sse(topic = "job:<section>")]
    async fn get(&self, _req: &Request) -> tiny::Result<()> {
        // Runs before the stream opens: authorize here; an Err refuses it.
        Ok(())
    }
}

/// `POST /jobs/<id>`, body optional: `{"steps": N, "delay_ms": M}`.
#[controller]
pub struct Jobs;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct JobSpec {
    steps: u32,
    delay_ms: u64,
}

impl Default for JobSpec {
    fn default() -> Self {
        Self {
            steps: 10,
            delay_ms: 300,
        }
    }
}

#[controller]
impl Jobs {
    async fn post(&self, req: &Request) -> tiny::Result<StatusCode> {
        // The same template as the stream, so a bad <id> is refused the same way.
        let topic = Template::parse("job:<section>")?.render(req.path())?;
        let job: JobSpec = if req.text()?.trim().is_empty() {
            JobSpec::default()
        } else {
            req.json()?
        };
        if job.steps > 10_000 || job.delay_ms > 60_000 {
            return Err(tiny::Error::bad_request(
                "a job has at most 10000 steps, at most 60000 ms apart",
            ));
        }
        tokio::spawn(run(topic, job));
        Ok(StatusCode::ACCEPTED)
    }
}

/// The background job: one `progress` event per step, then `[DONE]`.
async fn run(topic: String, job: JobSpec) {
    for step in 1..=job.steps {
        tokio::time::sleep(Duration::from_millis(job.delay_ms)).await;
        let progress = Event::json(&json!({ "step": step, "of": job.steps }))
            .map(|event| event.event("progress"));
        if let Err(error) = tiny::sse().publish(&topic, progress).await {
            eprintln!("{topic}: step {step} not published: {error}");
            return;
        }
    }
    if let Err(error) = tiny::sse().publish(&topic, DONE).await {
        eprintln!("{topic}: [DONE] not published: {error}");
    }
}

/// `GET /job/<id>`: the page that follows one job.
#[controller]
pub struct Job;

#[controller]
impl Job {
    fn get(&self) -> Html<&'static str> {
        Html(PAGE)
    }
}

/// `GET /`: where to start.
#[controller]
pub struct Home;

#[controller]
impl Home {
    fn get(&self) -> Html<&'static str> {
        Html(HOME)
    }
}

const HOME: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tiny · job progress</title>
<p>Open <a href="/job/42">/job/42</a> in two tabs and press “Start”.</p>
</html>
"#;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tiny · job progress</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 3rem auto; max-width: 36rem; }
  progress { width: 100%; }
  #status { color: #777; }
</style>
<h1>Job <span id="job"></span></h1>
<progress id="progress" value="0" max="1"></progress>
<p id="status">connecting…</p>
<button id="start">Start</button>
<script>
  const job = decodeURIComponent(location.pathname.split('/')[2] || '42');
  const progress = document.getElementById('progress');
  const status = document.getElementById('status');
  document.getElementById('job').textContent = job;
  // The browser reconnects by itself with Last-Event-ID and gets the steps
  // it missed from the topic's history.
  const es = new EventSource('/job-progress/' + encodeURIComponent(job));
  es.onopen = () => { if (status.textContent === 'connecting…') status.textContent = 'waiting'; };
  es.addEventListener('progress', (e) => {
    const { step, of } = JSON.parse(e.data);
    progress.max = of;
    progress.value = step;
    status.textContent = `step ${step} of ${of}`;
  });
  es.addEventListener('resync', () => { status.textContent = 'some steps were missed'; });
  es.onmessage = (e) => {
    if (e.data === '[DONE]') {
      es.close();
      status.textContent = 'done';
    }
  };
  es.onerror = () => { if (es.readyState !== EventSource.CLOSED) status.textContent = 'disconnected, the browser will retry'; };
  document.getElementById('start').onclick = () =>
    fetch('/jobs/' + encodeURIComponent(job), { method: 'POST' });
</script>
</html>
"#;

#[tokio::main]
async fn main() -> tiny::Result<()> {
    tiny::App::new().serve().await
}
