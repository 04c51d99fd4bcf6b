//! Functions of alert templates: Go's built-ins (`printf`, `len`, `index`, `eq`..., `and`,
//! `or`, `not`, `html`, `urlquery`) and Prometheus' additions (`query`, `first`, `label`,
//! `value`, `humanize*`, `reReplaceAll`, `toUpper`, ...), plus the Go number and time
//! formatting they rely on (in [`super::gofmt`]).

use std::cmp::Ordering;

use regex::Regex;

use super::gofmt::{fmt_g, go_float, go_time, humanize, humanize_duration, humanize1024, printf};
use super::template::Pos;
use super::template_exec::{Scope, Value, type_name};

/// Every function name a template may use.
const FUNCTIONS: &[&str] = &[
    // Go text/template built-ins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "slice",
    "call",
    // Prometheus.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "stripPort",
    "stripDomain",
];

/// True for a function templates may call.
pub(super) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("wrong number of args for {name}: want {n} got {}", args.len()))
    }
}

fn string_arg(name: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "wrong type for value; expected string; got {} (in {name})",
            type_name(other)
        )),
    }
}

/// Prometheus' `convertToFloat`: numbers as they are, strings parsed.
pub(super) fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        Value::Time(ns) => Ok(*ns as f64 / 1e9),
        other => Err(format!("can't convert {} to float", type_name(other))),
    }
}

/// Calls `name`; errors are wrapped as Go wraps them (`error calling humanize: ...`).
pub(super) fn call(name: &str, args: Vec<Value>, sc: &Scope<'_>, pos: Pos, at: &str) -> Result<Value, String> {
    call_inner(name, args, sc).map_err(|e| sc.exec_error(pos, at, &format!("error calling {name}: {e}")))
}

fn call_inner(name: &str, mut args: Vec<Value>, sc: &Scope<'_>) -> Result<Value, String> {
    let one = |args: &[Value]| -> Result<Value, String> {
        want(name, args, 1)?;
        Ok(args[0].clone())
    };
    Ok(match name {
        "not" => Value::Bool(!one(&args)?.truthy()),
        "len" => match one(&args)? {
            Value::Str(s) => Value::Int(s.len() as i64),
            Value::Map(m) => Value::Int(m.len() as i64),
            Value::List(l) => Value::Int(l.len() as i64),
            other => return Err(format!("len of type {}", type_name(&other))),
        },
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut v = args.remove(0);
            for k in args {
                v = match (v, k) {
                    (Value::Map(mut m), Value::Str(k)) => m.remove(&k).unwrap_or(Value::Str(String::new())),
                    (Value::Map(_), k) => return Err(format!("value has type {}; should be string", type_name(&k))),
                    (Value::List(l), k) => {
                        let i = to_float(&k)? as i64;
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| l.get(i).cloned())
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (v, _) => return Err(format!("can't index item of type {}", type_name(&v))),
                };
            }
            v
        }
        "print" | "println" => {
            let mut s = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = matches!(a, Value::Str(_));
                let prev_str = i > 0 && matches!(args[i - 1], Value::Str(_));
                if i > 0 && (name == "println" || (!is_str && !prev_str)) {
                    s.push(' ');
                }
                s.push_str(&a.render());
            }
            if name == "println" {
                s.push('\n');
            }
            Value::Str(s)
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            let f = string_arg(name, &args[0])?;
            Value::Str(printf(&f, &args[1..]))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= compare(&args[0], b)? == Ordering::Equal;
            }
            Value::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let o = compare(&args[0], &args[1])?;
            if name != "ne" && matches!(args[0], Value::Bool(_)) {
                return Err("invalid type for comparison".into());
            }
            Value::Bool(match name {
                "ne" => o != Ordering::Equal,
                "lt" => o == Ordering::Less,
                "le" => o != Ordering::Greater,
                "gt" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
        "html" | "safeHtml" => Value::Str(if name == "html" {
            html_escape(&one(&args)?.render())
        } else {
            string_arg(name, &one(&args)?)?
        }),
        "js" => Value::Str(
            one(&args)?
                .render()
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\""),
        ),
        "urlquery" => Value::Str(query_escape(&args.iter().map(Value::render).collect::<String>())),
        "query" => {
            let q = string_arg(name, &one(&args)?)?;
            let f = sc.query.ok_or("the query function is not available here")?;
            Value::List(f(&q)?.iter().map(|(l, v)| Value::sample(l, *v)).collect())
        }
        "first" => match one(&args)? {
            Value::List(l) => l
                .into_iter()
                .next()
                .ok_or("first() called on vector with no elements")?,
            other => return Err(format!("first() called on {}", type_name(&other))),
        },
        "label" => {
            want(name, &args, 2)?;
            let l = string_arg(name, &args[0])?;
            match &args[1] {
                Value::Map(m) => match m.get("Labels") {
                    Some(Value::Map(ls)) => ls.get(&l).cloned().unwrap_or(Value::Str(String::new())),
                    _ => Value::Str(String::new()),
                },
                other => return Err(format!("label() called on {}", type_name(other))),
            }
        }
        "value" => match one(&args)? {
            Value::Map(mut m) => m.remove("Value").unwrap_or_default(),
            other => return Err(format!("value() called on {}", type_name(&other))),
        },
        "strvalue" => match one(&args)? {
            Value::Map(m) => match m.get("Labels") {
                Some(Value::Map(ls)) => ls.get("__value__").cloned().unwrap_or(Value::Str(String::new())),
                _ => Value::Str(String::new()),
            },
            other => return Err(format!("strvalue() called on {}", type_name(&other))),
        },
        "args" => Value::Map(
            args.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect(),
        ),
        "reReplaceAll" => {
            want(name, &args, 3)?;
            let pat = string_arg(name, &args[0])?;
            let re = Regex::new(&pat).map_err(|e| format!("error parsing regexp: {e}"))?;
            let text = string_arg(name, &args[2])?;
            Value::Str(re.replace_all(&text, string_arg(name, &args[1])?.as_str()).into_owned())
        }
        "match" => {
            want(name, &args, 2)?;
            let re = Regex::new(&string_arg(name, &args[0])?).map_err(|e| format!("error parsing regexp: {e}"))?;
            Value::Bool(re.is_match(&string_arg(name, &args[1])?))
        }
        "title" => Value::Str(title(&string_arg(name, &one(&args)?)?)),
        "toUpper" => Value::Str(string_arg(name, &one(&args)?)?.to_uppercase()),
        "toLower" => Value::Str(string_arg(name, &one(&args)?)?.to_lowercase()),
        "graphLink" | "tableLink" => {
            let e = query_escape(&string_arg(name, &one(&args)?)?);
            let tab = if name == "graphLink" { 0 } else { 1 };
            Value::Str(format!("/graph?g0.expr={e}&g0.tab={tab}"))
        }
        "sortByLabel" => {
            want(name, &args, 2)?;
            let l = string_arg(name, &args[0])?;
            let Value::List(mut items) = args[1].clone() else {
                return Err(format!("sortByLabel() called on {}", type_name(&args[1])));
            };
            let key = |v: &Value| match v {
                Value::Map(m) => match m.get("Labels") {
                    Some(Value::Map(ls)) => ls.get(&l).map(Value::render).unwrap_or_default(),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            items.sort_by_key(key);
            Value::List(items)
        }
        "humanize" => Value::Str(humanize(to_float(&one(&args)?)?)),
        "humanize1024" => Value::Str(humanize1024(to_float(&one(&args)?)?)),
        "humanizeDuration" => Value::Str(humanize_duration(to_float(&one(&args)?)?)),
        "humanizePercentage" => Value::Str(format!("{}%", fmt_g(to_float(&one(&args)?)? * 100.0, 4))),
        "humanizeTimestamp" => {
            let v = to_float(&one(&args)?)?;
            if v.is_nan() || v.is_infinite() {
                Value::Str(fmt_g(v, 4))
            } else {
                Value::Str(go_time(ms_precision(v)))
            }
        }
        "toTime" => {
            let v = to_float(&one(&args)?)?;
            if v.is_nan() || v.is_infinite() {
                return Err(format!("cannot convert {} to time.Time", fmt_g(v, 4)));
            }
            Value::Time(ms_precision(v))
        }
        "pathPrefix" => Value::Str(String::new()),
        "externalURL" => Value::Str(String::new()),
        "parseDuration" => {
            let s = string_arg(name, &one(&args)?)?;
            let d = crate::config::units::PromDuration::parse(&s).map_err(|e| e.to_string())?;
            Value::Float(d.0.as_secs_f64())
        }
        "stripDomain" => {
            let s = string_arg(name, &one(&args)?)?;
            Value::Str(strip_domain(&s))
        }
        "slice" => {
            if args.is_empty() {
                return Err("wrong number of args for slice: want at least 1 got 0".into());
            }
            let idx: Vec<usize> = args[1..]
                .iter()
                .map(|a| match a {
                    Value::Int(i) => usize::try_from(*i).map_err(|_| format!("index out of range: {i}")),
                    other => Err(format!("cannot index slice/array with type {}", type_name(other))),
                })
                .collect::<Result<_, _>>()?;
            let len = match &args[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                other => return Err(format!("can't slice item of type {}", type_name(other))),
            };
            let (from, to) = match idx.as_slice() {
                [] => (0, len),
                [a] => (*a, len),
                [a, b] => (*a, *b),
                _ => return Err("too many slice indexes".into()),
            };
            if from > to || to > len {
                return Err(format!("index out of range: {to}"));
            }
            match &args[0] {
                Value::Str(s) => Value::Str(s.get(from..to).ok_or("slice splits a character")?.to_owned()),
                Value::List(l) => Value::List(l[from..to].to_vec()),
                _ => Value::Nil,
            }
        }
        "call" => return Err("call of a non-function".into()),
        "stripPort" => {
            let s = string_arg(name, &one(&args)?)?;
            Value::Str(strip_port(&s))
        }
        _ => return Err(format!("function {name:?} not defined")),
    })
}

/// Seconds → nanoseconds truncated to milliseconds, as Prometheus' `model.Time` holds them.
fn ms_precision(secs: f64) -> i64 {
    let ns = (secs * 1e9) as i64;
    ns / 1_000_000 * 1_000_000
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Less)),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_';
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Prometheus' `stripDomain`: the host's first label, the port kept; IPs unchanged.
fn strip_domain(s: &str) -> String {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (s, None),
    };
    if host.parse::<std::net::IpAddr>().is_ok() || s.starts_with('[') {
        return s.to_owned();
    }
    let short = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_owned(),
    }
}

fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((host, _)) = rest.split_once(']')
    {
        return host.to_owned();
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h.to_owned(),
        _ => s.to_owned(),
    }
}

/// What `{{ . }}` prints for a value (Go's `fmt.Sprint`).
pub(super) fn go_value(v: &Value) -> String {
    match v {
        Value::Nil => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => go_float(*f),
        Value::Str(s) => s.clone(),
        Value::Time(ns) => go_time(*ns),
        // A query sample prints as Go prints its struct: `{map[...] value}`.
        Value::Map(m) if m.len() == 2 && matches!(m.get("Labels"), Some(Value::Map(_))) && m.contains_key("Value") => {
            format!(
                "{{{} {}}}",
                go_value(m.get("Labels").unwrap_or(&Value::Nil)),
                go_value(m.get("Value").unwrap_or(&Value::Nil))
            )
        }
        Value::Map(m) => {
            let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", go_value(v))).collect();
            format!("map[{}]", inner.join(" "))
        }
        Value::List(l) => format!("[{}]", l.iter().map(go_value).collect::<Vec<_>>().join(" ")),
    }
}
