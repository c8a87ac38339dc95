//! A lock-free latency histogram shared by every connection task: 1 µs
//! buckets below 1 ms, 10 µs below 10 ms, 100 µs below 100 ms, 1 ms up to
//! 10 s (everything above lands in the last bucket).

use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS: usize = 1000 + 900 + 900 + 9900 + 1;

pub struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn record(&self, micros: u64) {
        self.buckets[index(micros)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Relaxed);
        }
    }

    /// The `q` quantile in microseconds (upper bound of its bucket) of
    /// several histograms together.
    pub fn merged_quantile<'a>(all: impl Iterator<Item = &'a Histogram>, q: f64) -> u64 {
        let mut merged = vec![0u64; BUCKETS];
        for histogram in all {
            for (sum, bucket) in merged.iter_mut().zip(histogram.buckets.iter()) {
                *sum += bucket.load(Ordering::Relaxed);
            }
        }
        let total: u64 = merged.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64 * q).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, count) in merged.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper(i);
            }
        }
        upper(BUCKETS - 1)
    }
}

fn index(micros: u64) -> usize {
    match micros {
        0..1_000 => micros as usize,
        1_000..10_000 => 1000 + (micros as usize - 1_000) / 10,
        10_000..100_000 => 1900 + (micros as usize - 10_000) / 100,
        100_000..10_000_000 => 2800 + (micros as usize - 100_000) / 1_000,
        _ => BUCKETS - 1,
    }
}

fn upper(index: usize) -> u64 {
    let i = index as u64;
    match index {
        0..1000 => i,
        1000..1900 => 1_000 + (i - 1000 + 1) * 10,
        1900..2800 => 10_000 + (i - 1900 + 1) * 100,
        _ => 100_000 + (i - 2800 + 1) * 1_000,
    }
}
