//! OTLP logs → Loki streams, translated the way Loki's OTLP endpoint (`/otlp/v1/logs`)
//! does with its default configuration (Loki docs, "Ingesting logs to Loki using
//! OpenTelemetry Collector", section "Format considerations"; api-contracts §2.4).
//!
//! * **Index labels** are these resource attributes, names sanitized (`.` → `_`):
//!   [`INDEX_LABEL_ATTRIBUTES`] (`service.name` → `service_name`, `k8s.pod.name` →
//!   `k8s_pod_name`, ...). Without a non-empty `service.name`, `service_name` is the first
//!   index label (in attribute order) named like one of Loki's service-name sources
//!   (`container_name`, `k8s_container_name`), else `unknown_service`.
//! * **Structured metadata**, per entry and in this order: the log attributes; then
//!   `observed_timestamp` (when both timestamps are set), `severity_number`,
//!   `severity_text`, `dropped_attributes_count`, `flags`, `trace_id`, `span_id` (lowercase
//!   hex) and `event_name` when set; then the other resource attributes; then the scope
//!   attributes, `scope_name`, `scope_version`, `scope_dropped_attributes_count`; finally
//!   `detected_level` ([`crate::loki::detect_level`], as Loki's distributor adds it). Map
//!   values are flattened with `_` (`http.request` `{method: GET}` → `http_request_method`);
//!   names are sanitized with [`crate::loki::sanitize_label_name`]; attributes whose key has
//!   nothing usable are dropped.
//! * **Line**: the body as a string (`any_value` module: strings as is, other kinds as
//!   Loki renders them).
//! * **Timestamp**: `time_unix_nano`, else `observed_time_unix_nano`, else `now_ns`.
//! * Records are grouped into streams by label set, in order of first appearance.
//!
//! The entries' trace and span ids stay in their structured metadata; the log store gets
//! them with [`crate::loki::extract_trace_id`] / [`crate::loki::extract_span_id`] (or
//! [`crate::loki::PushEntry::trace_id`]).

mod any_value;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use crate::Error;
use crate::loki::{
    DETECTED_LEVEL, PushEntry, PushRequest, PushStream, SERVICE_NAME, SERVICE_NAME_SOURCES, UNKNOWN_SERVICE,
    detect_level, sanitize_label_name,
};

/// Name/value pairs: labels or structured metadata.
type Pairs = Vec<(String, String)>;

/// Resource attributes Loki turns into index labels by default
/// (`distributor.otlp.default_resource_attributes_as_index_labels`).
pub const INDEX_LABEL_ATTRIBUTES: [&str; 18] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// Decodes an OTLP/HTTP logs body: `application/x-protobuf` (also when `content_type` is
/// `None`) or `application/json` (OTLP JSON, hex trace ids); other content types are
/// [`Error::Unsupported`] (415). `content_encoding` may be absent/`identity`, `gzip`,
/// `deflate` or `zstd`; at most `max_decoded` bytes are decompressed
/// ([`Error::DecodedTooLarge`], 413).
pub fn decode_logs_request(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    max_decoded: usize,
) -> Result<ExportLogsServiceRequest, Error> {
    crate::otlp::decode_request(body, content_type, content_encoding, max_decoded)
}

/// Translates an export request into Loki streams; see the module docs. Never fails.
pub fn translate_logs(req: &ExportLogsServiceRequest, now_ns: i64) -> PushRequest {
    let mut out = Streams::default();
    for rl in &req.resource_logs {
        let attrs = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        let (labels, resource_metadata) = resource_labels(attrs);
        for sl in &rl.scope_logs {
            let scope_metadata = sl.scope.as_ref().map(|scope| {
                let mut md = flatten_attributes(&scope.attributes);
                push_if(&mut md, "scope_name", &scope.name);
                push_if(&mut md, "scope_version", &scope.version);
                if scope.dropped_attributes_count != 0 {
                    md.push((
                        "scope_dropped_attributes_count".to_owned(),
                        scope.dropped_attributes_count.to_string(),
                    ));
                }
                md
            });
            for record in &sl.log_records {
                let mut entry = translate_record(record, now_ns);
                entry.structured_metadata.extend(resource_metadata.iter().cloned());
                entry
                    .structured_metadata
                    .extend(scope_metadata.iter().flatten().cloned());
                let level = detect_level(&labels, &entry.structured_metadata, &entry.line);
                entry
                    .structured_metadata
                    .push((DETECTED_LEVEL.to_owned(), level.to_owned()));
                out.push(&labels, entry);
            }
        }
    }
    PushRequest { streams: out.streams }
}

/// Streams in order of first appearance, looked up by label set.
#[derive(Default)]
struct Streams {
    streams: Vec<PushStream>,
    index: HashMap<Vec<(String, String)>, usize>,
}

impl Streams {
    fn push(&mut self, labels: &[(String, String)], entry: PushEntry) {
        let i = match self.index.get(labels) {
            Some(&i) => i,
            None => {
                self.streams.push(PushStream {
                    labels: labels.to_vec(),
                    entries: Vec::new(),
                });
                self.index.insert(labels.to_vec(), self.streams.len() - 1);
                self.streams.len() - 1
            }
        };
        self.streams[i].entries.push(entry);
    }
}

/// The stream labels (sorted, non-empty values, `service_name` always set) and the
/// structured metadata of one resource.
fn resource_labels(attrs: &[KeyValue]) -> (Pairs, Pairs) {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    let mut metadata = Vec::new();
    let mut discovered: Option<String> = None;
    for kv in attrs {
        if INDEX_LABEL_ATTRIBUTES.contains(&kv.key.as_str()) {
            let mut flat = Vec::new();
            flatten(&kv.key, kv.value.as_ref(), &mut flat);
            for (name, value) in flat {
                if discovered.is_none() && !value.is_empty() && SERVICE_NAME_SOURCES.contains(&name.as_str()) {
                    discovered = Some(value.clone());
                }
                labels.insert(name, value);
            }
        } else {
            flatten(&kv.key, kv.value.as_ref(), &mut metadata);
        }
    }
    labels.retain(|_, v| !v.is_empty());
    if !labels.contains_key(SERVICE_NAME) {
        let service = discovered.unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());
        labels.insert(SERVICE_NAME.to_owned(), service);
    }
    (labels.into_iter().collect(), metadata)
}

/// One log record as an entry with its own structured metadata (attributes and fields).
fn translate_record(r: &LogRecord, now_ns: i64) -> PushEntry {
    let mut md = Vec::with_capacity(r.attributes.len() + 8);
    for kv in &r.attributes {
        if kv.key == "event_name" && !r.event_name.is_empty() {
            continue;
        }
        flatten(&kv.key, kv.value.as_ref(), &mut md);
    }
    if r.time_unix_nano != 0 && r.observed_time_unix_nano != 0 {
        md.push(("observed_timestamp".to_owned(), r.observed_time_unix_nano.to_string()));
    }
    if r.severity_number != 0 {
        md.push(("severity_number".to_owned(), r.severity_number.to_string()));
    }
    push_if(&mut md, "severity_text", &r.severity_text);
    if r.dropped_attributes_count != 0 {
        md.push((
            "dropped_attributes_count".to_owned(),
            r.dropped_attributes_count.to_string(),
        ));
    }
    if r.flags != 0 {
        md.push(("flags".to_owned(), r.flags.to_string()));
    }
    if let Some(id) = hex_id(&r.trace_id) {
        md.push(("trace_id".to_owned(), id));
    }
    if let Some(id) = hex_id(&r.span_id) {
        md.push(("span_id".to_owned(), id));
    }
    push_if(&mut md, "event_name", &r.event_name);
    let ts = [r.time_unix_nano, r.observed_time_unix_nano]
        .into_iter()
        .find(|&t| t != 0)
        .map_or(now_ns, |t| i64::try_from(t).unwrap_or(i64::MAX));
    PushEntry {
        ts_ns: ts,
        line: any_value::as_string(r.body.as_ref()),
        structured_metadata: md,
    }
}

fn push_if(md: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !value.is_empty() {
        md.push((name.to_owned(), value.to_owned()));
    }
}

/// Lowercase hex of a trace or span id; `None` when empty or all zeros (unset).
fn hex_id(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|&b| b == 0) {
        return None;
    }
    Some(const_hex::encode(bytes))
}

/// Flattening deeper than this keeps the rest as one JSON-rendered value.
const MAX_FLATTEN_DEPTH: usize = 32;

/// Appends `key`'s value as name/value pairs: maps are flattened with `_`, everything
/// else is rendered by `any_value::as_string`. Keys without usable characters are dropped.
fn flatten(key: &str, value: Option<&AnyValue>, out: &mut Vec<(String, String)>) {
    if let Some(name) = sanitize_label_name(key) {
        flatten_named(name, value, out, 0);
    }
}

fn flatten_named(name: String, value: Option<&AnyValue>, out: &mut Vec<(String, String)>, depth: usize) {
    if let Some(Value::KvlistValue(kv)) = value.and_then(|v| v.value.as_ref())
        && depth < MAX_FLATTEN_DEPTH
    {
        for child in &kv.values {
            if let Some(child_name) = sanitize_label_name(&format!("{name}_{}", child.key)) {
                flatten_named(child_name, child.value.as_ref(), out, depth + 1);
            }
        }
        return;
    }
    out.push((name, any_value::as_string(value)));
}

fn flatten_attributes(attrs: &[KeyValue]) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(attrs.len());
    for kv in attrs {
        flatten(&kv.key, kv.value.as_ref(), &mut out);
    }
    out
}
