//! The LogQL engine over the real log store (temp dir): what the store's [`LogSource`] impl
//! adds to a plain select (the trace-id push-down) gives the same answers as a scan.

use std::ops::ControlFlow;

use nerve_query::logql::{self, Direction, Limits, LogSource, LogValue, Select};
use nerve_storage::logs::{LogEntry, LogStore, LogStoreOptions, LogStream, now_ns};
use nerve_storage::{Labels, MatchOp, Matcher};

const X: &str = "0af7651916cd43dd8448eb211c80319c";

/// An entry with an optional `trace_id` in its structured metadata and the trace id the
/// ingest path would index for it (`indexed`: from the metadata or the line).
fn entry(ts_ns: i64, line: &str, meta: Option<&str>, indexed: Option<&str>) -> LogEntry {
    LogEntry {
        ts_ns,
        line: line.to_owned(),
        metadata: meta
            .map(|t| vec![("trace_id".to_owned(), t.to_owned())])
            .unwrap_or_default(),
        trace_id: indexed.map(str::to_owned),
    }
}

fn lines(store: &LogStore, q: &str) -> Vec<String> {
    let now = now_ns();
    let v = logql::eval_range(
        store,
        q,
        now - 3_600_000_000_000,
        now + 1,
        1,
        None,
        100,
        Direction::Forward,
        &Limits::default(),
    )
    .unwrap();
    let LogValue::Streams(l) = v else { panic!("not streams") };
    l.into_iter().map(|l| l.line).collect()
}

/// `| trace_id="…"` answered from the trace-id index returns what a scan returns: entries
/// whose metadata carries the id, not lines that merely contain it (their id is only a
/// parsed label after `| json`), and streams with a `trace_id` *label* still match.
#[test]
fn trace_id_filter_uses_the_index_and_equals_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), LogStoreOptions::default()).unwrap();
    let t = now_ns() - 60_000_000_000;
    let other = "11111111111111111111111111111111";
    let json_line = format!("{{\"trace_id\":\"{X}\",\"msg\":\"json only\"}}");
    let stream = |pairs: &[(&str, &str)], entries| LogStream {
        labels: Labels::from_pairs(pairs.iter().copied()).unwrap(),
        entries,
    };
    store
        .push(
            vec![
                stream(
                    &[("app", "a")],
                    vec![
                        entry(t, "with metadata", Some(X), Some(X)),
                        entry(t + 1, &json_line, None, Some(X)),
                        entry(t + 2, "other trace", Some(other), Some(other)),
                        entry(t + 3, "no trace", None, None),
                    ],
                ),
                stream(
                    &[("app", "b"), ("trace_id", X)],
                    vec![entry(t + 4, "stream label", None, None)],
                ),
            ],
            now_ns(),
        )
        .unwrap();
    let q = format!("{{app=~\".+\"}} | trace_id=\"{X}\"");
    assert_eq!(lines(&store, &q), ["with metadata", "stream label"]);
    let q = format!("{{app=\"a\"}} | trace_id=\"{X}\"");
    assert_eq!(lines(&store, &q), ["with metadata"]);
    // After a parser the id in the JSON line counts too (no pushdown there).
    let q = format!("{{app=\"a\"}} | json | trace_id=\"{X}\"");
    assert_eq!(lines(&store, &q).len(), 2);
    // The pushdown's own view: the index alone, on streams without a trace_id label.
    let select = |app: &str| {
        let req = Select {
            matchers: vec![Matcher::new(MatchOp::Regex, "app", app).unwrap()],
            start_ns: t - 1,
            end_ns: t + 100,
            direction: Direction::Forward,
            contains: Vec::new(),
            trace_id: Some(X.to_owned()),
        };
        let mut seen = Vec::new();
        LogSource::select(&*store, &req, &mut |e| {
            seen.push(e.line.to_owned());
            ControlFlow::Continue(())
        })
        .unwrap();
        seen
    };
    assert_eq!(
        select("a"),
        ["with metadata", json_line.as_str()],
        "index candidates: the metadata entry and the JSON line"
    );
    // A matching stream with a trace_id label: nothing is pushed down, every entry is scanned.
    assert_eq!(select("a|b").len(), 5);
}
