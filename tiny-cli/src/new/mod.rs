//! `tiny new`: a standalone cargo project from one of the examples.
//!
//! The command refuses a target it would clobber, renders the whole project
//! in memory, then writes it through a [`Writer`], so its output is tested
//! without a disk. What goes in the files is worked out beside it: the
//! `Cargo.toml` in [`manifest`], the `README.md` in [`readme`], both from what
//! [`source`] reads in the example.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, Example};
use crate::writer::{Target, Writer};

mod manifest;
mod readme;
mod source;

use manifest::{manifest, package_name};
use readme::Doc;

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
        (
            PathBuf::from("src/main.rs"),
            Doc::project_source(example, catalogue),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::Memory;

    const CATALOGUE: Catalogue<'static> = Catalogue::SAMPLE;

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
        let heartbeat = CATALOGUE.example("heartbeat").unwrap();
        // The example, its comment naming the project's own run command.
        let main = heartbeat
            .source
            .replace("cargo run --example heartbeat", "cargo run");
        assert_ne!(main, heartbeat.source);
        assert_eq!(memory.file("apps/my-app/src/main.rs"), Some(main.as_str()));
        assert_eq!(
            memory.file("apps/my-app/Cargo.toml"),
            Some(manifest(&CATALOGUE, heartbeat, "my-app").as_str())
        );
        assert_eq!(
            memory.file("apps/my-app/README.md"),
            Some(
                Doc::read(heartbeat, &CATALOGUE)
                    .readme("my-app", heartbeat, &CATALOGUE)
                    .as_str()
            )
        );
        assert_eq!(
            memory.file("apps/my-app/Cargo.lock"),
            Some("# the workspace's lock\n")
        );
        assert_eq!(memory.file("apps/my-app/.gitignore"), Some("/target\n"));
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
}
