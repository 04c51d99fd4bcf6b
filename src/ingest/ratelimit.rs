//! A token bucket: Loki's ingestion rate limit (`ingestion_rate_mb` with
//! `ingestion_burst_size_mb`) over bytes, and the remote-write rate limit over samples, each
//! for the whole process.

use std::time::Instant;

use parking_lot::Mutex;

/// Bytes per second with a burst allowance. A request either takes all its bytes or none.
#[derive(Debug)]
pub struct ByteRateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl ByteRateLimiter {
    /// A full bucket of `burst` bytes refilling at `rate` bytes per second.
    pub fn new(rate: u64, burst: u64) -> Self {
        let burst = burst.max(rate) as f64;
        ByteRateLimiter {
            rate: rate as f64,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `bytes` from the bucket if they are there.
    pub fn try_take(&self, bytes: u64) -> bool {
        self.try_take_at(bytes, Instant::now())
    }

    fn try_take_at(&self, bytes: u64, now: Instant) -> bool {
        let mut st = self.state.lock();
        let elapsed = now.saturating_duration_since(st.1).as_secs_f64();
        st.0 = (st.0 + elapsed * self.rate).min(self.burst);
        st.1 = now;
        if (bytes as f64) <= st.0 {
            st.0 -= bytes as f64;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is empty now: a cheap refusal before reading a request body.
    pub fn is_exhausted(&self) -> bool {
        !self.try_take_at(1, Instant::now()) || {
            // Put the probe back: only a real request spends tokens.
            self.state.lock().0 += 1.0;
            false
        }
    }

    /// The sustained rate, bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let l = ByteRateLimiter::new(100, 200);
        let t0 = Instant::now();
        assert!(l.try_take_at(150, t0));
        assert!(!l.try_take_at(100, t0), "only 50 left");
        assert!(l.try_take_at(50, t0));
        assert!(!l.try_take_at(1, t0));
        assert!(l.try_take_at(100, t0 + Duration::from_secs(1)));
        assert!(
            !l.try_take_at(300, t0 + Duration::from_secs(100)),
            "larger than the burst"
        );
    }
}
