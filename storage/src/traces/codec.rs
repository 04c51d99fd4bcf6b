//! The binary form of a batch of spans, used for WAL records and (zstd-compressed) segment
//! blocks.
//!
//! Layout: a string table (each distinct string once), the distinct resources and scopes of
//! the batch, then the spans in two sections: identifiers (a flag byte, the trace id only
//! when it differs from the previous span's, the span id, the parent id when there is one)
//! and everything else (start as a delta from the previous span's start, duration, name,
//! kind, status, resource and scope indexes, attributes, events, links). Sorting spans by
//! trace id before encoding makes trace ids nearly free; the separate sections keep the
//! random id bytes from diluting the compressible rest.

use std::collections::HashMap;
use std::sync::Arc;

use super::model::{AttrValue, Event, KeyValue, Link, Resource, Scope, Span, SpanKind, StatusCode};
use crate::encoding::{DecodeError, Reader, put_uvarint, put_varint};

/// Nesting depth limit for array/kvlist attribute values when decoding.
const MAX_DEPTH: u32 = 16;

/// Encodes `spans` (any order; sorted by trace id they encode smaller).
pub fn encode(spans: &[Span]) -> Vec<u8> {
    let mut enc = Encoder::default();
    let mut ids = Vec::with_capacity(spans.len() * 25);
    let mut rest = Vec::with_capacity(spans.len() * 48);
    let mut prev_trace: Option<&[u8; 16]> = None;
    let mut prev_start = 0i64;
    for s in spans {
        let new_trace = prev_trace != Some(&s.trace_id);
        let has_parent = !s.is_root();
        ids.push(u8::from(new_trace) | (u8::from(has_parent) << 1));
        if new_trace {
            ids.extend_from_slice(&s.trace_id);
        }
        ids.extend_from_slice(&s.span_id);
        if has_parent {
            ids.extend_from_slice(&s.parent_span_id);
        }
        prev_trace = Some(&s.trace_id);
        let start = s.start_ns as i64;
        put_varint(&mut rest, start.wrapping_sub(prev_start));
        prev_start = start;
        put_uvarint(&mut rest, s.duration_ns());
        enc.string(&mut rest, &s.name);
        rest.push(s.kind as u8);
        rest.push(s.status_code as u8);
        enc.string(&mut rest, &s.status_message);
        let r = enc.resource(&s.resource);
        put_uvarint(&mut rest, r);
        let sc = enc.scope(&s.scope);
        put_uvarint(&mut rest, sc);
        enc.string(&mut rest, &s.trace_state);
        put_uvarint(&mut rest, u64::from(s.flags));
        enc.attrs(&mut rest, &s.attributes);
        put_uvarint(&mut rest, u64::from(s.dropped_attributes_count));
        put_uvarint(&mut rest, s.events.len() as u64);
        for e in &s.events {
            put_varint(&mut rest, (e.time_ns as i64).wrapping_sub(start));
            enc.string(&mut rest, &e.name);
            enc.attrs(&mut rest, &e.attributes);
            put_uvarint(&mut rest, u64::from(e.dropped_attributes_count));
        }
        put_uvarint(&mut rest, u64::from(s.dropped_events_count));
        put_uvarint(&mut rest, s.links.len() as u64);
        for l in &s.links {
            rest.extend_from_slice(&l.trace_id);
            rest.extend_from_slice(&l.span_id);
            enc.string(&mut rest, &l.trace_state);
            enc.attrs(&mut rest, &l.attributes);
            put_uvarint(&mut rest, u64::from(l.dropped_attributes_count));
            put_uvarint(&mut rest, u64::from(l.flags));
        }
        put_uvarint(&mut rest, u64::from(s.dropped_links_count));
    }
    let mut out = Vec::with_capacity(enc.strings_len + ids.len() + rest.len() + 64);
    put_uvarint(&mut out, enc.strings.len() as u64);
    for s in &enc.strings {
        put_uvarint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    put_uvarint(&mut out, enc.tables.len() as u64);
    out.extend_from_slice(&enc.tables);
    put_uvarint(&mut out, enc.resources.len() as u64);
    put_uvarint(&mut out, enc.scopes.len() as u64);
    put_uvarint(&mut out, spans.len() as u64);
    put_uvarint(&mut out, ids.len() as u64);
    out.extend_from_slice(&ids);
    out.extend_from_slice(&rest);
    out
}

/// Decodes a batch written by [`encode`].
pub fn decode(buf: &[u8]) -> Result<Vec<Span>, DecodeError> {
    let mut r = Reader::new(buf);
    let n_strings = r.len(r.remaining())?;
    let mut strings: Vec<&str> = Vec::with_capacity(n_strings);
    for _ in 0..n_strings {
        strings.push(r.str()?);
    }
    let tables_len = r.len(r.remaining())?;
    let tables = r.bytes(tables_len)?;
    let n_resources = r.len(tables_len)?;
    let n_scopes = r.len(tables_len)?;
    let dec = Decoder { strings };
    let mut t = Reader::new(tables);
    let mut resources = Vec::with_capacity(n_resources);
    let mut scopes = Vec::with_capacity(n_scopes);
    // Tables are written in first-use order, resources and scopes interleaved; each entry
    // starts with its kind.
    for _ in 0..n_resources + n_scopes {
        match t.u8()? {
            0 => resources.push(Arc::new(Resource {
                attributes: dec.attrs(&mut t, 0)?,
                dropped_attributes_count: dec.u32(&mut t)?,
                schema_url: dec.string(&mut t)?,
            })),
            1 => scopes.push(Arc::new(Scope {
                name: dec.string(&mut t)?,
                version: dec.string(&mut t)?,
                attributes: dec.attrs(&mut t, 0)?,
                dropped_attributes_count: dec.u32(&mut t)?,
                schema_url: dec.string(&mut t)?,
            })),
            _ => return Err(t.err_at("resource or scope table entry")),
        }
    }
    if resources.len() != n_resources || scopes.len() != n_scopes {
        return Err(t.err_at("table counts"));
    }
    let n_spans = r.len(r.remaining())?;
    let ids_len = r.len(r.remaining())?;
    let mut ids = Reader::new(r.bytes(ids_len)?);
    let mut spans = Vec::with_capacity(n_spans.min(1 << 20));
    let mut trace_id = [0u8; 16];
    let mut prev_start = 0i64;
    for _ in 0..n_spans {
        let flag = ids.u8()?;
        if flag & 1 != 0 {
            trace_id.copy_from_slice(ids.bytes(16)?);
        } else if spans.is_empty() {
            return Err(ids.err_at("trace id of the first span"));
        }
        let mut span_id = [0u8; 8];
        span_id.copy_from_slice(ids.bytes(8)?);
        let mut parent_span_id = [0u8; 8];
        if flag & 2 != 0 {
            parent_span_id.copy_from_slice(ids.bytes(8)?);
        }
        let start = prev_start.wrapping_add(r.varint()?);
        prev_start = start;
        let duration = r.uvarint()?;
        let name = dec.string(&mut r)?;
        let kind = SpanKind::from_i32(i32::from(r.u8()?));
        let status_code = StatusCode::from_i32(i32::from(r.u8()?));
        let status_message = dec.string(&mut r)?;
        let resource = resources
            .get(r.len(n_resources)?)
            .cloned()
            .ok_or(r.err_at("resource index"))?;
        let scope = scopes.get(r.len(n_scopes)?).cloned().ok_or(r.err_at("scope index"))?;
        let trace_state = dec.string(&mut r)?;
        let flags = dec.u32(&mut r)?;
        let attributes = dec.attrs(&mut r, 0)?;
        let dropped_attributes_count = dec.u32(&mut r)?;
        let n_events = r.len(r.remaining())?;
        let mut events = Vec::with_capacity(n_events);
        for _ in 0..n_events {
            events.push(Event {
                time_ns: start.wrapping_add(r.varint()?) as u64,
                name: dec.string(&mut r)?,
                attributes: dec.attrs(&mut r, 0)?,
                dropped_attributes_count: dec.u32(&mut r)?,
            });
        }
        let dropped_events_count = dec.u32(&mut r)?;
        let n_links = r.len(r.remaining())?;
        let mut links = Vec::with_capacity(n_links);
        for _ in 0..n_links {
            let mut l = Link::default();
            l.trace_id.copy_from_slice(r.bytes(16)?);
            l.span_id.copy_from_slice(r.bytes(8)?);
            l.trace_state = dec.string(&mut r)?;
            l.attributes = dec.attrs(&mut r, 0)?;
            l.dropped_attributes_count = dec.u32(&mut r)?;
            l.flags = dec.u32(&mut r)?;
            links.push(l);
        }
        let dropped_links_count = dec.u32(&mut r)?;
        let start_ns = start as u64;
        spans.push(Span {
            trace_id,
            span_id,
            parent_span_id,
            trace_state,
            flags,
            name,
            kind,
            start_ns,
            end_ns: start_ns.saturating_add(duration),
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
            status_code,
            status_message,
            resource,
            scope,
        });
    }
    if !r.is_empty() || !ids.is_empty() {
        return Err(r.err_at("end of batch"));
    }
    Ok(spans)
}

/// Interns strings, resources and scopes while encoding.
#[derive(Default)]
struct Encoder<'a> {
    strings: Vec<&'a str>,
    strings_len: usize,
    index: HashMap<&'a str, u32>,
    resources: HashMap<*const Resource, u32>,
    scopes: HashMap<*const Scope, u32>,
    /// Resource and scope entries, in first-use order.
    tables: Vec<u8>,
}

impl<'a> Encoder<'a> {
    fn string(&mut self, dst: &mut Vec<u8>, s: &'a str) {
        let next = self.strings.len() as u32;
        let i = *self.index.entry(s).or_insert_with(|| {
            self.strings.push(s);
            self.strings_len += s.len() + 2;
            next
        });
        put_uvarint(dst, u64::from(i));
    }

    /// Index of `res` in the resource table. Resources are interned by pointer (spans of one
    /// export share an `Arc`); equal resources behind different `Arc`s are stored twice,
    /// which only costs a few bytes after compression.
    fn resource(&mut self, res: &'a Arc<Resource>) -> u64 {
        let key = Arc::as_ptr(res);
        if let Some(&i) = self.resources.get(&key) {
            return u64::from(i);
        }
        let i = self.resources.len() as u32;
        self.resources.insert(key, i);
        let mut t = std::mem::take(&mut self.tables);
        t.push(0);
        self.attrs(&mut t, &res.attributes);
        put_uvarint(&mut t, u64::from(res.dropped_attributes_count));
        self.string(&mut t, &res.schema_url);
        self.tables = t;
        u64::from(i)
    }

    fn scope(&mut self, scope: &'a Arc<Scope>) -> u64 {
        let key = Arc::as_ptr(scope);
        if let Some(&i) = self.scopes.get(&key) {
            return u64::from(i);
        }
        let i = self.scopes.len() as u32;
        self.scopes.insert(key, i);
        let mut t = std::mem::take(&mut self.tables);
        t.push(1);
        self.string(&mut t, &scope.name);
        self.string(&mut t, &scope.version);
        self.attrs(&mut t, &scope.attributes);
        put_uvarint(&mut t, u64::from(scope.dropped_attributes_count));
        self.string(&mut t, &scope.schema_url);
        self.tables = t;
        u64::from(i)
    }

    fn attrs(&mut self, dst: &mut Vec<u8>, attrs: &'a [KeyValue]) {
        put_uvarint(dst, attrs.len() as u64);
        for kv in attrs {
            self.string(dst, &kv.key);
            self.value(dst, &kv.value);
        }
    }

    fn value(&mut self, dst: &mut Vec<u8>, v: &'a AttrValue) {
        match v {
            AttrValue::Str(s) => {
                dst.push(0);
                self.string(dst, s);
            }
            AttrValue::Bool(b) => dst.push(if *b { 2 } else { 1 }),
            AttrValue::Int(i) => {
                dst.push(3);
                put_varint(dst, *i);
            }
            AttrValue::Double(d) => {
                dst.push(4);
                dst.extend_from_slice(&d.to_bits().to_le_bytes());
            }
            AttrValue::Bytes(b) => {
                dst.push(5);
                put_uvarint(dst, b.len() as u64);
                dst.extend_from_slice(b);
            }
            AttrValue::Array(a) => {
                dst.push(6);
                put_uvarint(dst, a.len() as u64);
                for x in a {
                    self.value(dst, x);
                }
            }
            AttrValue::KvList(kv) => {
                dst.push(7);
                self.attrs(dst, kv);
            }
            AttrValue::Empty => dst.push(8),
        }
    }
}

/// Resolves string indexes while decoding.
struct Decoder<'a> {
    strings: Vec<&'a str>,
}

impl Decoder<'_> {
    fn string(&self, r: &mut Reader<'_>) -> Result<String, DecodeError> {
        let i = r.len(self.strings.len())?;
        self.strings
            .get(i)
            .map(|s| (*s).to_owned())
            .ok_or(r.err_at("string index"))
    }

    fn u32(&self, r: &mut Reader<'_>) -> Result<u32, DecodeError> {
        u32::try_from(r.uvarint()?).map_err(|_| r.err_at("u32"))
    }

    fn attrs(&self, r: &mut Reader<'_>, depth: u32) -> Result<Vec<KeyValue>, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(r.err_at("attribute nesting"));
        }
        let n = r.len(r.remaining())?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.string(r)?;
            let value = self.value(r, depth)?;
            out.push(KeyValue { key, value });
        }
        Ok(out)
    }

    fn value(&self, r: &mut Reader<'_>, depth: u32) -> Result<AttrValue, DecodeError> {
        Ok(match r.u8()? {
            0 => AttrValue::Str(self.string(r)?),
            1 => AttrValue::Bool(false),
            2 => AttrValue::Bool(true),
            3 => AttrValue::Int(r.varint()?),
            4 => AttrValue::Double(r.f64_le()?),
            5 => AttrValue::Bytes(r.len_bytes()?.to_vec()),
            6 => {
                if depth >= MAX_DEPTH {
                    return Err(r.err_at("attribute nesting"));
                }
                let n = r.len(r.remaining())?;
                let mut a = Vec::with_capacity(n);
                for _ in 0..n {
                    a.push(self.value(r, depth + 1)?);
                }
                AttrValue::Array(a)
            }
            7 => AttrValue::KvList(self.attrs(r, depth + 1)?),
            8 => AttrValue::Empty,
            _ => return Err(r.err_at("attribute value type")),
        })
    }
}
