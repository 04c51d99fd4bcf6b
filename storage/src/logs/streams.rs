//! The stream registry: stream id ↔ label set, persisted in its own WAL directory.
//!
//! Ids are dense (0, 1, 2, …) in order of first push. A registration is logged before the first
//! entry of the stream reaches the main WAL, and the registry WAL is fsynced before any index
//! commit, so every id an index holds resolves after a crash.

use super::record;
use crate::error::Result;
use crate::labels::Labels;
use crate::wal::{self, Wal, WalOptions};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// One registered stream.
#[derive(Debug)]
pub(super) struct StreamInfo {
    pub labels: Arc<Labels>,
    /// Newest timestamp accepted (ns), for the ordering window.
    pub newest_ns: i64,
}

/// In-memory registry backed by a WAL of registrations.
#[derive(Debug)]
pub(super) struct Registry {
    by_hash: HashMap<u64, Vec<u64>>,
    streams: Vec<StreamInfo>,
    wal: Wal,
}

impl Registry {
    /// Replays the registry in `dir` and opens it for appends.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<Registry> {
        let mut streams: Vec<StreamInfo> = Vec::new();
        let mut by_hash: HashMap<u64, Vec<u64>> = HashMap::new();
        let report = wal::replay(dir, |raw| {
            let (id, labels) = match record::decode_stream(raw) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(dir = %dir.display(), offset = e.offset, what = e.what, "skipping undecodable stream registration");
                    return Ok(());
                }
            };
            if id < streams.len() as u64 {
                tracing::error!(dir = %dir.display(), id, "skipping repeated stream registration");
                return Ok(());
            }
            // Registrations lost to WAL damage: keep ids dense with placeholders, so every later
            // id still resolves to its own labels.
            while (streams.len() as u64) < id {
                let lost = streams.len();
                tracing::error!(dir = %dir.display(), id = lost, "stream registration lost to WAL damage; its entries stay unreachable by label");
                let placeholder = Labels::from_pairs([("__nerve_lost_stream__", lost.to_string())])?;
                by_hash.entry(placeholder.hash64()).or_default().push(lost as u64);
                streams.push(StreamInfo {
                    labels: Arc::new(placeholder),
                    newest_ns: i64::MIN,
                });
            }
            by_hash.entry(labels.hash64()).or_default().push(id);
            streams.push(StreamInfo {
                labels: Arc::new(labels),
                newest_ns: i64::MIN,
            });
            Ok(())
        })?;
        crate::quarantine::note(crate::quarantine::Signal::Logs, report.quarantined.len() as u64);
        let wal = Wal::open(dir, opts)?;
        Ok(Registry { by_hash, streams, wal })
    }

    /// The id of `labels`, registering (and logging) it when new.
    pub fn get_or_create(&mut self, labels: &Labels) -> Result<u64> {
        if let Some(id) = self.get(labels) {
            return Ok(id);
        }
        let id = self.streams.len() as u64;
        let mut buf = Vec::new();
        record::encode_stream(&mut buf, id, labels);
        self.wal.log(&[&buf])?;
        self.by_hash.entry(labels.hash64()).or_default().push(id);
        self.streams.push(StreamInfo {
            labels: Arc::new(labels.clone()),
            newest_ns: i64::MIN,
        });
        Ok(id)
    }

    /// The id of `labels` if registered.
    pub fn get(&self, labels: &Labels) -> Option<u64> {
        self.by_hash
            .get(&labels.hash64())?
            .iter()
            .copied()
            .find(|&id| *self.streams[id as usize].labels == *labels)
    }

    /// The stream with this id.
    pub fn info(&self, id: u64) -> Option<&StreamInfo> {
        self.streams.get(id as usize)
    }

    /// Mutable access for the ordering window.
    pub fn info_mut(&mut self, id: u64) -> Option<&mut StreamInfo> {
        self.streams.get_mut(id as usize)
    }

    /// Labels of every stream, indexed by id.
    pub fn all_labels(&self) -> Vec<Arc<Labels>> {
        self.streams.iter().map(|s| s.labels.clone()).collect()
    }

    /// Number of registered streams.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Fsyncs the registry WAL.
    pub fn sync(&self) -> Result<()> {
        self.wal.sync()
    }

    /// Closes the registry WAL.
    pub fn close(&self) -> Result<()> {
        self.wal.close()
    }
}
