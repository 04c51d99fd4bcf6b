//! The values that flow through a template, Go's truth and Go's `fmt.Sprint` of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::gofmt::{go_float, go_time};

/// A value flowing through a template.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// Go's `nil` (renders `<no value>`).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (literals, `len`).
    Int(i64),
    /// A float64.
    Float(f64),
    /// A string.
    Str(String),
    /// A time, in nanoseconds since the epoch.
    Time(i64),
    /// A map or a struct.
    Map(BTreeMap<String, Value>),
    /// A list.
    List(Vec<Value>),
}

impl Value {
    /// Go's notion of truth: false, 0, nil and empty strings, maps and lists are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Time(_) => true,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// The text `{{ . }}` prints for this value (Go's `fmt.Sprint`).
    pub fn render(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => {
                let mut s = String::new();
                other.write_to(&mut s);
                s
            }
        }
    }

    /// Appends what `{{ . }}` prints for this value to `out`.
    pub fn write_to(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::Time(ns) => out.push_str(&go_time(*ns)),
            // A Prometheus query sample prints as Go prints its struct: `{map[...] value}`.
            Value::Map(m)
                if m.len() == 2 && matches!(m.get("Labels"), Some(Value::Map(_))) && m.contains_key("Value") =>
            {
                out.push('{');
                m.get("Labels").unwrap_or(&Value::Nil).write_to(out);
                out.push(' ');
                m.get("Value").unwrap_or(&Value::Nil).write_to(out);
                out.push('}');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_to(out);
                }
                out.push(']');
            }
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_to(out);
                }
                out.push(']');
            }
        }
    }

    /// Go's name of the value's type, as its errors print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Time(_) => "time.Time",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
        }
    }
}
