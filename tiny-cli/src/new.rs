//! `tiny new`: a standalone cargo project from one of the examples.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, Example};
use crate::writer::{Target, Writer};

/// Why `tiny new` wrote nothing (or stopped part way, for [`Error::Io`]).
#[derive(Debug)]
pub(crate) enum Error {
    /// `--example` names no example.
    UnknownExample {
        /// What was asked for.
        name: String,
        /// What there is.
        known: Vec<String>,
    },
    /// The target directory has something in it.
    NotEmpty(PathBuf),
    /// The target path is a file.
    NotADirectory(PathBuf),
    /// The disk refused.
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownExample { name, known } if known.is_empty() => write!(
                f,
                "there is no example named `{name}`, and this `tiny` was built without any: \
                 build it from a checkout of tiny that has examples/*.rs"
            ),
            Error::UnknownExample { name, known } => {
                let main = known
                    .iter()
                    .find(|k| *k == "heartbeat")
                    .unwrap_or(&known[0]);
                write!(
                    f,
                    "there is no example named `{name}`; choose one of: {} \
                     (for instance `tiny new my-app --example {main}`)",
                    known.join(", "),
                )
            }
            Error::NotEmpty(dir) => write!(
                f,
                "`{}` is not empty; tiny new writes only into a new or empty directory: \
                 choose another path, or empty this one first",
                dir.display()
            ),
            Error::NotADirectory(dir) => write!(
                f,
                "`{}` exists and is not a directory; choose another path",
                dir.display()
            ),
            Error::Io { path, source } => write!(f, "cannot write `{}`: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What `tiny new` made.
#[derive(Debug)]
pub(crate) struct Created {
    /// The files, relative to the project's directory, in the order written.
    pub(crate) files: Vec<PathBuf>,
    /// The command that runs the app, from the project's directory.
    pub(crate) run: String,
}

/// Writes the project for `example` into `dir` (missing or empty) through
/// `writer`; `dir_name` names the package (made a valid name first).
pub(crate) fn scaffold(
    writer: &mut dyn Writer,
    catalogue: &Catalogue<'_>,
    dir: &Path,
    dir_name: &str,
    example: &str,
) -> Result<Created, Error> {
    let Some(example) = catalogue.example(example) else {
        return Err(Error::UnknownExample {
            name: example.to_owned(),
            known: catalogue.names().into_iter().map(str::to_owned).collect(),
        });
    };
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    match writer.inspect(dir).map_err(io)? {
        Target::Missing | Target::Empty => {}
        Target::Occupied => return Err(Error::NotEmpty(dir.to_owned())),
        Target::NotADirectory => return Err(Error::NotADirectory(dir.to_owned())),
    }
    let project = render(catalogue, example, dir_name);
    let mut files = Vec::new();
    for (path, contents) in &project.files {
        let full = dir.join(path);
        writer
            .write(&full, contents)
            .map_err(|source| Error::Io { path: full, source })?;
        files.push(path.clone());
    }
    Ok(Created {
        files,
        run: project.run,
    })
}

/// A project before it is written.
#[derive(Debug)]
pub(crate) struct Project {
    /// Relative path and contents of every file.
    pub(crate) files: Vec<(PathBuf, String)>,
    /// The command that runs the app.
    pub(crate) run: String,
}

/// The files of the project made from `example`, in a directory named `dir_name`.
pub(crate) fn render(catalogue: &Catalogue<'_>, example: Example<'_>, dir_name: &str) -> Project {
    let package = package_name(dir_name, catalogue);
    let doc = Doc::read(example, catalogue);
    let mut files = vec![
        (
            PathBuf::from("Cargo.toml"),
            manifest(catalogue, example, &package),
        ),
        (PathBuf::from("src/main.rs"), example.source.to_owned()),
        (
            PathBuf::from("README.md"),
            doc.readme(&package, example, catalogue),
        ),
        (PathBuf::from(".gitignore"), "/target\n".to_owned()),
    ];
    if let Some(lock) = catalogue.lockfile {
        files.push((PathBuf::from("Cargo.lock"), lock.to_owned()));
    }
    Project {
        files,
        run: doc.run_line(),
    }
}

/// The features of tiny the example needs, read from its source.
pub(crate) fn tiny_features(source: &str) -> Vec<&'static str> {
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
pub(crate) fn uses_crate(source: &str, ident: &str) -> bool {
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

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `dir`'s name as a cargo package name: lowercase ASCII letters, digits,
/// `-` and `_`, starting with a letter, and not a name the project depends on.
pub(crate) fn package_name(dir_name: &str, catalogue: &Catalogue<'_>) -> String {
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

fn manifest(catalogue: &Catalogue<'_>, example: Example<'_>, package: &str) -> String {
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

/// An example's `//!` comment, made to speak about the project instead of
/// the example: `cargo run --example <it>` becomes `cargo run`, another
/// example's `cargo run --example <other>` runs `../<other>`.
#[derive(Debug)]
struct Doc {
    /// The prose, Markdown, without the first `sh` block.
    prose: Vec<String>,
    /// The first `sh` block up to the line that runs the app.
    run: Vec<String>,
    /// The rest of that block: how to try the app.
    try_it: Vec<String>,
    /// Other examples the comment runs.
    others: Vec<String>,
}

impl Doc {
    fn read(example: Example<'_>, catalogue: &Catalogue<'_>) -> Self {
        let mut doc = Doc {
            prose: Vec::new(),
            run: Vec::new(),
            try_it: Vec::new(),
            others: Vec::new(),
        };
        let mut block: Option<Vec<String>> = None;
        let mut seen_block = false;
        let mut in_other_fence = false;
        for line in example.source.lines() {
            let Some(text) = line.trim_start().strip_prefix("//!") else {
                break;
            };
            let text = text.strip_prefix(' ').unwrap_or(text);
            let text = doc.rewrite(text, example.name, catalogue);
            if let Some(lines) = &mut block {
                if text.trim_start().starts_with("```") {
                    doc.try_it = std::mem::take(lines);
                    doc.finish_block();
                    block = None;
                } else {
                    lines.push(text);
                }
            } else if !seen_block
                && !in_other_fence
                && matches!(text.trim(), "```sh" | "```bash" | "```shell")
            {
                seen_block = true;
                block = Some(Vec::new());
            } else {
                if text.trim_start().starts_with("```") {
                    in_other_fence = !in_other_fence;
                }
                let blank_again =
                    text.trim().is_empty() && doc.prose.last().is_some_and(|l| l.trim().is_empty());
                if in_other_fence || !blank_again {
                    doc.prose.push(text);
                }
            }
        }
        if let Some(lines) = block {
            // An unclosed block ends with the comment.
            doc.try_it = lines;
            doc.finish_block();
        }
        if doc.run.is_empty() {
            doc.run.push("cargo run".to_owned());
        }
        while doc.prose.last().is_some_and(|l| l.trim().is_empty()) {
            doc.prose.pop();
        }
        doc
    }

    /// Splits the block held in `try_it` after the line that runs the app.
    fn finish_block(&mut self) {
        let ran = self.try_it.iter().position(|l| runs_the_app(l));
        let rest = self.try_it.split_off(ran.map_or(0, |i| i + 1));
        self.run = std::mem::replace(&mut self.try_it, rest);
    }

    /// `line` with every `cargo run --example NAME` of a known example rewritten.
    fn rewrite(&mut self, line: &str, this: &str, catalogue: &Catalogue<'_>) -> String {
        const RUN: &str = "cargo run --example ";
        let mut out = String::new();
        let mut rest = line;
        while let Some(at) = rest.find(RUN) {
            let after = &rest[at + RUN.len()..];
            let len = after
                .find(|c: char| !is_ident_char(c))
                .unwrap_or(after.len());
            let name = &after[..len];
            out.push_str(&rest[..at]);
            if name == this {
                out.push_str("cargo run");
            } else if catalogue.example(name).is_some() {
                out.push_str(&format!("cargo run --manifest-path ../{name}/Cargo.toml"));
                if !self.others.iter().any(|o| o == name) {
                    self.others.push(name.to_owned());
                }
            } else {
                out.push_str(&rest[at..at + RUN.len() + len]);
            }
            rest = &after[len..];
        }
        out.push_str(rest);
        out
    }

    /// The command that runs the app, for the message after `tiny new`.
    fn run_line(&self) -> String {
        self.run
            .iter()
            .rev()
            .find(|l| runs_the_app(l))
            .map_or("cargo run", |l| l.as_str())
            .to_owned()
    }

    fn readme(&self, package: &str, example: Example<'_>, catalogue: &Catalogue<'_>) -> String {
        let mut out = format!("# {package}\n\n");
        if !self.prose.is_empty() {
            out.push_str(&self.prose.join("\n"));
            out.push_str("\n\n");
        }
        out.push_str(&format!(
            "Made by `tiny new` from tiny's `{}` example; it depends on tiny at `{}`.\n\n",
            example.name, catalogue.tiny_path
        ));
        out.push_str("## Run it\n\n```sh\n");
        for line in &self.run {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("```\n");
        if !self.try_it.is_empty() {
            out.push_str("\n## Try it\n\n```sh\n");
            for line in &self.try_it {
                out.push_str(line);
                out.push('\n');
            }
            out.push_str("```\n");
        }
        if !self.others.is_empty() {
            out.push_str("\nThe commands above run tiny's other examples from beside this directory; make them with:\n\n```sh\n");
            for other in &self.others {
                out.push_str(&format!("tiny new ../{other} --example {other}\n"));
            }
            out.push_str("```\n");
        }
        out
    }
}

/// Whether `line` (rewritten) is a command that runs this project, perhaps
/// after setting variables: `cargo run`, `TINY_ADDR=… cargo run -- 42`.
fn runs_the_app(line: &str) -> bool {
    let line = line.trim_start();
    !line.starts_with('#')
        && line.match_indices("cargo run").any(|(at, m)| {
            let before = line[..at].chars().next_back();
            let after = &line[at + m.len()..];
            before.is_none_or(char::is_whitespace)
                && (after.is_empty() || after.starts_with(char::is_whitespace))
                && !after.trim_start().starts_with("--manifest-path")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Dependency;
    use crate::writer::Memory;

    const HEARTBEAT: &str = "//! A heartbeat.\n//!\n//! ```sh\n//! cargo run --example heartbeat    # then open http://127.0.0.1:8080/\n//! curl -N http://127.0.0.1:8080/heartbeat\n//! ```\n\nuse tiny::prelude::*;\n\n#[tokio::main]\nasync fn main() -> tiny::Result<()> {\n    tiny::App::new().serve().await\n}\n";
    const WORKER: &str = "//! A producer.\n//!\n//! ```sh\n//! export TINY_CACHE_URL=redis://127.0.0.1:6379/0\n//! cargo run --example heartbeat &    # the server\n//! cargo run --example worker -- 42 --done\n//! ```\n\nuse serde_json::json;\n\n#[tokio::main]\nasync fn main() {}\n";
    const PG: &str = "use tiny::prelude::*;\n\n#[controller]\npub struct Orders;\n\n#[controller]\nimpl Orders {\n    #[sse( pg = \"orders\")]\n    async fn get(&self) {}\n}\n";

    const CATALOGUE: Catalogue<'static> = Catalogue {
        examples: &[
            Example {
                name: "heartbeat",
                source: HEARTBEAT,
            },
            Example {
                name: "pg_orders",
                source: PG,
            },
            Example {
                name: "worker",
                source: WORKER,
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

    fn scaffolded(example: &str) -> Memory {
        let mut memory = Memory::default();
        scaffold(
            &mut memory,
            &CATALOGUE,
            Path::new("apps/my-app"),
            "my-app",
            example,
        )
        .unwrap();
        memory
    }

    #[test]
    fn a_project_is_a_manifest_the_example_a_readme_and_the_lockfile() {
        let memory = scaffolded("heartbeat");
        let paths: Vec<&Path> = memory.files.keys().map(PathBuf::as_path).collect();
        assert_eq!(
            paths,
            [
                ".gitignore",
                "Cargo.lock",
                "Cargo.toml",
                "README.md",
                "src/main.rs"
            ]
            .map(|f| Path::new("apps/my-app").join(f))
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>()
        );
        assert_eq!(
            memory.file("apps/my-app/src/main.rs"),
            Some(HEARTBEAT),
            "the example, verbatim"
        );
        assert_eq!(
            memory.file("apps/my-app/Cargo.lock"),
            Some("# the workspace's lock\n")
        );
        assert_eq!(memory.file("apps/my-app/.gitignore"), Some("/target\n"));
    }

    #[test]
    fn the_manifest_depends_on_this_checkout_and_stands_alone() {
        let memory = scaffolded("heartbeat");
        assert_eq!(
            memory.file("apps/my-app/Cargo.toml").unwrap(),
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
    fn the_readme_has_the_command_that_runs_it_and_the_one_that_tries_it() {
        let memory = scaffolded("heartbeat");
        assert_eq!(
            memory.file("apps/my-app/README.md").unwrap(),
            "# my-app\n\
             \n\
             A heartbeat.\n\
             \n\
             Made by `tiny new` from tiny's `heartbeat` example; it depends on tiny at `/checkout/tiny`.\n\
             \n\
             ## Run it\n\
             \n\
             ```sh\n\
             cargo run    # then open http://127.0.0.1:8080/\n\
             ```\n\
             \n\
             ## Try it\n\
             \n\
             ```sh\n\
             curl -N http://127.0.0.1:8080/heartbeat\n\
             ```\n"
        );
    }

    #[test]
    fn another_example_the_comment_runs_is_run_from_beside_the_project() {
        let memory = scaffolded("worker");
        let readme = memory.file("apps/my-app/README.md").unwrap();
        assert!(
            readme.contains(
                "```sh\n\
                 export TINY_CACHE_URL=redis://127.0.0.1:6379/0\n\
                 cargo run --manifest-path ../heartbeat/Cargo.toml &    # the server\n\
                 cargo run -- 42 --done\n\
                 ```\n"
            ),
            "{readme}"
        );
        assert!(!readme.contains("## Try it"), "{readme}");
        assert!(
            readme.contains("tiny new ../heartbeat --example heartbeat\n"),
            "{readme}"
        );
    }

    #[test]
    fn the_prose_around_the_block_keeps_one_blank_line_and_names_the_other_projects() {
        let source = "//! Key mode.\n//!\n//! ```sh\n//! cargo run --example keyed\n//! ```\n//!\n\
                      //! Feed it with `cargo run --example worker -- 42`.\nfn main() {}\n";
        let example = Example {
            name: "keyed",
            source,
        };
        let readme = render(&CATALOGUE, example, "keyed").files[2].1.clone();
        assert!(
            readme.starts_with(
                "# keyed\n\
                 \n\
                 Key mode.\n\
                 \n\
                 Feed it with `cargo run --manifest-path ../worker/Cargo.toml -- 42`.\n\
                 \n\
                 Made by"
            ),
            "{readme}"
        );
        assert!(readme.contains("```sh\ncargo run\n```\n"), "{readme}");
        assert!(
            readme.ends_with("```sh\ntiny new ../worker --example worker\n```\n"),
            "{readme}"
        );
    }

    #[test]
    fn the_line_that_runs_the_app_may_set_variables_first() {
        assert!(runs_the_app("cargo run"));
        assert!(runs_the_app("  cargo run -- 42 --done   # then"));
        assert!(runs_the_app("TINY_ADDR=0.0.0.0:80 cargo run &"));
        assert!(!runs_the_app(
            "cargo run --manifest-path ../other/Cargo.toml &"
        ));
        assert!(!runs_the_app("# cargo run"));
        assert!(!runs_the_app("curl -N http://127.0.0.1:8080/"));
        assert!(!runs_the_app("cargo runner"));
    }

    #[test]
    fn features_and_dependencies_follow_the_example_source() {
        let manifest = scaffolded("worker").files[Path::new("apps/my-app/Cargo.toml")].clone();
        assert!(
            manifest.contains("tiny = { path = \"/checkout/tiny\", features = [\"redis\"] }\n"),
            "{manifest}"
        );
        assert!(manifest.contains("serde_json = \"1\"\n"), "{manifest}");
        assert!(
            !manifest.contains("serde ="),
            "serde is not used: {manifest}"
        );

        let manifest = scaffolded("pg_orders").files[Path::new("apps/my-app/Cargo.toml")].clone();
        assert!(manifest.contains("features = [\"postgres\"]"), "{manifest}");
        assert!(
            !manifest.contains("tokio ="),
            "tokio is not used: {manifest}"
        );

        assert_eq!(tiny_features("#[sse(poll = 5)]"), Vec::<&str>::new());
        assert_eq!(tiny_features("#[sse(pgx = 1)]"), Vec::<&str>::new());
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

    #[test]
    fn an_unknown_example_is_refused_with_the_list_and_nothing_written() {
        let mut memory = Memory::default();
        let err = scaffold(
            &mut memory,
            &CATALOGUE,
            Path::new("my-app"),
            "my-app",
            "heartbaet",
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnknownExample { .. }));
        assert_eq!(
            err.to_string(),
            "there is no example named `heartbaet`; choose one of: heartbeat, pg_orders, worker \
             (for instance `tiny new my-app --example heartbeat`)"
        );
        assert!(memory.files.is_empty());

        let empty = Catalogue {
            examples: &[],
            ..CATALOGUE
        };
        let err = scaffold(
            &mut memory,
            &empty,
            Path::new("my-app"),
            "my-app",
            "heartbeat",
        )
        .unwrap_err();
        assert!(err.to_string().contains("built without any"), "{err}");
    }

    #[test]
    fn a_non_empty_directory_is_refused_and_left_as_it_was() {
        let mut memory = Memory::default();
        memory.write(Path::new("my-app/notes.txt"), "mine").unwrap();
        let err = scaffold(
            &mut memory,
            &CATALOGUE,
            Path::new("my-app"),
            "my-app",
            "heartbeat",
        )
        .unwrap_err();
        assert!(matches!(&err, Error::NotEmpty(dir) if dir == Path::new("my-app")));
        assert!(
            err.to_string()
                .contains("choose another path, or empty this one first"),
            "{err}"
        );
        assert_eq!(memory.files.len(), 1);

        let err = scaffold(
            &mut memory,
            &CATALOGUE,
            Path::new("my-app/notes.txt"),
            "notes",
            "heartbeat",
        )
        .unwrap_err();
        assert!(matches!(err, Error::NotADirectory(_)), "{err}");
    }

    #[test]
    fn an_empty_directory_is_used() {
        let mut memory = Memory::default();
        memory.dirs.insert("my-app".into());
        let created = scaffold(
            &mut memory,
            &CATALOGUE,
            Path::new("my-app"),
            "my-app",
            "heartbeat",
        )
        .unwrap();
        assert_eq!(created.files.len(), 5);
        assert_eq!(
            created.run,
            "cargo run    # then open http://127.0.0.1:8080/"
        );
    }

    #[test]
    fn a_write_error_names_the_file() {
        struct Full;
        impl Writer for Full {
            fn inspect(&self, _: &Path) -> io::Result<Target> {
                Ok(Target::Missing)
            }
            fn write(&mut self, _: &Path, _: &str) -> io::Result<()> {
                Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device",
                ))
            }
        }
        let err = scaffold(
            &mut Full,
            &CATALOGUE,
            Path::new("my-app"),
            "my-app",
            "heartbeat",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot write `my-app/Cargo.toml`: no space left on device"
        );
    }

    #[test]
    fn the_package_name_is_a_valid_one_the_project_does_not_depend_on() {
        let name = |dir| package_name(dir, &CATALOGUE);
        assert_eq!(name("my-app"), "my-app");
        assert_eq!(name("My App!"), "my-app");
        assert_eq!(name("2024_site"), "app-2024_site");
        assert_eq!(name("..."), "app");
        assert_eq!(name("tiny"), "tiny-app");
        assert_eq!(name("tokio"), "tokio-app");
        assert_eq!(name("futures_util"), "futures_util-app");
    }

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
