//! Unguessable values: key epochs, lineages, connection tokens and message
//! identities.
//!
//! A lineage id is a capability: whoever presents it takes over that
//! lineage's pending messages and fences its current connection. So it must
//! not be guessable from other ids a client has seen. std's `RandomState` is
//! keyed from the operating system's randomness once per process; SipHash
//! keyed with it over a counter is a pseudo-random function, so each value is
//! unpredictable without the key, and no dependency is needed for a few
//! `u64`s per stream.

use std::hash::{BuildHasher as _, RandomState};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh unguessable 64-bit value.
pub(crate) fn random() -> u64 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    KEYS.hash_one(n)
}

/// A keyed digest of `parts` (this process's key): how the in-process
/// backend signs the lineages it issues, so a lineage it forgot is still
/// recognised as its own when it comes back.
pub(crate) fn sign(parts: (u64, u64)) -> u64 {
    // The domain byte keeps signatures apart from `random()`'s outputs.
    KEYS.hash_one((0xA5u8, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_differ_and_signatures_are_stable() {
        let values: std::collections::HashSet<u64> = (0..10_000).map(|_| random()).collect();
        assert_eq!(values.len(), 10_000);
        assert_eq!(sign((1, 2)), sign((1, 2)));
        assert_ne!(sign((1, 2)), sign((2, 1)));
    }
}
