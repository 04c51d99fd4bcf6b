//! Back-pressure for ingestion: bounds on requests and decompressed bytes being processed at
//! once. When a bound is reached the request waits briefly, then is answered 503 with
//! `Retry-After`, which remote-write senders retry (a 429 they would drop by default).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::servers::error::ApiError;

/// How long a request may wait for capacity before it is answered 503.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Byte budgets are counted in KiB so that they fit the semaphore's `u32` permit counts.
const UNIT: usize = 1024;

/// Two semaphores: in-flight requests and in-flight decompressed bytes. Thread-safe.
#[derive(Debug)]
pub struct InflightLimiter {
    requests: Arc<Semaphore>,
    kib: Arc<Semaphore>,
    max_kib: u32,
    /// Reports the bytes reserved right now.
    inflight_bytes: Gauge,
    /// How long to wait for capacity before answering 503.
    max_wait: Duration,
}

/// Capacity held by one request; released on drop.
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    /// The gauge to lower on drop, and by how much.
    reserved: Option<(Gauge, i64)>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((g, n)) = &self.reserved {
            g.dec_by(*n);
        }
    }
}

impl InflightLimiter {
    /// A limiter admitting `max_requests` requests and `max_bytes` decompressed bytes at once.
    /// `inflight_bytes` is kept equal to the bytes reserved.
    pub fn new(max_requests: usize, max_bytes: usize, inflight_bytes: Gauge) -> Self {
        let max_kib = u32::try_from(max_bytes.div_ceil(UNIT)).unwrap_or(u32::MAX).max(1);
        InflightLimiter {
            requests: Arc::new(Semaphore::new(max_requests.max(1))),
            kib: Arc::new(Semaphore::new(max_kib as usize)),
            max_kib,
            inflight_bytes,
            max_wait: MAX_WAIT,
        }
    }

    /// Admits one request (before its body is read).
    pub async fn admit_request(&self) -> Result<Permit, ApiError> {
        match tokio::time::timeout(self.max_wait, self.requests.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(Permit {
                _permit: p,
                reserved: None,
            }),
            _ => Err(ApiError::unavailable(
                "too many concurrent remote-write requests; retry later",
            )),
        }
    }

    /// Reserves `bytes` of decompressed data (before decompressing). A request larger than
    /// the whole budget reserves all of it, so it still runs, alone.
    pub async fn reserve_bytes(&self, bytes: usize) -> Result<Permit, ApiError> {
        let kib = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.max_kib);
        match tokio::time::timeout(self.max_wait, self.kib.clone().acquire_many_owned(kib)).await {
            Ok(Ok(p)) => {
                let n = i64::try_from(bytes).unwrap_or(i64::MAX);
                self.inflight_bytes.inc_by(n);
                Ok(Permit {
                    _permit: p,
                    reserved: Some((self.inflight_bytes.clone(), n)),
                })
            }
            _ => Err(ApiError::unavailable(
                "remote-write in-flight byte limit (limits.remote_write_max_inflight_bytes) reached; retry later",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::error::ErrorKind;

    #[tokio::test]
    async fn full_limiter_answers_unavailable() {
        let g = Gauge::default();
        let mut l = InflightLimiter::new(1, 4096, g.clone());
        l.max_wait = Duration::from_millis(10);
        let held = l.admit_request().await.unwrap();
        let e = l.admit_request().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        drop(held);
        let _again = l.admit_request().await.unwrap();

        let big = l.reserve_bytes(1 << 30).await.unwrap(); // clamped to the whole budget
        assert_eq!(l.reserve_bytes(1).await.unwrap_err().kind(), ErrorKind::Unavailable);
        drop(big);
        assert_eq!(g.get(), 0);
        let _a = l.reserve_bytes(2048).await.unwrap();
        let _b = l.reserve_bytes(2048).await.unwrap();
        assert_eq!(g.get(), 4096);
        assert!(l.reserve_bytes(1).await.is_err());
    }
}
