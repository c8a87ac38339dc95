//! What an example's source asks of its project: the features of tiny it
//! needs and the crates it names.
//!
//! The source is scanned as text, not parsed, so a crate named only in a
//! string or a feature hinted at in a comment can fool it; a wrong guess shows
//! as soon as the project is built, which `tests/new.rs` does for every example.

/// The features of tiny the example needs, read from its source.
pub(super) fn tiny_features(source: &str) -> Vec<&'static str> {
    let mut features = Vec::new();
    let postgres = source.contains("postgres://")
        || source.contains("DATABASE_URL")
        || source.match_indices("#[sse(").any(|(at, m)| {
            let rest = source[at + m.len()..].trim_start();
            rest.starts_with("pg") && !rest[2..].starts_with(is_ident_char)
        });
    if postgres {
        features.push("postgres");
    }
    if source.contains("redis://") || source.contains("TINY_CACHE_URL") {
        features.push("redis");
    }
    features
}

/// Whether `source` names the crate `ident` in a path (`ident::…`) or a `use`.
pub(super) fn uses_crate(source: &str, ident: &str) -> bool {
    source.match_indices(ident).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = &source[at + ident.len()..];
        let starts_a_path = !before.is_some_and(|c| is_ident_char(c) || c == ':');
        starts_a_path
            && (after.starts_with("::")
                || (source[..at].trim_end().ends_with("use")
                    && after.trim_start().starts_with([';', '{'])))
    })
}

/// Whether `c` may continue an identifier, where a name in the source ends.
pub(super) fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_follow_what_the_source_connects_to() {
        assert_eq!(tiny_features("#[sse(poll = 5)]"), Vec::<&str>::new());
        assert_eq!(tiny_features("#[sse(pgx = 1)]"), Vec::<&str>::new());
        assert_eq!(tiny_features("#[sse( pg = \"orders\")]"), ["postgres"]);
        assert_eq!(
            tiny_features("#[sse(pg = \"a\")] // TINY_CACHE_URL"),
            ["postgres", "redis"]
        );
    }

    #[test]
    fn a_crate_is_used_when_a_path_or_a_use_names_it() {
        assert!(uses_crate("#[tokio::main]", "tokio"));
        assert!(uses_crate("use serde_json::json;", "serde_json"));
        assert!(uses_crate("use futures_util;", "futures_util"));
        assert!(uses_crate("use serde::{Serialize};", "serde"));
        assert!(!uses_crate("use serde_json::json;", "serde"));
        assert!(!uses_crate("tiny::redis::Client", "redis"));
        assert!(!uses_crate("let tokio_thing = my_tokio::x;", "tokio"));
        assert!(!uses_crate("// a comment about serde", "serde"));
    }
}
