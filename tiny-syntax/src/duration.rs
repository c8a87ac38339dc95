//! Durations as tiny's attributes and environment variables write them:
//! `"250ms"`, `"2s"`, `"1m"`, `"1h"`, or whole seconds.

use std::fmt;
use std::time::Duration;

/// The forms a duration may take, for error messages.
pub const FORMS: &str =
    "whole seconds (`5`) or a number with a unit: \"250ms\", \"2s\", \"1m\", \"1h\"";

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not a number followed by a unit.
    Malformed,
    /// A number without a unit where one is required; holds the number.
    NoUnit(String),
    /// A unit other than `ms`, `s`, `m`, `h`; holds it.
    UnknownUnit(String),
    /// Does not fit in a `u64` of milliseconds.
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Malformed => write!(f, "expected a duration: {FORMS}"),
            DurationError::NoUnit(n) => write!(
                f,
                "the duration has no unit; write `{n}` for seconds, or \"{n}s\", \"{n}ms\""
            ),
            DurationError::UnknownUnit(unit) => write!(
                f,
                "unknown unit `{unit}`; expected `ms`, `s`, `m` or `h`, as in \"250ms\", \"2s\""
            ),
            DurationError::TooLong => f.write_str("the duration is too long"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Whether a bare number (no unit) is read as seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNumber {
    /// `"5"` is five seconds (environment variables).
    Seconds,
    /// `"5"` is an error: in an attribute, whole seconds are written as an
    /// integer (`poll = 5`), so a unitless string is probably a mistake.
    Refused,
}

/// Parses `"250ms"`, `"2s"`, `"1m"`, `"1h"` (a space before the unit is
/// allowed), in milliseconds; a bare number as `bare` says.
///
/// ```
/// use tiny_syntax::duration::{parse_ms, BareNumber};
///
/// assert_eq!(parse_ms("250ms", BareNumber::Refused), Ok(250));
/// assert_eq!(parse_ms("2m", BareNumber::Refused), Ok(120_000));
/// assert_eq!(parse_ms("5", BareNumber::Seconds), Ok(5_000));
/// assert!(parse_ms("5", BareNumber::Refused).is_err());
/// ```
pub fn parse_ms(text: &str, bare: BareNumber) -> Result<u64, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(DurationError::Malformed);
    }
    let factor = match (unit, bare) {
        ("ms", _) => 1,
        ("s", _) | ("", BareNumber::Seconds) => 1_000,
        ("m", _) => 60_000,
        ("h", _) => 3_600_000,
        ("", BareNumber::Refused) => return Err(DurationError::NoUnit(number.to_owned())),
        (other, _) => return Err(DurationError::UnknownUnit(other.to_owned())),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or(DurationError::TooLong)
}

/// [`parse_ms`] as a [`Duration`], bare numbers being seconds: the form of
/// every `TINY_…` duration variable.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tiny_syntax::duration::parse("30s"), Ok(Duration::from_secs(30)));
/// assert_eq!(tiny_syntax::duration::parse("30"), Ok(Duration::from_secs(30)));
/// ```
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    parse_ms(text, BareNumber::Seconds).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_errors() {
        use BareNumber::Refused;
        assert_eq!(parse_ms("1h", Refused), Ok(3_600_000));
        assert_eq!(parse_ms(" 2 s ", Refused), Ok(2_000));
        assert_eq!(
            parse_ms("2x", Refused),
            Err(DurationError::UnknownUnit("x".into()))
        );
        assert_eq!(parse_ms("ms", Refused), Err(DurationError::Malformed));
        assert_eq!(parse_ms("-1s", Refused), Err(DurationError::Malformed));
        assert_eq!(
            parse_ms("99999999999999999999s", Refused),
            Err(DurationError::TooLong)
        );
        assert!(
            parse_ms("7", Refused)
                .unwrap_err()
                .to_string()
                .contains("\"7s\"")
        );
    }
}
