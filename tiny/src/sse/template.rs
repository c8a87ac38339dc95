//! Key and channel templates: `"user:<section>:updates"`.
//!
//! A template is filled from the request path. Every value that fills a
//! placeholder must be 1 to 128 bytes of `[A-Za-z0-9._-]`, or the request is
//! answered 400 before anything streams: no path can reach another key or
//! channel (no `:`, `*`, `/`, whitespace or quotes ever come from a request).

use crate::request::PathSections;
use crate::{Error, Result};

/// Longest value a placeholder accepts, in bytes.
pub const MAX_PLACEHOLDER_LEN: usize = 128;

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Text kept as written.
    Literal(&'static str),
    /// `<controller>`: the controller's mount path.
    Controller,
    /// `<section>`: the first path segment after the controller.
    Section,
    /// `<slug>`: the rest of the path.
    Slug,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Literal(_) => "literal",
            Part::Controller => "controller",
            Part::Section => "section",
            Part::Slug => "slug",
        }
    }
}

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
    parts: std::borrow::Cow<'static, [Part]>,
}

impl Template {
    /// A template from parts checked at compile time by `#[sse]`.
    pub const fn from_parts(parts: &'static [Part]) -> Self {
        Self {
            parts: std::borrow::Cow::Borrowed(parts),
        }
    }

    /// Parses `<controller>`, `<section>` and `<slug>` placeholders; any
    /// other `<…>` or an unclosed `<` is an error.
    pub fn parse(template: &'static str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('<') {
            if open > 0 {
                parts.push(Part::Literal(&rest[..open]));
            }
            let close = rest[open..].find('>').ok_or_else(|| {
                Error::internal(format!("template `{template}` has an unclosed `<`"))
            })? + open;
            parts.push(match &rest[open + 1..close] {
                "controller" => Part::Controller,
                "section" => Part::Section,
                "slug" => Part::Slug,
                other => {
                    return Err(Error::internal(format!(
                        "template `{template}` has an unknown placeholder `<{other}>`; \
                         expected `<controller>`, `<section>` or `<slug>`"
                    )));
                }
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest));
        }
        Ok(Self {
            parts: std::borrow::Cow::Owned(parts),
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
            check_value(part.name(), value)?;
            out.push_str(value);
        }
        Ok(out)
    }
}

fn check_value(name: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::bad_request(format!(
            "the path has no `{name}`, and this stream needs one"
        )));
    }
    if value.len() > MAX_PLACEHOLDER_LEN {
        return Err(Error::bad_request(format!(
            "`{name}` is {} bytes; at most {MAX_PLACEHOLDER_LEN} are accepted",
            value.len()
        )));
    }
    if let Some(bad) = value
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
    {
        return Err(Error::bad_request(format!(
            "`{name}` may only hold A-Z, a-z, 0-9, `.`, `_` and `-`; found byte {bad:#04x}"
        )));
    }
    Ok(())
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

    #[test]
    fn parse_errors() {
        assert!(Template::parse("k:<sectoin>").is_err());
        assert!(Template::parse("k:<section").is_err());
    }
}
