//! Deleting series data, as Prometheus' `delete_series` and `clean_tombstones` do.
//!
//! A deletion is a *tombstone*: matchers and an inclusive time range. Tombstones live in
//! `tombstones.json` in the TSDB directory (written to a temporary file, fsynced, renamed), so
//! they hold across restarts without a WAL record. Queriers drop tombstoned samples while
//! reading (from the head and from blocks), and a series whose every sample in the query range
//! is tombstoned is not returned at all.
//!
//! [`Tsdb::clean_tombstones`] rewrites every block that holds tombstoned samples without them
//! (new block renamed into place, then the old one deleted, then the tombstone file updated:
//! a crash in between leaves the tombstones applying) and forgets tombstones that can no
//! longer match anything, i.e. those that end before the head's oldest sample.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::metrics::Sample;
use crate::metrics::block::{Block, BlockCompaction, BlockWriter, delete_block_dir};
use crate::metrics::db::Tsdb;

const FILE: &str = "tombstones.json";

/// One deletion: series matching every matcher lose their samples in `[mint, maxt]`.
#[derive(Clone, Debug)]
pub struct Tombstone {
    /// Which series.
    pub matchers: Vec<Matcher>,
    /// First deleted timestamp (ms, inclusive).
    pub mint: i64,
    /// Last deleted timestamp (ms, inclusive).
    pub maxt: i64,
}

impl Tombstone {
    fn applies_to(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
    }
}

/// The deleted intervals of one series, sorted, for the querier.
#[derive(Clone, Debug, Default)]
pub struct Deleted(Vec<(i64, i64)>);

impl Deleted {
    /// Whether sample time `t` is deleted.
    pub fn contains(&self, t: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= t && t <= b)
    }

    /// Whether `[mint, maxt]` is deleted entirely.
    pub fn covers(&self, mint: i64, maxt: i64) -> bool {
        self.0.iter().any(|&(a, b)| a <= mint && maxt <= b)
    }

    /// True when nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The intervals `tombstones` delete from the series with `labels`.
pub fn deleted_for(tombstones: &[Tombstone], labels: &Labels) -> Deleted {
    Deleted(
        tombstones
            .iter()
            .filter(|t| t.applies_to(labels))
            .map(|t| (t.mint, t.maxt))
            .collect(),
    )
}

#[derive(Serialize, Deserialize)]
struct Stored {
    matchers: Vec<(String, String, String)>,
    mint: i64,
    maxt: i64,
}

/// Reads the tombstones of the TSDB in `dir` (none when the file is absent).
pub(crate) fn load(dir: &Path) -> Result<Vec<Tombstone>> {
    let path = dir.join(FILE);
    let consequence = "its deletions are no longer applied: delete the series again";
    crate::quarantine::load_or_quarantine(dir, crate::quarantine::Signal::Metrics, &path, consequence, || {
        let stored: Vec<Stored> = crate::metrics::block::read_json(&path, "tombstones")?.unwrap_or_default();
        stored
            .into_iter()
            .map(|s| {
                let matchers = Matcher::from_stored(s.matchers, &path)?;
                Ok(Tombstone {
                    matchers,
                    mint: s.mint,
                    maxt: s.maxt,
                })
            })
            .collect()
    })
}

fn save(dir: &Path, tombstones: &[Tombstone]) -> Result<()> {
    let stored: Vec<Stored> = tombstones
        .iter()
        .map(|t| Stored {
            matchers: t.matchers.iter().map(Matcher::to_parts).collect(),
            mint: t.mint,
            maxt: t.maxt,
        })
        .collect();
    let json = serde_json::to_vec(&stored).map_err(|e| Error::InvalidInput(format!("BUG: tombstones: {e}")))?;
    crate::metrics::block::replace_file(&dir.join(FILE), &json)
}

impl Tsdb {
    /// Deletes the samples of series matching `matchers` in `[mint, maxt]` (ms, inclusive):
    /// durable (and invisible to queries) when this returns. At least one matcher must not
    /// match the empty string, as in Prometheus.
    pub fn delete_series(&self, matchers: Vec<Matcher>, mint: i64, maxt: i64) -> Result<()> {
        if matchers.iter().all(Matcher::matches_empty) {
            return Err(Error::InvalidInput(
                "match[] must contain at least one non-empty matcher".into(),
            ));
        }
        if mint > maxt {
            return Err(Error::InvalidInput(format!("start {mint} is after end {maxt}")));
        }
        let mut ts = self.tombstones.write();
        let mut next: Vec<Tombstone> = ts.as_ref().clone();
        next.push(Tombstone { matchers, mint, maxt });
        save(self.dir(), &next)?;
        *ts = Arc::new(next);
        Ok(())
    }

    /// Rewrites blocks without their tombstoned samples and drops tombstones that can no
    /// longer match (ending before the head's oldest sample).
    pub fn clean_tombstones(&self) -> Result<()> {
        let _g = self.maint.lock();
        let tombstones = self.tombstones.read().clone();
        if tombstones.is_empty() {
            return Ok(());
        }
        let blocks: Vec<Arc<Block>> = self.blocks.read().clone();
        for b in blocks {
            let hit = tombstones
                .iter()
                .any(|t| t.maxt >= b.meta.min_time && t.mint < b.meta.max_time);
            if hit {
                self.rewrite_block(&b, &tombstones)?;
            }
        }
        let head_min = self.head.min_time.load(Ordering::Acquire);
        let keep: Vec<Tombstone> = tombstones.iter().filter(|t| t.maxt >= head_min).cloned().collect();
        let mut ts = self.tombstones.write();
        save(self.dir(), &keep)?;
        *ts = Arc::new(keep);
        Ok(())
    }

    /// Replaces `b` by a copy without tombstoned samples (or removes it when nothing is left).
    fn rewrite_block(&self, b: &Arc<Block>, tombstones: &[Tombstone]) -> Result<()> {
        let mut w = BlockWriter::new(
            &self.blocks_dir,
            b.meta.min_time,
            b.meta.max_time,
            BlockCompaction {
                level: b.meta.compaction.level,
                sources: b.meta.compaction.sources.clone(),
            },
        )?;
        let mut buf: Vec<Sample> = Vec::new();
        let mut removed = 0u64;
        for id in 0..b.index().num_series() as u32 {
            let (labels, metas) = b.index().series(id)?;
            buf.clear();
            for m in &metas {
                b.read_chunk(m, &mut buf)?;
            }
            let deleted = deleted_for(tombstones, &labels);
            let before = buf.len();
            buf.retain(|s| !deleted.contains(s.t));
            removed += (before - buf.len()) as u64;
            w.add_series(labels, &buf)?;
        }
        if removed == 0 {
            return Ok(()); // nothing of this block was deleted; the writer cleans up
        }
        let meta = w.finish()?;
        let mut bl = self.blocks.write();
        bl.retain(|x| !Arc::ptr_eq(x, b));
        if let Some(m) = &meta {
            bl.push(Arc::new(Block::open(&self.blocks_dir.join(&m.ulid))?));
            bl.sort_by_key(|x| (x.meta.min_time, x.meta.max_time));
        }
        drop(bl);
        delete_block_dir(&b.dir)?;
        tracing::info!(old = %b.meta.ulid, new = ?meta.map(|m| m.ulid), removed, "block rewritten without deleted samples");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::matcher::Matcher;
    use crate::metrics::{Tsdb, TsdbOptions};
    use crate::{Labels, MatchOp};

    fn series(i: &str) -> Labels {
        Labels::from_pairs([("__name__", "a"), ("i", i)]).unwrap()
    }

    /// `(i, timestamps)` of every `a` series over all time.
    fn read(db: &Tsdb) -> Vec<(String, Vec<i64>)> {
        let q = db.querier(i64::MIN, i64::MAX).unwrap();
        q.select(&[Matcher::equal("__name__", "a")])
            .unwrap()
            .into_iter()
            .map(|s| {
                let ts = s.samples().unwrap().iter().map(|x| x.t).collect();
                (s.labels.get("i").unwrap().to_owned(), ts)
            })
            .collect()
    }

    #[test]
    fn delete_hides_at_once_survives_restart_and_clean_rewrites_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        let mut app = db.appender();
        for t in (0..10).map(|k| k * 1000) {
            app.append(&series("1"), t, 1.0).unwrap();
            app.append(&series("2"), t, 2.0).unwrap();
        }
        app.commit().unwrap();
        let all: Vec<i64> = (0..10).map(|k| k * 1000).collect();
        let kept: Vec<i64> = all.iter().copied().filter(|t| !(2000..=5000).contains(t)).collect();

        assert!(
            db.delete_series(vec![Matcher::new(MatchOp::Regex, "i", ".*").unwrap()], 0, 1)
                .is_err()
        );
        db.delete_series(vec![Matcher::equal("i", "1")], 2000, 5000).unwrap();
        db.delete_series(vec![Matcher::equal("i", "2")], i64::MIN, i64::MAX)
            .unwrap();
        let want = vec![("1".to_owned(), kept.clone())];
        assert_eq!(read(&db), want);
        db.close().unwrap();

        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        assert_eq!(read(&db), want, "after restart");
        // Move the head past the first block range and cut it into a block.
        let mut app = db.appender();
        app.append(&Labels::from_pairs([("__name__", "b")]).unwrap(), 3 * 3_600_000, 1.0)
            .unwrap();
        app.commit().unwrap();
        db.flush_head().unwrap();
        assert_eq!(db.stats().blocks, 1);
        db.clean_tombstones().unwrap();
        // The first tombstone ends before the head: gone, so the block itself was rewritten.
        assert_eq!(db.tombstones.read().len(), 1);
        assert_eq!(read(&db), want, "after clean_tombstones");
        let b = db.blocks.read()[0].clone();
        assert_eq!(
            b.meta.stats.num_samples,
            kept.len() as u64,
            "deleted samples left the block"
        );
        db.close().unwrap();
        let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
        assert_eq!(read(&db), want, "after clean and restart");
    }
}
