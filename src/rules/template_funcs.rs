//! Prometheus' functions of alert templates (`query`, `first`, `label`, `value`,
//! `humanize*`, `reReplaceAll`, `toUpper`, ...); Go's built-ins come with
//! [`nerve_query::gotemplate`], number and time formatting with [`nerve_query::gofmt`].

use regex::Regex;

use nerve_query::gofmt::{fmt_g, go_time, humanize, humanize_duration, humanize_percentage, humanize1024, title};
pub use nerve_query::gotemplate::query_escape;
use nerve_query::gotemplate::{FuncError, Value, want_args};

use super::template::{AlertEnv, sample_value};

/// The functions Prometheus adds to Go's built-ins.
pub(super) const FUNCTIONS: &[&str] = &[
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

fn string_arg(name: &str, v: &Value) -> Result<String, FuncError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(FuncError::Type {
            name: name.to_owned(),
            expected: "string",
            got: other.type_name(),
        }),
    }
}

/// Prometheus' `convertToFloat`: numbers as they are, strings parsed.
fn to_float(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax").into()),
        Value::Time(ns) => Ok(*ns as f64 / 1e9),
        other => Err(format!("can't convert {} to float", other.type_name()).into()),
    }
}

/// Runs Prometheus template function `name` (one of [`FUNCTIONS`]).
pub(super) fn call(name: &str, args: Vec<Value>, env: &AlertEnv<'_>) -> Result<Value, FuncError> {
    let one = |args: &[Value]| -> Result<Value, FuncError> {
        want_args(name, args, 1)?;
        Ok(args[0].clone())
    };
    Ok(match name {
        "safeHtml" => Value::Str(string_arg(name, &one(&args)?)?),
        "query" => {
            let q = string_arg(name, &one(&args)?)?;
            let f = env.query.ok_or("the query function is not available here")?;
            Value::List(f(&q)?.iter().map(|(l, v)| sample_value(l, *v)).collect())
        }
        "first" => match one(&args)? {
            Value::List(l) => l
                .into_iter()
                .next()
                .ok_or("first() called on vector with no elements")?,
            other => return Err(format!("first() called on {}", other.type_name()).into()),
        },
        "label" => {
            want_args(name, &args, 2)?;
            let l = string_arg(name, &args[0])?;
            match &args[1] {
                Value::Map(m) => match m.get("Labels") {
                    Some(Value::Map(ls)) => ls.get(&l).cloned().unwrap_or(Value::Str(String::new())),
                    _ => Value::Str(String::new()),
                },
                other => return Err(format!("label() called on {}", other.type_name()).into()),
            }
        }
        "value" => match one(&args)? {
            Value::Map(mut m) => m.remove("Value").unwrap_or_default(),
            other => return Err(format!("value() called on {}", other.type_name()).into()),
        },
        "strvalue" => match one(&args)? {
            Value::Map(m) => match m.get("Labels") {
                Some(Value::Map(ls)) => ls.get("__value__").cloned().unwrap_or(Value::Str(String::new())),
                _ => Value::Str(String::new()),
            },
            other => return Err(format!("strvalue() called on {}", other.type_name()).into()),
        },
        "args" => Value::Map(
            args.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect(),
        ),
        "reReplaceAll" => {
            want_args(name, &args, 3)?;
            let pat = string_arg(name, &args[0])?;
            let re = Regex::new(&pat).map_err(|e| format!("error parsing regexp: {e}"))?;
            let text = string_arg(name, &args[2])?;
            Value::Str(re.replace_all(&text, string_arg(name, &args[1])?.as_str()).into_owned())
        }
        "match" => {
            want_args(name, &args, 2)?;
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
            want_args(name, &args, 2)?;
            let l = string_arg(name, &args[0])?;
            let Value::List(mut items) = args[1].clone() else {
                return Err(format!("sortByLabel() called on {}", args[1].type_name()).into());
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
        "humanizePercentage" => Value::Str(humanize_percentage(to_float(&one(&args)?)?)),
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
                return Err(format!("cannot convert {} to time.Time", fmt_g(v, 4)).into());
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
        "stripPort" => {
            let s = string_arg(name, &one(&args)?)?;
            Value::Str(strip_port(&s))
        }
        _ => return Err(format!("function {name:?} not defined").into()),
    })
}

/// Seconds → nanoseconds truncated to milliseconds, as Prometheus' `model.Time` holds them.
fn ms_precision(secs: f64) -> i64 {
    let ns = (secs * 1e9) as i64;
    ns / 1_000_000 * 1_000_000
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
