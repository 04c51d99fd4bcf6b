//! The in-memory head of a partition: entries logged to the WAL but not yet committed to the
//! partition's index.

use super::LogEntry;
use std::sync::Arc;

/// An entry with its stream id.
#[derive(Debug)]
pub(super) struct HeadEntry {
    pub stream: u64,
    pub entry: LogEntry,
}

/// The entries of one push (one WAL record) that fall in one partition.
#[derive(Debug)]
pub(super) struct HeadBatch {
    /// WAL sequence number of the push.
    pub seq: u64,
    pub entries: Vec<HeadEntry>,
    /// Approximate heap bytes the entries hold (lines, metadata, trace ids).
    pub bytes: usize,
}

impl HeadBatch {
    /// A batch of `entries` logged under WAL sequence `seq`.
    pub fn new(seq: u64, entries: Vec<HeadEntry>) -> Self {
        let bytes = entries
            .iter()
            .map(|e| {
                let md: usize = e.entry.metadata.iter().map(|(n, v)| n.len() + v.len() + 48).sum();
                std::mem::size_of::<HeadEntry>()
                    + e.entry.line.len()
                    + md
                    + e.entry.trace_id.as_ref().map_or(0, String::len)
            })
            .sum();
        HeadBatch { seq, entries, bytes }
    }
}

/// A partition's uncommitted batches, oldest first. Cloning is cheap (a vector of `Arc`s), so a
/// query takes a snapshot and never blocks pushes.
#[derive(Clone, Debug, Default)]
pub(super) struct Head {
    pub batches: Vec<Arc<HeadBatch>>,
}

impl Head {
    /// Entries in the head.
    pub fn len(&self) -> usize {
        self.batches.iter().map(|b| b.entries.len()).sum()
    }

    /// Approximate heap bytes of the head's entries.
    pub fn bytes(&self) -> usize {
        self.batches.iter().map(|b| b.bytes).sum()
    }

    /// Iterates every entry.
    pub fn entries(&self) -> impl Iterator<Item = &HeadEntry> {
        self.batches.iter().flat_map(|b| b.entries.iter())
    }
}
