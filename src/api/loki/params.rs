//! Parameters of the Loki API (Loki's `pkg/loghttp/params.go`, api-contracts §2.2).
//!
//! Timestamps: a value containing `.` is float seconds (rounded to the millisecond); an integer
//! of at most 10 digits is seconds, a longer one nanoseconds; anything else RFC 3339. Defaults:
//! `end` = now, `start` = `end` − `since` (1 h), `limit` = 100 (must be > 0),
//! `direction` = backward, `step` = max(⌊range / 250⌋, 1 s).

use nerve_storage::logs::{Direction, now_ns};

use crate::api::prom::params::Params;
use crate::api::prom::timestamp::parse_rfc3339_ns;
use crate::servers::error::ApiError;

const SECOND: i64 = 1_000_000_000;
/// Default `since`: one hour.
const DEFAULT_SINCE: i64 = 3600 * SECOND;
/// Default `limit` of log queries.
pub const DEFAULT_LIMIT: usize = 100;

/// Parses a Loki timestamp parameter into nanoseconds.
pub fn parse_ns(value: &str) -> Result<i64, String> {
    let err = || format!("invalid timestamp {value:?}: want nanoseconds, seconds or RFC 3339");
    if value.contains('.')
        && let Ok(t) = value.parse::<f64>()
    {
        if !t.is_finite() || t.abs() > 9.2e9 {
            return Err(err());
        }
        let whole = t.trunc();
        let frac_ms = ((t - whole) * 1000.0).round();
        return Ok(whole as i64 * SECOND + frac_ms as i64 * 1_000_000);
    }
    match value.parse::<i64>() {
        Ok(n) if value.trim_start_matches('-').len() <= 10 => n.checked_mul(SECOND).ok_or_else(err),
        Ok(n) => Ok(n),
        Err(_) => parse_rfc3339_ns(value).ok_or_else(err),
    }
}

/// Parses a duration parameter: float seconds, or a Go / Prometheus duration (`1m30s`, `500ms`,
/// `2d`).
pub fn parse_duration_ns(value: &str) -> Result<i64, String> {
    let err = || format!("invalid duration {value:?}: want seconds or a duration like 1m");
    if let Ok(f) = value.parse::<f64>() {
        if !f.is_finite() || f.abs() > 9.2e9 {
            return Err(err());
        }
        return Ok((f * SECOND as f64).round() as i64);
    }
    // LogQL's duration grammar (Go's `time.ParseDuration` plus `d`, `w`, `y`), unsigned here.
    if value.starts_with(['-', '+']) {
        return Err(err());
    }
    nerve_query::logql::parse_duration(value).map_err(|_| err())
}

fn bad(e: String) -> ApiError {
    ApiError::bad_data(e)
}

/// `start`/`end` of a range request in ns (end defaults to now, start to end − since).
pub fn range(p: &Params) -> Result<(i64, i64), ApiError> {
    let end = match p.first("end") {
        None | Some("") => now_ns(),
        Some(v) => parse_ns(v).map_err(bad)?,
    };
    let since = match p.first("since") {
        None | Some("") => DEFAULT_SINCE,
        Some(v) => parse_duration_ns(v).map_err(bad)?,
    };
    let start = match p.first("start") {
        None | Some("") => end.saturating_sub(since),
        Some(v) => parse_ns(v).map_err(bad)?,
    };
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start, end))
}

/// `time` of an instant query in ns (default now).
pub fn time(p: &Params) -> Result<i64, ApiError> {
    match p.first("time") {
        None | Some("") => Ok(now_ns()),
        Some(v) => parse_ns(v).map_err(bad),
    }
}

/// `limit` (default 100, must be > 0).
pub fn limit(p: &Params) -> Result<usize, ApiError> {
    match p.first("limit") {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Ok(n as usize),
            Ok(_) => Err(ApiError::bad_data("limit must be a positive value")),
            Err(_) => Err(ApiError::bad_data(format!("invalid limit {v:?}"))),
        },
    }
}

/// Refuses a `limit` above `max` (0 = no cap) with Loki's 400 for its
/// `max_entries_limit_per_query`.
pub fn check_entries_limit(limit: usize, max: usize) -> Result<(), ApiError> {
    if max > 0 && limit > max {
        return Err(ApiError::bad_data(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})"
        )));
    }
    Ok(())
}

/// `direction` (default backward).
pub fn direction(p: &Params) -> Result<Direction, ApiError> {
    match p.first("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(ApiError::bad_data(format!(
            "invalid direction {other:?}: want forward or backward"
        ))),
    }
}

/// `step` in ns (default max(⌊range/250⌋, 1 s)); must be > 0.
pub fn step(p: &Params, start: i64, end: i64) -> Result<i64, ApiError> {
    match p.first("step") {
        None | Some("") => Ok((((end - start) / SECOND) / 250).max(1) * SECOND),
        Some(v) => {
            let s = parse_duration_ns(v).map_err(bad)?;
            if s <= 0 {
                return Err(ApiError::bad_data(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer",
                ));
            }
            if (end - start) / s > 11_000 {
                return Err(ApiError::bad_data(
                    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
                ));
            }
            Ok(s)
        }
    }
}

/// `interval` in ns, if given.
pub fn interval(p: &Params) -> Result<Option<i64>, ApiError> {
    match p.first("interval") {
        None | Some("") => Ok(None),
        Some(v) => parse_duration_ns(v).map_err(bad).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_like_loki() {
        assert_eq!(parse_ns("1718000000").unwrap(), 1_718_000_000 * SECOND);
        assert_eq!(parse_ns("1718000000123456789").unwrap(), 1_718_000_000_123_456_789);
        assert_eq!(parse_ns("1718000000.5").unwrap(), 1_718_000_000_500_000_000);
        assert_eq!(parse_ns("4000000000").unwrap(), 4_000_000_000 * SECOND);
        assert_eq!(
            parse_ns("2024-06-10T06:13:20.000000001Z").unwrap(),
            1_718_000_000_000_000_001
        );
        assert!(parse_ns("yesterday").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("15").unwrap(), 15 * SECOND);
        assert_eq!(parse_duration_ns("0.5").unwrap(), SECOND / 2);
        assert_eq!(parse_duration_ns("1m30s").unwrap(), 90 * SECOND);
        assert_eq!(parse_duration_ns("500ms").unwrap(), SECOND / 2);
        assert_eq!(parse_duration_ns("1d").unwrap(), 86_400 * SECOND);
        assert!(parse_duration_ns("1x").is_err());
        assert!(parse_duration_ns("").is_err());
    }

    #[test]
    fn defaults() {
        let p = Params::from_pairs([("start", "1000"), ("end", "2000")]);
        assert_eq!(range(&p).unwrap(), (1000 * SECOND, 2000 * SECOND));
        assert_eq!(step(&p, 1000 * SECOND, 2000 * SECOND).unwrap(), 4 * SECOND);
        assert_eq!(limit(&p).unwrap(), 100);
        assert_eq!(direction(&p).unwrap(), Direction::Backward);
        assert!(limit(&Params::from_pairs([("limit", "0")])).is_err());
    }

    #[test]
    fn entries_limit() {
        assert!(check_entries_limit(5000, 5000).is_ok());
        assert!(check_entries_limit(1_000_000, 0).is_ok());
        let e = check_entries_limit(5001, 5000).unwrap_err();
        assert_eq!(
            e.message(),
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (5001 > 5000)"
        );
    }
}
