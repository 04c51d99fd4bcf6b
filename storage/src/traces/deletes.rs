//! Span deletion by time range (optionally one service's): spans starting in the range stop
//! being returned by trace lookups and searches as soon as the deletion is accepted. The
//! requests live in `deletes.json` in the store directory (temporary file, fsync, rename) and
//! hold across restarts; the bytes leave the disk when their partition ages out of retention.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::traces::{Span, SpanStore};

const FILE: &str = "deletes.json";

/// One accepted deletion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanDeletion {
    /// Identifier.
    pub id: String,
    /// Only this service's spans, when set.
    pub service: Option<String>,
    /// First deleted span start (ns, inclusive).
    pub start_ns: u64,
    /// Last deleted span start (ns, inclusive).
    pub end_ns: u64,
}

impl SpanDeletion {
    fn hides(&self, s: &Span) -> bool {
        (self.start_ns..=self.end_ns).contains(&s.start_ns)
            && self.service.as_deref().is_none_or(|svc| s.service_name() == svc)
    }
}

/// The deletions of one store.
#[derive(Debug)]
pub(super) struct Deletes {
    path: PathBuf,
    list: RwLock<Arc<Vec<SpanDeletion>>>,
    write: Mutex<()>,
}

impl Deletes {
    /// Loads `deletes.json` from `dir` (none when absent).
    pub(super) fn open(dir: &Path) -> Result<Deletes> {
        let path = dir.join(FILE);
        let consequence = "its deletions are no longer applied: request them again";
        let list: Vec<SpanDeletion> =
            crate::quarantine::load_or_quarantine(dir, crate::quarantine::Signal::Traces, &path, consequence, || {
                Ok(crate::metrics::block::read_json(&path, "span deletions")?.unwrap_or_default())
            })?;
        Ok(Deletes {
            path,
            list: RwLock::new(Arc::new(list)),
            write: Mutex::new(()),
        })
    }

    /// A filter for readers: true for spans that are deleted.
    pub(super) fn filter(&self) -> impl Fn(&Span) -> bool + use<> {
        let list = self.list.read().clone();
        move |s: &Span| list.iter().any(|d| d.hides(s))
    }
}

impl SpanStore {
    /// Deletes the spans starting in `[start_ns, end_ns]` (of `service` only, when given):
    /// invisible to lookups and searches when this returns, durably. Returns the deletion id.
    pub fn delete_spans(&self, service: Option<String>, start_ns: u64, end_ns: u64) -> Result<String> {
        if start_ns > end_ns {
            return Err(Error::InvalidInput("start is after end".into()));
        }
        let d = &self.deletes;
        let _one_at_a_time = d.write.lock();
        let mut next = d.list.read().as_ref().clone();
        let id = format!(
            "{:016x}",
            (crate::logs::now_ns() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        next.push(SpanDeletion {
            id: id.clone(),
            service,
            start_ns,
            end_ns,
        });
        let json = serde_json::to_vec(&next).map_err(|e| Error::InvalidInput(format!("BUG: deletions: {e}")))?;
        crate::metrics::block::replace_file(&d.path, &json)?;
        *d.list.write() = Arc::new(next);
        Ok(id)
    }

    /// The accepted deletions, oldest first.
    pub fn span_deletions(&self) -> Vec<SpanDeletion> {
        self.deletes.list.read().as_ref().clone()
    }
}
