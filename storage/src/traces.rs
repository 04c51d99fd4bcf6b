//! The span store: OTLP spans on local disk.
//!
//! # Model
//! [`model`] is OTLP's span model without wire types: ids, parent, name, kind, start/end,
//! status, attributes, events, links, and the resource and scope shared through `Arc`s.
//!
//! # Write path
//! [`SpanStore::append`] validates spans (ids, retention, future limit), numbers the batch
//! with a sequence number, appends it to the WAL (so an acknowledged export survives
//! `kill -9`) and adds it to the in-memory *head*, indexed by trace id.
//!
//! # Segments and partitions
//! When the head reaches its size or age budget it is frozen and written out: its spans are
//! grouped by *partition* (the fixed time range, one day by default, their start falls in),
//! sorted by trace id and written as one *segment* per partition — zstd-compressed blocks
//! of a few thousand spans (see [`codec`] for the columnar-ish block layout), a sorted
//! trace-id index, and a footer with per-block time ranges, longest span and services, and
//! the segment's catalog (services, operations, attribute keys). Once the segments are
//! renamed into place the WAL segments before the freeze are dropped. Each segment records
//! the highest WAL sequence number it holds, so replay skips what was flushed and nothing is
//! stored twice. Partitions with many segments are compacted by a streaming k-way merge
//! into one, keeping each trace's spans together. Retention deletes whole partitions.
//!
//! Spans that arrive late simply land in a later segment: a trace lookup consults the head
//! and the trace-id index of every segment in range, so they join their trace.
//!
//! # Read path
//! [`SpanStore::trace`] binary-searches each segment's mmapped trace index and decodes only
//! the blocks holding the trace. [`SpanStore::scan`] visits spans in a time range, skipping
//! blocks by time, duration and service ([`ScanHint`]); trace search (Jaeger filters and
//! TraceQL) is built on it in nerve-query.
//!
//! Layout: `wal/`, `partitions/<start_ns>/<id>.seg`.

pub mod codec;
mod damage;
mod deletes;
mod head;
mod maintain;
pub mod model;
mod recovery;
pub mod segment;
mod store;
#[cfg(test)]
mod tests;

pub use deletes::SpanDeletion;
pub use model::{
    AttrValue, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, StatusCode, TraceId, find_attr, hex,
    parse_trace_id,
};
pub use store::{AppendOutcome, AttrScope, AttributeKeys, ScanHint, SpanStats, SpanStore, SpanStoreOptions};
