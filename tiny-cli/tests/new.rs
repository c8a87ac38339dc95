//! `tiny new`, end to end: the built `tiny` binary scaffolds every example
//! into a temporary directory, cargo builds each project as a user would,
//! the servers among them answer, and the refusals exit non-zero with a
//! message that says what to do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use std::{env, fs, thread};

/// The examples the binary was built from: `examples/*.rs` of the workspace.
fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no examples in {}", dir.display());
    names
}

fn example_source(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/{name}.rs"));
    fs::read_to_string(path).unwrap()
}

fn tiny(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiny"))
        .args(args)
        .output()
        .expect("run tiny")
}

fn tiny_new(dir: &Path, example: &str) -> Output {
    tiny(&["new", dir.to_str().unwrap(), "--example", example])
}

fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Ends the server when the test does, passing or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` on an ephemeral port and waits for its `listening on` line.
fn serve(binary: &Path) -> Result<(Server, String), String> {
    let mut child = Command::new(binary)
        .env("TINY_ADDR", "127.0.0.1:0")
        .env_remove("TINY_CACHE_URL") // the embedded defaults
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on http://") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => Ok((server, addr)),
        Err(_) => {
            drop(server); // ends it, so its stderr can be read to the end
            let mut log = String::new();
            let _ = stderr.read_to_string(&mut log);
            Err(format!(
                "{} never said `listening on`; stderr:\n{log}",
                binary.display()
            ))
        }
    }
}

/// The status line of `GET path`.
fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).unwrap();
    status.trim_end().to_owned()
}

#[test]
fn every_example_becomes_a_project_that_builds_and_serves() {
    let apps = tempfile::tempdir().unwrap(); // outside this workspace, as a user's would be
    // One target directory for every project and every run: the dependencies
    // build once, and the lockfile each project starts from keeps them identical.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tiny-new-target");

    for name in examples() {
        let dir = apps.path().join(&name);
        let made = tiny_new(&dir, &name);
        assert!(
            made.status.success(),
            "tiny new --example {name}: {}",
            stderr(&made)
        );
        let stdout = String::from_utf8_lossy(&made.stdout);
        assert!(
            stdout.contains("cargo run"),
            "tiny new names the command that runs it: {stdout}"
        );
        // The example's code as it is; its comment speaks of the project.
        let main = fs::read_to_string(dir.join("src/main.rs")).unwrap();
        let code = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.trim_start().starts_with("//!"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(code(&main), code(&example_source(&name)));
        assert!(
            !main.contains(&format!("cargo run --example {name}")),
            "{name}'s main.rs names its own run command: {main}"
        );
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains("\ncargo run"),
            "{name}'s README runs it: {readme}"
        );

        let built = cargo()
            .arg("build")
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_PROFILE_DEV_DEBUG", "0") // no debuginfo: a smaller, faster build
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "cargo build of the `{name}` project:\n{}",
            stderr(&built)
        );

        if !example_source(&name).contains(".serve()") {
            continue; // a producer or a tool, not a server
        }
        // A test never passes without its server.
        assert!(
            !manifest.contains("\"postgres\"") || env::var_os("DATABASE_URL").is_some(),
            "the `{name}` project needs PostgreSQL: set DATABASE_URL (tests/run.sh does)"
        );
        let (_server, addr) = serve(&target.join("debug").join(&name)).unwrap();
        let status = get(&addr, "/");
        assert!(
            status.starts_with("HTTP/1.1 "),
            "`{name}` answers HTTP: {status:?}"
        );
        assert!(
            !status.starts_with("HTTP/1.1 5"),
            "`{name}` serves its page: {status:?}"
        );
    }
}

#[test]
fn a_project_inside_another_workspace_is_a_workspace_of_its_own() {
    // target/tmp is inside this workspace's directory: without its own
    // `[workspace]`, cargo would refuse the project for not being a member.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(tmp).unwrap();
    let inside = tempfile::tempdir_in(tmp).unwrap();
    let dir = inside.path().join("app");
    assert!(tiny_new(&dir, "heartbeat").status.success());
    let metadata = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(metadata.status.success(), "{}", stderr(&metadata));
    let json = String::from_utf8_lossy(&metadata.stdout);
    let root = format!(
        "\"workspace_root\":\"{}\"",
        dir.canonicalize().unwrap().display()
    );
    assert!(json.contains(&root), "{json}");
}

#[test]
fn an_unknown_example_is_refused_with_the_list_of_examples() {
    let apps = tempfile::tempdir().unwrap();
    let dir = apps.path().join("app");
    let out = tiny_new(&dir, "no_such_example");
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains("no example named `no_such_example`"),
        "{message}"
    );
    for name in examples() {
        assert!(
            message.contains(&name),
            "the message lists `{name}`: {message}"
        );
    }
    assert!(
        message.contains("--example"),
        "the message shows the way: {message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    assert!(!dir.exists(), "nothing is written");
}

#[test]
fn a_non_empty_directory_is_refused_and_left_alone() {
    let apps = tempfile::tempdir().unwrap();
    let dir = apps.path().join("app");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = tiny_new(&dir, "heartbeat");
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!("`{}` is not empty", dir.display())),
        "{message}"
    );
    assert!(
        message.contains("choose another path, or empty this one first"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    let entries: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["notes.txt"]);
    assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
}

#[test]
fn an_empty_directory_and_a_new_one_are_both_fine() {
    let apps = tempfile::tempdir().unwrap();
    let empty = apps.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert!(tiny_new(&empty, "heartbeat").status.success());
    assert!(empty.join("Cargo.toml").is_file());
    let nested: PathBuf = apps.path().join("a/b/c");
    assert!(tiny_new(&nested, "heartbeat").status.success());
    assert!(nested.join("src/main.rs").is_file());
}

#[test]
fn missing_arguments_print_the_usage() {
    let out = tiny(&["new", "app"]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    assert!(message.contains("--example <NAME>"), "{message}");
    let help = tiny(&["new", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    for name in examples() {
        assert!(text.contains(&name), "--help lists `{name}`: {text}");
    }
}
