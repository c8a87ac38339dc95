//! Compile-time behaviour of `#[controller]` and `#[sse]`: every misuse is one
//! error at the offending token (`tests/ui/fail`, each with its `.stderr`
//! snapshot), and every documented form compiles (`tests/ui/pass`).
//!
//! Regenerate the snapshots after a deliberate wording change with
//! `TRYBUILD=overwrite cargo test --test ui`, then read every diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
