//! Startup recovery: opening blocks (cleaning up interrupted writes, deletions and
//! compactions) and replaying the WAL into the head.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::metrics::MetricMetadata;
use crate::metrics::appender::push_exemplar;
use crate::metrics::block::{Block, delete_block_dir};
use crate::metrics::damage::Quarantined;
use crate::metrics::head::{Head, MemSeries};
use crate::metrics::record::{self, Record};
use crate::quarantine::{self, Signal};
use crate::wal;

/// Opens every block in `dir`, removing interrupted writes/deletions and blocks that a
/// completed compaction superseded (crash between writing the new block and deleting inputs).
/// Blocks that fail to open are quarantined; those whose range is still known are returned
/// too, for query warnings.
pub(crate) fn open_blocks(dir: &Path) -> Result<(Vec<Arc<Block>>, Vec<Quarantined>)> {
    let mut blocks = Vec::new();
    let mut damaged = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(dir, e))?;
        let p = ent.path();
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            tracing::warn!(path = %p.display(), "removing leftover of an interrupted block write or deletion");
            std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            continue;
        }
        if !p.is_dir() || name.ends_with(".corrupt") {
            continue;
        }
        match Block::open(&p) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(e) => {
                // Keep serving: quarantine the bad block instead of refusing to start.
                let store = dir.parent().unwrap_or(dir);
                let to = quarantine::move_in(store, Signal::Metrics, &p, &e.to_string())?;
                damaged.extend(Quarantined::at_open(&to, &e.to_string()));
            }
        }
    }
    let superseded: Vec<usize> = (0..blocks.len())
        .filter(|&i| {
            blocks.iter().enumerate().any(|(j, o)| {
                j != i
                    && o.meta.compaction.level > blocks[i].meta.compaction.level
                    && blocks[i]
                        .meta
                        .compaction
                        .sources
                        .iter()
                        .all(|s| o.meta.compaction.sources.contains(s))
            })
        })
        .collect();
    for &i in superseded.iter().rev() {
        let b = blocks.remove(i);
        tracing::warn!(block = %b.meta.ulid, "removing block superseded by a finished compaction");
        delete_block_dir(&b.dir)?;
    }
    blocks.sort_by_key(|b| (b.meta.min_time, b.meta.max_time));
    Ok((blocks, damaged))
}

/// Replays the WAL into `head`, skipping samples already covered by blocks.
pub(crate) fn replay_into(
    dir: &Path,
    head: &Head,
    metadata: &mut HashMap<String, MetricMetadata>,
) -> Result<wal::ReplayReport> {
    let mut ids: HashMap<u32, Arc<MemSeries>> = HashMap::new();
    let mut bad_records = 0u64;
    let mut unknown_series = 0u64;
    let (window, range) = (head.opts.ooo_window, head.opts.chunk_range);
    let min_valid = head.min_valid_time.load(Ordering::Acquire);
    let max_ex = head.opts.max_exemplars;
    let report = wal::replay(dir, |raw| {
        match record::decode(raw) {
            Ok(Record::Series(v)) => {
                for (id, l) in v {
                    let (s, _) = head.get_or_create(&l, Some(id), false)?;
                    s.logged.store(true, Ordering::Release);
                    ids.insert(id, s);
                }
            }
            Ok(Record::Samples(v)) => {
                for (id, x) in v {
                    if x.t < min_valid {
                        continue;
                    }
                    let Some(s) = ids.get(&id) else {
                        unknown_series += 1;
                        continue;
                    };
                    if s.data
                        .lock()
                        .apply(x, window, range, &s.labels, &head.chunk_files)
                        .is_ok()
                    {
                        head.observe_time(x.t);
                    }
                }
            }
            Ok(Record::Exemplars(v)) => {
                for (id, e) in v {
                    if let Some(s) = ids.get(&id) {
                        push_exemplar(&mut s.data.lock().exemplars, e, max_ex);
                    }
                }
            }
            Ok(Record::Metadata(v)) => metadata.extend(v),
            Err(e) => {
                bad_records += 1;
                tracing::warn!(offset = e.offset, what = e.what, "skipping undecodable WAL record");
            }
        }
        Ok(())
    })?;
    if bad_records > 0 {
        tracing::warn!(bad_records, "WAL replay skipped undecodable records");
    }
    if report.skipped_records > 0 && unknown_series > 0 {
        tracing::error!(
            samples = unknown_series,
            "WAL samples whose series record was in a damaged range were dropped"
        );
    }
    quarantine::note(Signal::Metrics, report.quarantined.len() as u64);
    Ok(report)
}
