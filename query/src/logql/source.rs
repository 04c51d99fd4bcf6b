//! The storage the LogQL evaluator reads: one trait, [`LogSource`], over the log store's own
//! request and entry types ([`Select`], [`EntryView`], [`Direction`]), implemented for the
//! [`LogStore`] and for an in-memory [`MemSource`] used by tests and as the reference the
//! property tests compare against.

use std::ops::ControlFlow;

use nerve_storage::labels::Labels;
use nerve_storage::logs::LogStore;
pub use nerve_storage::logs::{Direction, EntryView, Select};
use nerve_storage::matcher::Matcher;

/// Read access to log streams.
///
/// A [`Select`] as the evaluator fills it: `contains` holds substrings every raw line must
/// contain, pushed down from `|=` filters that provably apply to the raw line (before any
/// `line_format`, not inside `or`; see [`pushdown_contains`](super::pushdown_contains));
/// `trace_id` is the id every entry's `trace_id` label (stream label or structured metadata)
/// must equal, pushed down from a `| trace_id="…"` filter met before any stage could set that
/// label (see [`pushdown_trace_id`](super::pushdown_trace_id)). A source may use both to skip
/// entries, but must return every entry that satisfies them: the pipeline still runs its
/// filters on whatever the source hands out, so results equal a brute-force scan.
pub trait LogSource {
    /// Calls `visit` for each matching entry ordered by timestamp in `direction` across all
    /// streams; stops when `visit` returns Break.
    fn select(&self, req: &Select, visit: &mut dyn FnMut(EntryView<'_>) -> ControlFlow<()>) -> crate::Result<()>;
}

impl LogSource for LogStore {
    fn select(&self, req: &Select, visit: &mut dyn FnMut(EntryView<'_>) -> ControlFlow<()>) -> crate::Result<()> {
        // The store's trace-id index knows the id each entry carries in its structured metadata
        // (or line); a stream *label* named trace_id is not in it, so when a matching stream
        // has one the id is not pushed down and those streams are scanned.
        let label_streams = req.trace_id.is_some()
            && self
                .series(&req.matchers, req.start_ns, req.end_ns)
                .iter()
                .any(|l| l.get("trace_id").is_some());
        if label_streams {
            let req = Select {
                trace_id: None,
                ..req.clone()
            };
            return LogStore::select(self, &req, visit).map_err(crate::Error::Storage);
        }
        LogStore::select(self, req, visit).map_err(crate::Error::Storage)
    }
}

/// One entry of a [`MemSource`] stream.
#[derive(Clone, Debug, PartialEq)]
pub struct MemEntry {
    /// Timestamp in nanoseconds.
    pub ts_ns: i64,
    /// The line.
    pub line: String,
    /// Structured metadata.
    pub metadata: Vec<(String, String)>,
}

/// An in-memory [`LogSource`]: a list of streams, scanned brute force.
///
/// Ordering: entries are ordered by (timestamp, stream insertion order, entry insertion order)
/// for [`Direction::Forward`]; [`Direction::Backward`] is exactly the reverse.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    streams: Vec<(Labels, Vec<MemEntry>)>,
}

impl MemSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds entries to the stream with `labels` (created on first use). Entries may come in
    /// any order; they are kept sorted by timestamp (stable).
    pub fn push(&mut self, labels: Labels, entries: impl IntoIterator<Item = MemEntry>) {
        let idx = match self.streams.iter().position(|(l, _)| *l == labels) {
            Some(i) => i,
            None => {
                self.streams.push((labels, Vec::new()));
                self.streams.len() - 1
            }
        };
        let es = &mut self.streams[idx].1;
        es.extend(entries);
        es.sort_by_key(|e| e.ts_ns);
    }

    /// Shorthand: adds `(ts_ns, line)` entries without metadata.
    pub fn push_lines<'a>(&mut self, labels: Labels, lines: impl IntoIterator<Item = (i64, &'a str)>) {
        self.push(
            labels,
            lines.into_iter().map(|(ts_ns, l)| MemEntry {
                ts_ns,
                line: l.to_string(),
                metadata: Vec::new(),
            }),
        );
    }

    /// The streams, in insertion order.
    pub fn streams(&self) -> &[(Labels, Vec<MemEntry>)] {
        &self.streams
    }
}

fn stream_matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl LogSource for MemSource {
    fn select(&self, req: &Select, visit: &mut dyn FnMut(EntryView<'_>) -> ControlFlow<()>) -> crate::Result<()> {
        let mut hits: Vec<(i64, usize, usize)> = Vec::new();
        for (si, (labels, entries)) in self.streams.iter().enumerate() {
            if !stream_matches(labels, &req.matchers) {
                continue;
            }
            let from = entries.partition_point(|e| e.ts_ns < req.start_ns);
            for (ei, e) in entries[from..].iter().enumerate() {
                if e.ts_ns >= req.end_ns {
                    break;
                }
                if req.contains.iter().all(|c| e.line.contains(c.as_str())) {
                    hits.push((e.ts_ns, si, from + ei));
                }
            }
        }
        hits.sort_unstable();
        if req.direction == Direction::Backward {
            hits.reverse();
        }
        for (_, si, ei) in hits {
            let (labels, entries) = &self.streams[si];
            let e = &entries[ei];
            let r = visit(EntryView {
                labels,
                ts_ns: e.ts_ns,
                line: &e.line,
                metadata: &e.metadata,
            });
            if r.is_break() {
                break;
            }
        }
        Ok(())
    }
}
