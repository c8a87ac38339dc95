//! The real servers the tests talk to. A missing server fails the test with
//! a message naming it: a test never passes without its server.

/// Redis for the tests: `TINY_TEST_REDIS_URL`, default `redis://127.0.0.1:6379/0`.
pub fn redis_url() -> String {
    std::env::var("TINY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// The same server, another database number (for tests that kill clients).
pub fn redis_url_db(db: u8) -> String {
    let url = redis_url();
    let base = match url.rsplit_once('/') {
        Some((base, tail)) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => url.trim_end_matches('/'),
    };
    format!("{base}/{db}")
}

/// A raw connection for checks and administration; panics naming the server
/// when it does not answer.
pub async fn redis_admin(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("TINY_TEST_REDIS_URL is not a Redis URL");
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => panic!(
            "Redis is not reachable at {url}: {error}. Start it (bash tests/run.sh does) or set TINY_TEST_REDIS_URL."
        ),
        Err(_) => panic!("Redis at {url} did not answer within 5 s"),
    }
}

/// A key no other test uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
