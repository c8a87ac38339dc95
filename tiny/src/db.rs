//! `tiny::db()`: a pooled PostgreSQL client for requests, built lazily from
//! `DATABASE_URL`, as PHP tiny's `tiny::db()` (feature `postgres`).
//!
//! The pool connects on first use, not at start, so an app starts while
//! its database is down; until it is back, [`Db::get`] fails with 503 and
//! `Retry-After`, which `?` in a verb method answers with. Every connection
//! runs its statements under a statement timeout (30 s by default,
//! `TINY_DB_STATEMENT_TIMEOUT`), so a runaway query cannot hold a request
//! and a connection forever. Errors from queries convert with `?` too: a
//! unique violation is 409, an unreachable database 503, anything else
//! 500; no body carries the driver's text.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | required | `postgres://user:password@host:port/dbname` |
//! | `TINY_DB_POOL_SIZE` | 16 | connections the pool keeps at most |
//! | `TINY_DB_STATEMENT_TIMEOUT` | `30s` | longest a statement may run (`5s`, `250ms`, `2m` or seconds) |
//!
//! ```no_run
//! use tiny::prelude::*;
//!
//! #[controller]
//! pub struct Users;
//!
//! #[controller]
//! impl Users {
//!     async fn get(&self) -> tiny::Result<Json<Vec<String>>> {
//!         let db = tiny::db().get().await?; // 503 while the database is down
//!         let rows = db.query("SELECT name FROM users ORDER BY id", &[]).await?;
//!         Ok(Json(rows.iter().map(|row| row.get(0)).collect()))
//!     }
//! }
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};

use crate::{Error, Result};

/// Connections the pool keeps at most, unless `TINY_DB_POOL_SIZE` says.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Longest a statement may run, unless `TINY_DB_STATEMENT_TIMEOUT` says.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request waits for a connection (a new one, or a free one of
/// a busy pool) before it is answered 503.
const WAIT: Duration = Duration::from_secs(5);

/// A pooled connection: derefs to a `tokio_postgres::Client`.
pub type Connection = deadpool_postgres::Object;

/// The handle [`db()`] returns; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: std::result::Result<Pool, String>,
}

static GLOBAL: OnceLock<Db> = OnceLock::new();

/// The process's database pool, built on first use from `DATABASE_URL`.
///
/// Never panics and never connects by itself: a missing or malformed
/// `DATABASE_URL` makes every [`Db::get`] fail with a message that says
/// what to fix ([`try_db`] reports it up front).
pub fn db() -> Db {
    GLOBAL.get_or_init(Db::from_env).clone()
}

/// [`db()`], or the configuration error that makes it unusable.
///
/// ```
/// match tiny::try_db() {
///     Ok(_) => println!("DATABASE_URL is usable (nothing is connected yet)"),
///     Err(error) => eprintln!("{}", error.message()), // says what to fix
/// }
/// ```
pub fn try_db() -> Result<Db> {
    let db = db();
    db.pool
        .as_ref()
        .map_err(|message| Error::internal(message.clone()))?;
    Ok(db)
}

impl Db {
    fn from_env() -> Db {
        let pool = crate::pg::database_url().and_then(|url| build(&url));
        Db {
            pool: pool.map_err(|error| error.message().to_owned()),
        }
    }

    /// A pool of its own on `url` (a second database, a test's), with the
    /// `TINY_DB_…` settings; connects on first use. Fails when `url` is not
    /// a connection string or a setting is malformed.
    ///
    /// ```
    /// let reports = tiny::db::Db::from_url("postgres://postgres@127.0.0.1:5432/reports")?;
    /// # Ok::<(), tiny::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Db> {
        Ok(Db {
            pool: Ok(build(url)?),
        })
    }

    /// A connection from the pool: a free one, else a new one. Fails with
    /// 503 and `Retry-After` while the database is unreachable or every
    /// connection stays busy past 5 s, and with 500 when `DATABASE_URL` is
    /// unusable.
    pub async fn get(&self) -> Result<Connection> {
        let pool = self
            .pool
            .as_ref()
            .map_err(|message| Error::internal(message.clone()))?;
        pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => Error::from(error),
            other => Error::unavailable(format!("no database connection: {other}"), 1),
        })
    }
}

fn build(url: &str) -> Result<Pool> {
    let mut config = crate::pg::parse_url(url)?;
    let size = match std::env::var("TINY_DB_POOL_SIZE") {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(Error::internal(format!(
                    "TINY_DB_POOL_SIZE `{text}` must be a whole number above 0"
                )));
            }
        },
        Err(_) => DEFAULT_POOL_SIZE,
    };
    let timeout = match std::env::var("TINY_DB_STATEMENT_TIMEOUT") {
        Ok(text) => tiny_syntax::duration::parse(text.trim()).map_err(|_| {
            Error::internal(format!(
                "TINY_DB_STATEMENT_TIMEOUT `{text}` must be a duration: whole seconds (`30`) \
                 or \"30s\", \"250ms\", \"2m\""
            ))
        })?,
        Err(_) => DEFAULT_STATEMENT_TIMEOUT,
    };
    let options = format!("-c statement_timeout={}", timeout.as_millis());
    let options = match config.get_options() {
        Some(own) if !own.is_empty() => format!("{own} {options}"),
        _ => options,
    };
    config.options(&options);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(WAIT);
    }
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .recycle_timeout(Some(WAIT))
        .build()
        .map_err(|error| Error::internal(format!("cannot build the database pool: {error}")))
}
