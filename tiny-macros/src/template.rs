//! `"user:<section>:updates"`: templates checked at compile time, with errors
//! pointing into the string literal where the compiler allows it.

use syn::LitStr;

use crate::model::Part;

/// The placeholders a template may use.
pub(crate) const PLACEHOLDERS: [&str; 3] = ["controller", "section", "slug"];

/// Longest channel name PostgreSQL keeps (NAMEDATALEN - 1).
pub(crate) const MAX_CHANNEL_LEN: usize = 63;

/// Splits `lit` into literal text and placeholders.
pub(crate) fn parse(lit: &LitStr) -> syn::Result<Vec<Part>> {
    let text = lit.value();
    if text.is_empty() {
        return Err(syn::Error::new(lit.span(), "the template is empty"));
    }
    let mut parts = Vec::new();
    let mut rest = text.as_str();
    let mut offset = 0;
    while let Some(open) = rest.find('<') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let Some(len) = rest[open..].find('>') else {
            return Err(error_in(
                lit,
                offset + open,
                rest.len() - open,
                "unclosed `<` in template: placeholders are written `<section>`",
            ));
        };
        let name = &rest[open + 1..open + len];
        parts.push(match name {
            "controller" => Part::Controller,
            "section" => Part::Section,
            "slug" => Part::Slug,
            other => {
                return Err(error_in(
                    lit,
                    offset + open,
                    len + 1,
                    format!(
                        "unknown placeholder `<{other}>`; expected one of {}",
                        PLACEHOLDERS.map(|p| format!("`<{p}>`")).join(", ")
                    ),
                ));
            }
        });
        offset += open + len + 1;
        rest = &rest[open + len + 1..];
    }
    if let Some(close) = rest.find('>') {
        return Err(error_in(
            lit,
            offset + close,
            1,
            "`>` without a matching `<`",
        ));
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// An error on `len` bytes at `at` inside the literal's value; on compilers
/// that cannot point inside a literal, on the whole literal.
fn error_in(lit: &LitStr, at: usize, len: usize, message: impl std::fmt::Display) -> syn::Error {
    // +1 skips the opening quote; only exact for literals without escapes.
    let raw = lit.token().to_string();
    let span = if raw.starts_with('"') && !raw.contains('\\') {
        lit.token().subspan(at + 1..at + 1 + len)
    } else {
        None
    };
    syn::Error::new(span.unwrap_or_else(|| lit.span()), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn splits_placeholders() {
        assert_eq!(
            parse(&lit("user:<section>:updates")).unwrap(),
            vec![
                Part::Literal("user:".into()),
                Part::Section,
                Part::Literal(":updates".into())
            ]
        );
        assert_eq!(parse(&lit("<slug>")).unwrap(), vec![Part::Slug]);
    }

    #[test]
    fn rejects_unknown_and_unbalanced() {
        assert!(parse(&lit("a:<id>")).is_err());
        assert!(parse(&lit("a:<section")).is_err());
        assert!(parse(&lit("a:section>")).is_err());
        assert!(parse(&lit("")).is_err());
    }
}
