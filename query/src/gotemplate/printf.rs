//! Go's `fmt.Sprintf` for template values, for the verbs templates use: `%s %v %d %f %g %e
//! %q %x %t %%`, with flags `-+ 0`, width and precision, and Go's `%!verb(type=value)`,
//! `%!v(MISSING)` and `%!(EXTRA ...)` complaints.

use crate::gofmt::{fmt_e, fmt_g, go_float};

use super::value::Value;

/// A value as a number for the numeric verbs and flags: numbers as they are, strings parsed,
/// times as seconds.
fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::Str(s) => s.parse().ok(),
        Value::Time(ns) => Some(*ns as f64 / 1e9),
        _ => None,
    }
}

/// One `%` directive: flags, width, precision.
struct Spec {
    flags: String,
    width: usize,
    prec: Option<usize>,
}

fn read_spec(it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Spec {
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
    let mut prec = None;
    if it.peek() == Some(&'.') {
        it.next();
        let mut p = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            p.push(d);
            it.next();
        }
        prec = Some(p.parse().unwrap_or(0));
    }
    Spec {
        flags,
        width: width.parse().unwrap_or(0),
        prec,
    }
}

/// The text of one verb applied to one argument, before padding.
fn format_one(verb: char, arg: &Value, prec: Option<usize>, num: Option<f64>) -> String {
    match (verb, arg) {
        ('s' | 'v', Value::Str(s)) => prec.map_or(s.clone(), |p| s.chars().take(p).collect()),
        ('s', Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Nil) => {
            format!("%!s({}={})", arg.type_name(), arg.render())
        }
        ('v' | 's', v) => v.render(),
        ('q', v) => format!("{:?}", v.render()),
        ('t', Value::Bool(b)) => b.to_string(),
        ('d', Value::Int(i)) => i.to_string(),
        ('d', Value::Float(f)) => format!("%!d(float64={})", go_float(*f)),
        ('x', Value::Int(i)) => format!("{i:x}"),
        ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('f' | 'F', Value::Float(_) | Value::Int(_)) => format!("{:.*}", prec.unwrap_or(6), num.unwrap_or(0.0)),
        ('e', Value::Float(_) | Value::Int(_)) => fmt_e(num.unwrap_or(0.0), prec.unwrap_or(6)),
        ('g', Value::Float(_) | Value::Int(_)) => match prec {
            Some(p) => fmt_g(num.unwrap_or(0.0), p),
            None => go_float(num.unwrap_or(0.0)),
        },
        (verb, v) => format!("%!{verb}({}={})", v.type_name(), v.render()),
    }
}

/// Pads `body` to `spec.width` as Go does (left with `-`, zeros after the sign with `0`).
fn pad(out: &mut String, body: &str, spec: &Spec, numeric: bool) {
    let len = body.chars().count();
    if len >= spec.width {
        out.push_str(body);
        return;
    }
    let fill = spec.width - len;
    if spec.flags.contains('-') {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.flags.contains('0') && numeric {
        let (sign, digits) = match body.strip_prefix(['-', '+']) {
            Some(d) => (&body[..1], d),
            None => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

/// Go's `fmt.Sprintf(format, args...)` over template values.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = read_spec(&mut it);
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
        // Only numbers and flags need the numeric reading (strings are parsed for it).
        let num = match arg {
            Value::Float(_) | Value::Int(_) => numeric(arg),
            _ if !spec.flags.is_empty() => numeric(arg),
            _ => None,
        };
        let body = format_one(verb, arg, spec.prec, num);
        let body = if spec.flags.contains('+') && num.is_some_and(|n| n >= 0.0) && "dfeg".contains(verb) {
            format!("+{body}")
        } else {
            body
        };
        pad(&mut out, &body, &spec, num.is_some());
    }
    if ai < args.len() {
        let extra: Vec<String> = args[ai..]
            .iter()
            .map(|v| format!("{}={}", v.type_name(), v.render()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}
