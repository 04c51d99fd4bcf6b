//! What the criterion benches of `nerve-storage` (and `nerve-query`'s, which include this file
//! with `#[path]`) share: the deterministic generator and a TSDB in a temp dir.
#![allow(dead_code)]

use std::sync::Arc;

use nerve_storage::metrics::{SyncPolicy, Tsdb, TsdbOptions};

#[path = "../../../benches/support/rng.rs"]
pub mod rng;

/// A TSDB in a fresh temp dir with the WAL never fsynced (benches measure the code, not the
/// disk). Keep the directory alive as long as the TSDB.
pub fn open_tsdb() -> (tempfile::TempDir, Arc<Tsdb>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            sync: SyncPolicy::Never,
            ..Default::default()
        },
    )
    .expect("open tsdb");
    (dir, db)
}
