//! The trace reference of a log entry, for the log store's trace-id index (logs → trace and
//! trace → logs in Grafana).
//!
//! Looked up, first hit wins: the structured metadata (`trace_id`, `traceId`, `traceID`),
//! then a top-level string field of a JSON line with those names, then a logfmt field with
//! those names. Span ids likewise with `span_id`, `spanId`, `spanID`.
//!
//! Ids are normalized to lowercase hex, left-padded with zeros to full width (32 digits
//! for trace ids, 16 for span ids) so a 64-bit Jaeger id and its 128-bit form match. A value
//! that is not 1..=width hex digits, or is all zeros, is ignored and the search goes on.

use super::line_fields::{json_string_fields, logfmt_pairs, looks_like_json, looks_like_logfmt};

const TRACE_ID_KEYS: [&str; 3] = ["trace_id", "traceId", "traceID"];
const SPAN_ID_KEYS: [&str; 3] = ["span_id", "spanId", "spanID"];

/// The entry's trace id as 32 lowercase hex digits, if it names one. See the module docs.
pub fn extract_trace_id(line: &str, metadata: &[(String, String)]) -> Option<String> {
    extract(line, metadata, &TRACE_ID_KEYS, 32)
}

/// The entry's span id as 16 lowercase hex digits, if it names one. See the module docs.
pub fn extract_span_id(line: &str, metadata: &[(String, String)]) -> Option<String> {
    extract(line, metadata, &SPAN_ID_KEYS, 16)
}

/// `value` as `width` lowercase hex digits: 1..=`width` hex digits (any case, surrounding
/// spaces ignored), not all zero, left-padded with zeros. `None` otherwise.
pub fn normalize_hex_id(value: &str, width: usize) -> Option<String> {
    let v = value.trim();
    if v.is_empty() || v.len() > width || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    if v.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut out = String::with_capacity(width);
    out.extend(std::iter::repeat_n('0', width - v.len()));
    out.extend(v.chars().map(|c| c.to_ascii_lowercase()));
    Some(out)
}

fn extract(line: &str, metadata: &[(String, String)], keys: &[&str; 3], width: usize) -> Option<String> {
    let from_metadata = keys.iter().find_map(|key| {
        metadata
            .iter()
            .filter(|(k, _)| k == key)
            .find_map(|(_, v)| normalize_hex_id(v, width))
    });
    if from_metadata.is_some() {
        return from_metadata;
    }
    // Parsing is the expensive part: skip it when no key can be in the line (a JSON key could
    // only hide behind an escape sequence; logfmt keys are bare).
    if !keys.iter().any(|k| line.contains(k)) && !line.contains('\\') {
        return None;
    }
    if looks_like_json(line) {
        let wanted = |k: &str| keys.contains(&k);
        // Top level only (depth limit 1); collect every candidate, then pick by key priority.
        let fields = json_string_fields(line, 1, &wanted, &|_| false)?;
        return keys.iter().find_map(|key| {
            fields
                .iter()
                .filter(|(k, _)| k == key)
                .find_map(|(_, v)| normalize_hex_id(v, width))
        });
    }
    if looks_like_logfmt(line) {
        let pairs = logfmt_pairs(line);
        return keys.iter().find_map(|key| {
            pairs
                .iter()
                .filter(|(k, _)| k == key)
                .find_map(|(_, v)| normalize_hex_id(v, width))
        });
    }
    None
}
