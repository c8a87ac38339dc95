//! One error type for the whole framework: an HTTP status and a message that
//! says what to fix.
//!
//! Handlers return [`Result<T>`]; an `Err` becomes a response with the
//! error's status. A 4xx carries its message, which tells the client what to
//! fix. A 5xx carries only the reason phrase and an error id: its message
//! (a Redis address, a driver's text) is for the operator and goes to the
//! log once, under the same id — unless the error was built to be shown
//! ([`Error::exposed`], as tiny's limit refusals are). Library calls that
//! have no request (the cache, `send_key`, startup) return the same type, so
//! a `?` works everywhere.
//!
//! Logs stay quiet under abuse: a 5xx caused by load or a client (503) is a
//! warning, and warnings and errors of answered requests are rate-limited,
//! so a flood of refusals cannot flood the log.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `Result` with [`Error`] as its error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An error with the HTTP status it answers with.
///
/// ```
/// use tiny::{Error, http::StatusCode};
///
/// let e = Error::bad_request("`section` must not be empty");
/// assert_eq!(e.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(e.to_string(), "`section` must not be empty");
/// ```
#[derive(thiserror::Error)]
#[error("{message}")]
pub struct Error {
    status: StatusCode,
    message: Cow<'static, str>,
    retry_after: Option<u32>,
    /// Whether a 5xx body may carry the message.
    exposed: bool,
    #[source]
    source: Option<Source>,
}

impl Error {
    /// An error answering with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            exposed: false,
            source: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 503 Service Unavailable, telling the client to retry after `seconds`.
    pub fn unavailable(message: impl Into<Cow<'static, str>>, seconds: u32) -> Self {
        let mut error = Self::new(StatusCode::SERVICE_UNAVAILABLE, message);
        error.retry_after = Some(seconds);
        error
    }

    /// Tells the client to retry after `seconds` (`Retry-After`), on any
    /// status: a 429 or a 503 should say when to come back.
    ///
    /// ```
    /// use tiny::{Error, http::StatusCode};
    /// let e = Error::new(StatusCode::TOO_MANY_REQUESTS, "slow down").with_retry_after(5);
    /// ```
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Shows the message to the client even on a 5xx. For messages written
    /// for clients, such as a limit that names its setting; never for
    /// text from a backend or a driver.
    ///
    /// ```
    /// use tiny::Error;
    /// let e = Error::unavailable("too many streams (TINY_MAX_STREAMS); retry later", 5).exposed();
    /// ```
    pub fn exposed(mut self) -> Self {
        self.exposed = true;
        self
    }

    /// Attaches the underlying cause, kept for logs and [`std::error::Error::source`].
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Readable, since `main` returning `Err` prints the `Debug` form: the
/// message, the status, and the cause.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status.as_u16())?;
        if let Some(source) = &self.source {
            write!(f, "\n\nCaused by:\n    {source}")?;
        }
        Ok(())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (text, error_id) = if self.status.is_server_error() && !self.exposed {
            let id = log::error_id();
            log::server_error(&self, &id);
            let reason = self.status.canonical_reason().unwrap_or("Server Error");
            (Cow::Borrowed(reason), Some(id))
        } else {
            if self.status.is_server_error() {
                log::refused(&self);
            }
            (self.message, None)
        };
        let mut response = if wants_json() {
            let mut body = serde_json::json!({ "error": text, "status": self.status.as_u16() });
            if let Some(id) = error_id {
                body["error_id"] = id.into();
            }
            (self.status, axum::Json(body)).into_response()
        } else {
            let body = match error_id {
                Some(id) => format!("{text} (error id {id})\n"),
                None => format!("{text}\n"),
            };
            (self.status, body).into_response()
        };
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

tokio::task_local! {
    /// Whether the client being answered asked for JSON.
    static WANTS_JSON: bool;
}

/// Whether a request's `Accept` asks for JSON.
pub(crate) fn accepts_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/json"))
}

/// Runs `future` (the answer to one request) with its errors rendered as
/// JSON (`{"error": "…", "status": N}`) when `json`, else as text.
pub(crate) async fn render_for<F: std::future::Future>(json: bool, future: F) -> F::Output {
    WANTS_JSON.scope(json, future).await
}

fn wants_json() -> bool {
    WANTS_JSON.try_with(|json| *json).unwrap_or(false)
}

/// A number, a flag or another value that did not parse is the client's
/// mistake: 400.
macro_rules! bad_request_from {
    ($($error:ty),*) => {$(
        impl From<$error> for Error {
            fn from(error: $error) -> Self {
                Self::bad_request(error.to_string()).with_source(error)
            }
        }
    )*};
}

bad_request_from!(
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::str::ParseBoolError,
    std::char::ParseCharError,
    std::net::AddrParseError
);

/// An axum extractor's rejection answers with axum's status and message.
macro_rules! from_rejection {
    ($($rejection:ty),*) => {$(
        impl From<$rejection> for Error {
            fn from(rejection: $rejection) -> Self {
                Self::new(rejection.status(), rejection.body_text())
            }
        }
    )*};
}

from_rejection!(
    axum::extract::rejection::JsonRejection,
    axum::extract::rejection::QueryRejection,
    axum::extract::rejection::PathRejection,
    axum::extract::rejection::ExtensionRejection,
    axum::extract::rejection::BytesRejection,
    axum::extract::rejection::StringRejection
);

#[cfg(feature = "postgres")]
impl From<tokio_postgres::Error> for Error {
    /// A unique or exclusion violation is 409; a lost or unreachable
    /// database 503 with `Retry-After`; anything else 500. No body carries
    /// the driver's text (table, constraint and column names are the
    /// operator's business): it stays in the error's source, which the log
    /// shows, and 5xx bodies carry an error id to find it there.
    fn from(error: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        if let Some(db) = error.as_db_error() {
            let code = db.code();
            if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::EXCLUSION_VIOLATION {
                return Self::new(StatusCode::CONFLICT, "that already exists").with_source(error);
            }
            return Self::internal(format!("database error: {error}")).with_source(error);
        }
        // No server answer: the connection is closed, or never opened.
        Self::unavailable(format!("the database is unreachable: {error}"), 1).with_source(error)
    }
}

#[cfg(feature = "redis")]
impl From<redis::RedisError> for Error {
    /// A connection that failed or timed out is 503 with `Retry-After`;
    /// anything else 500. Neither body shows the Redis address.
    fn from(error: redis::RedisError) -> Self {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_timeout()
            || error.is_connection_refusal()
        {
            return Self::unavailable(format!("Redis is unreachable: {error}"), 1)
                .with_source(error);
        }
        Self::internal(format!("Redis error: {error}")).with_source(error)
    }
}

/// The log lines of answered errors: each 5xx once, with the id its body
/// shows, and never more than a few lines a second, whatever the load.
mod log {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use super::Error;

    /// Lines allowed per window; past it lines are counted, not written.
    const BURST: u32 = 20;
    const WINDOW: Duration = Duration::from_secs(10);

    struct Window {
        started: Option<Instant>,
        written: u32,
        suppressed: u64,
    }

    static WINDOW_STATE: Mutex<Window> = Mutex::new(Window {
        started: None,
        written: 0,
        suppressed: 0,
    });

    /// Whether a line may be written now, and how many were suppressed
    /// since the last one that was.
    fn admit() -> Option<u64> {
        let mut window = WINDOW_STATE.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if window
            .started
            .is_none_or(|at| now.duration_since(at) >= WINDOW)
        {
            window.started = Some(now);
            window.written = 0;
        }
        if window.written >= BURST {
            window.suppressed += 1;
            return None;
        }
        window.written += 1;
        Some(std::mem::take(&mut window.suppressed))
    }

    /// A short id unique within this process, shown to the client and
    /// written to the log.
    pub(super) fn error_id() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static PROCESS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let process = PROCESS.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            nanos ^ std::process::id().rotate_left(16)
        });
        format!("{process:08x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// A 5xx whose detail the client does not see: an error for a fault, a
    /// warning for unavailability (load, a backend away).
    pub(super) fn server_error(error: &Error, id: &str) {
        let Some(suppressed) = admit() else { return };
        let status = error.status.as_u16();
        if status == 503 {
            tracing::warn!(status, error_id = id, error = ?error, suppressed, "request refused");
        } else {
            tracing::error!(status, error_id = id, error = ?error, suppressed, "request failed");
        }
    }

    /// A 5xx written for the client (a limit): a rate-limited warning.
    pub(super) fn refused(error: &Error) {
        let Some(suppressed) = admit() else { return };
        tracing::warn!(status = error.status.as_u16(), error = %error.message, suppressed, "request refused");
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Self::internal(format!("I/O error: {error}")).with_source(error)
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::internal(format!("JSON error: {error}")).with_source(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_sets_retry_after() {
        let response = Error::unavailable("database is restarting", 2).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[tokio::test]
    async fn a_5xx_body_hides_its_detail_behind_an_id() {
        use http_body_util::BodyExt as _;
        let error = Error::unavailable("Redis at 10.0.0.7:6379 failed: connection refused", 1);
        let response = error.into_response();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.starts_with("Service Unavailable (error id "), "{body}");
        assert!(!body.contains("10.0.0.7"), "{body}");

        let exposed = Error::unavailable("too many streams (TINY_MAX_STREAMS)", 5).exposed();
        let body = exposed
            .into_response()
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"too many streams (TINY_MAX_STREAMS)\n");

        let client = Error::bad_request("`section` is empty");
        let body = client
            .into_response()
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], b"`section` is empty\n");
    }

    #[tokio::test]
    async fn a_json_client_gets_a_json_body() {
        use http_body_util::BodyExt as _;
        let body = |error: Error| async move {
            let response = render_for(true, async { error.into_response() }).await;
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let client = body(Error::bad_request("`n` must be a number")).await;
        assert_eq!(
            client,
            serde_json::json!({ "error": "`n` must be a number", "status": 400 })
        );
        let server = body(Error::unavailable("Redis at 10.0.0.7 failed", 1)).await;
        assert_eq!(server["error"], "Service Unavailable");
        assert!(server["error_id"].is_string());
        assert!(!server.to_string().contains("10.0.0.7"));
    }

    #[test]
    fn parse_errors_are_400() {
        let error: Error = "x".parse::<u32>().unwrap_err().into();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let error: Error = "maybe".parse::<bool>().unwrap_err().into();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn error_ids_differ() {
        assert_ne!(log::error_id(), log::error_id());
    }

    #[test]
    fn source_is_kept() {
        let io = std::io::Error::other("disk gone");
        let error = Error::from(io);
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(StdError::source(&error).is_some());
    }
}
