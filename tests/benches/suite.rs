//! The benchmark suite: tiny against the same services written by hand on
//! plain axum + tokio, measured in the same run (issue 6).
//!
//! ```sh
//! cargo bench -p tiny-suite --bench suite                 # every scenario; writes target/bench-results.md
//! SUITE_RUNS=1 cargo bench -p tiny-suite --bench suite    # one run per figure instead of the median of 3
//! SUITE_ONLY=idle,churn cargo bench -p tiny-suite --bench suite   # some scenarios only
//! ```
//!
//! One binary plays every part, re-executing itself with arguments, so that
//! client and server are separate processes (each has its own 20 000 file
//! descriptors, and the server's RSS and CPU are its own):
//!
//! - `suite server tiny` — the services as tiny controllers, served by `App::serve`;
//! - `suite server baseline` — the same services by hand: axum 0.8 `Sse`, a
//!   `tokio::sync::broadcast` fan-out, one tokio-postgres LISTEN connection,
//!   topics as a `broadcast` per topic (through Redis `PUBLISH`/`PSUBSCRIBE`
//!   across processes);
//! - nginx with Nchan (`suite/nchan.rs`), when installed — a third server for
//!   the idle scenario, started by the runner from a configuration it writes;
//! - `suite load '<json>'` — the load generator of one scenario;
//! - `suite` (what `cargo bench` runs) — the runner: starts servers and load
//!   generators, and writes the Markdown table.

#[path = "suite/baseline.rs"]
mod baseline;
#[path = "suite/histogram.rs"]
mod histogram;
#[path = "suite/load.rs"]
mod load;
#[path = "suite/nchan.rs"]
mod nchan;
#[path = "suite/probe.rs"]
mod probe;
#[path = "suite/runner.rs"]
mod runner;
#[path = "suite/tiny_server.rs"]
mod tiny_server;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") => match args.get(2).map(String::as_str) {
            Some("tiny") => tiny_server::main(),
            Some("baseline") => baseline::main(),
            other => panic!("suite server tiny|baseline, not {other:?}"),
        },
        Some("load") => load::main(args.get(2).expect("suite load '<json spec>'")),
        // `cargo bench` passes `--bench`; anything else runs the suite too.
        _ => runner::main(),
    }
}

/// The channel of the pg fan-out scenario.
pub const PG_CHANNEL: &str = "bench_fanout";

/// Microseconds since the Unix epoch: the timestamp events carry. Client and
/// server share the machine's clock.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
