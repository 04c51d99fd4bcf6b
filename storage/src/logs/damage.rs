//! Damage met while reading a log partition: a chunk failing its checksum or decode, or the
//! tantivy index erroring or panicking.
//!
//! A damaged chunk is skipped; a damaged index stops being searched (the partition's head is
//! still scanned) and a marker `<start>.damaged` beside the partition makes the next start move
//! the partition to quarantine (its entries still in the WAL come back through replay). Every
//! query over an affected partition gets a warning instead of an error.

use super::partition::Partition;
use super::store::LogStore;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Most distinct damage notes kept per partition.
const MAX_NOTES: usize = 16;

/// Suffix of the marker file beside a partition whose index was found damaged.
pub(super) const MARKER_SUFFIX: &str = ".damaged";

/// Damage state of one partition.
#[derive(Debug, Default)]
pub(super) struct Damage {
    /// Set once the index failed: it is not searched again.
    index: std::sync::OnceLock<String>,
    /// Distinct notes for query warnings.
    notes: parking_lot::Mutex<Vec<String>>,
}

/// Path of the damage marker of the partition in `dir`.
pub(super) fn marker(dir: &Path) -> PathBuf {
    let mut s = dir.as_os_str().to_owned();
    s.push(MARKER_SUFFIX);
    PathBuf::from(s)
}

impl Partition {
    /// Whether the index was found damaged (queries then use only the head).
    pub(super) fn index_damaged(&self) -> bool {
        self.damage.index.get().is_some()
    }

    /// Records damage met by a read: logs it (once per distinct note) and keeps it for query
    /// warnings. `index` marks the whole index unusable and leaves the marker for the next start.
    pub(super) fn note_damage(&self, e: &Error, index: bool) {
        let what = if index { "log index" } else { "log chunk" };
        let note = format!(
            "{what} of partition {} is damaged ({e}); results in that range may be incomplete",
            self.start_ns
        );
        if index && self.damage.index.set(e.to_string()).is_ok() {
            let m = marker(self.dir());
            if let Err(err) = std::fs::write(&m, e.to_string()) {
                tracing::error!(file = %m.display(), error = %err, "cannot write the damage marker");
            }
        }
        let mut notes = self.damage.notes.lock();
        if notes.len() < MAX_NOTES && !notes.contains(&note) {
            tracing::error!(partition = %self.dir().display(), error = %e, index, "damaged log data skipped");
            notes.push(note);
        }
    }

    /// Notes that the partition that was here was quarantined when the store opened.
    pub(super) fn note_quarantined(&self, reason: &str) {
        self.damage.notes.lock().push(format!(
            "log partition {} was damaged and quarantined at startup ({reason}); its entries no longer in the WAL are unavailable",
            self.start_ns
        ));
    }

    /// The damage notes so far.
    pub(super) fn damage_notes(&self) -> Vec<String> {
        self.damage.notes.lock().clone()
    }
}

/// Runs a read of partition data, turning corruption, tantivy errors and panics into `None`
/// plus a damage note (`index` says which part failed). Other errors propagate.
pub(super) fn guarded<T>(p: &Partition, index: bool, read: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(e)) if e.is_disk_full() || matches!(e, Error::Closed | Error::Overloaded(_)) => Err(e),
        Ok(Err(e)) => {
            p.note_damage(&e, index);
            Ok(None)
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            p.note_damage(&Error::corruption(p.dir(), 0, format!("reader panicked: {msg}")), index);
            Ok(None)
        }
    }
}

impl LogStore {
    /// Warnings for queries over `[start_ns, end_ns)`: the damage met so far in partitions
    /// overlapping the range.
    pub fn damage_warnings(&self, start_ns: i64, end_ns: i64) -> Vec<String> {
        self.overlapping(start_ns, end_ns)
            .iter()
            .flat_map(|p| p.damage_notes())
            .collect()
    }
}
