//! Span segment blocks found damaged while reading: the block is skipped, the segment
//! quarantined, and queries over its partition get a warning instead of an error.

use super::model::Span;
use super::segment::Segment;
use super::store::SpanStore;
use crate::error::{Error, Result};
use crate::quarantine::{self, Signal};
use std::sync::Arc;

/// A segment taken out of service after a read found it damaged.
#[derive(Clone, Debug)]
pub(super) struct Quarantined {
    partition: u64,
    warning: String,
}

impl Quarantined {
    /// A segment of partition `start` quarantined when the store opened.
    pub(super) fn at_open(start: u64, file: &std::path::Path, reason: &str) -> Quarantined {
        Quarantined {
            partition: start,
            warning: format!(
                "span segment {} of partition {start} was damaged and quarantined at startup ({reason}); results in that range may be incomplete",
                file.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
    }
}

impl Segment {
    /// [`Segment::read_block`], with a damaged block marking the segment (see
    /// [`Segment::damage`]) and read as empty. I/O errors other than corruption propagate.
    pub(super) fn read_block_or_skip(&self, i: usize) -> Result<Vec<Span>> {
        match self.read_block(i) {
            Ok(v) => Ok(v),
            Err(e @ Error::Corruption { .. }) => {
                if self.damage.set(e.to_string()).is_ok() {
                    tracing::error!(segment = %self.path().display(), error = %e, "span segment is damaged; it will be quarantined");
                }
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Why a read found the segment damaged, if one did.
    pub(super) fn damage(&self) -> Option<&str> {
        self.damage.get().map(String::as_str)
    }
}

impl SpanStore {
    /// Warnings for queries over spans starting in `[start_ns, end_ns]`: one per segment of an
    /// overlapping partition quarantined since startup. Quarantines damaged segments first.
    pub fn damage_warnings(&self, start_ns: u64, end_ns: u64) -> Vec<String> {
        self.quarantine_damaged();
        let width = self.opts.partition.as_nanos() as u64;
        self.damaged
            .lock()
            .iter()
            .filter(|q| q.partition <= end_ns && q.partition.saturating_add(width) > start_ns)
            .map(|q| q.warning.clone())
            .collect()
    }

    /// Takes segments marked damaged out of their partitions and moves them to quarantine.
    pub(super) fn quarantine_damaged(&self) {
        let mut taken: Vec<(u64, Arc<Segment>)> = Vec::new();
        {
            let mut st = self.state.write();
            for (&start, p) in st.partitions.iter_mut() {
                let (bad, good): (Vec<_>, Vec<_>) = p.segments.drain(..).partition(|s| s.damage().is_some());
                p.segments = good;
                taken.extend(bad.into_iter().map(|s| (start, s)));
            }
        }
        for (start, seg) in taken {
            let reason = seg.damage().unwrap_or_default().to_string();
            if let Err(e) = quarantine::move_in(&self.dir, Signal::Traces, seg.path(), &reason) {
                tracing::error!(segment = %seg.path().display(), error = %e, "cannot move the damaged span segment to quarantine; it is no longer read");
            }
            self.damaged.lock().push(Quarantined {
                partition: start,
                warning: format!(
                    "span segment {} of partition {start} is damaged and was quarantined ({reason}); results in that range may be incomplete",
                    seg.path().file_name().unwrap_or_default().to_string_lossy()
                ),
            });
        }
    }
}
