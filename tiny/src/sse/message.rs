//! The cap on one message a producer hands tiny ([`Sse::send_key`],
//! [`Sse::publish`]): a message is held in memory (or Redis) until every
//! stream it is for has written it, so an unbounded one lets a single
//! request cost the server without limit.
//!
//! [`Sse::send_key`]: super::Sse::send_key
//! [`Sse::publish`]: super::Sse::publish

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;

use crate::{Error, Result};

/// The largest message, in bytes of data, `send_key` and `publish` accept
/// unless `TINY_MESSAGE_MAX_BYTES` or [`App::message_max_bytes`](crate::App::message_max_bytes)
/// says otherwise: 64 KiB.
///
/// ```
/// assert_eq!(tiny::sse::DEFAULT_MESSAGE_MAX_BYTES, 65_536);
/// ```
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 64 * 1024;

/// The cap in force; 0 until first read from the environment or set by an app.
static MAX: AtomicUsize = AtomicUsize::new(0);

/// `TINY_MESSAGE_MAX_BYTES`, or the default; an error naming it when malformed.
pub(crate) fn from_env() -> Result<usize> {
    match std::env::var("TINY_MESSAGE_MAX_BYTES") {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(Error::internal(format!(
                "TINY_MESSAGE_MAX_BYTES `{text}` must be a whole number of bytes above 0"
            ))),
        },
        Err(_) => Ok(DEFAULT_MESSAGE_MAX_BYTES),
    }
}

/// Makes `bytes` the cap of this process (an app's builder setting).
pub(crate) fn set_max(bytes: usize) {
    MAX.store(bytes.max(1), Ordering::Relaxed);
}

/// The cap of this process.
fn max() -> usize {
    match MAX.load(Ordering::Relaxed) {
        0 => {
            // Checked at start by `App::serve`; here a bad value falls back.
            let max = from_env().unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
            let _ = MAX.compare_exchange(0, max, Ordering::Relaxed, Ordering::Relaxed);
            MAX.load(Ordering::Relaxed)
        }
        max => max,
    }
}

/// Refuses a message of `len` bytes over the cap: 413, naming the setting.
/// `what` names the message, built only for the refusal (a send is a hot
/// path).
pub(crate) fn check(len: usize, what: impl FnOnce() -> String) -> Result<()> {
    let max = max();
    if len <= max {
        return Ok(());
    }
    Err(Error::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "{} holds {len} bytes, over the limit of {max}: send less, or raise \
             TINY_MESSAGE_MAX_BYTES",
            what()
        ),
    )
    .exposed())
}
