//! The suite's tiny server as its own executable, so that it runs on the
//! allocator an application serving idle streams should use while the
//! baseline keeps the system's (each is measured on the allocator that
//! serves it best: the baseline holds 26.6 KB per idle stream on glibc and
//! 30.4 KB on jemalloc; tiny 13.4 KB and 9.9 KB). The runner (`suite.rs`)
//! starts it for `Kind::Tiny`; `SUITE_TINY_ALLOCATOR=system` runs
//! `suite server tiny` (glibc) instead.
//!
//! Why jemalloc: hyper gives every HTTP/1.1 connection an 8 KiB read and an
//! 8 KiB write buffer of which an idle stream touches a few hundred bytes.
//! jemalloc serves 8 KiB from page-aligned slots, so each costs one resident
//! page; glibc's heap interleaves them with the connection's small
//! allocations and the holes of its freed request, and keeps more pages
//! resident (BENCHMARKS.md, "Memory per idle stream").

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// `PG_MODE` is read by the runner only.
#[allow(dead_code)]
#[path = "tiny_server.rs"]
mod tiny_server;

fn main() {
    tiny_server::main();
}

/// Microseconds since the Unix epoch: the timestamp events carry (as in
/// `suite.rs`).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
