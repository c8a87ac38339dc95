//! The seed's PostgreSQL example: a row trigger calls `pg_notify`, and every
//! browser on `/` sees new `users` rows as they are inserted — by this app's
//! `POST /users`, by `psql`, or by any other program.
//!
//! ```sh
//! export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! cargo run --example pg_updates --features postgres   # then open http://127.0.0.1:8080/
//! curl -N http://127.0.0.1:8080/user-updates
//! curl -X POST http://127.0.0.1:8080/users -H 'content-type: application/json' \
//!      -d '{"name": "Ada", "email": "ada@example.com"}'
//! psql "$DATABASE_URL" -c "INSERT INTO users (name) VALUES ('Grace')"
//! ```
//!
//! At start-up it applies the seed's SQL (the `users` table, the
//! `notify_user_updates()` function and the `AFTER INSERT` trigger); running
//! it again changes nothing. Every open stream shares one listening
//! connection; restart PostgreSQL and the page gets `resync` and refetches.
//! Queries go through `tiny::db()`, the pool built from `DATABASE_URL`:
//! while the database is down they answer 503 with `Retry-After`.

use tiny::http::StatusCode;
use tiny::prelude::*;
use tokio_postgres::Client;

/// The seed's SQL, applied as one transaction. The function and the trigger
/// are the seed's text unchanged; the trigger is created only when missing
/// (the seed's `CREATE TRIGGER` fails on a second run), and an advisory lock
/// keeps two processes starting at once from racing.
pub const SCHEMA: &str = r#"
SELECT pg_advisory_xact_lock(7283451001);

CREATE TABLE IF NOT EXISTS users (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION notify_user_updates() RETURNS trigger AS $$
BEGIN
PERFORM pg_notify('user_updates', row_to_json(NEW)::text);
RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DO $do$
BEGIN
IF NOT EXISTS (SELECT 1 FROM pg_trigger
               WHERE tgname = 'user_updates_trigger' AND tgrelid = 'users'::regclass) THEN
CREATE TRIGGER user_updates_trigger
AFTER INSERT ON users
FOR EACH ROW
EXECUTE PROCEDURE notify_user_updates();
END IF;
END
$do$;
"#;

/// Applies [`SCHEMA`]. A multi-statement simple query runs as one
/// transaction, so a failure leaves nothing half-done.
pub async fn apply_schema(db: &Client) -> tiny::Result<()> {
    db.batch_execute(SCHEMA)
        .await
        .map_err(|e| tiny::Error::internal(format!("cannot apply the schema: {e}")).with_source(e))
}

/// `GET /user-updates`: each row inserted into `users` is one frame, the
/// row as JSON (the trigger's `row_to_json(NEW)`).
#[controller]
pub struct UserUpdates;

#[controller]
impl UserUpdates {
    #[sse(pg = "user_updates")]
    async fn get(&self) -> tiny::Result<()> {
        // Runs before the stream opens: authorize here; an Err refuses it.
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct NewUser {
    name: String,
    email: Option<String>,
}

/// `POST /users` inserts a row (the trigger notifies every stream);
/// `GET /users` lists the latest 50, for a page that (re)loads.
#[controller]
pub struct Users;

#[controller]
impl Users {
    async fn get(&self) -> tiny::Result<Json<serde_json::Value>> {
        let db = tiny::db().get().await?;
        let row = db
            .query_one(
                "SELECT coalesce(json_agg(u ORDER BY u.id), '[]')::text \
                 FROM (SELECT * FROM users ORDER BY id DESC LIMIT 50) u",
                &[],
            )
            .await?;
        Ok(Json(serde_json::from_str(row.get(0))?))
    }

    async fn post(&self, req: &Request) -> tiny::Result<(StatusCode, Json<serde_json::Value>)> {
        let user: NewUser = req.json()?;
        let name = user.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(tiny::Error::bad_request(
                "`name` must be 1 to 100 characters",
            ));
        }
        let email = user
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let db = tiny::db().get().await?;
        let row = db
            .query_one(
                "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING row_to_json(users)::text",
                &[&name, &email],
            )
            .await?;
        Ok((StatusCode::CREATED, Json(serde_json::from_str(row.get(0))?)))
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
<title>tiny · users, live</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 3rem auto; max-width: 40rem; }
  form { display: flex; gap: .5rem; margin: 1rem 0; }
  input { flex: 1; font: inherit; padding: .25rem .5rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; }
  tr.new { animation: flash 1.5s ease-out; }
  @keyframes flash { from { background: #fff3a0; } to { background: transparent; } }
  #status { color: #777; }
</style>
<h1>Users, live</h1>
<p>Every row inserted into <code>users</code> — from this form, <code>psql</code> or
any other program — appears here as the trigger's <code>NOTIFY</code> arrives.</p>
<form id="add">
  <input name="name" placeholder="name" required maxlength="100">
  <input name="email" placeholder="email (optional)" type="email">
  <button>Insert</button>
</form>
<table>
  <thead><tr><th>id</th><th>name</th><th>email</th><th>created</th></tr></thead>
  <tbody id="rows"></tbody>
</table>
<p id="status">connecting…</p>
<script>
  const rows = document.getElementById('rows');
  const status = document.getElementById('status');
  const shown = new Set();

  function show(user, isNew) {
    if (shown.has(user.id)) return;
    shown.add(user.id);
    const tr = document.createElement('tr');
    if (isNew) tr.className = 'new';
    for (const value of [user.id, user.name, user.email ?? '', new Date(user.created_at).toLocaleTimeString()]) {
      const td = document.createElement('td');
      td.textContent = value;
      tr.appendChild(td);
    }
    rows.prepend(tr);
  }

  // On every (re)connection and after `resync`: rows inserted while the
  // stream was down were never notified, so fetch the latest ones.
  async function refetch() {
    const response = await fetch('/users');
    if (response.ok) (await response.json()).forEach(user => show(user, false));
  }

  function connect() {
    const es = new EventSource('/user-updates');
    es.onopen = () => { status.textContent = 'live'; refetch(); };
    es.onmessage = ({ data }) => show(JSON.parse(data), true);
    es.addEventListener('resync', () => { status.textContent = 'live (database reconnected)'; refetch(); });
    es.onerror = () => {
      status.textContent = 'disconnected, the browser will retry';
      // A 503 (database unreachable) closes an EventSource for good: reopen it.
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    };
  }
  connect();

  document.getElementById('add').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const fields = new FormData(form);
    const response = await fetch('/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: fields.get('name'), email: fields.get('email') || null }),
    });
    if (response.ok) form.reset();
    else status.textContent = await response.text();
  });
</script>
</html>
"#;

#[tokio::main]
async fn main() -> tiny::Result<()> {
    apply_schema(&*tiny::db().get().await?).await?;
    tiny::App::new().serve().await
}
