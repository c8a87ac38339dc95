//! Channel names, which PostgreSQL treats as identifiers.
//!
//! `LISTEN user_updates` lowercases an unquoted name, and the PHP original's
//! `LISTEN 'user_updates'` is a syntax error; so every name is sent quoted
//! (`"…"`, with `"` doubled), which keeps it case-sensitive and makes any
//! string a name, never SQL. PostgreSQL silently truncates an identifier to
//! 63 bytes, so a longer name would listen on another channel: it is refused.

use crate::{Error, Result};

/// The longest channel name PostgreSQL accepts, in bytes (`NAMEDATALEN - 1`);
/// `#[sse(pg = …)]` checks the same limit at compile time.
///
/// ```
/// assert!("user_updates".len() <= tiny::pg::MAX_CHANNEL_LEN);
/// ```
pub use tiny_syntax::template::MAX_CHANNEL_LEN;

/// Checks that `channel` is a name PostgreSQL keeps as written: 1 to 63
/// bytes, no NUL. The error answers 400.
pub(crate) fn check(channel: &str) -> Result<()> {
    if channel.is_empty() {
        return Err(Error::bad_request(
            "a PostgreSQL channel name cannot be empty",
        ));
    }
    if channel.len() > MAX_CHANNEL_LEN {
        return Err(Error::bad_request(format!(
            "the channel name is {} bytes; PostgreSQL accepts at most {MAX_CHANNEL_LEN}",
            channel.len()
        )));
    }
    if channel.contains('\0') {
        return Err(Error::bad_request(
            "a PostgreSQL channel name cannot contain a NUL byte",
        ));
    }
    Ok(())
}

/// `channel` as a quoted identifier: `"…"`, each `"` doubled.
pub(crate) fn quote(channel: &str) -> String {
    let mut quoted = String::with_capacity(channel.len() + 2);
    quoted.push('"');
    for c in channel.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_double_embedded_quotes() {
        assert_eq!(quote("user_updates"), r#""user_updates""#);
        assert_eq!(quote("Mixed Case"), r#""Mixed Case""#);
        assert_eq!(
            quote(r#"a"; DROP TABLE users; --"#),
            r#""a""; DROP TABLE users; --""#
        );
        assert_eq!(quote(r#""""#), r#""""""""#);
    }

    #[test]
    fn names_past_63_bytes_or_empty_are_400() {
        assert!(check(&"x".repeat(63)).is_ok());
        assert!(check("ü").is_ok());
        for bad in ["", &"x".repeat(64), &"é".repeat(32), "a\0b"] {
            assert_eq!(check(bad).unwrap_err().status(), 400, "{bad:?}");
        }
    }
}
