//! One error type for the whole framework: an HTTP status and a message that
//! says what to fix.
//!
//! Handlers return [`Result<T>`]; an `Err` becomes a response with the
//! error's status and its message as a `text/plain` body. Library calls that
//! have no request (the cache, `send_key`, startup) return the same type, so a
//! `?` works everywhere.

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
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), error = ?self, "request failed");
        }
        let mut body = self.message.into_owned();
        body.push('\n');
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
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

    #[test]
    fn source_is_kept() {
        let io = std::io::Error::other("disk gone");
        let error = Error::from(io);
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(StdError::source(&error).is_some());
    }
}
