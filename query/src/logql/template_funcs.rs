//! The function library and value model of LogQL templates (see [`super::template`]):
//! Go's built-ins (`printf`, `len`, `eq`/`ne`/`lt`/..., `and`/`or`/`not`), Loki's string
//! helpers (Go `strings` names such as `ToUpper`, and sprig names such as `trimPrefix`, whose
//! piped argument comes last), arithmetic, `__line__`/`__timestamp__` and time conversion.

use std::fmt::Write as _;

use regex::Regex;

use super::template::TemplateCtx;
use super::units::parse_go_duration;

/// The functions templates may call.
pub const FUNCTIONS: &[&str] = &[
    "ToUpper",
    "ToLower",
    "upper",
    "lower",
    "title",
    "Title",
    "trim",
    "TrimSpace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "Replace",
    "substr",
    "trunc",
    "repeat",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "printf",
    "default",
    "len",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "duration",
    "__line__",
    "__timestamp__",
];

/// Values flowing through a template.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A timestamp in nanoseconds (`__timestamp__`).
    Time(i64),
    Nil,
}

impl Val {
    pub(super) fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Bool(b) => *b,
            Val::Time(_) => true,
            Val::Nil => false,
        }
    }

    pub(super) fn render(&self, out: &mut String) {
        match self {
            Val::Str(s) => out.push_str(s),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Float(f) => out.push_str(&go_float(*f)),
            Val::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Val::Time(ns) => out.push_str(&go_time(*ns)),
            Val::Nil => out.push_str("<no value>"),
        }
    }

    pub(super) fn to_str(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }

    fn to_int(&self) -> Result<i64, String> {
        match self {
            Val::Int(i) => Ok(*i),
            Val::Float(f) => Ok(*f as i64),
            Val::Bool(b) => Ok(*b as i64),
            Val::Str(s) => s
                .trim()
                .parse::<i64>()
                .or_else(|_| s.trim().parse::<f64>().map(|f| f as i64))
                .map_err(|_| format!("expected integer; found {s:?}")),
            Val::Time(ns) => Ok(*ns),
            Val::Nil => Ok(0),
        }
    }

    fn to_float(&self) -> Result<f64, String> {
        match self {
            Val::Int(i) => Ok(*i as f64),
            Val::Float(f) => Ok(*f),
            Val::Bool(b) => Ok(*b as i64 as f64),
            Val::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("expected number; found {s:?}")),
            Val::Time(ns) => Ok(*ns as f64),
            Val::Nil => Ok(0.0),
        }
    }
}

/// Formats a float like Go's `%v`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{f:e}");
        // Rust prints `1e21`; Go prints `1e+21`.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

/// Formats a timestamp like Go's `time.Time.String()` in UTC.
fn go_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn want(name: &str, args: &[Val], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args for {name}: want {n} got {}", args.len()));
    }
    Ok(())
}

fn s(v: &Val) -> String {
    v.to_str()
}

fn title(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut prev_letter = false;
    for c in x.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn char_floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn compare(name: &str, a: &Val, b: &Val) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) if name == "eq" || name == "ne" => Ok(x.cmp(y)),
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let (x, y) = (a.to_float()?, b.to_float()?);
            Ok(x.partial_cmp(&y).unwrap_or(Ordering::Less))
        }
        _ => Err(format!("error calling {name}: incompatible types for comparison")),
    }
}

pub(super) fn call(name: &str, args: Vec<Val>, ctx: &TemplateCtx<'_>) -> Result<Val, String> {
    use std::cmp::Ordering;
    let str1 = |f: fn(&str) -> String| -> Result<Val, String> {
        want(name, &args, 1)?;
        Ok(Val::Str(f(&s(&args[0]))))
    };
    Ok(match name {
        "__line__" => Val::Str(ctx.line.to_string()),
        "__timestamp__" => Val::Time(ctx.ts_ns),
        "ToUpper" | "upper" => return str1(|x| x.to_uppercase()),
        "ToLower" | "lower" => return str1(|x| x.to_lowercase()),
        "title" | "Title" => return str1(title),
        "trim" | "TrimSpace" => return str1(|x| x.trim().to_string()),
        "Trim" | "TrimLeft" | "TrimRight" => {
            want(name, &args, 2)?;
            let (x, cut) = (s(&args[0]), s(&args[1]));
            let f = |c: char| cut.contains(c);
            Val::Str(
                match name {
                    "Trim" => x.trim_matches(f),
                    "TrimLeft" => x.trim_start_matches(f),
                    _ => x.trim_end_matches(f),
                }
                .to_string(),
            )
        }
        "trimAll" => {
            want(name, &args, 2)?;
            let (cut, x) = (s(&args[0]), s(&args[1]));
            Val::Str(x.trim_matches(|c: char| cut.contains(c)).to_string())
        }
        "TrimPrefix" | "TrimSuffix" | "trimPrefix" | "trimSuffix" => {
            want(name, &args, 2)?;
            let (x, affix) = if name.starts_with('T') {
                (s(&args[0]), s(&args[1]))
            } else {
                (s(&args[1]), s(&args[0]))
            };
            let r = if name.ends_with("Prefix") {
                x.strip_prefix(affix.as_str())
            } else {
                x.strip_suffix(affix.as_str())
            };
            Val::Str(r.unwrap_or(&x).to_string())
        }
        "replace" => {
            want(name, &args, 3)?;
            Val::Str(s(&args[2]).replace(&s(&args[0]), &s(&args[1])))
        }
        "Replace" => {
            want(name, &args, 4)?;
            let (x, old, new, n) = (s(&args[0]), s(&args[1]), s(&args[2]), args[3].to_int()?);
            Val::Str(if n < 0 {
                x.replace(&old, &new)
            } else {
                x.replacen(&old, &new, n as usize)
            })
        }
        "substr" => {
            want(name, &args, 3)?;
            let (start, end, x) = (args[0].to_int()?, args[1].to_int()?, s(&args[2]));
            let r = if start < 0 {
                &x[..char_floor(&x, end.max(0) as usize)]
            } else if end < 0 || end as usize > x.len() {
                &x[char_floor(&x, start as usize)..]
            } else {
                let a = char_floor(&x, start as usize);
                let b = char_floor(&x, end as usize).max(a);
                &x[a..b]
            };
            Val::Str(r.to_string())
        }
        "trunc" => {
            want(name, &args, 2)?;
            let (n, x) = (args[0].to_int()?, s(&args[1]));
            let r = if n < 0 {
                let from = x.len().saturating_sub(n.unsigned_abs() as usize);
                let mut i = from;
                while !x.is_char_boundary(i) {
                    i += 1;
                }
                &x[i..]
            } else {
                &x[..char_floor(&x, n as usize)]
            };
            Val::Str(r.to_string())
        }
        "repeat" => {
            want(name, &args, 2)?;
            let n = args[0].to_int()?.clamp(0, 10_000) as usize;
            Val::Str(s(&args[1]).repeat(n))
        }
        "contains" => {
            want(name, &args, 2)?;
            Val::Bool(s(&args[1]).contains(&s(&args[0])))
        }
        "hasPrefix" => {
            want(name, &args, 2)?;
            Val::Bool(s(&args[1]).starts_with(&s(&args[0])))
        }
        "hasSuffix" => {
            want(name, &args, 2)?;
            Val::Bool(s(&args[1]).ends_with(&s(&args[0])))
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            Val::Str(printf(&s(&args[0]), &args[1..]))
        }
        "default" => {
            want(name, &args, 2)?;
            if args[1].truthy() {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "len" => {
            want(name, &args, 1)?;
            Val::Int(s(&args[0]).len() as i64)
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(name, &args, 3)?;
            let re = Regex::new(&s(&args[0])).map_err(|e| format!("error calling {name}: {e}"))?;
            let (x, repl) = (s(&args[1]), s(&args[2]));
            Val::Str(if name == "regexReplaceAll" {
                re.replace_all(&x, repl.as_str()).into_owned()
            } else {
                re.replace_all(&x, regex::NoExpand(&repl)).into_owned()
            })
        }
        "int" => {
            want(name, &args, 1)?;
            Val::Int(args[0].to_int().unwrap_or(0))
        }
        "float64" => {
            want(name, &args, 1)?;
            Val::Float(args[0].to_float().unwrap_or(0.0))
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            want(name, &args, 2)?;
            let (a, b) = (args[0].to_int()?, args[1].to_int()?);
            Val::Int(match name {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                _ if b == 0 => return Err(format!("error calling {name}: integer divide by zero")),
                "div" => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            })
        }
        "addf" | "subf" | "mulf" | "divf" => {
            want(name, &args, 2)?;
            let (a, b) = (args[0].to_float()?, args[1].to_float()?);
            Val::Float(match name {
                "addf" => a + b,
                "subf" => a - b,
                "mulf" => a * b,
                _ => a / b,
            })
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= compare(name, &args[0], b)? == Ordering::Equal;
            }
            Val::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let o = compare(name, &args[0], &args[1])?;
            Val::Bool(match name {
                "ne" => o != Ordering::Equal,
                "lt" => o == Ordering::Less,
                "le" => o != Ordering::Greater,
                "gt" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            let stop = |v: &Val| if name == "and" { !v.truthy() } else { v.truthy() };
            let last = args.len() - 1;
            let i = args.iter().position(stop).unwrap_or(last);
            args[i].clone()
        }
        "not" => {
            want(name, &args, 1)?;
            Val::Bool(!args[0].truthy())
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            want(name, &args, 1)?;
            let ns = match &args[0] {
                Val::Time(ns) => *ns,
                v => return Err(format!("error calling {name}: expected time, found {}", v.to_str())),
            };
            Val::Str(
                match name {
                    "unixEpoch" => ns.div_euclid(1_000_000_000),
                    "unixEpochMillis" => ns.div_euclid(1_000_000),
                    _ => ns,
                }
                .to_string(),
            )
        }
        "duration" => {
            want(name, &args, 1)?;
            let d = parse_go_duration(&s(&args[0])).map_err(|e| format!("error calling duration: {e}"))?;
            Val::Float(d as f64 / 1e9)
        }
        _ => return Err(format!("function {name:?} not defined")),
    })
}

/// A small `fmt.Sprintf`: `%s %v %d %f %q %x %%` with optional width/precision.
fn printf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = it.peek() {
            if n.is_ascii_digit() || n == '.' || n == '-' || n == '+' || n == ' ' || n == '0' {
                spec.push(n);
                it.next();
            } else {
                break;
            }
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
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        ai += 1;
        let (left, rest) = match spec.strip_prefix('-') {
            Some(r) => (true, r.to_string()),
            None => (false, spec.clone()),
        };
        let (width, prec) = match rest.split_once('.') {
            Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok().or(Some(0))),
            None => (rest.parse::<usize>().ok(), None),
        };
        let body = match verb {
            'd' => match arg.to_int() {
                Ok(i) => i.to_string(),
                Err(_) => format!("%!d(string={})", arg.to_str()),
            },
            'f' | 'F' => match arg.to_float() {
                Ok(f) => format!("{:.*}", prec.unwrap_or(6), f),
                Err(_) => format!("%!f(string={})", arg.to_str()),
            },
            'q' => format!("{:?}", arg.to_str()),
            'x' => match arg {
                Val::Int(i) => format!("{i:x}"),
                v => v.to_str().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            's' | 'v' => {
                let mut x = arg.to_str();
                if let Some(p) = prec {
                    x = x.chars().take(p).collect();
                }
                x
            }
            _ => format!("%!{verb}({})", arg.to_str()),
        };
        let pad = width.unwrap_or(0).saturating_sub(body.chars().count());
        if left {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&body);
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[ai..].iter().map(|a| a.to_str()).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}
