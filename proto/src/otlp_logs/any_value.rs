//! OTLP `AnyValue` → string, the way Loki renders log bodies and attribute values (the
//! collector's `pcommon.Value.AsString`):
//!
//! * strings as is; booleans `true`/`false`; integers in decimal;
//! * doubles like a JavaScript number (`1.5`, `100`, `1e+21`, `1e-7`); NaN and infinities
//!   become `json: unsupported value: NaN` (`+Inf`, `-Inf`), Go's marshalling error text;
//! * bytes in standard base64;
//! * arrays and key/value lists as compact JSON (Go's `encoding/json`: map keys sorted,
//!   `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u003c` etc., bytes as base64 strings,
//!   empty values as `null`). A NaN or infinity anywhere inside makes the whole value `""`
//!   (Go's marshaller fails and the error is dropped).
//! * an unset value (or a profiles string-table reference) is `""`.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

/// `value` as a string, see the module docs.
pub(crate) fn as_string(value: Option<&AnyValue>) -> String {
    let Some(v) = value.and_then(|v| v.value.as_ref()) else {
        return String::new();
    };
    match v {
        Value::StringValue(s) => s.clone(),
        // A reference into a profiles string table; logs have none to resolve it against.
        Value::StringValueStrindex(_) => String::new(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(f) => {
            if f.is_finite() {
                format_js_number(*f)
            } else {
                format!("json: unsupported value: {}", go_float_g(*f))
            }
        }
        Value::BytesValue(b) => STANDARD.encode(b),
        Value::ArrayValue(_) | Value::KvlistValue(_) => {
            let mut out = String::new();
            if write_json(&mut out, Some(v), 0).is_ok() {
                out
            } else {
                String::new()
            }
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for the non-finite values.
fn go_float_g(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

/// A finite double as ES6 `Number.prototype.toString` (Go's JSON float format): plain
/// decimal for 1e-6 ≤ |f| < 1e21 (and 0), else shortest exponent form `1.5e+21`, `1e-7`.
fn format_js_number(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    // Rust's `{:e}` is shortest round-trip like Go's: "1.5e21", "1e-7".
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if exp.starts_with('-') => format!("{mantissa}e{exp}"),
        Some((mantissa, exp)) => format!("{mantissa}e+{exp}"),
        None => s,
    }
}

/// Non-finite number inside a JSON rendering.
struct Unsupported;

/// Nesting beyond this renders as `null`: protobuf decoding already limits nesting to 100,
/// this only guards values built in memory.
const MAX_DEPTH: usize = 128;

/// Writes `v` as Go's `encoding/json` would marshal `pcommon.Value.AsRaw()`.
fn write_json(out: &mut String, v: Option<&Value>, depth: usize) -> Result<(), Unsupported> {
    if depth > MAX_DEPTH {
        out.push_str("null");
        return Ok(());
    }
    match v {
        None | Some(Value::StringValueStrindex(_)) => out.push_str("null"),
        Some(Value::StringValue(s)) => write_json_string(out, s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(f)) => {
            if !f.is_finite() {
                return Err(Unsupported);
            }
            out.push_str(&format_js_number(*f));
        }
        Some(Value::BytesValue(b)) => {
            out.push('"');
            out.push_str(&STANDARD.encode(b));
            out.push('"');
        }
        Some(Value::ArrayValue(arr)) => {
            out.push('[');
            for (i, item) in arr.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item.value.as_ref(), depth + 1)?;
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kv)) => write_json_object(out, &kv.values, depth)?,
    }
    Ok(())
}

/// A key/value list as a JSON object: keys sorted, the last of duplicate keys wins (Go map
/// semantics).
fn write_json_object(out: &mut String, values: &[KeyValue], depth: usize) -> Result<(), Unsupported> {
    let map: BTreeMap<&str, Option<&Value>> = values
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_ref().and_then(|v| v.value.as_ref())))
        .collect();
    out.push('{');
    for (i, (k, v)) in map.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, k);
        out.push(':');
        write_json(out, v, depth + 1)?;
    }
    out.push('}');
    Ok(())
}

/// A JSON string literal with Go's escaping (HTML-safe).
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
