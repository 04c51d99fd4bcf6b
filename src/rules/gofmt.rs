//! Go's number and time formatting as Prometheus' template functions produce it: `%.4g`,
//! `%v` of a float64, `time.Time.String()`, RFC 3339, a `fmt.Sprintf` subset, and the
//! `humanize*` family built on them.

use super::template_exec::{Value, type_name};
use super::template_funcs::{go_value, to_float};

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, 4);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

/// Prometheus' `humanize1024`: binary prefixes (`ki`, `Mi`, ...), 4 significant digits.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

/// Prometheus' `humanizeDuration`: seconds as `1d 2h 3m 4s`, or `1.5s`, `120ms`.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", fmt_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", fmt_g(v, 4))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g(v, 4))
}

fn go_special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn go_exp(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Go's `%.<prec>g` (shortest digits up to `prec` significant ones; exponent form when the
/// exponent is < -4 or ≥ `prec`).
pub fn fmt_g(v: f64, prec: usize) -> String {
    if let Some(s) = go_special(v) {
        return s;
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let prec = prec.max(1);
    let e = format!("{:.*e}", prec - 1, v);
    let (m, x) = e.split_once('e').unwrap_or((&e, "0"));
    let x: i32 = x.parse().unwrap_or(0);
    if x < -4 || x >= prec as i32 {
        go_exp(trim_zeros(m), x)
    } else {
        let decimals = (prec as i32 - 1 - x).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_owned()
    }
}

/// Go's `%v` of a float64 (shortest round-trip digits; exponent form when the exponent is
/// < -4 or ≥ 6, so 1e6 prints `1e+06`).
pub fn go_float(v: f64) -> String {
    if let Some(s) = go_special(v) {
        return s;
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let e = format!("{v:e}");
    let (m, x) = e.split_once('e').unwrap_or((&e, "0"));
    let x: i32 = x.parse().unwrap_or(0);
    if !(-4..6).contains(&x) {
        go_exp(m, x)
    } else {
        format!("{v}")
    }
}

/// Go's `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn go_time(ns: i64) -> String {
    let (date, time, nanos) = civil(ns);
    let mut s = format!("{date} {time}");
    if nanos != 0 {
        s.push('.');
        s.push_str(format!("{nanos:09}").trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// RFC 3339 in UTC with milliseconds (`2006-01-02T15:04:05.000Z`), for the Alertmanager API.
pub fn rfc3339_ms(ms: i64) -> String {
    let (date, time, nanos) = civil(ms.saturating_mul(1_000_000));
    format!("{date}T{time}.{:03}Z", nanos / 1_000_000)
}

fn civil(ns: i64) -> (String, String, i64) {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days to civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", sod / 3600, (sod / 60) % 60, sod % 60),
        nanos,
    )
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %g %e %q %x %t %%`, with
/// flags `-+ 0`, width and precision.
pub fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = it.peek() {
            if "-+ 0#".contains(f) {
                flags.push(f);
                it.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let num = to_float(arg).ok();
        let body = match (verb, arg) {
            ('s' | 'v', Value::Str(s)) => prec.map_or(s.clone(), |p| s.chars().take(p).collect()),
            ('s', Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Nil) => {
                format!("%!s({}={})", type_name(arg), go_value(arg))
            }
            ('v' | 's', v) => go_value(v),
            ('q', v) => format!("{:?}", go_value(v)),
            ('t', Value::Bool(b)) => b.to_string(),
            ('d', Value::Int(i)) => i.to_string(),
            ('d', Value::Float(f)) => format!("%!d(float64={})", go_float(*f)),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F', Value::Float(_) | Value::Int(_)) => format!("{:.*}", prec.unwrap_or(6), num.unwrap_or(0.0)),
            ('e', Value::Float(_) | Value::Int(_)) => {
                let s = format!("{:.*e}", prec.unwrap_or(6), num.unwrap_or(0.0));
                let (m, x) = s.split_once('e').unwrap_or((&s, "0"));
                go_exp(m, x.parse().unwrap_or(0))
            }
            ('g', Value::Float(_) | Value::Int(_)) => match prec {
                Some(p) => fmt_g(num.unwrap_or(0.0), p),
                None => go_float(num.unwrap_or(0.0)),
            },
            (verb, v) => format!("%!{verb}({}={})", type_name(v), go_value(v)),
        };
        let body = if flags.contains('+') && num.is_some_and(|n| n >= 0.0) && "dfeg".contains(verb) {
            format!("+{body}")
        } else {
            body
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.extend(std::iter::repeat_n(' ', pad));
            } else if flags.contains('0') && num.is_some() {
                let (sign, digits) = match body.strip_prefix(['-', '+']) {
                    Some(d) => (&body[..1], d),
                    None => ("", body.as_str()),
                };
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', pad));
                out.push_str(digits);
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if ai < args.len() {
        let extra: Vec<String> = args[ai..]
            .iter()
            .map(|v| format!("{}={}", type_name(v), go_value(v)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}
