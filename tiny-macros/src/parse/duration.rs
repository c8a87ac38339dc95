//! Durations as `#[sse]` arguments write them: whole seconds (`poll = 5`) or
//! a string in `tiny-syntax`'s grammar (`"250ms"`, `"2s"`, `"1m"`, `"1h"`),
//! the one the runtime reads `TINY_…` variables with.

use syn::{Expr, ExprLit, Lit};
use tiny_syntax::duration::{BareNumber, DurationError, FORMS, parse_ms};

use crate::diag::Diagnostics;

/// A duration in milliseconds, greater than zero. On error, 1 (never
/// expanded: the error is recorded).
pub(super) fn duration(value: &Expr, diag: &Diagnostics) -> u64 {
    match duration_ms(value) {
        Ok(0) => {
            diag.error_at(value, "the duration must be greater than zero");
            1
        }
        Ok(ms) => ms,
        Err(message) => {
            diag.error_at(value, message);
            1
        }
    }
}

/// `value` in milliseconds, zero included, or what is wrong with it.
pub(super) fn duration_ms(value: &Expr) -> Result<u64, String> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) if int.suffix().is_empty() => int
            .base10_parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| DurationError::TooLong.to_string()),
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => Err(match float.base10_parse::<f64>() {
            Ok(seconds) if seconds > 0.0 && (seconds * 1000.0).fract() == 0.0 => format!(
                "a duration in seconds is a whole number; write \"{}ms\"",
                seconds * 1000.0
            ),
            _ => format!("expected a duration: {FORMS}"),
        }),
        // A unitless string is refused: whole seconds are written as an
        // integer, so `"5"` is more likely a missing unit than seconds.
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => parse_ms(&s.value(), BareNumber::Refused).map_err(|error| error.to_string()),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            ..
        }) => Err("a duration cannot be negative".to_owned()),
        _ => Err(format!("expected a duration: {FORMS}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_seconds_and_strings_have_units() {
        let ms = |value: Expr| duration_ms(&value);
        assert_eq!(ms(syn::parse_quote!(5)), Ok(5_000));
        assert_eq!(ms(syn::parse_quote!("250ms")), Ok(250));
        assert_eq!(ms(syn::parse_quote!("2 s")), Ok(2_000));
        assert_eq!(ms(syn::parse_quote!("1h")), Ok(3_600_000));
        assert_eq!(ms(syn::parse_quote!("0ms")), Ok(0));
        let error = |value: Expr| duration_ms(&value).unwrap_err();
        assert!(error(syn::parse_quote!("2")).contains("no unit"));
        assert!(error(syn::parse_quote!("2d")).contains("unknown unit `d`"));
        assert!(error(syn::parse_quote!(2.5)).contains("write \"2500ms\""));
        assert!(error(syn::parse_quote!(-1)).contains("cannot be negative"));
        assert!(error(syn::parse_quote!(5u8)).starts_with("expected a duration"));
        assert!(error(syn::parse_quote!(every_second)).starts_with("expected a duration"));
        assert_eq!(
            error(syn::parse_quote!(99999999999999999999)),
            "the duration is too long"
        );
    }
}
