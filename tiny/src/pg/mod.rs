//! PostgreSQL `LISTEN/NOTIFY`: one listening connection per process, shared
//! by every pg stream (needs the `postgres` feature).
//!
//! The PHP original opened one connection per open stream, so a hundred
//! browsers exhausted `max_connections`. Here a process holds one connection,
//! built lazily from `DATABASE_URL` on the first subscription; it `LISTEN`s
//! on a channel when the channel gets its first subscriber and `UNLISTEN`s
//! after its last one leaves, and fans each notification out in memory.
//! When the connection is lost (database restart, `pg_terminate_backend`, a
//! peer that vanished, found by a periodic health check and TCP keepalives)
//! streams stay open; the listener reconnects with capped exponential
//! backoff, `LISTEN`s again and sends each open stream an `event: resync`
//! frame, since notifications sent meanwhile cannot be recovered. A stream
//! requested while the database is unreachable is answered 503 with
//! `Retry-After`, never left hanging.
//!
//! # Delivery
//!
//! What a browser is promised, per channel and per process:
//!
//! - **Every subscriber gets every notification**, in commit order, once.
//!   Each channel keeps a history of its last [`DEFAULT_HISTORY_LEN`]
//!   notifications of the last [`DEFAULT_HISTORY_AGE`]
//!   ([`ListenerBuilder::history`]), shared by its subscribers; a burst (a
//!   transaction of 10 000 `NOTIFY`s arrives at once, at its commit) is
//!   paced to them, the rest of it waiting in PostgreSQL, so that a client
//!   that reads it gets all of it.
//! - **Every frame has an `id:`**, `<epoch>-<seq>`: the notification's
//!   number in this process, under a random epoch drawn when the channel's
//!   history began (its first `LISTEN`, or the listener's last reconnect).
//!   A stream opened without a cursor first sends an `id:` line without
//!   data, so a browser that reconnects before any notification still
//!   resumes from there. Keep-alive comments carry no id.
//! - **Resume:** a stream requested with `Last-Event-ID` (what a browser's
//!   `EventSource` sends when it reconnects by itself) or `?lastEventId=`
//!   replays the notifications after that id, in order, then goes live,
//!   none missed or doubled between the two.
//! - **`event: resync`** (data `{"reason": "…"}`, and the id to resume
//!   from) whenever notifications may be missing: the page should refetch
//!   what it shows; live notifications follow. At the start of a stream,
//!   the cursor could not be honoured: `unknown` (not an id of this
//!   history), `epoch` (an earlier history: before a reconnect, before the
//!   channel was last without subscribers, or another process's), `trimmed`
//!   (what followed it is no longer kept). Mid-stream: `lagged` (the client
//!   did not read the history's length within a second of its arrival: it
//!   stopped reading, or reads far slower than the others, which are not
//!   held up further; it goes on from the newest notification) and
//!   `reconnected` (the listening connection was lost: notifications sent
//!   while it was down are gone).
//! - The history lives in this process, while the channel has
//!   subscribers: a client that comes back to another process, after a
//!   restart, or after its channel's last stream closed, gets `resync`
//!   (`epoch`).
//!
//! Streams come from `#[sse(pg = "channel")]` or
//! [`tiny::sse().stream_pg(channel)`](crate::sse::Sse::stream_pg):
//!
//! ```no_run
//! use tiny::prelude::*;
//!
//! #[controller]                      // GET /user-updates
//! pub struct UserUpdates;
//!
//! #[controller]
//! impl UserUpdates {
//!     #[sse(pg = "user_updates")]    // each NOTIFY on user_updates is one frame
//!     async fn get(&self, req: &Request) -> tiny::Result<()> {
//!         Ok(()) // runs first: authorize here, an Err refuses the stream
//!     }
//! }
//! ```
//!
//! Channel names are sent as quoted identifiers: case-sensitive, any
//! characters, at most [`MAX_CHANNEL_LEN`] bytes, and no name can inject SQL.
//! TLS is not supported yet: the connection is made without it.

mod channel;
mod listener;
mod notice;

use std::sync::{Mutex, PoisonError};

pub use channel::MAX_CHANNEL_LEN;
pub(crate) use listener::Subscription;
pub use listener::{DEFAULT_HISTORY_AGE, DEFAULT_HISTORY_LEN, Listener, ListenerBuilder};
pub(crate) use notice::{Delivery, Notice, Resync};

use crate::{Error, Result};

/// The process's listener, built on first use from `DATABASE_URL`.
static GLOBAL: Mutex<Option<Listener>> = Mutex::new(None);

/// The process's listener, which every pg stream shares; built on first use
/// from `DATABASE_URL` (it connects on the first subscription).
///
/// Fails when `DATABASE_URL` is unset or not a PostgreSQL connection string
/// ([`App::serve`](crate::App::serve) checks that at start-up when a pg
/// stream is mounted), or when called outside a tokio runtime.
///
/// ```no_run
/// # async fn run() -> tiny::Result<()> {
/// let listener = tiny::pg::listener()?;
/// println!("listening on {:?}", listener.listening_channels().await?);
/// # Ok(()) }
/// ```
pub fn listener() -> Result<Listener> {
    let mut global = GLOBAL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(listener) = global.as_ref().filter(|l| l.is_running()) {
        return Ok(listener.clone());
    }
    // First use, or the runtime the previous one ran on has shut down.
    let listener = Listener::new(&database_url()?)?;
    *global = Some(listener.clone());
    Ok(listener)
}

/// Checks `DATABASE_URL` without connecting: set, and a connection string.
pub(crate) fn check_database_url() -> Result<()> {
    parse_url(&database_url()?).map(drop)
}

pub(crate) fn database_url() -> Result<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Ok(url),
        Err(std::env::VarError::NotPresent) => Err(Error::internal(
            "DATABASE_URL is not set; set it to the database to listen on, \
             e.g. postgres://postgres@127.0.0.1:5432/test",
        )),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::internal("DATABASE_URL is not valid UTF-8"))
        }
    }
}

/// Parses a connection string. Messages never repeat it: it may hold a password.
pub(crate) fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    let config: tokio_postgres::Config = url.parse().map_err(|error| {
        Error::internal(format!(
            "DATABASE_URL is not a PostgreSQL connection string \
             (postgres://user:password@host:port/dbname): {error}"
        ))
    })?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err(Error::internal(
            "DATABASE_URL names no host (postgres://user:password@host:port/dbname)",
        ));
    }
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(Error::internal(
            "DATABASE_URL asks for sslmode=require, but tiny's PostgreSQL listener \
             does not support TLS yet; use sslmode=disable or prefer",
        ));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_are_checked_without_echoing_them() {
        assert!(parse_url("postgres://postgres@127.0.0.1:5432/test").is_ok());
        assert!(parse_url("host=127.0.0.1 user=postgres dbname=test").is_ok());
        for bad in [
            "",
            "mysql://root:hunter2@db/x",
            "postgres://u:hunter2@h:notaport/db",
            "postgres://u:hunter2@h/db?sslmode=require",
        ] {
            let error = parse_url(bad).unwrap_err();
            assert!(error.message().contains("DATABASE_URL"), "{bad:?}: {error}");
            assert!(!error.message().contains("hunter2"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn building_outside_a_runtime_is_an_error_not_a_panic() {
        let error = Listener::new("postgres://postgres@127.0.0.1:5432/test").unwrap_err();
        assert!(error.message().contains("tokio runtime"));
    }
}
