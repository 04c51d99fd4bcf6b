//! Numbers as the Prometheus API prints them: the JSON sample value rule of `util/jsonutil`
//! ('f', or 'e' below 1e-6 and from 1e21; `NaN`, `+Inf`, `-Inf`) and millisecond timestamps
//! as decimal seconds. Go's float formats themselves are [`crate::gofmt`]'s (`go_f` is
//! re-exported for `count_values` label values).

pub use crate::gofmt::{go_e, go_f};

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
