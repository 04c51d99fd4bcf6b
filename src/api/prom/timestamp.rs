//! Timestamps in Prometheus API parameters: float seconds (rounded to the millisecond) or
//! RFC 3339 with optional fractional seconds, exactly as Prometheus' `parseTime` accepts them,
//! including its two out-of-range sentinels for "the beginning/end of time".

use nerve_query::gofmt::{days_from_civil, days_in_month};

/// Prometheus' `MinTime` in milliseconds: the default `start` of metadata endpoints.
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Prometheus' `MaxTime` in milliseconds: the default `end` of metadata endpoints.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;

/// `MinTime` formatted as RFC 3339 (client_golang sends it for "no start").
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
/// `MaxTime` formatted as RFC 3339 (client_golang sends it for "no end").
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// Largest |seconds| whose millisecond value fits an `i64`.
const MAX_ABS_SECONDS: f64 = 9.2e15;

/// Parses a timestamp parameter into milliseconds since the epoch. The error is Prometheus'
/// message: `cannot parse "x" to a valid timestamp`.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {s:?} to a valid timestamp");
    if let Some(t) = parse_go_float(s) {
        if !t.is_finite() || t.abs() > MAX_ABS_SECONDS {
            return Err(err());
        }
        let whole = t.trunc();
        // Go: math.Modf then math.Round(frac*1000)/1000 — round the fraction to whole ms.
        let frac_ms = ((t - whole) * 1000.0).round();
        return Ok(whole as i64 * 1000 + frac_ms as i64);
    }
    match s {
        MIN_TIME_FORMATTED => return Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => return Ok(MAX_TIME_MS),
        _ => {}
    }
    parse_rfc3339(s).ok_or_else(err)
}

/// Parses what Go's `strconv.ParseFloat` accepts for decimal input; `None` otherwise, so that
/// RFC 3339 is tried next. Rust's parser also takes `inf`/`nan` words, which callers reject.
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let first = body.chars().next()?;
    if !(first.is_ascii_digit() || first == '.' || body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("nan"))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00` in Go's notation) → ms since the epoch,
/// truncating below the millisecond as Prometheus does.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let (secs, nanos) = parse_rfc3339_parts(s)?;
    Some(secs * 1000 + nanos / 1_000_000)
}

/// RFC 3339 (with optional fraction and offset) to nanoseconds since the epoch; `None` when
/// malformed or outside the `i64` nanosecond range (years 1678–2262).
pub fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    let (secs, nanos) = parse_rfc3339_parts(s)?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Seconds and nanoseconds of an RFC 3339 timestamp.
fn parse_rfc3339_parts(s: &str) -> Option<(i64, i64)> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r| num_at(s, r);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i64 = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let frac: i64 = r[..digits].parse().ok()?;
        nanos = frac * 10i64.pow(9 - digits as u32);
        rest = &r[digits..];
    }
    let offset_secs = match rest {
        "Z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob[3] != b':' || !(ob[0] == b'+' || ob[0] == b'-') {
                return None;
            }
            let (oh, om) = (num_at(rest, 1..3)?, num_at(rest, 4..6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if ob[0] == b'-' { -o } else { o }
        }
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some((secs, nanos))
}

fn num_at(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let part = s.get(r)?;
    if part.bytes().all(|c| c.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_seconds() {
        assert_eq!(parse_time("1718000000"), Ok(1_718_000_000_000));
        assert_eq!(parse_time("1718000000.5"), Ok(1_718_000_000_500));
        assert_eq!(parse_time("1.0006"), Ok(1001)); // rounded to ms
        assert_eq!(parse_time("1.0004"), Ok(1000));
        assert_eq!(parse_time("-1.5"), Ok(-1500));
        assert_eq!(parse_time("1e3"), Ok(1_000_000));
        assert_eq!(parse_time(".5"), Ok(500));
        assert_eq!(parse_time("0"), Ok(0));
        // Grafana's exemplar probe sends ms where seconds are expected: must not fail.
        assert_eq!(parse_time("1718000000000"), Ok(1_718_000_000_000_000));
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2024-06-10T06:13:20Z"), Ok(1_718_000_000_000));
        assert_eq!(parse_time("2024-06-10T06:13:20.123456789Z"), Ok(1_718_000_000_123));
        assert_eq!(parse_time("2024-06-10T08:13:20.5+02:00"), Ok(1_718_000_000_500));
        assert_eq!(parse_time("2024-06-10T01:13:20-05:00"), Ok(1_718_000_000_000));
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        assert_eq!(parse_time("1969-12-31T23:59:59.5Z"), Ok(-500));
    }

    #[test]
    fn sentinels() {
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME_MS));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(MAX_TIME_MS));
        assert_eq!(MIN_TIME_MS, -9_223_309_901_257_974_000);
        assert_eq!(MAX_TIME_MS, 9_223_309_901_257_974_999);
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "abc",
            "NaN",
            "Inf",
            "-inf",
            "1e300",
            "2024-06-10",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-06-10T24:00:00Z",
            "2024-06-10T06:13:20",
            "2024-06-10T06:13:20.Z",
            "2024-06-10 06:13:20Z",
            "2024-06-10T06:13:20+0200",
        ] {
            assert!(parse_time(s).is_err(), "{s:?} should fail");
        }
        assert_eq!(parse_time("x").unwrap_err(), "cannot parse \"x\" to a valid timestamp");
    }
}
