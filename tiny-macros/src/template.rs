//! `"user:<section>:updates"`: key and channel templates, checked at compile
//! time with `tiny-syntax`'s grammar, the one the runtime's
//! `Template::parse` uses, so the two can never disagree.
//!
//! Errors point at the whole string literal. `TemplateError` knows the
//! offending bytes, but pointing inside a literal needs
//! `Literal::subspan`, which returns `None` on stable compilers.

use syn::LitStr;
use tiny_syntax::template::{self as grammar, MAX_CHANNEL_LEN, TemplateError};

use crate::model::Part;

/// A key template: `lit` split into literal text and placeholders.
pub(crate) fn parse(lit: &LitStr) -> syn::Result<Vec<Part>> {
    let text = lit.value();
    let parts = grammar::parse(&text).map_err(|error| template_error(lit, &error))?;
    Ok(parts.iter().map(owned).collect())
}

/// A channel template: a key template whose fixed text fits in a PostgreSQL
/// channel name, which PostgreSQL would silently truncate.
pub(crate) fn parse_channel(lit: &LitStr) -> syn::Result<Vec<Part>> {
    let text = lit.value();
    let parts = grammar::parse(&text).map_err(|error| template_error(lit, &error))?;
    let fixed = grammar::min_len(&parts);
    if fixed > MAX_CHANNEL_LEN {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "a PostgreSQL channel name has at most {MAX_CHANNEL_LEN} bytes; \
                 this one has at least {fixed}"
            ),
        ));
    }
    Ok(parts.iter().map(owned).collect())
}

/// At the whole literal: see the module docs.
fn template_error(lit: &LitStr, error: &TemplateError) -> syn::Error {
    syn::Error::new(lit.span(), error)
}

/// The model's part, owning its text: the grammar's borrows the literal's
/// value, which does not outlive parsing.
fn owned(part: &grammar::Part<'_>) -> Part {
    match *part {
        grammar::Part::Literal(text) => Part::Literal(text.to_owned()),
        grammar::Part::Controller => Part::Controller,
        grammar::Part::Section => Part::Section,
        grammar::Part::Slug => Part::Slug,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn every_shared_case_parses_as_the_table_says() {
        for &(template, expected) in grammar::CASES {
            match (parse(&lit(template)), expected) {
                (Ok(parts), Ok(want)) => {
                    let want: Vec<Part> = want.iter().map(owned).collect();
                    assert_eq!(parts, want, "{template:?}");
                }
                (Err(error), Err(fragment)) => assert!(
                    error.to_string().contains(fragment),
                    "{template:?}: {error}"
                ),
                (Ok(parts), Err(fragment)) => {
                    panic!("{template:?}: got {parts:?}, want an error with {fragment:?}")
                }
                (Err(error), Ok(want)) => panic!("{template:?}: got `{error}`, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_channel_must_fit_postgresql_names() {
        let longest = "c".repeat(MAX_CHANNEL_LEN - 1);
        assert!(parse_channel(&lit(&format!("{longest}<slug>"))).is_ok());
        let error = parse_channel(&lit(&format!("{longest}x<slug>"))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a PostgreSQL channel name has at most 63 bytes; this one has at least 64"
        );
        // A key has no such limit.
        assert!(parse(&lit(&format!("{longest}x<slug>"))).is_ok());
    }
}
