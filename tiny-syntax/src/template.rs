//! Key and channel templates: literal text and `<controller>`, `<section>`,
//! `<slug>` placeholders, filled from the request path.
//!
//! A value that fills a placeholder must be 1 to [`MAX_PLACEHOLDER_LEN`]
//! bytes of `[A-Za-z0-9._-]`, so no request can reach another key or channel
//! (no `:`, `*`, `/`, whitespace or quotes ever come from a path).

use std::fmt;

/// Longest value a placeholder accepts, in bytes.
pub const MAX_PLACEHOLDER_LEN: usize = 128;

/// The longest channel name PostgreSQL keeps (`NAMEDATALEN - 1`), in bytes;
/// it silently truncates a longer identifier, so a longer name is refused.
pub const MAX_CHANNEL_LEN: usize = 63;

/// The placeholders a template may use, in the order errors list them.
pub const PLACEHOLDERS: [&str; 3] = ["controller", "section", "slug"];

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// Text kept as written.
    Literal(&'a str),
    /// `<controller>`: the controller's mount path.
    Controller,
    /// `<section>`: the first path segment after the controller.
    Section,
    /// `<slug>`: the rest of the path.
    Slug,
}

impl Part<'_> {
    /// The placeholder's name, as written between `<` and `>`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Literal(_) => "literal",
            Part::Controller => "controller",
            Part::Section => "section",
            Part::Slug => "slug",
        }
    }
}

/// What is wrong with a template, and where: `at..at + len` are byte
/// offsets into the template text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What is wrong.
    pub kind: TemplateErrorKind,
    /// Byte offset of the offending text.
    pub at: usize,
    /// Length in bytes of the offending text.
    pub len: usize,
}

/// The ways a template can be malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template is empty: it would name no key.
    Empty,
    /// A `<` with no `>` after it.
    Unclosed,
    /// A `>` with no `<` before it.
    StrayClose,
    /// `<name>` where name is not a placeholder.
    UnknownPlaceholder(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TemplateErrorKind::Empty => f.write_str("the template is empty"),
            TemplateErrorKind::Unclosed => {
                f.write_str("unclosed `<` in template: placeholders are written `<section>`")
            }
            TemplateErrorKind::StrayClose => f.write_str("`>` without a matching `<`"),
            TemplateErrorKind::UnknownPlaceholder(name) => {
                write!(f, "unknown placeholder `<{name}>`; expected one of ")?;
                for (i, p) in PLACEHOLDERS.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}`<{p}>`")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// Splits `template` into literal text and placeholders.
///
/// ```
/// use tiny_syntax::template::{parse, Part};
///
/// assert_eq!(
///     parse("user:<section>:updates").unwrap(),
///     [Part::Literal("user:"), Part::Section, Part::Literal(":updates")]
/// );
/// assert!(parse("user:<id>").is_err());
/// ```
pub fn parse(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    if template.is_empty() {
        return Err(TemplateError {
            kind: TemplateErrorKind::Empty,
            at: 0,
            len: 0,
        });
    }
    let mut parts = Vec::new();
    let mut offset = 0;
    while offset < template.len() {
        let rest = &template[offset..];
        let next = rest.find(['<', '>']).unwrap_or(rest.len());
        if next > 0 {
            parts.push(Part::Literal(&rest[..next]));
        }
        let rest = &rest[next..];
        let at = offset + next;
        if rest.starts_with('>') {
            return Err(TemplateError {
                kind: TemplateErrorKind::StrayClose,
                at,
                len: 1,
            });
        }
        if rest.is_empty() {
            break;
        }
        // `rest` starts with `<`.
        let Some(close) = rest.find('>') else {
            return Err(TemplateError {
                kind: TemplateErrorKind::Unclosed,
                at,
                len: rest.len(),
            });
        };
        parts.push(match &rest[1..close] {
            "controller" => Part::Controller,
            "section" => Part::Section,
            "slug" => Part::Slug,
            other => {
                return Err(TemplateError {
                    kind: TemplateErrorKind::UnknownPlaceholder(other.to_owned()),
                    at,
                    len: close + 1,
                });
            }
        });
        offset = at + close + 1;
    }
    Ok(parts)
}

/// The fewest bytes a template renders to: its literal text, plus one byte
/// per placeholder (a value is never empty).
pub fn min_len(parts: &[Part<'_>]) -> usize {
    parts
        .iter()
        .map(|part| match part {
            Part::Literal(text) => text.len(),
            _ => 1,
        })
        .sum()
}

/// Why a path value cannot fill a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueError {
    /// The path has no such value.
    Empty,
    /// Longer than [`MAX_PLACEHOLDER_LEN`]; holds the length.
    TooLong(usize),
    /// A byte outside `[A-Za-z0-9._-]`.
    BadByte(u8),
}

impl ValueError {
    /// The message for placeholder `name`, saying what to fix.
    pub fn message(self, name: &str) -> String {
        match self {
            ValueError::Empty => format!("the path has no `{name}`, and this stream needs one"),
            ValueError::TooLong(len) => {
                format!("`{name}` is {len} bytes; at most {MAX_PLACEHOLDER_LEN} are accepted")
            }
            ValueError::BadByte(byte) => format!(
                "`{name}` may only hold A-Z, a-z, 0-9, `.`, `_` and `-`; found byte {byte:#04x}"
            ),
        }
    }
}

/// Checks a value that fills a placeholder: 1 to [`MAX_PLACEHOLDER_LEN`]
/// bytes of `[A-Za-z0-9._-]`.
///
/// ```
/// use tiny_syntax::template::{check_value, ValueError};
///
/// assert!(check_value("order-42").is_ok());
/// assert_eq!(check_value("a:b"), Err(ValueError::BadByte(b':')));
/// ```
pub fn check_value(value: &str) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty);
    }
    if value.len() > MAX_PLACEHOLDER_LEN {
        return Err(ValueError::TooLong(value.len()));
    }
    match value
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    {
        Some(bad) => Err(ValueError::BadByte(bad)),
        None => Ok(()),
    }
}

/// The one table of template cases that the macro's checks and the
/// runtime's `Template::parse` are both tested against: each template and
/// either its parts or a fragment of its error message.
#[doc(hidden)]
pub const CASES: &[(&str, Result<&[Part<'static>], &str>)] = &[
    (
        "user:<section>:updates",
        Ok(&[
            Part::Literal("user:"),
            Part::Section,
            Part::Literal(":updates"),
        ]),
    ),
    ("<slug>", Ok(&[Part::Slug])),
    ("plain", Ok(&[Part::Literal("plain")])),
    (
        "<controller>:<section>/<slug>!",
        Ok(&[
            Part::Controller,
            Part::Literal(":"),
            Part::Section,
            Part::Literal("/"),
            Part::Slug,
            Part::Literal("!"),
        ]),
    ),
    ("<section><slug>", Ok(&[Part::Section, Part::Slug])),
    ("", Err("the template is empty")),
    ("a:<id>", Err("unknown placeholder `<id>`")),
    ("a:<Section>", Err("unknown placeholder `<Section>`")),
    ("a:<>", Err("unknown placeholder `<>`")),
    ("a:<section", Err("unclosed `<`")),
    ("a:section>", Err("`>` without a matching `<`")),
    ("a:<section>>", Err("`>` without a matching `<`")),
    ("<<section>", Err("unknown placeholder `<<section>`")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_parses_as_the_table_says() {
        for (template, expected) in CASES {
            match (parse(template), expected) {
                (Ok(parts), Ok(want)) => assert_eq!(&parts, want, "{template:?}"),
                (Err(error), Err(fragment)) => {
                    assert!(
                        error.to_string().contains(fragment),
                        "{template:?}: {error}"
                    )
                }
                (got, want) => panic!("{template:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn errors_point_at_the_offending_text() {
        let error = parse("a:<id>:b").unwrap_err();
        assert_eq!((error.at, error.len), (2, 4));
        let error = parse("ab>").unwrap_err();
        assert_eq!((error.at, error.len), (2, 1));
        let error = parse("a:<sec").unwrap_err();
        assert_eq!((error.at, error.len), (2, 4));
    }

    #[test]
    fn values_are_checked_byte_by_byte() {
        assert!(check_value(&"x".repeat(MAX_PLACEHOLDER_LEN)).is_ok());
        assert_eq!(check_value(""), Err(ValueError::Empty));
        assert_eq!(check_value(&"x".repeat(129)), Err(ValueError::TooLong(129)));
        for bad in ["a b", "*", "ü", "a\"b", "a/b"] {
            assert!(
                matches!(check_value(bad), Err(ValueError::BadByte(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn min_len_counts_one_byte_per_placeholder() {
        assert_eq!(min_len(&parse("ab<section>c").unwrap()), 4);
    }
}
