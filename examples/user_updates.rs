//! The seed's key mode: a browser-facing stream at `/user-updates/<id>` that
//! delivers each message sent to `user:<id>:updates` exactly once, and a
//! producer endpoint `POST /user-updates/<id>` that sends its raw body.
//!
//! ```sh
//! cargo run --example user_updates                  # in-process queues; open http://127.0.0.1:8080/
//! curl -N http://127.0.0.1:8080/user-updates/42      # the consumer
//! curl -d 'hello' http://127.0.0.1:8080/user-updates/42
//! curl -d '[DONE]' http://127.0.0.1:8080/user-updates/42   # ends the stream
//! ```
//!
//! With `TINY_CACHE_URL=redis://127.0.0.1:6379/0` and `--features redis` the
//! queues live in Redis, and `cargo run --example order_worker --features redis -- 42`
//! can feed them from another process.

use tiny::http::StatusCode;
use tiny::prelude::*;
use tiny::sse::Template;

/// `GET /user-updates/<id>`: the stream; `POST /user-updates/<id>`: a message.
#[controller]
pub struct UserUpdates;

#[controller]
impl UserUpdates {
    #[sse(key = "user:<section>:updates")]
    async fn get(&self, _req: &Request) -> tiny::Result<()> {
        // Runs before the stream opens: authorize here; an Err refuses it.
        Ok(())
    }

    async fn post(&self, req: &Request) -> tiny::Result<StatusCode> {
        // The same template as the stream, so a bad <id> is refused the same way.
        let key = Template::parse("user:<section>:updates")?.render(req.path())?;
        tiny::sse().send_key(&key, req.text()?).await?;
        Ok(StatusCode::ACCEPTED)
    }
}

/// `GET /`: a page that follows one user's updates and sends messages.
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
<title>tiny · user updates</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 3rem auto; max-width: 36rem; }
  li { font-family: ui-monospace, monospace; }
  #status { color: #777; }
</style>
<h1>User updates</h1>
<form id="send">
  <label>User <input id="user" value="42" size="6" pattern="[A-Za-z0-9._-]+"></label>
  <input id="message" placeholder='{"status":"processed","order":1234}' size="32">
  <button>Send</button>
</form>
<p id="status">connecting…</p>
<ol id="updates"></ol>
<script>
  const user = document.getElementById('user');
  let es;
  function follow() {
    if (es) es.close();
    document.getElementById('updates').replaceChildren();
    es = new EventSource('/user-updates/' + encodeURIComponent(user.value));
    es.onopen = () => { document.getElementById('status').textContent = 'following user ' + user.value; };
    es.onmessage = ({ data }) => {
      if (data === '[DONE]') {
        es.close();
        document.getElementById('status').textContent = 'done';
        return;
      }
      const li = document.createElement('li');
      li.textContent = data;
      document.getElementById('updates').append(li);
    };
    es.onerror = () => { document.getElementById('status').textContent = 'disconnected, the browser will retry'; };
  }
  user.onchange = follow;
  document.getElementById('send').onsubmit = async (e) => {
    e.preventDefault();
    const message = document.getElementById('message');
    await fetch('/user-updates/' + encodeURIComponent(user.value), { method: 'POST', body: message.value });
    message.value = '';
  };
  follow();
</script>
</html>
"#;

#[tokio::main]
async fn main() -> tiny::Result<()> {
    tiny::App::new().serve().await
}
