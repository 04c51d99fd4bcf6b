//! Element-wise math: `abs`, `ceil`, `floor`, `exp`, `sqrt`, `ln`, `log2`, `log10`, `sgn`,
//! `deg`, `rad`, the trigonometric functions, `round` and the clamp family. All drop the
//! metric name.

use crate::promql::labels::drop_metric_name;
use crate::promql::value::{InstantSample, Vector};

/// The one-argument function called `name`, if it is one.
pub(super) fn simple(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        _ => return None,
    })
}

/// Applies `f` to every element, dropping the metric name.
pub(super) fn map(v: Vector, ts: i64, f: impl Fn(f64) -> f64) -> Vector {
    v.into_iter()
        .map(|s| InstantSample {
            labels: drop_metric_name(&s.labels),
            t: ts,
            v: f(s.v),
        })
        .collect()
}

/// `round(v, to_nearest)`: halves round up, as Prometheus does (`floor(v/to + 0.5) * to`).
pub(super) fn round(v: Vector, to_nearest: f64, ts: i64) -> Vector {
    let inv = 1.0 / to_nearest;
    map(v, ts, |x| (x * inv + 0.5).floor() / inv)
}

/// Go's `math.Max`: NaN if either is NaN, +Inf wins, +0 over -0.
pub(super) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { b } else { a }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN if either is NaN, -Inf wins, -0 over +0.
pub(super) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else if a < b {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_min_max() {
        assert!(go_max(f64::NAN, 1.0).is_nan());
        assert!(go_min(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(1.0, 2.0), 2.0);
        assert!(go_min(-0.0, 0.0).is_sign_negative());
    }
}
