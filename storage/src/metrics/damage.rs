//! Blocks found damaged while reading: quarantined, and reported as warnings to the queries
//! whose range they covered.

use crate::metrics::block::Block;
use crate::metrics::db::Tsdb;
use crate::quarantine::{self, Signal};
use std::sync::Arc;

/// A block taken out of service after a read found it damaged.
#[derive(Clone, Debug)]
pub(crate) struct Quarantined {
    ulid: String,
    min_time: i64,
    max_time: i64,
    reason: String,
}

impl Quarantined {
    /// A block quarantined when the TSDB opened, if its `meta.json` still told its range.
    pub(crate) fn at_open(dir: &std::path::Path, reason: &str) -> Option<Quarantined> {
        let raw = std::fs::read(dir.join("meta.json")).ok()?;
        let meta: crate::metrics::block::BlockMeta = serde_json::from_slice(&raw).ok()?;
        Some(Quarantined {
            ulid: meta.ulid,
            min_time: meta.min_time,
            max_time: meta.max_time,
            reason: reason.to_string(),
        })
    }

    fn warning(&self) -> String {
        format!(
            "metrics block {} covering {}..{} ms is damaged and was quarantined ({}); results in that range may be incomplete",
            self.ulid, self.min_time, self.max_time, self.reason
        )
    }
}

impl Tsdb {
    /// Warnings for queries over `[mint_ms, maxt_ms]`: one per damaged block (quarantined
    /// since startup or marked by a read just now) overlapping the range. Moves damaged blocks
    /// to quarantine first.
    pub fn damage_warnings(&self, mint_ms: i64, maxt_ms: i64) -> Vec<String> {
        self.quarantine_damaged();
        self.damaged
            .lock()
            .iter()
            .filter(|q| q.min_time <= maxt_ms && q.max_time > mint_ms)
            .map(Quarantined::warning)
            .collect()
    }

    /// Takes blocks marked damaged out of the block list and moves them to quarantine. Queries
    /// still holding one keep their mapping (the rename does not invalidate it).
    pub(crate) fn quarantine_damaged(&self) {
        if !self.blocks.read().iter().any(|b| b.damage().is_some()) {
            return;
        }
        let taken: Vec<Arc<Block>> = {
            let mut bl = self.blocks.write();
            let (bad, good): (Vec<_>, Vec<_>) = bl.drain(..).partition(|b| b.damage().is_some());
            *bl = good;
            bad
        };
        let store = self.blocks_dir.parent().unwrap_or(&self.blocks_dir);
        for b in taken {
            let reason = b.damage().unwrap_or_default().to_string();
            if let Err(e) = quarantine::move_in(store, Signal::Metrics, &b.dir, &reason) {
                tracing::error!(block = %b.meta.ulid, error = %e, "cannot move the damaged block to quarantine; it is no longer read");
            }
            self.damaged.lock().push(Quarantined {
                ulid: b.meta.ulid.clone(),
                min_time: b.meta.min_time,
                max_time: b.meta.max_time,
                reason,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::labels::Labels;
    use crate::matcher::Matcher;
    use crate::metrics::{Tsdb, TsdbOptions};
    use crate::quarantine::DIR;

    #[test]
    fn a_damaged_chunk_is_skipped_its_block_quarantined_and_queries_warn() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        let mut app = db.appender();
        for i in 0..4 {
            let l = Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]).unwrap();
            for k in 0..100 {
                app.append(&l, k * 1000, f64::from(i)).unwrap();
            }
        }
        let late = Labels::from_pairs([("__name__", "late")]).unwrap();
        app.append(&late, 3 * 3_600_000, 1.0).unwrap();
        app.commit().unwrap();
        db.flush_head().unwrap();
        let block = db.blocks.read()[0].clone();
        // Overwrite the middle of the chunks file: one series' chunk fails its checksum.
        let chunks = block.dir.join("chunks");
        let mut bytes = std::fs::read(&chunks).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid..mid + 8].iter_mut().for_each(|b| *b ^= 0xFF);
        std::fs::write(&chunks, &bytes).unwrap();
        drop(block);
        db.close().unwrap();

        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        assert!(db.damage_warnings(0, 100_000).is_empty(), "nothing read yet");
        let q = db.querier(0, 100_000).unwrap();
        let mut intact = 0;
        for s in q.select(&[Matcher::equal("__name__", "m")]).unwrap() {
            let samples = s.samples().expect("damage reads as missing, not as an error");
            assert!(samples.is_empty() || samples.len() == 100);
            intact += usize::from(samples.len() == 100);
        }
        assert_eq!(intact, 3, "only the damaged chunk's series is missing");
        let w = db.damage_warnings(0, 100_000);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("quarantined"), "{w:?}");
        assert!(
            db.damage_warnings(10 * 3_600_000, 11 * 3_600_000).is_empty(),
            "outside its range"
        );
        let left: Vec<i64> = db.blocks.read().iter().map(|b| b.meta.min_time).collect();
        assert!(
            left.iter().all(|&t| t >= 2 * 3_600_000),
            "the damaged block left the list: {left:?}"
        );
        let q: Vec<_> = std::fs::read_dir(dir.path().join(DIR)).unwrap().flatten().collect();
        assert_eq!(q.len(), 1);
        // The other block is untouched.
        let q = db.querier(0, i64::MAX).unwrap();
        assert_eq!(q.select(&[Matcher::equal("__name__", "late")]).unwrap().len(), 1);
        db.close().unwrap();
    }

    #[test]
    fn corrupt_deletion_lists_are_quarantined_and_every_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (m, l, t) = (dir.path().join("m"), dir.path().join("l"), dir.path().join("t"));
        for (d, f) in [(&m, "tombstones.json"), (&l, "deletes.json"), (&t, "deletes.json")] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join(f), b"[{\"matchers\": 7").unwrap();
        }
        Tsdb::open(&m, TsdbOptions::default()).unwrap().close().unwrap();
        let opts = crate::logs::LogStoreOptions {
            background: false,
            ..Default::default()
        };
        crate::logs::LogStore::open(&l, opts).unwrap().close().unwrap();
        let opts = crate::traces::SpanStoreOptions {
            background: false,
            ..Default::default()
        };
        crate::traces::SpanStore::open(&t, opts).unwrap().close().unwrap();
        for (d, f) in [(&m, "tombstones.json"), (&l, "deletes.json"), (&t, "deletes.json")] {
            assert!(!d.join(f).exists(), "{}", d.display());
            let q: Vec<String> = std::fs::read_dir(d.join(DIR))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            assert!(q.iter().any(|n| n.starts_with(&format!("{f}-"))), "{q:?}");
        }
    }
}
