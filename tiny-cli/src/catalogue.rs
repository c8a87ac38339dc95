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
/// tests make their own.
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
