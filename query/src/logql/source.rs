//! The storage the LogQL evaluator reads: one trait, [`LogSource`], and an in-memory
//! implementation, [`MemSource`], used by tests and as the reference the store's property
//! tests compare against.

use std::ops::ControlFlow;

use nerve_storage::labels::Labels;
use nerve_storage::matcher::Matcher;

/// Order in which entries are visited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first.
    Backward,
}

/// One selection of log entries.
#[derive(Clone, Debug)]
pub struct SelectRequest {
    /// Stream matchers (Prometheus semantics: a missing label matches as `""`).
    pub matchers: Vec<Matcher>,
    /// First nanosecond wanted (inclusive).
    pub start_ns: i64,
    /// End of the range (exclusive).
    pub end_ns: i64,
    /// Visiting order.
    pub direction: Direction,
    /// Substrings every returned raw line must contain (pushed down from `|=` filters that
    /// provably apply to the raw line: before any line_format, not inside `or`). The store may
    /// use its full-text index but must verify, so results equal a brute-force scan.
    pub contains: Vec<String>,
    /// The trace id (32 lowercase hex digits) every returned entry's `trace_id` label (stream
    /// label or structured metadata) must equal, pushed down from a `| trace_id="…"` filter met
    /// before any stage that could set that label. The store may answer from its trace-id
    /// index; the filter still runs on what it returns.
    pub trace_id: Option<String>,
}

/// One entry handed to the visitor; borrowed from the store for the duration of the call.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    /// The stream's (indexed) labels.
    pub stream: &'a Labels,
    /// Timestamp in nanoseconds.
    pub ts_ns: i64,
    /// The raw line.
    pub line: &'a str,
    /// Structured metadata attached to the entry.
    pub metadata: &'a [(String, String)],
}

/// Read access to log streams.
pub trait LogSource {
    /// Calls `visit` for each matching entry ordered by timestamp in `direction` across all
    /// streams; stops when `visit` returns Break.
    fn select(&self, req: &SelectRequest, visit: &mut dyn FnMut(EntryRef<'_>) -> ControlFlow<()>) -> crate::Result<()>;
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
    fn select(&self, req: &SelectRequest, visit: &mut dyn FnMut(EntryRef<'_>) -> ControlFlow<()>) -> crate::Result<()> {
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
            let r = visit(EntryRef {
                stream: labels,
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
