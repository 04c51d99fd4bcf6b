//! Loki's push API: `POST /loki/api/v1/push` bodies in both flavours, and the ingest-time
//! enrichment Loki's distributor applies.
//!
//! * [`decode_push`] undoes the `Content-Encoding` (gzip, deflate, zstd; snappy is a
//!   no-op), then decodes JSON (`Content-Type: application/json`) or snappy-block protobuf
//!   (anything else, as Loki does) into a [`PushRequest`]. Stream labels come out sorted,
//!   unique and validated; structured metadata names are sanitized like Loki does.
//! * [`encode_push_protobuf`] is the inverse for tests and load generators.
//! * [`ensure_service_name`] and [`detect_level`] are Loki's `service_name` discovery and
//!   `discover_log_levels`; the receiver applies them (see [`PushRequest::enrich`]) before
//!   storing. [`extract_trace_id`] and [`extract_span_id`] find the trace reference of an
//!   entry for the log store's trace index.
//!
//! The protobuf message is generated from nerve's own `proto/loki/push.proto` (module
//! [`crate::logproto`]).

mod content_encoding;
mod json;
mod json_dups;
mod labels;
mod level;
mod line_fields;
mod protobuf;
#[cfg(test)]
mod tests;
mod trace_ref;

pub use content_encoding::{ContentEncoding, METER_CHUNK};
pub use labels::{
    SERVICE_NAME, SERVICE_NAME_SOURCES, UNKNOWN_SERVICE, ensure_service_name, format_labels, is_valid_label_name,
    parse_labels, sanitize_label_name,
};
pub use level::{DETECTED_LEVEL, LEVEL_FIELDS, detect_level, normalize_level};
pub use trace_ref::{extract_span_id, extract_trace_id, normalize_hex_id};

use crate::Error;

/// A decoded push request: log entries grouped by stream.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The streams in request order. The same label set may appear more than once.
    pub streams: Vec<PushStream>,
}

/// One stream of a push request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushStream {
    /// The stream's labels: sorted by name, names unique and valid
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`), values non-empty, at least one pair.
    pub labels: Vec<(String, String)>,
    /// The entries in request order (not necessarily sorted by time).
    pub entries: Vec<PushEntry>,
}

/// One log entry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushEntry {
    /// Timestamp in nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The log line.
    pub line: String,
    /// Structured metadata in request order; names are valid label names.
    pub structured_metadata: Vec<(String, String)>,
}

impl PushRequest {
    /// Number of entries over all streams.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    /// Applies what Loki's distributor adds at ingest with its default limits: a
    /// `service_name` label on every stream ([`ensure_service_name`]) and a
    /// `detected_level` structured metadata pair on every entry that has none
    /// ([`detect_level`]; an existing `detected_level` is normalized).
    pub fn enrich(&mut self) {
        for stream in &mut self.streams {
            ensure_service_name(&mut stream.labels);
            for entry in &mut stream.entries {
                entry.add_detected_level(&stream.labels);
            }
        }
    }
}

impl PushEntry {
    /// Adds `detected_level` (from [`detect_level`]) unless the entry already carries it,
    /// in which case known spellings are normalized (`WARNING` → `warn`), as Loki does.
    pub fn add_detected_level(&mut self, labels: &[(String, String)]) {
        if let Some((_, v)) = self.structured_metadata.iter_mut().find(|(n, _)| n == DETECTED_LEVEL) {
            if let Some(level) = normalize_level(v) {
                *v = level.to_owned();
            }
            return;
        }
        let level = detect_level(labels, &self.structured_metadata, &self.line);
        self.structured_metadata
            .push((DETECTED_LEVEL.to_owned(), level.to_owned()));
    }

    /// The entry's trace id, see [`extract_trace_id`].
    pub fn trace_id(&self) -> Option<String> {
        extract_trace_id(&self.line, &self.structured_metadata)
    }

    /// The entry's span id, see [`extract_span_id`].
    pub fn span_id(&self) -> Option<String> {
        extract_span_id(&self.line, &self.structured_metadata)
    }
}

/// Decodes a `POST /loki/api/v1/push` body.
///
/// `content_type` `application/json` (parameters and case ignored) selects JSON; anything
/// else, including `None` and `application/x-protobuf`, selects snappy-block protobuf, as in
/// Loki. `content_encoding` may be absent/`identity`, `gzip`, `deflate`, `zstd` or `snappy`
/// (a no-op); others are [`Error::Unsupported`] (415). No more than `max_decoded` bytes are
/// ever decompressed ([`Error::DecodedTooLarge`], 413, names the limit). Malformed bodies are
/// 400s whose message names the stream and entry index.
pub fn decode_push(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    max_decoded: usize,
) -> Result<PushRequest, Error> {
    let encoding = ContentEncoding::from_header(content_encoding)?;
    let decoded = encoding.decode(body, max_decoded)?;
    if is_json(content_type) {
        json::decode(&decoded)
    } else {
        protobuf::decode(&decoded, max_decoded)
    }
}

/// Encodes `req` as a snappy-compressed protobuf push body (what promtail sends), for tests,
/// benches and load generators. Labels are written in selector syntax.
pub fn encode_push_protobuf(req: &PushRequest) -> Vec<u8> {
    protobuf::encode(req)
}

/// Whether a `Content-Type` announces JSON.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks one structured metadata pair. Invalid names are sanitized like Loki does
/// ([`sanitize_label_name`]); a name with nothing usable in it is an error.
pub(crate) fn metadata_pair(name: String, value: String) -> Result<(String, String), String> {
    if is_valid_label_name(&name) {
        return Ok((name, value));
    }
    match sanitize_label_name(&name) {
        Some(sanitized) => Ok((sanitized, value)),
        None => Err(format!(
            "invalid structured metadata name {}",
            labels::quote_for_error(&name)
        )),
    }
}
