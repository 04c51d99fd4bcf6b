//! The function library of LogQL templates (see [`super::template`]; Go's built-ins such as
//! `printf`, `len`, `eq` and `and` come with [`crate::gotemplate`]): Loki's string helpers (Go
//! `strings` names such as `ToUpper`, and sprig names such as `trimPrefix`, whose piped
//! argument comes last), arithmetic, `__line__`/`__timestamp__` and time conversion.

use regex::Regex;

use super::template::TemplateCtx;
use super::units::parse_go_duration;
use crate::gofmt::title;
use crate::gotemplate::{FuncError, Value, want_args};

/// The functions LogQL templates may call besides Go's built-ins.
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
    "default",
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
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "duration",
    "__line__",
    "__timestamp__",
];

/// A value as text: strings as they are, anything else as `{{ . }}` prints it.
fn s(v: &Value) -> String {
    v.render()
}

/// sprig's integer conversion: numbers truncated, strings parsed, booleans 0/1.
fn to_int(v: &Value) -> Result<i64, FuncError> {
    Ok(match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(x) => x
            .trim()
            .parse::<i64>()
            .or_else(|_| x.trim().parse::<f64>().map(|f| f as i64))
            .map_err(|_| format!("expected integer; found {x:?}"))?,
        Value::Time(ns) => *ns,
        Value::Nil => 0,
        other => return Err(format!("expected integer; found {}", other.type_name()).into()),
    })
}

/// sprig's float conversion: numbers as they are, strings parsed, booleans 0/1.
fn to_float(v: &Value) -> Result<f64, FuncError> {
    Ok(match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(x) => x
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("expected number; found {x:?}"))?,
        Value::Time(ns) => *ns as f64,
        Value::Nil => 0.0,
        other => return Err(format!("expected number; found {}", other.type_name()).into()),
    })
}

fn char_floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Runs LogQL template function `name` (one of [`FUNCTIONS`]).
pub(super) fn call(name: &str, args: Vec<Value>, ctx: &TemplateCtx<'_>) -> Result<Value, FuncError> {
    let str1 = |f: fn(&str) -> String| -> Result<Value, FuncError> {
        want_args(name, &args, 1)?;
        Ok(Value::Str(f(&s(&args[0]))))
    };
    Ok(match name {
        "__line__" => Value::Str(ctx.line.to_string()),
        "__timestamp__" => Value::Time(ctx.ts_ns),
        "ToUpper" | "upper" => return str1(|x| x.to_uppercase()),
        "ToLower" | "lower" => return str1(|x| x.to_lowercase()),
        "title" | "Title" => return str1(title),
        "trim" | "TrimSpace" => return str1(|x| x.trim().to_string()),
        "Trim" | "TrimLeft" | "TrimRight" => {
            want_args(name, &args, 2)?;
            let (x, cut) = (s(&args[0]), s(&args[1]));
            let f = |c: char| cut.contains(c);
            Value::Str(
                match name {
                    "Trim" => x.trim_matches(f),
                    "TrimLeft" => x.trim_start_matches(f),
                    _ => x.trim_end_matches(f),
                }
                .to_string(),
            )
        }
        "trimAll" => {
            want_args(name, &args, 2)?;
            let (cut, x) = (s(&args[0]), s(&args[1]));
            Value::Str(x.trim_matches(|c: char| cut.contains(c)).to_string())
        }
        "TrimPrefix" | "TrimSuffix" | "trimPrefix" | "trimSuffix" => {
            want_args(name, &args, 2)?;
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
            Value::Str(r.unwrap_or(&x).to_string())
        }
        "replace" => {
            want_args(name, &args, 3)?;
            Value::Str(s(&args[2]).replace(&s(&args[0]), &s(&args[1])))
        }
        "Replace" => {
            want_args(name, &args, 4)?;
            let (x, old, new, n) = (s(&args[0]), s(&args[1]), s(&args[2]), to_int(&args[3])?);
            Value::Str(if n < 0 {
                x.replace(&old, &new)
            } else {
                x.replacen(&old, &new, n as usize)
            })
        }
        "substr" => {
            want_args(name, &args, 3)?;
            let (start, end, x) = (to_int(&args[0])?, to_int(&args[1])?, s(&args[2]));
            let r = if start < 0 {
                &x[..char_floor(&x, end.max(0) as usize)]
            } else if end < 0 || end as usize > x.len() {
                &x[char_floor(&x, start as usize)..]
            } else {
                let a = char_floor(&x, start as usize);
                let b = char_floor(&x, end as usize).max(a);
                &x[a..b]
            };
            Value::Str(r.to_string())
        }
        "trunc" => {
            want_args(name, &args, 2)?;
            let (n, x) = (to_int(&args[0])?, s(&args[1]));
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
            Value::Str(r.to_string())
        }
        "repeat" => {
            want_args(name, &args, 2)?;
            let n = to_int(&args[0])?.clamp(0, 10_000) as usize;
            Value::Str(s(&args[1]).repeat(n))
        }
        "contains" => {
            want_args(name, &args, 2)?;
            Value::Bool(s(&args[1]).contains(&s(&args[0])))
        }
        "hasPrefix" => {
            want_args(name, &args, 2)?;
            Value::Bool(s(&args[1]).starts_with(&s(&args[0])))
        }
        "hasSuffix" => {
            want_args(name, &args, 2)?;
            Value::Bool(s(&args[1]).ends_with(&s(&args[0])))
        }
        "default" => {
            want_args(name, &args, 2)?;
            if args[1].truthy() {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want_args(name, &args, 3)?;
            let re = Regex::new(&s(&args[0])).map_err(|e| e.to_string())?;
            let (x, repl) = (s(&args[1]), s(&args[2]));
            Value::Str(if name == "regexReplaceAll" {
                re.replace_all(&x, repl.as_str()).into_owned()
            } else {
                re.replace_all(&x, regex::NoExpand(&repl)).into_owned()
            })
        }
        "int" => {
            want_args(name, &args, 1)?;
            Value::Int(to_int(&args[0]).unwrap_or(0))
        }
        "float64" => {
            want_args(name, &args, 1)?;
            Value::Float(to_float(&args[0]).unwrap_or(0.0))
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            want_args(name, &args, 2)?;
            let (a, b) = (to_int(&args[0])?, to_int(&args[1])?);
            Value::Int(match name {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                _ if b == 0 => return Err("integer divide by zero".into()),
                "div" => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            })
        }
        "addf" | "subf" | "mulf" | "divf" => {
            want_args(name, &args, 2)?;
            let (a, b) = (to_float(&args[0])?, to_float(&args[1])?);
            Value::Float(match name {
                "addf" => a + b,
                "subf" => a - b,
                "mulf" => a * b,
                _ => a / b,
            })
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            want_args(name, &args, 1)?;
            let ns = match &args[0] {
                Value::Time(ns) => *ns,
                v => return Err(format!("expected time, found {}", v.render()).into()),
            };
            Value::Str(
                match name {
                    "unixEpoch" => ns.div_euclid(1_000_000_000),
                    "unixEpochMillis" => ns.div_euclid(1_000_000),
                    _ => ns,
                }
                .to_string(),
            )
        }
        "duration" => {
            want_args(name, &args, 1)?;
            let d = parse_go_duration(&s(&args[0]))?;
            Value::Float(d as f64 / 1e9)
        }
        _ => return Err(format!("function {name:?} not defined").into()),
    })
}
