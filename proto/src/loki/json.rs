//! The JSON flavour of the Loki push body:
//! `{"streams":[{"stream":{"job":"x"},"values":[["<ns>","line",{"trace_id":"..."}]]}]}`.
//!
//! Parsed into a `serde_json::Value` first and then walked, so every rejection can say
//! exactly where the problem is (`streams[1].values[3][0]: ...`). Strings are moved out of
//! the tree, not copied.

use serde_json::{Map, Value};

use super::labels::{finish_label_set, quote_for_error};
use super::{PushEntry, PushRequest, PushStream, metadata_pair};
use crate::Error;

/// Decodes a (decompressed) JSON push body.
pub(super) fn decode(body: &[u8]) -> Result<PushRequest, Error> {
    let root: Value = serde_json::from_slice(body).map_err(Error::Json)?;
    let Value::Object(mut root) = root else {
        return Err(invalid("body", format!("expected an object, got {}", kind(&root))));
    };
    let streams = match root.remove("streams") {
        Some(Value::Array(streams)) => streams,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => return Err(invalid("streams", format!("expected an array, got {}", kind(&other)))),
    };
    let streams = streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| stream(i, s))
        .collect::<Result<_, _>>()?;
    // The map above kept only the last of repeated label names; refuse those streams
    // rather than store a label set the client did not send.
    if let Some((i, name)) = super::json_dups::duplicate_label(body) {
        return Err(invalid(
            format!("streams[{i}].stream"),
            format!("duplicate label name {}", quote_for_error(&name)),
        ));
    }
    Ok(PushRequest { streams })
}

fn stream(i: usize, value: Value) -> Result<PushStream, Error> {
    let Value::Object(mut obj) = value else {
        return Err(invalid(
            format!("streams[{i}]"),
            format!("expected an object, got {}", kind(&value)),
        ));
    };
    let labels = match obj.remove("stream") {
        Some(Value::Object(map)) => string_map(map, || format!("streams[{i}].stream"))?,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(invalid(
                format!("streams[{i}].stream"),
                format!(
                    "expected an object of label names to string values, got {}",
                    kind(&other)
                ),
            ));
        }
    };
    let labels = finish_label_set(labels).map_err(|why| invalid(format!("streams[{i}].stream"), why))?;
    let values = match obj.remove("values") {
        Some(Value::Array(values)) => values,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(invalid(
                format!("streams[{i}].values"),
                format!("expected an array, got {}", kind(&other)),
            ));
        }
    };
    let entries = values
        .into_iter()
        .enumerate()
        .map(|(j, v)| entry(i, j, v))
        .collect::<Result<_, _>>()?;
    Ok(PushStream { labels, entries })
}

fn entry(i: usize, j: usize, value: Value) -> Result<PushEntry, Error> {
    let at = || format!("streams[{i}].values[{j}]");
    let Value::Array(items) = value else {
        return Err(invalid(
            at(),
            format!(
                "expected an array [\"<unix ns>\", \"<line>\"(, {{metadata}})], got {}",
                kind(&value)
            ),
        ));
    };
    if !(2..=3).contains(&items.len()) {
        return Err(invalid(
            at(),
            format!(
                "expected 2 or 3 elements (timestamp, line, optional metadata), got {}",
                items.len()
            ),
        ));
    }
    let mut items = items.into_iter();
    let ts_ns = match items.next() {
        Some(Value::String(ts)) => ts.trim().parse::<i64>().map_err(|_| {
            invalid(
                format!("{}[0]", at()),
                format!(
                    "timestamp {} is not an integer number of nanoseconds",
                    quote_for_error(&ts)
                ),
            )
        })?,
        Some(other) => {
            return Err(invalid(
                format!("{}[0]", at()),
                format!("timestamp must be a string of Unix nanoseconds, got {}", kind(&other)),
            ));
        }
        None => return Err(invalid(at(), "missing timestamp")),
    };
    let line = match items.next() {
        Some(Value::String(line)) => line,
        Some(other) => {
            return Err(invalid(
                format!("{}[1]", at()),
                format!("line must be a string, got {}", kind(&other)),
            ));
        }
        None => return Err(invalid(at(), "missing line")),
    };
    let structured_metadata = match items.next() {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => {
            let pairs = string_map(map, || format!("{}[2]", at()))?;
            pairs
                .into_iter()
                .map(|(n, v)| metadata_pair(n, v).map_err(|why| invalid(format!("{}[2]", at()), why)))
                .collect::<Result<_, _>>()?
        }
        Some(other) => {
            return Err(invalid(
                format!("{}[2]", at()),
                format!(
                    "structured metadata must be an object of string values, got {}",
                    kind(&other)
                ),
            ));
        }
    };
    Ok(PushEntry {
        ts_ns,
        line,
        structured_metadata,
    })
}

/// A flat object of string values as pairs (in the object's key order).
fn string_map(map: Map<String, Value>, at: impl Fn() -> String) -> Result<Vec<(String, String)>, Error> {
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(invalid(
                format!("{}.{}", at(), quote_for_error(&k)),
                format!("expected a string, got {}", kind(&other)),
            )),
        })
        .collect()
}

fn invalid(at: impl std::fmt::Display, why: impl std::fmt::Display) -> Error {
    Error::InvalidPush(format!("{at}: {why}"))
}

/// The JSON type of `v`, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
