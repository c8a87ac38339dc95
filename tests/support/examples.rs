//! Building and running the example binaries, as a user would.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The path of `examples/<name>.rs` built with the suite's features.
/// Runs `cargo build --example <name>` (a no-op once `tests/run.sh` built
/// the examples), so a test never runs a stale binary.
pub fn example_binary(name: &str) -> PathBuf {
    // Built at most once per test binary: each build is a `cargo build`
    // that may wait for the target directory's lock.
    static BUILT: OnceLock<std::sync::Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = built.iter().find(|(built, _)| built == name) {
        return path.clone();
    }
    // The workspace root: tests/ is the `tiny-suite` package inside it.
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--all-features",
            "--example",
            name,
        ])
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "cargo build --example {name} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("debug").join("examples").join(name);
    assert!(binary.exists(), "{} was not built", binary.display());
    built.push((name.to_owned(), binary.clone()));
    binary
}
