//! Duration and byte-size strings as LogQL reads them.
//!
//! - [`parse_duration`]: query literals (`[5m]`, `offset 1h`, `| latency > 250ms`). Loki tries
//!   Go's `time.ParseDuration` and then Prometheus' `model.ParseDuration`, so both `1.5s` and
//!   `1d`/`1w`/`1y` are accepted.
//! - [`parse_go_duration`]: label values converted by `| unwrap duration(x)` and duration label
//!   filters, which use Go's `time.ParseDuration` only (no `d`, `w`, `y`).
//! - [`parse_bytes`]: go-humanize's `ParseBytes` (`20KB` = 20 000, `20KiB` = 20 480).

const NS: f64 = 1.0;

fn unit_ns(unit: &str, prom: bool) -> Option<f64> {
    Some(match unit {
        "ns" => NS,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" if prom => 86_400e9,
        "w" if prom => 7.0 * 86_400e9,
        "y" if prom => 365.0 * 86_400e9,
        _ => return None,
    })
}

fn parse(s: &str, prom: bool) -> Result<i64, String> {
    let invalid = || format!("invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(invalid());
        }
        let v: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        if unit.is_empty() {
            return Err(format!("missing unit in duration {s:?}"));
        }
        let mult = unit_ns(unit, prom).ok_or_else(|| format!("unknown unit {unit:?} in duration {s:?}"))?;
        total += v * mult;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}

/// Parses a duration literal of the query (Go or Prometheus syntax) into nanoseconds. Errors
/// read like Go's, without the `time: ` prefix (as Loki reports them).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    parse(s, false).or_else(|go_err| parse(s, true).map_err(|_| go_err))
}

/// Parses a label value with Go's `time.ParseDuration` rules into nanoseconds; the error is
/// Go's message (`time: invalid duration "x"`).
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    parse(s, false).map_err(|e| format!("time: {e}"))
}

/// Parses a byte size like go-humanize's `ParseBytes` (SI units are powers of 1000, IEC units
/// powers of 1024, case-insensitive, optional space, `,` digit separators allowed).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    let num: String = s[..num_end].chars().filter(|c| *c != ',').collect();
    let v: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    let unit = s[num_end..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    let b = v * mult;
    if b >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    Ok(b as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(300_000_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000_000_000));
        assert_eq!(parse_duration("250µs"), Ok(250_000));
        assert_eq!(
            parse_duration("5minutes"),
            Err("unknown unit \"minutes\" in duration \"5minutes\"".into())
        );
        assert!(parse_go_duration("1d").is_err());
        assert_eq!(parse_go_duration("-2s"), Ok(-2_000_000_000));
        assert_eq!(parse_go_duration("abc"), Err("time: invalid duration \"abc\"".into()));
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("20KB"), Ok(20_000));
        assert_eq!(parse_bytes("20KiB"), Ok(20_480));
        assert_eq!(parse_bytes("1.5 MB"), Ok(1_500_000));
        assert_eq!(parse_bytes("42"), Ok(42));
        assert!(parse_bytes("12 parsecs").is_err());
    }
}
