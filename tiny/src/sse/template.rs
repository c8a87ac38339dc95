//! Key and channel templates: `"user:<section>:updates"`.
//!
//! A template is filled from the request path. Every value that fills a
//! placeholder must be 1 to 128 bytes of `[A-Za-z0-9._-]`, or the request is
//! answered 400 before anything streams: no path can reach another key or
//! channel (no `:`, `*`, `/`, whitespace or quotes ever come from a request).
//! The grammar is `tiny-syntax`'s, the same one `#[sse]` checks at compile
//! time, so the two can never disagree.

use std::borrow::Cow;

pub use tiny_syntax::template::MAX_PLACEHOLDER_LEN;
use tiny_syntax::template::{self as grammar, Part};

use crate::request::PathSections;
use crate::{Error, Result};

/// A parsed key or channel template.
///
/// ```
/// use tiny::sse::Template;
/// use tiny::PathSections;
///
/// let template = Template::parse("user:<section>:updates").unwrap();
/// let path = PathSections::parse("/user-updates", "/user-updates/42").unwrap();
/// assert_eq!(template.render(&path).unwrap(), "user:42:updates");
///
/// let path = PathSections::parse("/user-updates", "/user-updates/*").unwrap();
/// assert_eq!(template.render(&path).unwrap_err().status(), 400);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Cow<'static, [Part<'static>]>,
}

/// A template from parts `#[sse]` checked at compile time.
pub const fn template(parts: &'static [Part<'static>]) -> Template {
    Template {
        parts: Cow::Borrowed(parts),
    }
}

impl Template {
    /// Parses `<controller>`, `<section>` and `<slug>` placeholders; an empty
    /// template, any other `<…>`, an unclosed `<` or a stray `>` is an error.
    pub fn parse(template: &'static str) -> Result<Self> {
        let parts = grammar::parse(template)
            .map_err(|error| Error::internal(format!("template `{template}`: {error}")))?;
        Ok(Self {
            parts: Cow::Owned(parts),
        })
    }

    /// Fills the template from `path`; 400 when a used value is empty, longer
    /// than 128 bytes, or has a byte outside `[A-Za-z0-9._-]`.
    pub fn render(&self, path: &PathSections) -> Result<String> {
        let mut out = String::new();
        for &part in self.parts.iter() {
            let value = match part {
                Part::Literal(text) => {
                    out.push_str(text);
                    continue;
                }
                Part::Controller => &path.controller,
                Part::Section => &path.section,
                Part::Slug => &path.slug,
            };
            grammar::check_value(value)
                .map_err(|error| Error::bad_request(error.message(part.name())))?;
            out.push_str(value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(section: &str, slug: &str) -> PathSections {
        PathSections {
            controller: "c".into(),
            section: section.into(),
            slug: slug.into(),
            full: String::new(),
        }
    }

    #[test]
    fn the_shared_table_parses_the_same_here() {
        for (text, expected) in grammar::CASES {
            match (Template::parse(text), expected) {
                (Ok(template), Ok(parts)) => assert_eq!(&*template.parts, *parts, "{text:?}"),
                (Err(error), Err(fragment)) => {
                    assert!(error.message().contains(fragment), "{text:?}: {error}")
                }
                (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let t = Template::parse("<controller>:<section>/<slug>!").unwrap();
        assert_eq!(t.render(&path("s", "x.y")).unwrap(), "c:s/x.y!");
    }

    #[test]
    fn unused_placeholders_are_not_checked() {
        let t = Template::parse("k:<section>").unwrap();
        assert_eq!(t.render(&path("s", "a/b")).unwrap(), "k:s");
    }

    #[test]
    fn bad_values_are_400() {
        let t = Template::parse("k:<section>").unwrap();
        for bad in ["", "a:b", "a b", "*", "ü", "a\"b", &"x".repeat(129)] {
            let e = t.render(&path(bad, "")).unwrap_err();
            assert_eq!(e.status(), 400, "{bad:?}");
        }
        assert!(t.render(&path(&"x".repeat(128), "")).is_ok());
    }

    #[test]
    fn slug_with_slash_is_refused() {
        let t = Template::parse("k:<slug>").unwrap();
        assert_eq!(t.render(&path("s", "a/b")).unwrap_err().status(), 400);
    }
}
