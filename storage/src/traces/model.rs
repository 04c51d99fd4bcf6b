//! The span model: OTLP's, without the wire types.
//!
//! A [`Span`] carries its [`Resource`] and [`Scope`] behind `Arc`s, so the spans of one export
//! share them in memory; the codec stores each distinct one once per block.

use std::sync::Arc;

/// A trace id (16 bytes, as in OTLP and W3C trace context).
pub type TraceId = [u8; 16];
/// A span id (8 bytes).
pub type SpanId = [u8; 8];

/// An attribute value (OTLP `AnyValue`).
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array of values.
    Array(Vec<AttrValue>),
    /// A nested key/value list.
    KvList(Vec<KeyValue>),
    /// An empty (unset) value.
    Empty,
}

impl AttrValue {
    /// The value as a string when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value rendered as text: strings as they are, numbers and booleans the way Go's
    /// `strconv` prints them, composite values as JSON.
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::Str(s) => s.clone(),
            AttrValue::Bool(b) => b.to_string(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Double(d) => d.to_string(),
            AttrValue::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
            AttrValue::Array(_) | AttrValue::KvList(_) => self.to_json().to_string(),
            AttrValue::Empty => String::new(),
        }
    }

    /// The value as plain JSON (strings, numbers, booleans, arrays, objects).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            AttrValue::Str(s) => Value::String(s.clone()),
            AttrValue::Bool(b) => Value::Bool(*b),
            AttrValue::Int(i) => Value::from(*i),
            AttrValue::Double(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
            AttrValue::Bytes(_) => Value::String(self.to_text()),
            AttrValue::Array(a) => Value::Array(a.iter().map(AttrValue::to_json).collect()),
            AttrValue::KvList(kv) => Value::Object(kv.iter().map(|k| (k.key.clone(), k.value.to_json())).collect()),
            AttrValue::Empty => Value::Null,
        }
    }
}

/// One attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The attribute name.
    pub key: String,
    /// Its value.
    pub value: AttrValue,
}

impl KeyValue {
    /// A string attribute.
    pub fn str(key: impl Into<String>, value: impl Into<String>) -> Self {
        KeyValue {
            key: key.into(),
            value: AttrValue::Str(value.into()),
        }
    }
}

/// Finds attribute `key` in `attrs`.
pub fn find_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AttrValue> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// The entity that produced spans (OTLP `Resource`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    /// Resource attributes (`service.name`, `host.name`, …).
    pub attributes: Vec<KeyValue>,
    /// Attributes the SDK dropped.
    pub dropped_attributes_count: u32,
    /// The resource's schema URL.
    pub schema_url: String,
}

impl Resource {
    /// `service.name`, or `unknown_service` as the OTel SDKs default it.
    pub fn service_name(&self) -> &str {
        find_attr(&self.attributes, "service.name")
            .and_then(AttrValue::as_str)
            .unwrap_or(UNKNOWN_SERVICE)
    }
}

/// The service name of spans whose resource has none.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// The instrumentation scope (OTLP `InstrumentationScope`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// Library name.
    pub name: String,
    /// Library version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped.
    pub dropped_attributes_count: u32,
    /// The scope's schema URL.
    pub schema_url: String,
}

/// Span kind, numbered as in OTLP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SpanKind {
    /// Not specified.
    #[default]
    Unspecified = 0,
    /// Internal operation.
    Internal = 1,
    /// Server side of a request.
    Server = 2,
    /// Client side of a request.
    Client = 3,
    /// Message producer.
    Producer = 4,
    /// Message consumer.
    Consumer = 5,
}

impl SpanKind {
    /// The kind for an OTLP enum number (unknown numbers are `Unspecified`).
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// Lowercase name as Jaeger's `span.kind` tag and TraceQL spell it (`unspecified` for 0).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "unspecified",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// Span status code, numbered as in OTLP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum StatusCode {
    /// Unset (the default).
    #[default]
    Unset = 0,
    /// Explicitly OK.
    Ok = 1,
    /// An error.
    Error = 2,
}

impl StatusCode {
    /// The code for an OTLP enum number (unknown numbers are `Unset`).
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }

    /// Lowercase name as TraceQL spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        }
    }
}

/// A timed event inside a span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    /// When it happened (ns since the epoch).
    pub time_ns: u64,
    /// Event name (e.g. `exception`).
    pub name: String,
    /// Event attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped.
    pub dropped_attributes_count: u32,
}

/// A link to another span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    /// Linked trace.
    pub trace_id: TraceId,
    /// Linked span.
    pub span_id: SpanId,
    /// W3C trace state of the link.
    pub trace_state: String,
    /// Link attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped.
    pub dropped_attributes_count: u32,
    /// W3C trace flags of the link.
    pub flags: u32,
}

/// One span with everything OTLP carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its id.
    pub span_id: SpanId,
    /// The parent span, all zeros for a root span.
    pub parent_span_id: SpanId,
    /// W3C trace state.
    pub trace_state: String,
    /// W3C trace flags.
    pub flags: u32,
    /// Operation name.
    pub name: String,
    /// Kind.
    pub kind: SpanKind,
    /// Start (ns since the epoch).
    pub start_ns: u64,
    /// End (ns since the epoch); never before `start_ns` once stored.
    pub end_ns: u64,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped.
    pub dropped_attributes_count: u32,
    /// Events.
    pub events: Vec<Event>,
    /// Events dropped.
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<Link>,
    /// Links dropped.
    pub dropped_links_count: u32,
    /// Status code.
    pub status_code: StatusCode,
    /// Status message.
    pub status_message: String,
    /// The producing resource.
    pub resource: Arc<Resource>,
    /// The instrumentation scope.
    pub scope: Arc<Scope>,
}

impl Span {
    /// True for a span without a parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id == [0; 8]
    }

    /// Duration in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// The resource's service name.
    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }
}

/// Lowercase hex of an id.
pub fn hex(id: &[u8]) -> String {
    const_hex::encode(id)
}

/// Parses a trace id in hex: up to 32 digits, any case; shorter ids are left-padded with
/// zeros (Jaeger's 64-bit ids). `None` for anything else.
pub fn parse_trace_id(s: &str) -> Option<TraceId> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>32}");
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_parse_padded_and_print_lowercase() {
        let id = parse_trace_id("00F0").unwrap();
        assert_eq!(hex(&id), "000000000000000000000000000000f0");
        assert_eq!(parse_trace_id(""), None);
        assert_eq!(parse_trace_id("xyz"), None);
        assert_eq!(parse_trace_id(&"a".repeat(33)), None);
    }
}
