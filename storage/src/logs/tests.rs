use super::*;
use crate::matcher::MatchOp;
use proptest::prelude::*;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

const DAY: i64 = 86_400_000_000_000;
/// Midday today: tests run near the wall clock because open and close apply retention with it.
fn t0() -> i64 {
    now_ns() / DAY * DAY + DAY / 2
}

fn opts() -> LogStoreOptions {
    LogStoreOptions {
        background: false,
        sync: crate::wal::SyncPolicy::Never,
        writer_memory: 15 << 20,
        commit_interval: Duration::ZERO,
        ..LogStoreOptions::default()
    }
}

fn labels(app: &str) -> Labels {
    Labels::from_pairs([("app", app), ("env", "prod")]).unwrap()
}

fn entry(ts_ns: i64, line: &str) -> LogEntry {
    LogEntry {
        ts_ns,
        line: line.into(),
        metadata: vec![],
        trace_id: None,
    }
}

fn select_all(s: &LogStore, app: &str, contains: &[&str], dir: Direction) -> Vec<(String, i64, String)> {
    let req = Select {
        matchers: vec![Matcher::new(MatchOp::Equal, "app", app).unwrap()],
        start_ns: 0,
        end_ns: i64::MAX,
        direction: dir,
        contains: contains.iter().map(|s| s.to_string()).collect(),
        trace_id: None,
    };
    let mut out = Vec::new();
    s.select(&req, &mut |e| {
        out.push((e.labels.get("app").unwrap_or("").to_owned(), e.ts_ns, e.line.to_owned()));
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn open(dir: &std::path::Path) -> Arc<LogStore> {
    LogStore::open(dir, opts()).unwrap()
}

#[test]
fn push_select_head_and_index_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    let lines = [
        "GET /api 200",
        "error: disk full",
        "GET /health 200",
        "warn retry-token=abc",
    ];
    let streams = vec![LogStream {
        labels: labels("api"),
        entries: lines
            .iter()
            .enumerate()
            .map(|(i, l)| entry(t0() + i as i64, l))
            .collect(),
    }];
    let out = s.push(streams, t0()).unwrap();
    assert_eq!(out.accepted, 4);
    let head = select_all(&s, "api", &[], Direction::Forward);
    assert_eq!(head.len(), 4);
    assert_eq!(head[0].2, "GET /api 200");
    s.maintain(t0()).unwrap();
    assert_eq!(s.stats().head_entries, 0);
    assert_eq!(s.stats().indexed_entries, 4);
    assert_eq!(select_all(&s, "api", &[], Direction::Forward), head);
    let back = select_all(&s, "api", &[], Direction::Backward);
    assert_eq!(back.iter().rev().cloned().collect::<Vec<_>>(), head);
    assert_eq!(select_all(&s, "api", &["disk"], Direction::Forward).len(), 1);
    assert_eq!(select_all(&s, "api", &["etry-tok"], Direction::Forward).len(), 1);
    assert_eq!(select_all(&s, "api", &["GET /"], Direction::Forward).len(), 2);
    assert_eq!(select_all(&s, "api", &["Disk"], Direction::Forward).len(), 0);
    assert!(select_all(&s, "web", &[], Direction::Forward).is_empty());
}

#[test]
fn reopen_after_commit_and_after_crash_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let s = open(tmp.path());
        s.push(
            vec![LogStream {
                labels: labels("a"),
                entries: vec![entry(t0(), "one"), entry(t0() + 1, "two")],
            }],
            t0(),
        )
        .unwrap();
        s.maintain(t0()).unwrap();
        s.push(
            vec![LogStream {
                labels: labels("a"),
                entries: vec![entry(t0() + 2, "three")],
            }],
            t0(),
        )
        .unwrap();
        s.close().unwrap();
    }
    let s = open(tmp.path());
    let got: Vec<String> = select_all(&s, "a", &[], Direction::Forward)
        .into_iter()
        .map(|x| x.2)
        .collect();
    assert_eq!(got, ["one", "two", "three"]);
    // Not committed, not closed: only the WAL has it (the index writer was never opened, so
    // leaking the store models a process kill without a held lock).
    s.push(
        vec![LogStream {
            labels: labels("b"),
            entries: vec![entry(t0() + 5, "uncommitted")],
        }],
        t0(),
    )
    .unwrap();
    std::mem::forget(s);
    let s = open(tmp.path());
    assert_eq!(select_all(&s, "b", &[], Direction::Forward).len(), 1);
    assert_eq!(select_all(&s, "a", &[], Direction::Forward).len(), 3);
    s.maintain(t0()).unwrap();
    s.close().unwrap();
    let s = open(tmp.path());
    assert_eq!(
        select_all(&s, "b", &[], Direction::Forward).len(),
        1,
        "no duplicate after replay+commit"
    );
    assert_eq!(select_all(&s, "a", &[], Direction::Forward).len(), 3);
}

#[test]
fn chunk_files_of_an_unfinished_flush_are_removed_and_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let chunks = {
        let s = open(tmp.path());
        s.push(
            vec![LogStream {
                labels: labels("a"),
                entries: vec![entry(t0(), "flushed")],
            }],
            t0(),
        )
        .unwrap();
        s.close().unwrap();
        drop(s);
        // Reopened, pushed to, then leaked: a kill with the push only in the WAL (this store
        // never opened an index writer, so no lock is left held in this process).
        let s = open(tmp.path());
        s.push(
            vec![LogStream {
                labels: labels("a"),
                entries: vec![entry(t0() + 1, "in the WAL only")],
            }],
            t0(),
        )
        .unwrap();
        let part = std::fs::read_dir(tmp.path().join("partitions"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::mem::forget(s);
        part.join("chunks")
    };
    // What a crash between writing a flush's chunk file and committing its index leaves: a
    // chunk file no commit refers to, and a temporary file.
    let committed: Vec<_> = std::fs::read_dir(&chunks).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(committed.len(), 1);
    std::fs::copy(&committed[0], chunks.join("00000000000000000099.chk")).unwrap();
    std::fs::write(chunks.join("00000000000000000100.tmp"), b"NLC1 partial").unwrap();
    let s = open(tmp.path());
    let left: Vec<_> = std::fs::read_dir(&chunks).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(left, committed, "orphans removed");
    let got: Vec<String> = select_all(&s, "a", &[], Direction::Forward)
        .into_iter()
        .map(|x| x.2)
        .collect();
    assert_eq!(got, ["flushed", "in the WAL only"]);
    s.flush().unwrap();
    s.close().unwrap();
    let s = open(tmp.path());
    let got: Vec<String> = select_all(&s, "a", &[], Direction::Backward)
        .into_iter()
        .map(|x| x.2)
        .collect();
    assert_eq!(got, ["in the WAL only", "flushed"]);
}

#[test]
fn partitions_of_the_older_format_are_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("partitions").join(t0().to_string());
    std::fs::create_dir_all(&old).unwrap();
    // The earlier layout: a tantivy index with one document per line.
    let mut b = tantivy::schema::Schema::builder();
    b.add_text_field("line", tantivy::schema::TEXT | tantivy::schema::STORED);
    tantivy::Index::create_in_dir(&old, b.build()).unwrap();
    let s = open(tmp.path());
    assert!(!old.exists());
    assert!(
        tmp.path()
            .join("outdated")
            .join(t0().to_string())
            .join("meta.json")
            .exists()
    );
    s.push(
        vec![LogStream {
            labels: labels("a"),
            entries: vec![entry(t0(), "new")],
        }],
        t0(),
    )
    .unwrap();
    s.flush().unwrap();
    assert_eq!(select_all(&s, "a", &[], Direction::Forward).len(), 1);
}

#[test]
fn ordering_window_retention_and_future_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    let hour = 3_600_000_000_000;
    let out = s
        .push(
            vec![LogStream {
                labels: labels("a"),
                entries: vec![
                    entry(t0(), "newest"),
                    entry(t0() - hour / 2, "late but in window"),
                    entry(t0() - 2 * hour, "too far behind"),
                    entry(t0() - 8 * DAY, "past retention"),
                    entry(t0() + hour, "future"),
                ],
            }],
            t0(),
        )
        .unwrap();
    assert_eq!(out.accepted, 2);
    let reasons: Vec<_> = out.rejected.iter().map(|r| r.reason.clone()).collect();
    assert!(matches!(reasons[0], RejectReason::TooFarBehind { .. }));
    assert!(matches!(reasons[1], RejectReason::TooOld { .. }));
    assert!(matches!(reasons[2], RejectReason::TooNew { .. }));
    assert!(out.rejected[0].to_string().contains("too old"), "{}", out.rejected[0]);
}

#[test]
fn retention_drops_whole_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    for d in 0..3 {
        s.push(
            vec![LogStream {
                labels: labels("a"),
                entries: vec![entry(t0() + d * DAY, &format!("day {d}"))],
            }],
            t0() + d * DAY,
        )
        .unwrap();
        s.maintain(t0() + d * DAY).unwrap();
    }
    assert_eq!(s.stats().partitions, 3);
    // Seven days after the second entry's partition ends, the first two partitions expire.
    s.maintain(t0() + DAY + 8 * DAY).unwrap();
    let got: Vec<String> = select_all(&s, "a", &[], Direction::Forward)
        .into_iter()
        .map(|x| x.2)
        .collect();
    assert_eq!(got, ["day 2"]);
    assert_eq!(s.stats().partitions, 1);
    assert_eq!(std::fs::read_dir(tmp.path().join("partitions")).unwrap().count(), 1);
}

#[test]
fn size_retention_drops_the_oldest_partitions_but_never_the_newest() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let s = open(tmp.path());
        for d in 0..3 {
            s.push(
                vec![LogStream {
                    labels: labels("a"),
                    entries: vec![entry(t0() + d * DAY, &format!("day {d}"))],
                }],
                t0() + d * DAY,
            )
            .unwrap();
            s.maintain(t0() + d * DAY).unwrap();
        }
        assert_eq!(s.stats().partitions, 3);
        s.close().unwrap();
    }
    let one = super::recovery::dir_size(&tmp.path().join("partitions")) / 3;
    let s = LogStore::open(
        tmp.path(),
        LogStoreOptions {
            retention_bytes: Some(one * 2 + one / 2),
            ..opts()
        },
    )
    .unwrap();
    s.maintain(t0() + 2 * DAY).unwrap();
    let got: Vec<String> = select_all(&s, "a", &[], Direction::Forward)
        .into_iter()
        .map(|x| x.2)
        .collect();
    assert_eq!(got, ["day 1", "day 2"], "the oldest day went first");
    s.close().unwrap();
    drop(s);
    let s = LogStore::open(
        tmp.path(),
        LogStoreOptions {
            retention_bytes: Some(1),
            ..opts()
        },
    )
    .unwrap();
    s.maintain(t0() + 2 * DAY).unwrap();
    assert_eq!(s.stats().partitions, 1, "the newest partition stays whatever the limit");
}

#[test]
fn labels_series_stats_and_trace_lookup() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    let mut e = entry(t0(), "with trace");
    e.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
    e.metadata = vec![("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into())];
    s.push(
        vec![
            LogStream {
                labels: labels("a"),
                entries: vec![e, entry(t0() + 1, "plain")],
            },
            LogStream {
                labels: Labels::from_pairs([("app", "b"), ("team", "x")]).unwrap(),
                entries: vec![entry(t0() + 2, "other")],
            },
        ],
        t0(),
    )
    .unwrap();
    for commit in [false, true] {
        if commit {
            s.maintain(t0()).unwrap();
        }
        assert_eq!(s.label_names(&[], 0, i64::MAX), ["app", "env", "team"]);
        assert_eq!(s.label_values("app", &[], 0, i64::MAX), ["a", "b"]);
        assert_eq!(s.series(&[Matcher::equal("team", "x")], 0, i64::MAX).len(), 1);
        let st = s.stream_stats(&[], 0, i64::MAX).unwrap();
        assert_eq!(st.iter().map(|x| x.entries).sum::<u64>(), 3);
        assert_eq!(st.iter().map(|x| x.bytes).sum::<u64>(), 10 + 5 + 5);
        let req = Select {
            matchers: vec![],
            start_ns: 0,
            end_ns: i64::MAX,
            direction: Direction::Forward,
            contains: vec![],
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        };
        let mut got = Vec::new();
        s.select(&req, &mut |e| {
            got.push((e.line.to_owned(), e.metadata.to_vec()));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(got.len(), 1, "commit={commit}");
        assert_eq!(got[0].0, "with trace");
        assert_eq!(got[0].1[0].0, "trace_id");
    }
}

fn brute(lines: &[String], needle: &str) -> Vec<String> {
    lines.iter().filter(|l| l.contains(needle)).cloned().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// The index narrows, the raw line decides: filtered selects equal a brute-force scan, for
    /// substrings cut anywhere out of lines (mid-token, across separators, any case) and for
    /// tokens too long to index.
    #[test]
    fn indexed_filter_equals_brute_force(
        words in proptest::collection::vec(
            "[a-zA-Z0-9]{1,12}|[A-Za-z]{100,120}|é[a-z]{2}|[0-9a-fA-F]{8,20}|[0-9a-f]{3,7}", 1..20),
        seps in proptest::collection::vec("[ =:/\\-\\.\"]{1,2}", 1..20),
        picks in proptest::collection::vec((0usize..400, 1usize..20), 1..6),
        n_lines in 5usize..40,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let s = LogStore::open(tmp.path(), opts()).unwrap();
        let mut lines = Vec::new();
        for i in 0..n_lines {
            let mut l = String::new();
            for j in 0..(1 + (i * 7) % 6) {
                l.push_str(&words[(i * 3 + j) % words.len()]);
                l.push_str(&seps[(i + j) % seps.len()]);
            }
            lines.push(l);
        }
        // Pushed a few lines at a time, half flushed as they come: many small chunks (so the
        // index and the bloom filters, not one big chunk, decide the candidates) and a head.
        for (i, l) in lines.iter().enumerate() {
            s.push(vec![LogStream { labels: labels("p"), entries: vec![entry(t0() + i as i64, l)] }], t0()).unwrap();
            if i % 3 == 2 && i < n_lines / 2 {
                s.flush().unwrap();
            }
        }
        let all = lines.concat();
        let needles: Vec<String> = picks
            .iter()
            .filter_map(|&(at, len)| {
                let at = at % all.len();
                let end = (at + len).min(all.len());
                all.get(at..end).map(str::to_owned)
            })
            .collect();
        for committed in [false, true] {
            if committed {
                s.flush().unwrap();
            }
            for n in &needles {
                let got: Vec<String> =
                    select_all(&s, "p", &[n], Direction::Forward).into_iter().map(|x| x.2).collect();
                prop_assert_eq!(got, brute(&lines, n), "needle {:?} committed {}", n, committed);
            }
        }
        s.close().unwrap();
    }
}

#[test]
fn select_stops_on_break_and_honours_direction_across_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    s.push(
        vec![LogStream {
            labels: labels("a"),
            entries: (0..10)
                .map(|i| entry(t0() - DAY / 2 + i * DAY / 20, &format!("l{i}")))
                .collect(),
        }],
        t0() + DAY,
    )
    .unwrap();
    s.maintain(t0()).unwrap();
    let req = Select {
        matchers: vec![],
        start_ns: 0,
        end_ns: i64::MAX,
        direction: Direction::Backward,
        contains: vec![],
        trace_id: None,
    };
    let mut got = Vec::new();
    s.select(&req, &mut |e| {
        got.push(e.line.to_owned());
        if got.len() == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(got, ["l9", "l8", "l7"]);
    let _ = Duration::ZERO;
}

#[test]
fn deletion_requests_hide_entries_at_once_survive_reopen_and_can_be_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    let streams = ["api", "web"]
        .iter()
        .map(|app| LogStream {
            labels: labels(app),
            entries: (0..10).map(|i| entry(t0() + i, &format!("{app} {i}"))).collect(),
        })
        .collect();
    s.push(streams, t0()).unwrap();
    // Half in the index, half in the head: the filter applies to both.
    s.maintain(t0()).unwrap();
    s.push(
        vec![LogStream {
            labels: labels("api"),
            entries: vec![entry(t0() + 5, "api late")],
        }],
        t0(),
    )
    .unwrap();
    let api = Matcher::new(MatchOp::Equal, "app", "api").unwrap();
    assert!(
        s.delete(
            "{env=~\".*\"}",
            vec![Matcher::new(MatchOp::Regex, "env", ".*").unwrap()],
            0,
            1
        )
        .is_err()
    );
    let id = s.delete("{app=\"api\"}", vec![api], t0() + 2, t0() + 5).unwrap();
    let left: Vec<String> = select_all(&s, "api", &[], Direction::Forward)
        .into_iter()
        .map(|e| e.2)
        .collect();
    assert_eq!(left, ["api 0", "api 1", "api 6", "api 7", "api 8", "api 9"]);
    assert_eq!(
        select_all(&s, "web", &[], Direction::Forward).len(),
        10,
        "other streams untouched"
    );
    s.close().unwrap();
    drop(s);

    let s = open(tmp.path());
    assert_eq!(select_all(&s, "api", &[], Direction::Forward).len(), 6, "after reopen");
    let reqs = s.delete_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].id.as_str(), reqs[0].query.as_str()),
        (id.as_str(), "{app=\"api\"}")
    );
    assert!(!s.cancel_delete("nope").unwrap());
    assert!(s.cancel_delete(&id).unwrap());
    assert_eq!(select_all(&s, "api", &[], Direction::Forward).len(), 11, "cancelled");
    assert!(s.delete_requests().is_empty());
}
