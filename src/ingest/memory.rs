//! Memory-aware back-pressure: while nerve's resident memory is above `limits.max_memory`,
//! every ingest path answers 503 + `Retry-After` (gRPC UNAVAILABLE) instead of taking more
//! work, so a burst is refused rather than absorbed until the OOM killer ends the process.
//! Queries and health checks are not affected.
//!
//! A background thread samples the resident set size every [`SAMPLE_EVERY`] from
//! `/proc/self/statm`; the check on the request path is one atomic load. The in-flight byte
//! and request limits bound what is already admitted, so the peak stays near the bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::config::units::ByteSize;
use crate::servers::error::{ApiError, ErrorKind};

/// How often the resident set size is read.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Refuses ingest while resident memory is above a bound. Thread-safe.
#[derive(Debug)]
pub struct MemoryGuard {
    /// Bound in bytes; 0 disables the guard.
    limit: u64,
    /// Last sampled resident set size in bytes.
    rss: AtomicU64,
    /// Requests refused so far.
    refused: AtomicU64,
    /// Bytes held by live [`Charge`]s (request bodies being decompressed or decoded).
    charged: AtomicU64,
    /// Bound on `charged` whatever the resident memory (0 = none).
    max_charged: u64,
}

/// Bytes one request holds beyond its body as sent (what it decompressed), counted
/// against the guard's bound from the moment they are produced until the charge is dropped.
/// The RSS sampler sees the same bytes once they are resident, so they may be counted
/// twice for up to [`SAMPLE_EVERY`]: the guard then refuses early, never late.
#[derive(Debug)]
pub struct Charge {
    guard: Arc<MemoryGuard>,
    bytes: u64,
}

impl Charge {
    /// Counts `n` more bytes; refuses (503, naming `limits.max_memory`) when the resident
    /// memory plus every live charge would exceed the bound. Refused bytes stay counted
    /// until the charge is dropped, which the caller does when it gives up.
    pub fn add(&mut self, n: usize) -> Result<(), ApiError> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.bytes = self.bytes.saturating_add(n);
        let total = self.guard.charged.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        let g = &self.guard;
        if g.max_charged > 0 && total > g.max_charged {
            g.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "memory pressure: {} of request bodies being decompressed would exceed limits.max_inflight_decompressed_bytes {}; retry later",
                    ByteSize(total),
                    ByteSize(g.max_charged)
                ),
            ));
        }
        let (limit, rss) = (g.limit, g.rss());
        if limit == 0 || rss.saturating_add(total) <= limit {
            return Ok(());
        }
        g.refused.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "memory pressure: {} of request bodies being decompressed on top of nerve's resident memory {} would exceed limits.max_memory {}; retry later",
                ByteSize(total),
                ByteSize(rss),
                ByteSize(limit)
            ),
        ))
    }

    /// Bytes this charge holds.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.guard.charged.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl MemoryGuard {
    /// A guard with `limit` bytes (0 = off) sampling this process's RSS in the background
    /// for as long as the guard lives.
    /// `max_charged` bounds decompressed bytes in flight (0 = none).
    pub fn start(limit: u64, max_charged: u64) -> Arc<MemoryGuard> {
        let guard = Arc::new(MemoryGuard::new(limit).with_max_charged(max_charged));
        guard.rss.store(resident_bytes().unwrap_or(0), Ordering::Relaxed);
        if limit > 0 {
            let weak = Arc::downgrade(&guard);
            let spawned = std::thread::Builder::new()
                .name("nerve-memory".into())
                .spawn(move || sample_loop(weak));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the memory sampler; limits.max_memory is not enforced");
            }
        }
        guard
    }

    /// A guard whose RSS is only set by [`MemoryGuard::set_rss`] (tests), with no bound on
    /// decompressed bytes in flight beyond `limit`.
    pub fn new(limit: u64) -> MemoryGuard {
        MemoryGuard {
            limit,
            rss: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            charged: AtomicU64::new(0),
            max_charged: 0,
        }
    }

    /// This guard, also refusing once live charges would pass `max` bytes (0 = no bound).
    pub fn with_max_charged(mut self, max: u64) -> MemoryGuard {
        self.max_charged = max;
        self
    }

    /// An empty [`Charge`] against this guard.
    pub fn charge(self: &Arc<Self>) -> Charge {
        Charge {
            guard: self.clone(),
            bytes: 0,
        }
    }

    /// Bytes held by live charges.
    #[cfg(test)]
    pub fn charged(&self) -> u64 {
        self.charged.load(Ordering::Relaxed)
    }

    /// Records a resident set size reading.
    pub fn set_rss(&self, bytes: u64) {
        self.rss.store(bytes, Ordering::Relaxed);
    }

    /// `Ok` when ingest may proceed; otherwise the 503 to answer.
    pub fn check(&self) -> Result<(), ApiError> {
        let rss = self.rss.load(Ordering::Relaxed);
        if self.limit == 0 || rss <= self.limit {
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "memory pressure: nerve's resident memory {} is above limits.max_memory {}; retry later",
                ByteSize(rss),
                ByteSize(self.limit)
            ),
        ))
    }

    /// The bound in bytes (0 = off).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Last sampled resident set size in bytes.
    pub fn rss(&self) -> u64 {
        self.rss.load(Ordering::Relaxed)
    }

    /// Ingest requests refused for memory since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

fn sample_loop(guard: Weak<MemoryGuard>) {
    loop {
        std::thread::sleep(SAMPLE_EVERY);
        let Some(g) = guard.upgrade() else { return };
        if let Some(rss) = resident_bytes() {
            g.set_rss(rss);
        }
    }
}

/// This process's resident set size (`/proc/self/statm`, pages of 4 KiB); `None` off Linux.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The memory nerve may use: the cgroup v2 `memory.max` (or v1 limit) when one is set,
/// else `MemTotal` from `/proc/meminfo`.
pub fn total_memory() -> Option<u64> {
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|s| s.trim().parse::<u64>().ok())
    // v1 reports "no limit" as a huge number.
    .find(|&b| b < (1 << 60));
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    });
    match (cgroup, meminfo) {
        (Some(c), Some(m)) => Some(c.min(m)),
        (c, m) => c.or(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_above_the_limit() {
        let g = MemoryGuard::new(1000);
        g.set_rss(1000);
        assert!(g.check().is_ok());
        g.set_rss(1001);
        let e = g.check().unwrap_err();
        assert!(e.message().contains("limits.max_memory"), "{}", e.message());
        let resp = axum::response::IntoResponse::into_response(e);
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().contains_key("retry-after"));
        assert_eq!(g.refused(), 1);
        g.set_rss(10);
        assert!(g.check().is_ok());
        let off = MemoryGuard::new(0);
        off.set_rss(u64::MAX);
        assert!(off.check().is_ok());
    }

    #[test]
    fn charges_count_until_dropped_and_refuse_over_the_bound() {
        let g = Arc::new(MemoryGuard::new(1000));
        g.set_rss(600);
        let mut a = g.charge();
        a.add(300).unwrap();
        let mut b = g.charge();
        assert_eq!(g.charged(), 300);
        let e = b.add(101).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().contains("limits.max_memory"), "{}", e.message());
        assert_eq!(g.refused(), 1);
        drop(b);
        assert_eq!(g.charged(), 300);
        drop(a);
        assert_eq!(g.charged(), 0);
        g.charge().add(400).unwrap();
        assert_eq!(g.charged(), 0);
        // An unbounded guard counts but never refuses.
        let off = Arc::new(MemoryGuard::new(0));
        let mut c = off.charge();
        c.add(usize::MAX).unwrap();
        assert_eq!(c.bytes(), u64::MAX);
    }

    #[test]
    fn charges_are_bounded_in_total_whatever_the_memory_bound() {
        let g = Arc::new(MemoryGuard::new(0).with_max_charged(1000));
        let mut a = g.charge();
        a.add(600).unwrap();
        let mut b = g.charge();
        b.add(400).unwrap();
        let e = b.add(1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(
            e.message().contains("limits.max_inflight_decompressed_bytes"),
            "{}",
            e.message()
        );
        drop(a);
        drop(b);
        assert_eq!(g.charged(), 0);
        g.charge().add(1000).unwrap();
    }

    #[test]
    fn reads_this_process() {
        let rss = resident_bytes().unwrap();
        assert!(rss > 1 << 20, "{rss}");
        let total = total_memory().unwrap();
        assert!(total > rss);
        let g = MemoryGuard::start(total * 2, 0);
        assert!(g.rss() > 0);
        assert!(g.check().is_ok());
    }
}
