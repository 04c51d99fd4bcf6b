//! TSDB snapshots (Prometheus' `admin/tsdb/snapshot`): a directory that is itself a TSDB
//! directory (`blocks/` and `tombstones.json`, no WAL) holding every block, hard-linked (copied
//! across filesystems), plus, unless skipped, the head written out as one more block. Open it
//! with [`Tsdb::open`] or copy it away as a backup; it shares no mutable file with the live
//! database (blocks are immutable and replaced, never rewritten in place).

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::metrics::Sample;
use crate::metrics::block::{BlockCompaction, BlockWriter, sync_dir};
use crate::metrics::db::Tsdb;

impl Tsdb {
    /// Writes a snapshot into `dir` (created; must not exist yet). Returns the number of
    /// blocks it holds.
    pub fn snapshot(&self, dir: &Path, with_head: bool) -> Result<usize> {
        if dir.exists() {
            return Err(Error::InvalidInput(format!(
                "snapshot directory {} exists",
                dir.display()
            )));
        }
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir).map_err(|e| Error::io(&blocks_dir, e))?;
        // No block is replaced or deleted while its files are linked.
        let _g = self.maint.lock();
        let blocks = self.blocks.read().clone();
        for b in &blocks {
            let dst = blocks_dir.join(&b.meta.ulid);
            std::fs::create_dir(&dst).map_err(|e| Error::io(&dst, e))?;
            for entry in std::fs::read_dir(&b.dir).map_err(|e| Error::io(&b.dir, e))? {
                let src = entry.map_err(|e| Error::io(&b.dir, e))?.path();
                let to = dst.join(src.file_name().unwrap_or_default());
                if std::fs::hard_link(&src, &to).is_err() {
                    std::fs::copy(&src, &to).map_err(|e| Error::io(&to, e))?;
                }
            }
            sync_dir(&dst)?;
        }
        let mut n = blocks.len();
        if with_head {
            let (a, b) = (
                self.head.min_time.load(Ordering::Acquire),
                self.head.max_time.load(Ordering::Acquire),
            );
            if a <= b {
                let mut w = BlockWriter::new(
                    &blocks_dir,
                    a,
                    b.saturating_add(1),
                    BlockCompaction {
                        level: 1,
                        sources: vec![],
                    },
                )?;
                let mut buf: Vec<Sample> = Vec::new();
                for s in self.head.all_series() {
                    buf.clear();
                    s.data.lock().samples_in(a, b, &mut buf);
                    w.add_series(s.labels.clone(), &buf)?;
                }
                n += usize::from(w.finish()?.is_some());
            }
        }
        let tombstones = self.dir().join("tombstones.json");
        if tombstones.exists() {
            let to = dir.join("tombstones.json");
            std::fs::copy(&tombstones, &to).map_err(|e| Error::io(&to, e))?;
        }
        sync_dir(&blocks_dir)?;
        sync_dir(dir)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use crate::Labels;
    use crate::matcher::Matcher;
    use crate::metrics::{Tsdb, TsdbOptions};

    #[test]
    fn snapshot_holds_blocks_and_head_and_opens_as_a_tsdb() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(&dir.path().join("db"), TsdbOptions::default()).unwrap();
        let l = Labels::from_pairs([("__name__", "s")]).unwrap();
        let mut app = db.appender();
        app.append(&l, 1000, 1.0).unwrap();
        app.append(&l, 3 * 3_600_000, 2.0).unwrap();
        app.commit().unwrap();
        db.flush_head().unwrap(); // the first sample goes into a block, the second stays in the head
        let snap = dir.path().join("snap");
        assert_eq!(db.snapshot(&snap, true).unwrap(), 2);
        assert!(db.snapshot(&snap, true).is_err(), "an existing directory is refused");
        let s = Tsdb::open(&snap, TsdbOptions::default()).unwrap();
        let q = s.querier(i64::MIN, i64::MAX).unwrap();
        let got = q.select(&[Matcher::equal("__name__", "s")]).unwrap()[0]
            .samples()
            .unwrap();
        assert_eq!(
            got.iter().map(|x| (x.t, x.v)).collect::<Vec<_>>(),
            vec![(1000, 1.0), (3 * 3_600_000, 2.0)]
        );
        let no_head = dir.path().join("snap2");
        assert_eq!(db.snapshot(&no_head, false).unwrap(), 1);
    }
}
