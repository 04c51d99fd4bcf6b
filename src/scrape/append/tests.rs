use std::sync::Arc;

use nerve_storage::Matcher;
use nerve_storage::metrics::{Sample, TsdbOptions, is_stale_nan};

use super::*;

const T0: i64 = 1_700_000_000_000;

fn tsdb() -> (tempfile::TempDir, Arc<Tsdb>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    (dir, db)
}

fn target() -> Labels {
    Labels::from_pairs([("job", "node"), ("instance", "h:9100")]).unwrap()
}

fn settings() -> AppendSettings {
    AppendSettings {
        honor_timestamps: true,
        ..Default::default()
    }
}

fn samples(db: &Tsdb, name: &str) -> Vec<(Labels, Vec<Sample>)> {
    let q = db.querier(0, i64::MAX).unwrap();
    q.select(&[Matcher::equal("__name__", name)])
        .unwrap()
        .into_iter()
        .map(|s| {
            let v = s.samples().unwrap();
            (s.labels, v)
        })
        .collect()
}

fn scrape(c: &mut SeriesCache, db: &Tsdb, body: &str, t: i64, s: &AppendSettings) -> (Counts, Result<(), String>) {
    c.append_scrape(db, body.as_bytes(), Format::PrometheusText, t, s)
}

#[test]
fn target_labels_are_added_and_conflicts_renamed() {
    let (_d, db) = tsdb();
    let mut c = SeriesCache::new(target()).unwrap();
    let (counts, r) = scrape(
        &mut c,
        &db,
        "m{job=\"app\",exported_job=\"x\",a=\"1\"} 5\n",
        T0,
        &settings(),
    );
    r.unwrap();
    assert_eq!(
        counts,
        Counts {
            scraped: 1,
            post_relabel: 1,
            series_added: 1
        }
    );
    let got = samples(&db, "m");
    let l = &got[0].0;
    assert_eq!(l.get("job"), Some("node"));
    assert_eq!(l.get("exported_job"), Some("x"));
    assert_eq!(l.get("exported_exported_job"), Some("app"));
    assert_eq!(l.get("instance"), Some("h:9100"));
}

#[test]
fn honor_labels_keeps_the_targets_own() {
    let (_d, db) = tsdb();
    let mut c = SeriesCache::new(target()).unwrap();
    let s = AppendSettings {
        honor_labels: true,
        ..settings()
    };
    scrape(&mut c, &db, "m{job=\"app\"} 5\n", T0, &s).1.unwrap();
    let l = &samples(&db, "m")[0].0;
    assert_eq!(l.get("job"), Some("app"));
    assert_eq!(l.get("instance"), Some("h:9100"));
    assert_eq!(l.get("exported_job"), None);
}

#[test]
fn vanished_series_and_failed_scrapes_get_stale_markers() {
    let (_d, db) = tsdb();
    let mut c = SeriesCache::new(target()).unwrap();
    let s = settings();
    scrape(&mut c, &db, "a 1\nb 2\nts_given 3 1000\n", T0, &s).1.unwrap();
    let (counts, r) = scrape(&mut c, &db, "a 1\n", T0 + 1000, &s);
    r.unwrap();
    assert_eq!(counts.series_added, 0);
    let b = &samples(&db, "b")[0].1;
    assert_eq!(b.len(), 2);
    assert!(is_stale_nan(b[1].v) && b[1].t == T0 + 1000);
    // Series with explicit timestamps are not tracked.
    assert!(samples(&db, "ts_given")[0].1.iter().all(|x| !is_stale_nan(x.v)));
    // A parse error fails the whole scrape: nothing kept, everything stale.
    let (_, r) = scrape(&mut c, &db, "a 2\nbroken{ 1\n", T0 + 2000, &s);
    assert!(r.unwrap_err().contains("line 2"));
    let a = &samples(&db, "a")[0].1;
    assert_eq!(a.len(), 3);
    assert!(is_stale_nan(a[2].v));
    // The next good scrape counts its series as added again.
    let (counts, _) = scrape(&mut c, &db, "a 3\n", T0 + 3000, &s);
    assert_eq!(counts.series_added, 1);
}

#[test]
fn removed_target_marks_synthetic_series_stale() {
    let (_d, db) = tsdb();
    let mut c = SeriesCache::new(target()).unwrap();
    let (counts, r) = scrape(&mut c, &db, "a 1\n", T0, &settings());
    r.unwrap();
    c.report(&db, T0, true, 0.25, counts);
    c.end_of_run(&db, T0 + 1000);
    for name in REPORT_SERIES.iter().chain(&["a"]) {
        let got = samples(&db, name);
        assert_eq!(got.len(), 1, "{name}");
        let (l, s) = &got[0];
        assert_eq!(l.get("job"), Some("node"));
        assert_eq!(s.len(), 2, "{name}");
        assert!(is_stale_nan(s[1].v), "{name}");
    }
    assert_eq!(samples(&db, "up")[0].1[0].v, 1.0);
    assert_eq!(samples(&db, "scrape_duration_seconds")[0].1[0].v, 0.25);
}

#[test]
fn metric_relabeling_and_limits() {
    let (_d, db) = tsdb();
    let rules: Vec<crate::config::relabel::RelabelConfig> =
        serde_saphyr::from_str("- source_labels: [__name__]\n  regex: 'go_.*'\n  action: drop\n").unwrap();
    let s = AppendSettings {
        metric_relabel: Rule::compile_all(&rules).unwrap(),
        sample_limit: 2,
        ..settings()
    };
    let mut c = SeriesCache::new(target()).unwrap();
    let (counts, r) = scrape(&mut c, &db, "go_x 1\ngo_y 1\na 1\nb 1\n", T0, &s);
    r.unwrap();
    assert_eq!(
        counts,
        Counts {
            scraped: 4,
            post_relabel: 2,
            series_added: 2
        }
    );
    assert!(samples(&db, "go_x").is_empty());
    let (counts, r) = scrape(&mut c, &db, "a 1\nb 1\nc 1\n", T0 + 1000, &s);
    assert_eq!(r.unwrap_err(), "sample limit exceeded");
    assert_eq!(counts.scraped, 3);
    assert!(samples(&db, "c").is_empty(), "a failed scrape keeps nothing");

    let limited = |s: AppendSettings, body: &str| {
        let mut c = SeriesCache::new(target()).unwrap();
        scrape(&mut c, &db, body, T0 + 5000, &s).1.unwrap_err()
    };
    let e = limited(
        AppendSettings {
            label_limit: 3,
            ..settings()
        },
        "m{a=\"1\",b=\"2\"} 1\n",
    );
    assert!(e.starts_with("label_limit exceeded"), "{e}");
    let e = limited(
        AppendSettings {
            label_name_length_limit: 5,
            ..settings()
        },
        "m{long_name=\"1\"} 1\n",
    );
    assert!(e.starts_with("label_name_length_limit exceeded"), "{e}");
    let e = limited(
        AppendSettings {
            label_value_length_limit: 3,
            ..settings()
        },
        "m{a=\"long\"} 1\n",
    );
    assert!(e.starts_with("label_value_length_limit exceeded"), "{e}");
    let e = limited(settings(), "m{a=\"1\",a=\"2\"} 1\n");
    assert!(e.contains("not unique"), "{e}");
}

#[test]
fn timestamps_exemplars_and_metadata() {
    let (_d, db) = tsdb();
    let body = "# HELP foo Foo things.\n# TYPE foo counter\n# UNIT foo seconds\n\
                foo_total 3 1700000000.5 # {trace_id=\"abc\"} 0.5 1700000000.25\n# EOF\n";
    let mut c = SeriesCache::new(target()).unwrap();
    let (_, r) = c.append_scrape(&db, body.as_bytes(), Format::OpenMetrics, T0 + 9000, &settings());
    r.unwrap();
    let s = &samples(&db, "foo_total")[0].1;
    assert_eq!(s[0].t, T0 + 500, "honoured timestamp");
    let ex = db
        .exemplars(&[Matcher::equal("__name__", "foo_total")], 0, i64::MAX)
        .unwrap();
    assert_eq!(ex[0].1[0].labels.get("trace_id"), Some("abc"));
    assert_eq!(ex[0].1[0].t, T0 + 250);
    let md = db.metadata();
    let (_, m) = md.iter().find(|(f, _)| f == "foo").unwrap();
    assert_eq!(
        (m.kind, m.help.as_str(), m.unit.as_str()),
        (MetricType::Counter, "Foo things.", "seconds")
    );
    // honor_timestamps: false uses the scrape time.
    let s2 = AppendSettings {
        honor_timestamps: false,
        ..settings()
    };
    let mut c = SeriesCache::new(target()).unwrap();
    scrape(&mut c, &db, "bar 1 1000\n", T0, &s2).1.unwrap();
    assert_eq!(samples(&db, "bar")[0].1[0].t, T0);
}
