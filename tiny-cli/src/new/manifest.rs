//! The generated `Cargo.toml`: a package named for its directory that
//! depends on this checkout's tiny, with the features the example needs, and
//! on the crates the example uses, at the specs the workspace builds them with.

use super::source::{tiny_features, uses_crate};
use crate::catalogue::{Catalogue, Example};

/// `dir`'s name as a cargo package name: lowercase ASCII letters, digits,
/// `-` and `_`, starting with a letter, and not a name the project depends on.
pub(super) fn package_name(dir_name: &str, catalogue: &Catalogue<'_>) -> String {
    let mut name: String = dir_name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    name = name.trim_matches(['-', '_']).to_owned();
    if name.is_empty() {
        name = "app".to_owned();
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("app-{name}");
    }
    let taken = |n: &str| {
        let n = n.replace('-', "_");
        [
            "tiny",
            "test",
            "std",
            "core",
            "alloc",
            "proc_macro",
            "self",
            "crate",
            "super",
        ]
        .contains(&n.as_str())
            || catalogue
                .dependencies
                .iter()
                .any(|d| d.name.replace('-', "_") == n)
    };
    if taken(&name) {
        name.push_str("-app");
    }
    name
}

/// The `Cargo.toml` of the project made from `example`, named `package`.
pub(super) fn manifest(catalogue: &Catalogue<'_>, example: Example<'_>, package: &str) -> String {
    let mut tiny = format!("{{ path = {}", toml_string(catalogue.tiny_path));
    let features = tiny_features(example.source);
    if !features.is_empty() {
        let quoted: Vec<String> = features.iter().map(|f| toml_string(f)).collect();
        tiny.push_str(&format!(", features = [{}]", quoted.join(", ")));
    }
    tiny.push_str(" }");
    let mut deps = format!("tiny = {tiny}\n");
    for dep in catalogue.dependencies {
        if uses_crate(example.source, &dep.name.replace('-', "_")) {
            deps.push_str(&format!("{} = {}\n", dep.name, dep.spec));
        }
    }
    format!(
        "# Made by `tiny new` from tiny's `{example}` example.\n\
         [package]\n\
         name = {name}\n\
         version = \"0.1.0\"\n\
         edition = {edition}\n\
         publish = false\n\
         \n\
         [dependencies]\n\
         {deps}\
         \n\
         # A project of its own, even inside another cargo workspace.\n\
         [workspace]\n",
        example = example.name,
        name = toml_string(package),
        edition = toml_string(catalogue.edition),
    )
}

/// `s` as a TOML basic string: the checkout's path may hold a quote or a
/// backslash, and the file must still parse.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_of(example: &str) -> String {
        let catalogue = Catalogue::SAMPLE;
        manifest(&catalogue, catalogue.example(example).unwrap(), "my-app")
    }

    #[test]
    fn the_manifest_depends_on_this_checkout_and_stands_alone() {
        assert_eq!(
            manifest_of("heartbeat"),
            "# Made by `tiny new` from tiny's `heartbeat` example.\n\
             [package]\n\
             name = \"my-app\"\n\
             version = \"0.1.0\"\n\
             edition = \"2024\"\n\
             publish = false\n\
             \n\
             [dependencies]\n\
             tiny = { path = \"/checkout/tiny\" }\n\
             tokio = { version = \"1\", features = [\"full\"] }\n\
             \n\
             # A project of its own, even inside another cargo workspace.\n\
             [workspace]\n"
        );
    }

    #[test]
    fn features_and_dependencies_follow_the_example_source() {
        let manifest = manifest_of("worker");
        assert!(
            manifest.contains("tiny = { path = \"/checkout/tiny\", features = [\"redis\"] }\n"),
            "{manifest}"
        );
        assert!(manifest.contains("serde_json = \"1\"\n"), "{manifest}");
        assert!(
            !manifest.contains("serde ="),
            "serde is not used: {manifest}"
        );

        let manifest = manifest_of("pg_orders");
        assert!(manifest.contains("features = [\"postgres\"]"), "{manifest}");
        assert!(
            !manifest.contains("tokio ="),
            "tokio is not used: {manifest}"
        );
    }

    #[test]
    fn strings_are_escaped_for_toml() {
        assert_eq!(toml_string("/checkout/tiny"), "\"/checkout/tiny\"");
        assert_eq!(toml_string("a\"b\\c\td"), "\"a\\\"b\\\\c\\u0009d\"");
    }

    #[test]
    fn the_package_name_is_a_valid_one_the_project_does_not_depend_on() {
        let name = |dir| package_name(dir, &Catalogue::SAMPLE);
        assert_eq!(name("my-app"), "my-app");
        assert_eq!(name("My App!"), "my-app");
        assert_eq!(name("2024_site"), "app-2024_site");
        assert_eq!(name("..."), "app");
        assert_eq!(name("tiny"), "tiny-app");
        assert_eq!(name("tokio"), "tokio-app");
        assert_eq!(name("futures_util"), "futures_util-app");
    }
}
