//! Log deletion requests (Loki's `/loki/api/v1/delete`): a stream selector and a time range
//! whose entries queries stop returning from the moment the request is accepted.
//!
//! Requests live in `deletes.json` in the store directory (temporary file, fsync, rename), so
//! they hold across restarts; a cancelled request makes the entries visible again. The bytes
//! themselves leave the disk when their partition ages out of retention: nerve does not
//! rewrite index partitions (Loki's compactor does, after its cancellation period).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::Labels;
use crate::logs::LogStore;
use crate::matcher::Matcher;

const FILE: &str = "deletes.json";

/// One accepted deletion request.
#[derive(Clone, Debug)]
pub struct DeleteRequest {
    /// Identifier, for listing and cancelling.
    pub id: String,
    /// The selector as the client wrote it.
    pub query: String,
    /// Its matchers.
    pub matchers: Vec<Matcher>,
    /// First deleted timestamp (ns, inclusive).
    pub start_ns: i64,
    /// Last deleted timestamp (ns, inclusive).
    pub end_ns: i64,
    /// When it was accepted (ns since the epoch).
    pub created_ns: i64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    query: String,
    matchers: Vec<(String, String, String)>,
    start_ns: i64,
    end_ns: i64,
    created_ns: i64,
}

/// The requests of one store.
#[derive(Debug)]
pub(super) struct Deletes {
    path: PathBuf,
    list: RwLock<Arc<Vec<DeleteRequest>>>,
    /// Serialises changes.
    write: parking_lot::Mutex<()>,
}

impl Deletes {
    /// Loads `deletes.json` from `dir` (none when absent).
    pub(super) fn open(dir: &Path) -> Result<Deletes> {
        let path = dir.join(FILE);
        let consequence = "its deletions are no longer applied: request them again";
        let list =
            crate::quarantine::load_or_quarantine(dir, crate::quarantine::Signal::Logs, &path, consequence, || {
                let stored: Vec<Stored> = crate::metrics::block::read_json(&path, "log deletions")?.unwrap_or_default();
                stored
                    .into_iter()
                    .map(|s| {
                        let matchers = Matcher::from_stored(s.matchers, &path)?;
                        Ok(DeleteRequest {
                            id: s.id,
                            query: s.query,
                            matchers,
                            start_ns: s.start_ns,
                            end_ns: s.end_ns,
                            created_ns: s.created_ns,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })?;
        Ok(Deletes {
            path,
            list: RwLock::new(Arc::new(list)),
            write: parking_lot::Mutex::new(()),
        })
    }

    /// Replaces the list, durably.
    fn store(&self, next: Vec<DeleteRequest>) -> Result<()> {
        let stored: Vec<Stored> = next
            .iter()
            .map(|r| Stored {
                id: r.id.clone(),
                query: r.query.clone(),
                matchers: r.matchers.iter().map(Matcher::to_parts).collect(),
                start_ns: r.start_ns,
                end_ns: r.end_ns,
                created_ns: r.created_ns,
            })
            .collect();
        let json = serde_json::to_vec(&stored).map_err(|e| Error::InvalidInput(format!("BUG: deletions: {e}")))?;
        crate::metrics::block::replace_file(&self.path, &json)?;
        *self.list.write() = Arc::new(next);
        Ok(())
    }

    /// Deleted intervals per stream id, for the streams `ids` of `labels` that have any.
    pub(super) fn for_streams(&self, labels: &[Arc<Labels>], ids: &[u64]) -> HashMap<u64, Vec<(i64, i64)>> {
        let list = self.list.read().clone();
        let mut out = HashMap::new();
        if list.is_empty() {
            return out;
        }
        for &id in ids {
            let Some(l) = labels.get(id as usize) else { continue };
            let iv: Vec<(i64, i64)> = list
                .iter()
                .filter(|r| r.matchers.iter().all(|m| m.matches(l.get(&m.name).unwrap_or(""))))
                .map(|r| (r.start_ns, r.end_ns))
                .collect();
            if !iv.is_empty() {
                out.insert(id, iv);
            }
        }
        out
    }
}

/// Whether `ts` falls in one of `intervals`.
pub(super) fn deleted(intervals: Option<&Vec<(i64, i64)>>, ts: i64) -> bool {
    intervals.is_some_and(|iv| iv.iter().any(|&(a, b)| a <= ts && ts <= b))
}

impl LogStore {
    /// Accepts a deletion of the entries of streams matching `matchers` in `[start_ns,
    /// end_ns]`; queries stop returning them when this returns. Returns the request id.
    pub fn delete(&self, query: &str, matchers: Vec<Matcher>, start_ns: i64, end_ns: i64) -> Result<String> {
        if matchers.iter().all(Matcher::matches_empty) {
            return Err(Error::InvalidInput(
                "the selector must contain at least one non-empty matcher".into(),
            ));
        }
        if start_ns > end_ns {
            return Err(Error::InvalidInput("start is after end".into()));
        }
        let _one_at_a_time = self.deletes.write.lock();
        let created_ns = crate::logs::now_ns();
        let id = format!(
            "{:08x}",
            (created_ns as u64 ^ (created_ns as u64 >> 29)).wrapping_mul(0x9e37_79b9) as u32
        );
        let mut next = self.deletes.list.read().as_ref().clone();
        next.push(DeleteRequest {
            id: id.clone(),
            query: query.to_owned(),
            matchers,
            start_ns,
            end_ns,
            created_ns,
        });
        self.deletes.store(next)?;
        Ok(id)
    }

    /// The accepted deletion requests, oldest first.
    pub fn delete_requests(&self) -> Vec<DeleteRequest> {
        self.deletes.list.read().as_ref().clone()
    }

    /// Cancels request `id`: its entries are returned by queries again. False when unknown.
    pub fn cancel_delete(&self, id: &str) -> Result<bool> {
        let _one_at_a_time = self.deletes.write.lock();
        let mut next = self.deletes.list.read().as_ref().clone();
        let before = next.len();
        next.retain(|r| r.id != id);
        if next.len() == before {
            return Ok(false);
        }
        self.deletes.store(next)?;
        Ok(true)
    }
}
