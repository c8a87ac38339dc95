//! `tiny`, the command: `tiny new <dir> --example <name>` starts an app from
//! one of tiny's examples, as a cargo project of its own.

use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod catalogue;
mod new;
mod writer;

use catalogue::Catalogue;

#[derive(Debug, Parser)]
#[command(
    name = "tiny",
    version,
    about = "Start an app on tiny, the live Server-Sent Events framework"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new cargo project from one of tiny's examples
    #[command(after_help = examples_help())]
    New {
        /// Where to write it: a new or empty directory, whose name names the package
        dir: PathBuf,
        /// The example to start from
        #[arg(long, short, value_name = "NAME")]
        example: String,
    },
}

fn examples_help() -> String {
    format!(
        "The examples to start from: {}",
        Catalogue::BUILT.names().join(", ")
    )
}

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    match command {
        Command::New { dir, example } => {
            let name = dir_name(&dir);
            match new::scaffold(&mut writer::Disk, &Catalogue::BUILT, &dir, &name, &example) {
                Ok(created) => {
                    // A closed stdout (`tiny new … | head -1`) is no reason to fail: the project is written.
                    let _ = report(&mut std::io::stdout().lock(), &dir, &example, &created);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// What was made, and the command that runs it.
fn report(
    out: &mut dyn Write,
    dir: &Path,
    example: &str,
    created: &new::Created,
) -> io::Result<()> {
    writeln!(
        out,
        "Created `{}` from the `{example}` example:",
        dir.display()
    )?;
    for file in &created.files {
        writeln!(out, "  {}", file.display())?;
    }
    writeln!(
        out,
        "\nRun it (its README.md says more):\n  cd {}\n  {}",
        dir.display(),
        created.run
    )
}

/// The last named component of `dir`, made absolute first so that `.` is the
/// current directory's name.
fn dir_name(dir: &Path) -> String {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let mut names = Vec::new();
    for component in absolute.components() {
        match component {
            Component::Normal(name) => names.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => {
                names.pop();
            }
            _ => {}
        }
    }
    names.pop().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_is_named_after_the_directory() {
        assert_eq!(dir_name(Path::new("/tmp/my-app")), "my-app");
        assert_eq!(dir_name(Path::new("/tmp/my-app/")), "my-app");
        assert_eq!(dir_name(Path::new("/tmp/my-app/src/..")), "my-app");
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            dir_name(Path::new(".")),
            here.file_name().unwrap().to_string_lossy()
        );
    }

    #[test]
    fn the_arguments_parse_as_documented() {
        let cli = Cli::try_parse_from(["tiny", "new", "my-app", "--example", "heartbeat"]).unwrap();
        let Command::New { dir, example } = cli.command;
        assert_eq!(
            (dir, example.as_str()),
            (PathBuf::from("my-app"), "heartbeat")
        );
        assert!(
            Cli::try_parse_from(["tiny", "new", "my-app"]).is_err(),
            "--example is required"
        );
    }
}
