//! Caps on open streams: one permit per stream, held by the stream's body
//! (not by the handler that built it, which returns at once), so a permit
//! lives exactly as long as the stream does.
//!
//! - The whole app: `TINY_MAX_STREAMS` (default 90 % of the file-descriptor
//!   limit, keeping the rest for ordinary requests); past it, 503 with
//!   `Retry-After`.
//! - One client address: `TINY_MAX_STREAMS_PER_IP` (off by default: users
//!   behind one NAT or proxy share an address); past it, 429 with
//!   `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;

use crate::{Error, metrics};

/// How long a refused client is told to wait, in seconds.
const RETRY_AFTER: u32 = 5;

/// The open-stream counters of one app.
#[derive(Debug)]
pub(crate) struct StreamCaps {
    max: usize,
    per_ip: Option<usize>,
    open: AtomicUsize,
    /// Only addresses with an open stream; bounded by the global cap.
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One open stream's share of the caps; released when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    caps: Arc<StreamCaps>,
    ip: Option<IpAddr>,
}

impl StreamCaps {
    pub(crate) fn new(max: usize, per_ip: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_ip,
            open: AtomicUsize::new(0),
            by_ip: Mutex::default(),
        })
    }

    /// No caps: streams built outside an app.
    pub(crate) fn unlimited() -> Arc<Self> {
        Self::new(usize::MAX, None)
    }

    /// A permit for a stream of a client at `ip`, or the refusal to answer with.
    pub(crate) fn acquire(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Permit, Error> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            });
        if taken.is_err() {
            metrics::refused("max_streams");
            return Err(Error::unavailable(
                format!(
                    "the server has {} streams open, its limit (TINY_MAX_STREAMS); retry later",
                    self.max
                ),
                RETRY_AFTER,
            )
            .exposed());
        }
        // Counted from here: dropping the permit undoes both counts.
        let mut permit = Permit {
            caps: Arc::clone(self),
            ip: None,
        };
        if let (Some(ip), Some(limit)) = (ip, self.per_ip) {
            let mut by_ip = self.by_ip.lock().unwrap_or_else(PoisonError::into_inner);
            let count = by_ip.entry(ip).or_insert(0);
            if *count >= limit {
                metrics::refused("max_streams_per_ip");
                if *count == 0 {
                    by_ip.remove(&ip);
                }
                return Err(Error::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "this address has {limit} streams open, its limit \
                         (TINY_MAX_STREAMS_PER_IP); close one or retry later"
                    ),
                )
                .with_retry_after(RETRY_AFTER));
            }
            *count += 1;
            permit.ip = Some(ip);
        }
        Ok(permit)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.caps.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip {
            let mut by_ip = self
                .caps
                .by_ip
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = by_ip.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    by_ip.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_cap_refuses_with_503_and_frees_on_drop() {
        let caps = StreamCaps::new(2, None);
        let a = caps.acquire(None).unwrap();
        let _b = caps.acquire(None).unwrap();
        let refused = caps.acquire(None).unwrap_err();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.message().contains("TINY_MAX_STREAMS"));
        drop(a);
        assert!(caps.acquire(None).is_ok());
    }

    #[test]
    fn the_per_address_cap_refuses_with_429_per_address() {
        let caps = StreamCaps::new(10, Some(1));
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        let first = caps.acquire(Some(one)).unwrap();
        let refused = caps.acquire(Some(one)).unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(caps.acquire(Some(two)).is_ok());
        // The refused attempt released its global count.
        assert_eq!(caps.open.load(Ordering::Acquire), 1);
        drop(first);
        assert!(caps.acquire(Some(one)).is_ok());
        assert!(caps.by_ip.lock().unwrap().is_empty());
    }
}
