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
