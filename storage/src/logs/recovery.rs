//! Opening a log store: existing partitions and WAL replay.

use super::damage;
use super::head::{HeadBatch, HeadEntry};
use super::partition::Partition;
use super::record;
use super::store::{LogStoreOptions, now_ns, ns};
use super::streams::Registry;
use crate::error::{Error, Result};
use crate::quarantine::{self, Signal};
use crate::wal;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub(super) fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub(super) fn open_partitions(parts_dir: &Path, opts: &LogStoreOptions) -> Result<BTreeMap<i64, Arc<Partition>>> {
    let mut partitions = BTreeMap::new();
    let span = ns(opts.partition).max(1);
    for ent in std::fs::read_dir(parts_dir).map_err(|e| Error::io(parts_dir, e))? {
        let ent = ent.map_err(|e| Error::io(parts_dir, e))?;
        let name = ent.file_name();
        if name.to_string_lossy().ends_with(damage::MARKER_SUFFIX) {
            continue; // handled with its partition below
        }
        let Some(start) = name.to_str().and_then(|s| s.parse::<i64>().ok()) else {
            tracing::warn!(path = %ent.path().display(), "ignoring unknown entry in log partitions");
            continue;
        };
        let marker = damage::marker(&ent.path());
        if let Ok(reason) = std::fs::read_to_string(&marker) {
            // A query found the index damaged last time: quarantine it now, before anything
            // holds it open; replay restores what the WAL still has.
            let store = parts_dir.parent().unwrap_or(parts_dir);
            let reason = format!("found damaged by a query: {reason}");
            let to = quarantine::move_in(store, Signal::Logs, &ent.path(), &reason)?;
            std::fs::rename(&marker, to.join("DAMAGED")).map_err(|e| Error::io(&marker, e))?;
            replace_quarantined(&mut partitions, &ent.path(), start, span, opts, &reason)?;
            continue;
        }
        let opened = super::schema::outdated(&ent.path()).and_then(|outdated| {
            if outdated {
                return Ok(None);
            }
            Partition::open(&ent.path(), start, start.saturating_add(span), opts.writer_memory).map(Some)
        });
        match opened {
            Ok(Some(p)) => {
                partitions.insert(start, Arc::new(p));
            }
            Ok(None) => set_aside(parts_dir, &ent.path())?,
            Err(e) if e.is_disk_full() => return Err(e),
            Err(e) => {
                // Keep serving: the entries still in the WAL come back through replay.
                let store = parts_dir.parent().unwrap_or(parts_dir);
                quarantine::move_in(store, Signal::Logs, &ent.path(), &e.to_string())?;
                replace_quarantined(&mut partitions, &ent.path(), start, span, opts, &e.to_string())?;
            }
        }
    }
    Ok(partitions)
}

/// Puts an empty partition where a quarantined one was, carrying a note so queries over its
/// range warn; WAL replay refills it with what the WAL still holds.
fn replace_quarantined(
    partitions: &mut BTreeMap<i64, Arc<Partition>>,
    dir: &Path,
    start: i64,
    span: i64,
    opts: &LogStoreOptions,
    reason: &str,
) -> Result<()> {
    let p = Partition::open(dir, start, start.saturating_add(span), opts.writer_memory)?;
    p.note_quarantined(reason);
    partitions.insert(start, Arc::new(p));
    Ok(())
}

/// Moves a partition this version cannot read to `<store>/outdated/`, so the store opens and
/// the lines stay on disk for a downgrade.
fn set_aside(parts_dir: &Path, dir: &Path) -> Result<()> {
    let Some(store) = parts_dir.parent() else {
        return Err(Error::corruption(dir, 0, "log partition outside a store directory"));
    };
    let aside = store.join("outdated");
    std::fs::create_dir_all(&aside).map_err(|e| Error::io(&aside, e))?;
    let to = aside.join(dir.file_name().unwrap_or_default());
    std::fs::rename(dir, &to).map_err(|e| Error::io(dir, e))?;
    tracing::warn!(
        from = %dir.display(),
        to = %to.display(),
        "log partition written by an older nerve (one index document per line) moved aside; its lines are not readable by this version"
    );
    Ok(())
}

/// Replays the WAL into partition heads, skipping what partitions already committed and what
/// retention has dropped. Returns the last sequence number seen.
pub(super) fn replay(
    wal_dir: &Path,
    parts_dir: &Path,
    opts: &LogStoreOptions,
    registry: &mut Registry,
    partitions: &mut BTreeMap<i64, Arc<Partition>>,
) -> Result<(u64, wal::ReplayReport)> {
    let mut last_seq = partitions.values().map(|p| p.committed_seq()).max().unwrap_or(0);
    let span = ns(opts.partition).max(1);
    let min_keep = now_ns().saturating_sub(ns(opts.retention));
    let mut undecodable = 0u64;
    let report = wal::replay(wal_dir, |raw| {
        let rec = match record::decode_push(raw) {
            Ok(rec) => rec,
            Err(e) => {
                undecodable += 1;
                tracing::error!(dir = %wal_dir.display(), offset = e.offset, what = e.what, "skipping undecodable log WAL record");
                return Ok(());
            }
        };
        last_seq = last_seq.max(rec.seq);
        let mut by_part: BTreeMap<i64, Vec<HeadEntry>> = BTreeMap::new();
        for (labels, entries) in rec.streams {
            let id = registry.get_or_create(&labels)?;
            for e in entries {
                if e.ts_ns < min_keep {
                    continue;
                }
                if let Some(info) = registry.info_mut(id) {
                    info.newest_ns = info.newest_ns.max(e.ts_ns);
                }
                by_part
                    .entry(e.ts_ns.div_euclid(span) * span)
                    .or_default()
                    .push(HeadEntry { stream: id, entry: e });
            }
        }
        for (start, entries) in by_part {
            let p = match partitions.get(&start) {
                Some(p) => p.clone(),
                None => {
                    let dir = parts_dir.join(start.to_string());
                    let p = Arc::new(Partition::open(
                        &dir,
                        start,
                        start.saturating_add(span),
                        opts.writer_memory,
                    )?);
                    partitions.insert(start, p.clone());
                    p
                }
            };
            if rec.seq > p.committed_seq() {
                p.add(Arc::new(HeadBatch::new(rec.seq, entries)));
            }
        }
        Ok(())
    })?;
    if undecodable > 0 {
        tracing::error!(undecodable, "log WAL replay skipped undecodable records");
    }
    quarantine::note(Signal::Logs, report.quarantined.len() as u64);
    Ok((last_seq, report))
}
