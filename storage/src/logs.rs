//! The log store: Loki's data model (streams of timestamped lines) on local disk.
//!
//! # Model
//! A *stream* is a label set (low cardinality, like Loki); an *entry* is a nanosecond timestamp,
//! a line, optional structured metadata and an optional trace id extracted by the caller.
//!
//! # Write path
//! [`LogStore::push`] validates entries (ordering window, retention, future limit), numbers the
//! batch with a sequence number, appends it to the WAL (so an acknowledged push survives
//! `kill -9`) and adds the entries to the in-memory head of the *partition* (a fixed time range,
//! one day by default) their timestamps fall in.
//!
//! # Partitions, chunks and the index
//! Each partition lives in `partitions/<start_ns>/`. The background thread flushes the heads
//! once the oldest entry has waited `commit_interval` or they hold `flush_bytes`: each stream's
//! entries are sorted and cut into chunks (see [`chunk`]) written to one new chunk file, and one
//! tantivy document per chunk (stream, time range, location, distinct words) is committed with
//! the highest WAL sequence number flushed as the commit payload. Once every partition has
//! flushed, WAL segments holding only flushed records are dropped. Replay skips entries whose
//! partition already committed their sequence number, so nothing is stored twice. Retention
//! deletes whole partitions.
//!
//! # Read path
//! [`LogStore::select`] resolves the matching streams from the stream registry, then, partition
//! by partition in time order, asks the index for candidate chunks (streams, time range, and the
//! words of every required substring, see [`search`]), checks their bloom filters for required
//! hex ids and trace ids, and merges the matching lines of the chunks and of the head in time
//! order. Every candidate line is verified against the required substrings, so results equal a
//! brute-force scan.
//!
//! Layout: `wal/` (push records), `streams/` (stream registry, itself a WAL),
//! `partitions/<start_ns>/` (`chunks/` and the tantivy index).

mod bloom;
mod chunk;
mod damage;
mod deletes;
mod head;
mod partition;
mod record;
mod recovery;
mod schema;
mod search;
mod select;
mod split;
mod store;
mod streams;
#[cfg(test)]
mod tests;
mod tokens;

use crate::labels::Labels;
use crate::matcher::Matcher;

pub use deletes::DeleteRequest;
pub use store::{LogStats, LogStore, LogStoreOptions, StreamStats, now_ns};

/// One log line as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Timestamp in nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The line, as pushed.
    pub line: String,
    /// Structured metadata (name, value) pairs, in push order.
    pub metadata: Vec<(String, String)>,
    /// Trace id the line belongs to (lowercase hex), indexed for "logs of this trace".
    pub trace_id: Option<String>,
}

/// Entries of one stream in a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogStream {
    /// The stream's label set.
    pub labels: Labels,
    /// Its entries, in any order.
    pub entries: Vec<LogEntry>,
}

/// Why an entry of a push was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// Older than the stream's newest entry by more than the out-of-order window.
    TooFarBehind {
        /// Oldest timestamp the stream accepts now.
        min_ns: i64,
    },
    /// Older than retention.
    TooOld {
        /// Oldest timestamp retention keeps.
        min_ns: i64,
    },
    /// Further in the future than the configured grace period.
    TooNew {
        /// Newest timestamp accepted now.
        max_ns: i64,
    },
}

/// One refused entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The stream in selector notation.
    pub stream: String,
    /// The entry's timestamp.
    pub ts_ns: i64,
    /// Why.
    pub reason: RejectReason,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            RejectReason::TooFarBehind { min_ns } => write!(
                f,
                "entry for stream '{}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                self.stream, self.ts_ns, min_ns
            ),
            RejectReason::TooOld { min_ns } => write!(
                f,
                "entry for stream '{}' has timestamp too old: {}, older than retention allows ({})",
                self.stream, self.ts_ns, min_ns
            ),
            RejectReason::TooNew { max_ns } => write!(
                f,
                "entry for stream '{}' has timestamp too new: {}, newest acceptable timestamp is: {}",
                self.stream, self.ts_ns, max_ns
            ),
        }
    }
}

/// What a push stored and refused. Accepted entries are durable even when some were refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Entries written.
    pub accepted: usize,
    /// Raw line bytes written.
    pub accepted_bytes: usize,
    /// Entries refused, with the reason.
    pub rejected: Vec<Rejection>,
}

/// Order in which [`LogStore::select`] hands out entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first.
    Backward,
}

/// What [`LogStore::select`] reads.
#[derive(Clone, Debug)]
pub struct Select {
    /// Stream selector (all must match).
    pub matchers: Vec<Matcher>,
    /// Inclusive start, ns.
    pub start_ns: i64,
    /// Exclusive end, ns.
    pub end_ns: i64,
    /// Order of the visit.
    pub direction: Direction,
    /// Substrings every returned line contains (case-sensitive, exact).
    pub contains: Vec<String>,
    /// Only entries with this trace id (lowercase hex).
    pub trace_id: Option<String>,
}

/// One entry handed to a [`LogStore::select`] visitor.
#[derive(Clone, Copy, Debug)]
pub struct EntryView<'a> {
    /// The stream's labels.
    pub labels: &'a Labels,
    /// Timestamp, ns.
    pub ts_ns: i64,
    /// The line.
    pub line: &'a str,
    /// Structured metadata.
    pub metadata: &'a [(String, String)],
}
