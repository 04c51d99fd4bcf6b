//! Compaction: merging blocks into larger ones so queries open fewer files and the dense
//! encoding sees longer series, and resolving overlaps (out-of-order data, crashes mid-compaction).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::labels::Labels;
use crate::metrics::Sample;
use crate::metrics::block::{Block, BlockCompaction, BlockMeta, BlockWriter};

/// The block ranges compaction builds: `base`, then ×3 each step, up to `max`.
pub fn ranges(base: i64, max: i64) -> Vec<i64> {
    let mut v = vec![base];
    while let Some(&last) = v.last() {
        let next = last.saturating_mul(3);
        if next > max || next == last {
            break;
        }
        v.push(next);
    }
    v
}

/// Picks the next set of blocks to merge (indices into `metas`, which is sorted by min time):
/// first any group of overlapping blocks; then, for each larger range, two or more blocks that
/// fall inside one aligned window of that range which can no longer receive data
/// (its end ≤ `sealed_before`, the time below which everything is already in blocks).
pub fn plan(metas: &[&BlockMeta], ranges: &[i64], sealed_before: i64) -> Option<Vec<usize>> {
    // Overlaps.
    let mut i = 0;
    while i < metas.len() {
        let mut end = metas[i].max_time;
        let mut j = i + 1;
        while j < metas.len() && metas[j].min_time < end {
            end = end.max(metas[j].max_time);
            j += 1;
        }
        if j - i > 1 {
            return Some((i..j).collect());
        }
        i = j;
    }
    for &r in ranges.iter().skip(1) {
        let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, m) in metas.iter().enumerate() {
            let k = m.min_time.div_euclid(r);
            let end = (k + 1).saturating_mul(r);
            if m.max_time <= end && m.max_time.saturating_sub(m.min_time) < r {
                groups.entry(k).or_default().push(i);
            }
        }
        for (k, g) in groups {
            if g.len() >= 2 && (k + 1).saturating_mul(r) <= sealed_before {
                return Some(g);
            }
        }
    }
    None
}

/// Merges `blocks` (oldest first; on equal timestamps a later block wins) into one new block
/// in `dir`. Returns its meta, or `None` when the inputs held no samples.
pub fn merge(dir: &Path, blocks: &[Arc<Block>]) -> Result<Option<BlockMeta>> {
    let mint = blocks.iter().map(|b| b.meta.min_time).min().unwrap_or(0);
    let maxt = blocks.iter().map(|b| b.meta.max_time).max().unwrap_or(0);
    let level = blocks.iter().map(|b| b.meta.compaction.level).max().unwrap_or(0) + 1;
    let mut sources: Vec<String> = blocks
        .iter()
        .flat_map(|b| b.meta.compaction.sources.iter().cloned())
        .collect();
    sources.sort();
    sources.dedup();
    let mut all: BTreeMap<Labels, Vec<(usize, u32)>> = BTreeMap::new();
    for (bi, b) in blocks.iter().enumerate() {
        for id in 0..b.index().num_series() as u32 {
            let (l, _) = b.index().series(id)?;
            all.entry(l).or_default().push((bi, id));
        }
    }
    let mut w = BlockWriter::new(dir, mint, maxt, BlockCompaction { level, sources })?;
    let mut tagged: Vec<(i64, usize, f64)> = Vec::new();
    let mut buf = Vec::new();
    let mut out: Vec<Sample> = Vec::new();
    for (labels, refs) in all {
        tagged.clear();
        for (bi, id) in refs {
            let (_, metas) = blocks[bi].index().series(id)?;
            for m in metas {
                buf.clear();
                blocks[bi].read_chunk(&m, &mut buf)?;
                tagged.extend(buf.iter().map(|s| (s.t, bi, s.v)));
            }
        }
        tagged.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        tagged.dedup_by_key(|x| x.0);
        out.clear();
        out.extend(tagged.iter().map(|&(t, _, v)| Sample { t, v }));
        w.add_series(labels, &out)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(a: i64, b: i64) -> BlockMeta {
        BlockMeta {
            ulid: format!("{a}"),
            min_time: a,
            max_time: b,
            stats: Default::default(),
            compaction: BlockCompaction {
                level: 1,
                sources: vec![],
            },
            version: 1,
        }
    }

    #[test]
    fn ranges_grow_by_three() {
        assert_eq!(ranges(2, 60), vec![2, 6, 18, 54]);
        assert_eq!(ranges(2, 2), vec![2]);
    }

    #[test]
    fn plans_overlaps_then_windows() {
        let ms = [meta(0, 2), meta(1, 4), meta(6, 8)];
        let refs: Vec<&BlockMeta> = ms.iter().collect();
        assert_eq!(plan(&refs, &[2, 6], 100), Some(vec![0, 1]));
        let ms = [meta(0, 2), meta(2, 4), meta(4, 6), meta(6, 8)];
        let refs: Vec<&BlockMeta> = ms.iter().collect();
        assert_eq!(plan(&refs, &[2, 6], 100), Some(vec![0, 1, 2]));
        // Window [0,6) not sealed yet.
        assert_eq!(plan(&refs, &[2, 6], 5), None);
    }

    #[test]
    fn merge_dedups_and_keeps_all() {
        let dir = tempfile::tempdir().unwrap();
        let a = Labels::from_pairs([("__name__", "a")]).unwrap();
        let b = Labels::from_pairs([("__name__", "b")]).unwrap();
        let mk = |mint: i64, maxt: i64, series: Vec<(Labels, Vec<Sample>)>| {
            let mut w = BlockWriter::new(
                dir.path(),
                mint,
                maxt,
                BlockCompaction {
                    level: 1,
                    sources: vec![],
                },
            )
            .unwrap();
            for (l, s) in series {
                w.add_series(l, &s).unwrap();
            }
            let m = w.finish().unwrap().unwrap();
            Arc::new(Block::open(&dir.path().join(&m.ulid)).unwrap())
        };
        let s = |t: i64, v: f64| Sample { t, v };
        let b1 = mk(0, 10, vec![(a.clone(), vec![s(1, 1.0), s(5, 5.0)])]);
        let b2 = mk(
            5,
            20,
            vec![(a.clone(), vec![s(5, 50.0), s(15, 15.0)]), (b.clone(), vec![s(6, 6.0)])],
        );
        let m = merge(dir.path(), &[b1, b2]).unwrap().unwrap();
        assert_eq!((m.min_time, m.max_time, m.compaction.level), (0, 20, 2));
        assert_eq!(m.stats.num_samples, 4);
        let blk = Block::open(&dir.path().join(&m.ulid)).unwrap();
        let (l, metas) = blk.index().series(0).unwrap();
        assert_eq!(l, a);
        let mut out = Vec::new();
        blk.read_chunk(&metas[0], &mut out).unwrap();
        assert_eq!(out, vec![s(1, 1.0), s(5, 50.0), s(15, 15.0)]);
    }
}
