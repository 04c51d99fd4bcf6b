//! Damage met while reading a log partition: a chunk failing its checksum or decode, or the
//! tantivy index erroring or panicking.
//!
//! A damaged chunk is skipped, and its chunk file is copied to quarantine (once: the file stays,
//! as it also holds intact chunks, and reads keep skipping the bad one). A damaged index stops
//! being searched (the partition's head is still scanned) and a marker `<start>.damaged` beside
//! the partition makes the next start move the partition to quarantine (its entries still in
//! the WAL come back through replay). Every query over an affected partition gets a warning
//! instead of an error.
//!
//! tantivy checks its files' checksums only when asked, so damage to an index file can go
//! unnoticed by reads: the store's maintenance asks once per partition and process
//! ([`Partition::verify_index_once`](super::partition::Partition::verify_index_once)).

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
    /// Chunk files already copied to quarantine (or found there) by this process.
    chunk_files: parking_lot::Mutex<std::collections::HashSet<u64>>,
    /// Whether the index checksums were verified by this process.
    pub(super) verified: std::sync::atomic::AtomicBool,
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

    /// Copies chunk file `seq`, in which a read found damage `e`, to quarantine, once per file.
    pub(super) fn quarantine_chunk_file(&self, seq: u64, e: &Error) {
        if !self.damage.chunk_files.lock().insert(seq) {
            return;
        }
        let file = super::partition::chunk_path(self.dir(), seq);
        let store = self.dir().parent().and_then(Path::parent).unwrap_or(self.dir());
        let name = format!("partition-{}-chunk-{seq}", self.start_ns);
        if let Err(err) =
            crate::quarantine::copy_once(store, crate::quarantine::Signal::Logs, &file, &name, &e.to_string())
        {
            tracing::error!(file = %file.display(), error = %err, "cannot copy the damaged log chunk file to quarantine");
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

#[cfg(test)]
mod tests {
    use super::super::{Direction, LogEntry, LogStore, LogStoreOptions, LogStream, Select, now_ns};
    use crate::labels::Labels;
    use crate::matcher::{MatchOp, Matcher};
    use crate::quarantine::DIR;
    use std::ops::ControlFlow;
    use std::time::Duration;

    fn opts() -> LogStoreOptions {
        LogStoreOptions {
            background: false,
            sync: crate::wal::SyncPolicy::Never,
            writer_memory: 15 << 20,
            commit_interval: Duration::ZERO,
            ..LogStoreOptions::default()
        }
    }

    fn lines(s: &LogStore, app: &str) -> Vec<String> {
        let req = Select {
            matchers: vec![Matcher::new(MatchOp::Equal, "app", app).unwrap()],
            start_ns: 0,
            end_ns: i64::MAX,
            direction: Direction::Forward,
            contains: vec![],
            trace_id: None,
        };
        let mut out = Vec::new();
        s.select(&req, &mut |e| {
            out.push(e.line.to_owned());
            ControlFlow::Continue(())
        })
        .expect("damage is skipped, not an error");
        out
    }

    #[test]
    fn damaged_chunks_and_index_are_skipped_with_warnings_and_quarantined_next_start() {
        let tmp = tempfile::tempdir().unwrap();
        let t0 = now_ns() - 60_000_000_000;
        let s = LogStore::open(tmp.path(), opts()).unwrap();
        let stream = |app: &str| LogStream {
            labels: Labels::from_pairs([("app", app)]).unwrap(),
            entries: (0..50)
                .map(|i| LogEntry {
                    ts_ns: t0 + i,
                    line: format!("{app} line {i}"),
                    metadata: vec![],
                    trace_id: None,
                })
                .collect(),
        };
        s.push(vec![stream("a"), stream("b")], t0).unwrap();
        s.maintain(now_ns()).unwrap();
        assert_eq!(lines(&s, "a").len(), 50);
        let part = s.overlapping(t0, t0 + 1)[0].clone();
        let chunk = std::fs::read_dir(part.dir().join("chunks"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        drop(part);
        s.close().unwrap();
        let mut bytes = std::fs::read(&chunk).unwrap();
        let end = bytes.len();
        bytes[end - 40..end - 8].iter_mut().for_each(|b| *b ^= 0x5A);
        std::fs::write(&chunk, &bytes).unwrap();

        let s = LogStore::open(tmp.path(), opts()).unwrap();
        let (a, b) = (lines(&s, "a"), lines(&s, "b"));
        assert_eq!(a.len() + b.len(), 50, "one stream's chunk is damaged, the other reads");
        let w = s.damage_warnings(t0, t0 + 1);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("log chunk"), "{w:?}");
        // The damaged chunk's file is copied to quarantine once, however often it is read.
        let copies = || -> Vec<String> {
            std::fs::read_dir(tmp.path().join(DIR))
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let before = crate::quarantine::quarantined_total(crate::quarantine::Signal::Logs);
        lines(&s, "a");
        lines(&s, "b");
        let q = copies();
        assert_eq!(q.len(), 1, "{q:?}");
        assert!(q[0].starts_with("partition-") && q[0].contains("-chunk-"), "{q:?}");
        assert_eq!(
            crate::quarantine::quarantined_total(crate::quarantine::Signal::Logs),
            before
        );
        // The index failing (here: a panic inside a read) stops searching it.
        let part = s.overlapping(t0, t0 + 1)[0].clone();
        let r: crate::Result<Option<()>> = super::guarded(&part, true, || panic!("tantivy exploded"));
        assert!(matches!(r, Ok(None)));
        assert!(part.index_damaged());
        assert!(lines(&s, "a").is_empty() && lines(&s, "b").is_empty());
        assert!(super::marker(part.dir()).exists());
        assert!(s.damage_warnings(t0, t0 + 1).iter().any(|w| w.contains("panicked")));
        drop(part);
        s.close().unwrap();

        // Next start: the marked partition goes to quarantine; queries over its range warn.
        let s = LogStore::open(tmp.path(), opts()).unwrap();
        let q: Vec<_> = std::fs::read_dir(tmp.path().join(DIR)).unwrap().flatten().collect();
        assert_eq!(q.len(), 2, "the chunk file copy and the partition");
        assert!(q.iter().any(|e| e.path().join("DAMAGED").exists()));
        assert!(s.damage_warnings(t0, t0 + 1).iter().any(|w| w.contains("quarantined")));
        s.close().unwrap();
    }

    #[test]
    fn damaged_index_file_is_found_by_maintenance() {
        let tmp = tempfile::tempdir().unwrap();
        let t0 = now_ns() - 60_000_000_000;
        let s = LogStore::open(tmp.path(), opts()).unwrap();
        let entries = (0..200)
            .map(|i| LogEntry {
                ts_ns: t0 + i,
                line: format!("word{i} other{} line", i % 7),
                metadata: vec![],
                trace_id: None,
            })
            .collect();
        let labels = Labels::from_pairs([("app", "a")]).unwrap();
        s.push(vec![LogStream { labels, entries }], t0).unwrap();
        s.maintain(now_ns()).unwrap();
        let dir = s.overlapping(t0, t0 + 1)[0].dir().to_owned();
        s.close().unwrap();
        // Damage the middle of the largest term dictionary: reads may not notice.
        let term = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "term"))
            .max_by_key(|p| std::fs::metadata(p).unwrap().len())
            .expect("a term file");
        let mut bytes = std::fs::read(&term).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&term, &bytes).unwrap();

        let s = LogStore::open(tmp.path(), opts()).unwrap();
        let part = s.overlapping(t0, t0 + 1)[0].clone();
        assert!(!part.index_damaged());
        s.maintain(now_ns()).unwrap();
        assert!(part.index_damaged(), "maintenance verifies the index checksums");
        assert!(super::marker(part.dir()).exists());
        let w = s.damage_warnings(t0, t0 + 1);
        assert!(w.iter().any(|w| w.contains("checksum") && w.contains(".term")), "{w:?}");
        assert!(!part.verify_index_once(), "checked once per process");
        drop(part);
        s.close().unwrap();
        let s = LogStore::open(tmp.path(), opts()).unwrap();
        assert!(s.damage_warnings(t0, t0 + 1).iter().any(|w| w.contains("quarantined")));
        s.close().unwrap();
    }
}
