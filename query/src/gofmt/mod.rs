//! Go's formatting of numbers, durations and times, as Prometheus, promtool and Loki print
//! them: `strconv.FormatFloat` (`'f'`, `'e'`, `'g'` shortest), `fmt`'s `%v` and `%.Ng` of a
//! float64, `time.Time.String()`, RFC 3339, Prometheus' `humanize*` family and Go's
//! `strings.Title`. One implementation for the rules templates, LogQL templates and PromQL.
//!
//! `%v` of a float64 is `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that
//! round-trip, in exponent form when the decimal exponent is < -4 or ≥ 6 (the `'g'` rule with
//! the precision taken as 6 for the shortest form, as `strconv`'s `formatDigits` does), so
//! `1e6` prints `1e+06` and `123456` prints `123456`.

mod humanize;
mod text;
mod time;

#[cfg(test)]
mod tests;

pub use humanize::{humanize, humanize_duration, humanize_percentage, humanize1024};
pub use text::title;
pub use time::{civil_from_days, days_from_civil, days_in_month, go_time, is_leap, rfc3339_ms};

/// `NaN`, `+Inf` and `-Inf` as Go prints them; `None` for finite numbers.
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

/// A mantissa and a decimal exponent in Go's form: `e`, the sign, at least two digits.
fn with_exponent(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// Splits Rust's `{:e}` output (`1.5e-7`) into mantissa and exponent.
fn split_exponent(s: &str) -> (&str, i32) {
    match s.split_once('e') {
        Some((m, x)) => (m, x.parse().unwrap_or(0)),
        None => (s, 0),
    }
}

fn trim_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Go `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-tripping digits, never an
/// exponent.
pub fn go_f(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_owned();
    }
    // Rust's Display is the shortest round-trip representation without exponent, like Go's.
    format!("{v}")
}

/// Go `strconv.FormatFloat(v, 'e', -1, 64)`: shortest digits, exponent with sign and ≥ 2
/// digits.
pub fn go_e(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_owned();
    }
    let s = format!("{v:e}");
    let (m, x) = split_exponent(&s);
    with_exponent(m, x)
}

/// Go `fmt`'s `%e` with `prec` digits after the point (`%e` alone is precision 6).
pub fn fmt_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s.to_owned();
    }
    let s = format!("{v:.prec$e}");
    let (m, x) = split_exponent(&s);
    with_exponent(m, x)
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`): shortest round-trip
/// digits; exponent form when the exponent is < -4 or ≥ 6, so 1e6 prints `1e+06`.
pub fn go_float(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let s = format!("{v:e}");
    let (m, x) = split_exponent(&s);
    if (-4..6).contains(&x) {
        format!("{v}")
    } else {
        with_exponent(m, x)
    }
}

/// Go's `%.<prec>g`: `prec` significant digits at most, trailing zeros dropped; exponent form
/// when the exponent is < -4 or ≥ `prec`.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let prec = prec.max(1);
    let e = format!("{:.*e}", prec - 1, v);
    let (m, x) = split_exponent(&e);
    if x < -4 || x >= prec as i32 {
        with_exponent(trim_fraction_zeros(m), x)
    } else {
        let decimals = (prec as i32 - 1 - x).max(0) as usize;
        trim_fraction_zeros(&format!("{v:.decimals$}")).to_owned()
    }
}
