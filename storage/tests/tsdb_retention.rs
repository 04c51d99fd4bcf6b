//! Retention by time and by size deletes whole blocks, oldest first, and leaves no debris.

use std::time::Duration;

use nerve_storage::Labels;
use nerve_storage::metrics::{SyncPolicy, Tsdb, TsdbOptions};

const HOUR: i64 = 3_600_000;

fn fill(db: &Tsdb, hours: i64) {
    let ls: Vec<Labels> = (0..20)
        .map(|i| Labels::from_pairs([("__name__".to_string(), format!("m{i}"))]).unwrap())
        .collect();
    let mut t = 0;
    while t < hours * HOUR {
        let mut app = db.appender();
        for (i, l) in ls.iter().enumerate() {
            app.append(l, t, (t / 1000 + i as i64) as f64).unwrap();
        }
        app.commit().unwrap();
        t += 60_000;
    }
}

fn block_dirs(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("blocks"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn time_retention_drops_blocks_older_than_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TsdbOptions {
        retention: Duration::from_secs(5 * 3600),
        sync: SyncPolicy::Never,
        ..Default::default()
    };
    let db = Tsdb::open(dir.path(), opts).unwrap();
    fill(&db, 14);
    db.maintain().unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let s = q.select(&[nerve_storage::Matcher::equal("__name__", "m0")]).unwrap();
    let first = s[0].samples().unwrap()[0].t;
    // Newest sample is at ~14 h; everything in blocks ending at or before 9 h is gone.
    assert!(first >= 8 * HOUR, "oldest kept sample at {first} ms");
    assert!(
        block_dirs(dir.path())
            .iter()
            .all(|d| !d.ends_with(".tmp") && !d.ends_with(".deleted"))
    );
}

#[test]
fn size_retention_removes_oldest_blocks_until_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(
        dir.path(),
        TsdbOptions {
            sync: SyncPolicy::Never,
            ..Default::default()
        },
    )
    .unwrap();
    fill(&db, 14);
    db.maintain().unwrap();
    let before = db.stats();
    assert!(before.blocks >= 2, "{before:?}");
    db.close().unwrap();
    drop(db);
    let limit = before.wal_bytes + before.blocks_bytes / 2;
    let opts = TsdbOptions {
        max_bytes: Some(limit),
        sync: SyncPolicy::Never,
        ..Default::default()
    };
    let db = Tsdb::open(dir.path(), opts).unwrap();
    db.maintain().unwrap();
    let after = db.stats();
    assert!(after.blocks < before.blocks, "before {before:?} after {after:?}");
    assert!(
        after.blocks_bytes + after.wal_bytes <= limit || after.blocks == 0,
        "{after:?} limit {limit}"
    );
    assert_eq!(block_dirs(dir.path()).len() as u64, after.blocks);
}
