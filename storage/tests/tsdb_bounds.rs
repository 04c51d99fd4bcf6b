//! Sample time bounds and extreme timestamps: out-of-bounds samples are refused and counted,
//! and the head's cut logic neither overflows nor walks empty ranges one at a time.

use std::time::{Duration, Instant};

use nerve_storage::metrics::{SampleBounds, SyncPolicy, Tsdb, TsdbOptions, now_ms};
use nerve_storage::{Error, Labels, Matcher};

const YEAR_MS: i64 = 365 * 86_400_000;

fn series(name: &str) -> Labels {
    Labels::from_pairs([("__name__".to_string(), name.to_string())]).unwrap()
}

fn count(db: &Tsdb, name: &str, mint: i64, maxt: i64) -> usize {
    let q = db.querier(mint, maxt).unwrap();
    let m = [Matcher::new(nerve_storage::MatchOp::Equal, "__name__", name).unwrap()];
    q.select(&m)
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut it = s.iter();
            let mut n = 0;
            while it.next().is_some() {
                n += 1;
            }
            n
        })
        .sum()
}

#[test]
fn bounded_db_refuses_far_timestamps_and_keeps_accepting_current_ones() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TsdbOptions {
        sync: SyncPolicy::Never,
        bounds: SampleBounds {
            max_future: Some(Duration::from_secs(600)),
            max_age: Some(Duration::from_secs(15 * 86_400)),
        },
        ..TsdbOptions::default()
    };
    let db = Tsdb::open(dir.path(), opts).unwrap();
    let now = now_ms();
    let l = series("up");
    let mut app = db.appender();
    for t in [now + 10 * YEAR_MS, -1_000_000_000_000_000, i64::MAX, i64::MIN] {
        let e = app.append(&l, t, 1.0).unwrap_err();
        assert!(matches!(e, Error::OutOfBounds { .. }), "{t}: {e}");
        assert!(e.is_bad_data());
        assert!(e.to_string().contains("up"), "{e}");
    }
    let e = app.append_pairs(&[("__name__", "up")], now + 601_000, 1.0).unwrap_err();
    assert!(e.to_string().contains("max_future (10m)"), "{e}");
    app.append(&l, now, 1.0).unwrap();
    app.commit().unwrap();
    db.maintain().unwrap();
    assert_eq!(db.stats().samples_out_of_bounds_total, 5);
    // Ingestion goes on: the next current sample is stored too.
    let mut app = db.appender();
    app.append(&l, now + 1_000, 2.0).unwrap();
    app.commit().unwrap();
    db.maintain().unwrap();
    assert_eq!(count(&db, "up", now - 60_000, now + 60_000), 2);
    db.close().unwrap();
}

#[test]
fn extreme_timestamps_do_not_overflow_or_stall_the_head_cut() {
    let dir = tempfile::tempdir().unwrap();
    let opts = TsdbOptions {
        sync: SyncPolicy::Never,
        ..TsdbOptions::default()
    };
    let db = Tsdb::open(dir.path(), opts).unwrap();
    let now = now_ms();
    // Unbounded database: the extremes are stored, each in its own series (i64::MIN itself
    // is the head's "no sample yet" marker).
    for (name, t) in [
        ("a", i64::MIN + 1),
        ("b", -1_000_000_000_000_000),
        ("c", now),
        ("d", i64::MAX),
    ] {
        let mut app = db.appender();
        app.append(&series(name), t, 1.0).unwrap();
        app.commit().unwrap();
    }
    let started = Instant::now();
    // Before: `max - min` overflowed (a panic in debug builds, a wrapped "not due" in
    // release), and a cut after a gap walked every empty 2 h range up to the data.
    db.maintain().unwrap();
    db.flush_head().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "cutting took {:?}",
        started.elapsed()
    );
    let s = db.stats();
    // One cut per occupied range (a, b, c), not one per empty range between them.
    assert!(
        (3..=4).contains(&s.compactions_total),
        "{} cuts/compactions",
        s.compactions_total
    );
    assert!(s.head_min_time > now, "head still starts at {}", s.head_min_time);
    // Retention counts back from the newest sample (i64::MAX), so the cut blocks are gone;
    // the newest sample is still in the head.
    assert_eq!(count(&db, "d", i64::MIN, i64::MAX), 1);
    db.close().unwrap();
}
