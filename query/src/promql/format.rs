//! Numbers as Prometheus prints them: Go's `strconv.FormatFloat(v, 'f', -1, 64)` (label values
//! of `count_values`) and the JSON sample value rule of `util/jsonutil` ('f', or 'e' below 1e-6
//! and from 1e21; `NaN`, `+Inf`, `-Inf`), and millisecond timestamps as decimal seconds.

/// Go `FormatFloat(v, 'f', -1, 64)`: shortest round-tripping digits, never an exponent.
pub fn go_f(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_owned();
    }
    // Rust's Display is the shortest round-trip representation without exponent, like Go's.
    format!("{v}")
}

/// Go `FormatFloat(v, 'e', -1, 64)`: shortest digits, exponent with sign and ≥ 2 digits.
pub fn go_e(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_owned();
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    if digits.len() < 2 {
        format!("{mant}e{sign}0{digits}")
    } else {
        format!("{mant}e{sign}{digits}")
    }
}

/// A sample value as the Prometheus API writes it (without the JSON quotes).
pub fn sample_value(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) && a.is_finite() {
        go_e(v)
    } else {
        go_f(v)
    }
}

/// A millisecond timestamp as the Prometheus API writes it: seconds, with `.ddd` only when the
/// milliseconds are not zero (`jsonutil.MarshalTimestamp`).
pub fn timestamp(t_ms: i64) -> String {
    let neg = t_ms < 0;
    let a = t_ms.unsigned_abs();
    let (secs, frac) = (a / 1000, a % 1000);
    let sign = if neg { "-" } else { "" };
    if frac == 0 {
        format!("{sign}{secs}")
    } else {
        format!("{sign}{secs}.{frac:03}")
    }
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_go() {
        assert_eq!(sample_value(1.0), "1");
        assert_eq!(sample_value(0.1), "0.1");
        assert_eq!(sample_value(-0.0), "-0");
        assert_eq!(sample_value(1e20), "100000000000000000000");
        assert_eq!(sample_value(1e21), "1e+21");
        assert_eq!(sample_value(1.5e-7), "1.5e-07");
        assert_eq!(sample_value(0.000001), "0.000001");
        assert_eq!(sample_value(1e-300), "1e-300");
        assert_eq!(sample_value(f64::NAN), "NaN");
        assert_eq!(sample_value(f64::INFINITY), "+Inf");
        assert_eq!(sample_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(go_f(123456.789), "123456.789");
        assert_eq!(timestamp(1_718_000_015_500), "1718000015.500");
        assert_eq!(timestamp(1_718_000_015_000), "1718000015");
        assert_eq!(timestamp(5), "0.005");
        assert_eq!(timestamp(-1500), "-1.500");
    }
}
