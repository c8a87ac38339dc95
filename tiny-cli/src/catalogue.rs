//! What this checkout offers `tiny new`: its examples and the dependencies
//! they compile with, read from the workspace when `tiny` is built.

/// One `examples/*.rs`: the template of a project.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Example<'a> {
    /// The file's name without `.rs`, as `--example` takes it.
    pub(crate) name: &'a str,
    /// The file, verbatim.
    pub(crate) source: &'a str,
}

/// A dependency the examples may use, as `name = spec` in a Cargo.toml.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dependency<'a> {
    /// The key in `[dependencies]` (`serde_json`, `hyper-util`).
    pub(crate) name: &'a str,
    /// The value, inline TOML (`{ version = "1", features = ["full"] }`).
    pub(crate) spec: &'a str,
}

/// Everything a project is rendered from; the build's own is [`Catalogue::BUILT`],
/// the unit tests' is `Catalogue::SAMPLE`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Catalogue<'a> {
    /// The templates, sorted by name.
    pub(crate) examples: &'a [Example<'a>],
    /// What an example may `use` besides tiny.
    pub(crate) dependencies: &'a [Dependency<'a>],
    /// The absolute path of the `tiny` crate the projects depend on.
    pub(crate) tiny_path: &'a str,
    /// The edition the examples are written in.
    pub(crate) edition: &'a str,
    /// A `Cargo.lock` to start from, so projects get the workspace's versions.
    pub(crate) lockfile: Option<&'a str>,
}

mod built {
    use super::{Dependency, Example};
    include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));
}

impl Catalogue<'static> {
    /// This checkout, as it was when `tiny` was built.
    pub(crate) const BUILT: Self = Catalogue {
        examples: built::EXAMPLES,
        dependencies: built::DEPENDENCIES,
        tiny_path: built::TINY_PATH,
        edition: built::EDITION,
        lockfile: built::LOCKFILE,
    };
}

impl<'a> Catalogue<'a> {
    /// The example called `name`.
    pub(crate) fn example(&self, name: &str) -> Option<Example<'a>> {
        self.examples.iter().copied().find(|e| e.name == name)
    }

    /// The examples' names, in order.
    pub(crate) fn names(&self) -> Vec<&'a str> {
        self.examples.iter().map(|e| e.name).collect()
    }
}

/// A catalogue small enough to read whole beside a test's expected output,
/// shared by the tests of `tiny new`'s files so their fixtures cannot drift.
#[cfg(test)]
impl Catalogue<'static> {
    /// Three examples: a server whose comment has a run and a try line, a
    /// Redis producer whose comment runs another example, and a `pg` stream
    /// with no comment; four dependencies, one hyphenated.
    pub(crate) const SAMPLE: Self = Catalogue {
        examples: &[
            Example {
                name: "heartbeat",
                source: "//! A heartbeat.\n//!\n//! ```sh\n//! cargo run --example heartbeat    # then open http://127.0.0.1:8080/\n//! curl -N http://127.0.0.1:8080/heartbeat\n//! ```\n\nuse tiny::prelude::*;\n\n#[tokio::main]\nasync fn main() -> tiny::Result<()> {\n    tiny::App::new().serve().await\n}\n",
            },
            Example {
                name: "pg_orders",
                source: "use tiny::prelude::*;\n\n#[controller]\npub struct Orders;\n\n#[controller]\nimpl Orders {\n    #[sse( pg = \"orders\")]\n    async fn get(&self) {}\n}\n",
            },
            Example {
                name: "worker",
                source: "//! A producer.\n//!\n//! ```sh\n//! export TINY_CACHE_URL=redis://127.0.0.1:6379/0\n//! cargo run --example heartbeat &    # the server\n//! cargo run --example worker -- 42 --done\n//! ```\n\nuse serde_json::json;\n\n#[tokio::main]\nasync fn main() {}\n",
            },
        ],
        dependencies: &[
            Dependency {
                name: "tokio",
                spec: r#"{ version = "1", features = ["full"] }"#,
            },
            Dependency {
                name: "serde",
                spec: r#"{ version = "1", features = ["derive"] }"#,
            },
            Dependency {
                name: "serde_json",
                spec: r#""1""#,
            },
            Dependency {
                name: "futures-util",
                spec: r#""0.3""#,
            },
        ],
        tiny_path: "/checkout/tiny",
        edition: "2024",
        lockfile: Some("# the workspace's lock\n"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_built_catalogue_holds_the_workspace_examples() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        assert_eq!(Catalogue::BUILT.names(), on_disk);
        let heartbeat = Catalogue::BUILT.example("heartbeat").unwrap();
        assert_eq!(
            heartbeat.source,
            std::fs::read_to_string(dir.join("heartbeat.rs")).unwrap()
        );
        assert!(
            Path::new(Catalogue::BUILT.tiny_path)
                .join("Cargo.toml")
                .is_file()
        );
    }
}
