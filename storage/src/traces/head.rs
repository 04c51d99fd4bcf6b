//! The in-memory head: spans acknowledged since the last flush, indexed by trace id.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::model::{AttrValue, KeyValue, Span, TraceId};

/// Spans not yet in a segment.
#[derive(Debug, Default)]
pub struct Head {
    /// The spans, in arrival order.
    pub spans: Vec<Arc<Span>>,
    /// Positions in `spans` per trace.
    pub by_trace: HashMap<TraceId, Vec<u32>>,
    /// Estimated memory held.
    pub bytes: usize,
    /// Highest WAL sequence number added.
    pub max_seq: u64,
    /// When the first span arrived.
    pub since: Option<Instant>,
}

impl Head {
    /// Adds the spans of WAL record `seq`.
    pub fn add(&mut self, spans: impl IntoIterator<Item = Span>, seq: u64) {
        self.since.get_or_insert_with(Instant::now);
        for s in spans {
            let i = self.spans.len() as u32;
            self.bytes += estimate(&s);
            self.by_trace.entry(s.trace_id).or_default().push(i);
            self.spans.push(Arc::new(s));
        }
        self.max_seq = self.max_seq.max(seq);
    }

    /// The spans of `trace`.
    pub fn trace(&self, trace: &TraceId) -> impl Iterator<Item = &Arc<Span>> {
        self.by_trace
            .get(trace)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.spans.get(i as usize))
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Rough heap size of a span (resource and scope are shared and not counted).
pub fn estimate(s: &Span) -> usize {
    fn attrs(a: &[KeyValue]) -> usize {
        a.iter().map(|kv| 48 + kv.key.len() + value(&kv.value)).sum()
    }
    fn value(v: &AttrValue) -> usize {
        match v {
            AttrValue::Str(s) => s.len(),
            AttrValue::Bytes(b) => b.len(),
            AttrValue::Array(a) => a.iter().map(|x| 32 + value(x)).sum(),
            AttrValue::KvList(kv) => attrs(kv),
            _ => 0,
        }
    }
    280 + s.name.len()
        + s.status_message.len()
        + s.trace_state.len()
        + attrs(&s.attributes)
        + s.events
            .iter()
            .map(|e| 64 + e.name.len() + attrs(&e.attributes))
            .sum::<usize>()
        + s.links
            .iter()
            .map(|l| 96 + l.trace_state.len() + attrs(&l.attributes))
            .sum::<usize>()
}
