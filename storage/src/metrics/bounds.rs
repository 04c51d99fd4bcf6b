//! Time bounds for appended samples and exemplars, relative to the wall clock: a sample
//! more than `max_future` ahead of now, or more than `max_age` behind it, is refused with
//! [`Error::OutOfBounds`] before it reaches the head. Without the upper bound one sample
//! dated years ahead moves the head's valid range past every current sample; without the
//! lower bound a sample near `i64::MIN` stretches the head over the whole time axis.
//!
//! All arithmetic saturates, so bounds of any size and clocks of any value are safe.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Which samples the appender accepts, relative to the wall clock. The default accepts any
/// timestamp (storage tests and tools that load historical data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampleBounds {
    /// Samples later than now + this are refused (`limits.max_future` in nerve).
    pub max_future: Option<Duration>,
    /// Samples earlier than now − this are refused (the metrics retention in nerve).
    pub max_age: Option<Duration>,
}

/// The accepted range `[min_ms, max_ms]` at one moment, with the reasons for its ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    /// Oldest accepted timestamp (inclusive), in ms.
    pub min_ms: i64,
    /// Newest accepted timestamp (inclusive), in ms.
    pub max_ms: i64,
    bounds: SampleBounds,
}

/// Milliseconds of a duration, saturating at `i64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The wall clock in ms since the epoch (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, duration_ms)
}

impl SampleBounds {
    /// The accepted range when the wall clock reads `now_ms`.
    pub fn window(&self, now_ms: i64) -> TimeWindow {
        TimeWindow {
            min_ms: self.max_age.map_or(i64::MIN, |d| now_ms.saturating_sub(duration_ms(d))),
            max_ms: self
                .max_future
                .map_or(i64::MAX, |d| now_ms.saturating_add(duration_ms(d))),
            bounds: *self,
        }
    }
}

impl TimeWindow {
    /// `Ok` when `t_ms` lies inside the window; otherwise [`Error::OutOfBounds`] naming the
    /// series (built only on refusal), the timestamp and the bound it broke.
    pub fn check(&self, t_ms: i64, what: &str, series: impl FnOnce() -> String) -> Result<()> {
        let bound = if t_ms > self.max_ms {
            let d = self.bounds.max_future.unwrap_or_default();
            format!(
                "more than max_future ({}) ahead of the current time: the newest accepted timestamp is {}",
                human(d),
                self.max_ms
            )
        } else if t_ms < self.min_ms {
            let d = self.bounds.max_age.unwrap_or_default();
            format!(
                "older than the retention ({}): the oldest accepted timestamp is {}",
                human(d),
                self.min_ms
            )
        } else {
            return Ok(());
        };
        Err(Error::OutOfBounds {
            what: what.to_owned(),
            series: series(),
            ts_ms: t_ms,
            bound,
        })
    }
}

/// The block range `[a, b)` of width `r` (> 0) holding `t`, aligned to multiples of `r`;
/// both ends saturate at the i64 range, so any timestamp is safe.
pub(crate) fn cut_range(t: i64, r: i64) -> (i64, i64) {
    let a = t.div_euclid(r).saturating_mul(r);
    (a, a.saturating_add(r))
}

/// Whether `max - min > limit`, computed without overflow for any two timestamps.
pub(crate) fn span_exceeds(min: i64, max: i64, limit: i64) -> bool {
    i128::from(max) - i128::from(min) > i128::from(limit)
}

/// A duration as Prometheus writes it (`10m`, `15d`, `1h30m`, `500ms`).
fn human(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, len) in [
        ("y", 365 * 86_400_000u128),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn refuses_outside_and_names_the_bound() {
        let b = SampleBounds {
            max_future: Some(10 * MIN),
            max_age: Some(Duration::from_secs(15 * 86_400)),
        };
        let now = 1_800_000_000_000;
        let w = b.window(now);
        assert!(w.check(now, "sample", || unreachable!()).is_ok());
        assert!(w.check(now + 600_000, "sample", || unreachable!()).is_ok());
        let e = w.check(now + 600_001, "sample", || "up".into()).unwrap_err();
        assert!(e.is_bad_data());
        let msg = e.to_string();
        assert!(msg.contains("up") && msg.contains("max_future (10m)"), "{msg}");
        let e = w.check(i64::MIN, "exemplar", || "up".into()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("exemplar") && msg.contains("retention (15d)"), "{msg}");
        assert!(w.check(i64::MAX, "sample", || "up".into()).is_err());
        assert!(w.check(-1_000_000_000_000_000, "sample", || "up".into()).is_err());
    }

    #[test]
    fn default_accepts_everything() {
        let w = SampleBounds::default().window(now_ms());
        for t in [i64::MIN, -1, 0, i64::MAX] {
            assert!(w.check(t, "sample", || unreachable!()).is_ok());
        }
    }

    proptest! {
        /// Any clock, any bounds, any timestamp: no overflow, and the answer matches
        /// exact (128-bit) arithmetic clamped to the i64 range.
        #[test]
        fn window_saturates(now in any::<i64>(), fut in any::<u64>(), age in any::<u64>(), t in any::<i64>()) {
            let b = SampleBounds {
                max_future: Some(Duration::from_millis(fut)),
                max_age: Some(Duration::from_millis(age)),
            };
            let w = b.window(now);
            let clamp = |x: i128| x.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            // Durations longer than i64::MAX ms count as i64::MAX ms.
            let ms = |d: u64| i128::from(d.min(i64::MAX as u64));
            let lo = clamp(i128::from(now) - ms(age));
            let hi = clamp(i128::from(now) + ms(fut));
            prop_assert_eq!(i128::from(w.min_ms), lo);
            prop_assert_eq!(i128::from(w.max_ms), hi);
            let inside = i128::from(t) >= lo && i128::from(t) <= hi;
            prop_assert_eq!(w.check(t, "sample", || "s".into()).is_ok(), inside);
        }

        /// The head's cut range and span test never overflow and agree with exact
        /// arithmetic wherever the exact result fits.
        #[test]
        fn cut_arithmetic_saturates(t in any::<i64>(), other in any::<i64>(), r in 1i64..=i64::MAX, limit in any::<i64>()) {
            use super::{cut_range, span_exceeds};
            let (a, b) = cut_range(t, r);
            let exact_a = i128::from(t).div_euclid(i128::from(r)) * i128::from(r);
            let clamp = |x: i128| x.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            prop_assert_eq!(i128::from(a), clamp(exact_a));
            prop_assert_eq!(i128::from(b), clamp(i128::from(a) + i128::from(r)));
            prop_assert!(a <= t && (t < b || b == i64::MAX));
            prop_assert_eq!(span_exceeds(t, other, limit), i128::from(other) - i128::from(t) > i128::from(limit));
        }
    }
}
