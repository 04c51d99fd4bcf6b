//! Go's `text/template` built-in functions: `and`, `or`, `not`, `len`, `index`, `slice`,
//! `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `html`, `js`, `urlquery`,
//! `call`. (`and`/`or` short-circuit in the executor; here they only see evaluated values.)

use std::cmp::Ordering;

use super::error::{FuncError, want_args};
use super::printf::sprintf;
use super::value::Value;

const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "html", "js", "urlquery", "call",
];

/// True for a Go built-in function name.
pub(super) fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

fn at_least_one(name: &str, args: &[Value]) -> Result<(), FuncError> {
    if args.is_empty() {
        return Err(FuncError::ArityAtLeast {
            name: name.to_owned(),
            want: 1,
            got: 0,
        });
    }
    Ok(())
}

/// Runs built-in `name`; `typed` words comparison errors as Go ≥ 1.20 does (with the two
/// types).
pub(super) fn call_builtin(name: &str, mut args: Vec<Value>, typed: bool) -> Result<Value, FuncError> {
    Ok(match name {
        "and" | "or" => {
            at_least_one(name, &args)?;
            let stop = args.iter().position(|v| (name == "and") != v.truthy());
            let last = args.len() - 1;
            args.swap_remove(stop.unwrap_or(last))
        }
        "not" => {
            want_args(name, &args, 1)?;
            Value::Bool(!args[0].truthy())
        }
        "len" => {
            want_args(name, &args, 1)?;
            match &args[0] {
                Value::Str(s) => Value::Int(s.len() as i64),
                Value::Map(m) => Value::Int(m.len() as i64),
                Value::List(l) => Value::Int(l.len() as i64),
                other => return Err(format!("len of type {}", other.type_name()).into()),
            }
        }
        "index" => {
            at_least_one(name, &args)?;
            let mut v = args.remove(0);
            for k in args {
                v = index(v, k)?;
            }
            v
        }
        "slice" => slice(args)?,
        "print" | "println" => {
            let mut s = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = matches!(a, Value::Str(_));
                let prev_str = i > 0 && matches!(args[i - 1], Value::Str(_));
                if i > 0 && (name == "println" || (!is_str && !prev_str)) {
                    s.push(' ');
                }
                a.write_to(&mut s);
            }
            if name == "println" {
                s.push('\n');
            }
            Value::Str(s)
        }
        "printf" => {
            at_least_one(name, &args)?;
            let Value::Str(f) = &args[0] else {
                return Err(FuncError::Type {
                    name: name.to_owned(),
                    expected: "string",
                    got: args[0].type_name(),
                });
            };
            Value::Str(sprintf(f, &args[1..]))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= compare(&args[0], b, typed)? == Ordering::Equal;
            }
            Value::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want_args(name, &args, 2)?;
            let o = compare(&args[0], &args[1], typed)?;
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
        "html" => {
            want_args(name, &args, 1)?;
            Value::Str(html_escape(&args[0].render()))
        }
        "js" => {
            want_args(name, &args, 1)?;
            Value::Str(
                args[0]
                    .render()
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'")
                    .replace('"', "\\\""),
            )
        }
        "urlquery" => Value::Str(query_escape(&args.iter().map(Value::render).collect::<String>())),
        "call" => return Err("call of a non-function".into()),
        _ => return Err(format!("function {name:?} not defined").into()),
    })
}

/// `index`: one step into a map (by string key) or a list (by number).
fn index(v: Value, k: Value) -> Result<Value, FuncError> {
    Ok(match (v, k) {
        (Value::Map(mut m), Value::Str(k)) => m.remove(&k).unwrap_or(Value::Str(String::new())),
        (Value::Map(_), k) => return Err(format!("value has type {}; should be string", k.type_name()).into()),
        (Value::List(l), k) => {
            let i = match k {
                Value::Int(i) => i,
                Value::Float(f) => f as i64,
                other => return Err(format!("cannot index slice/array with type {}", other.type_name()).into()),
            };
            usize::try_from(i)
                .ok()
                .and_then(|i| l.get(i).cloned())
                .ok_or_else(|| format!("index out of range: {i}"))?
        }
        (v, _) => return Err(format!("can't index item of type {}", v.type_name()).into()),
    })
}

/// `slice x [from [to]]` of a string or a list.
fn slice(args: Vec<Value>) -> Result<Value, FuncError> {
    at_least_one("slice", &args)?;
    let idx: Vec<usize> = args[1..]
        .iter()
        .map(|a| match a {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("index out of range: {i}")),
            other => Err(format!("cannot index slice/array with type {}", other.type_name())),
        })
        .collect::<Result<_, _>>()?;
    let len = match &args[0] {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name()).into()),
    };
    let (from, to) = match idx.as_slice() {
        [] => (0, len),
        [a] => (*a, len),
        [a, b] => (*a, *b),
        _ => return Err("too many slice indexes".into()),
    };
    if from > to || to > len {
        return Err(format!("index out of range: {to}").into());
    }
    Ok(match &args[0] {
        Value::Str(s) => Value::Str(s.get(from..to).ok_or("slice splits a character")?.to_owned()),
        Value::List(l) => Value::List(l[from..to].to_vec()),
        _ => Value::Nil,
    })
}

fn compare(a: &Value, b: &Value, typed: bool) -> Result<Ordering, FuncError> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Less)),
        _ if typed => Err(format!(
            "incompatible types for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        )
        .into()),
        _ => Err("incompatible types for comparison".into()),
    }
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
