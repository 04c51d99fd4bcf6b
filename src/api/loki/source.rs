//! The log store as the LogQL engine's data source.

use std::ops::ControlFlow;

use nerve_query::logql::{self, EntryRef, LogSource, SelectRequest};
use nerve_storage::logs::{Direction, LogStore, Select};

/// Adapts [`LogStore::select`] to [`LogSource`].
#[derive(Debug, Clone, Copy)]
pub struct StoreSource<'a>(pub &'a LogStore);

impl LogSource for StoreSource<'_> {
    fn select(
        &self,
        req: &SelectRequest,
        visit: &mut dyn FnMut(EntryRef<'_>) -> ControlFlow<()>,
    ) -> nerve_query::Result<()> {
        let sel = Select {
            matchers: req.matchers.clone(),
            start_ns: req.start_ns,
            end_ns: req.end_ns,
            direction: match req.direction {
                logql::Direction::Forward => Direction::Forward,
                logql::Direction::Backward => Direction::Backward,
            },
            contains: req.contains.clone(),
            // The index knows the id each entry carries in its structured metadata (or line);
            // a stream *label* named trace_id is not in it, so such streams are scanned.
            trace_id: req.trace_id.clone().filter(|_| {
                !self
                    .0
                    .series(&req.matchers, req.start_ns, req.end_ns)
                    .iter()
                    .any(|l| l.get("trace_id").is_some())
            }),
        };
        self.0
            .select(&sel, &mut |e| {
                visit(EntryRef {
                    stream: e.labels,
                    ts_ns: e.ts_ns,
                    line: e.line,
                    metadata: e.metadata,
                })
            })
            .map_err(nerve_query::Error::Storage)
    }
}

#[cfg(test)]
mod tests {
    use nerve_query::logql::{self, Direction as QDir, Limits, LogValue};
    use nerve_storage::Labels;
    use nerve_storage::logs::{LogEntry, LogStore, LogStoreOptions, LogStream};

    use super::*;

    const X: &str = "0af7651916cd43dd8448eb211c80319c";

    fn entry(ts_ns: i64, line: &str, meta: Option<&str>) -> LogEntry {
        let metadata: Vec<(String, String)> = meta
            .map(|t| vec![("trace_id".to_owned(), t.to_owned())])
            .unwrap_or_default();
        LogEntry {
            ts_ns,
            line: line.to_owned(),
            trace_id: nerve_proto::loki::extract_trace_id(line, &metadata),
            metadata,
        }
    }

    fn lines(store: &LogStore, q: &str) -> Vec<String> {
        let now = now_ns();
        let v = logql::eval_range(
            &StoreSource(store),
            q,
            now - 3_600_000_000_000,
            now + 1,
            1,
            None,
            100,
            QDir::Forward,
            &Limits::default(),
        )
        .unwrap();
        let LogValue::Streams(l) = v else { panic!("not streams") };
        l.into_iter().map(|l| l.line).collect()
    }

    use nerve_storage::logs::now_ns;

    /// `| trace_id="…"` answered from the trace-id index returns what a scan returns: entries
    /// whose metadata carries the id, not lines that merely contain it (their id is only a
    /// parsed label after `| json`), and streams with a `trace_id` *label* still match.
    #[test]
    fn trace_id_filter_uses_the_index_and_equals_a_scan() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), LogStoreOptions::default()).unwrap();
        let t = now_ns() - 60_000_000_000;
        let other = "11111111111111111111111111111111";
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
                            entry(t, "with metadata", Some(X)),
                            entry(t + 1, &format!("{{\"trace_id\":\"{X}\",\"msg\":\"json only\"}}"), None),
                            entry(t + 2, "other trace", Some(other)),
                            entry(t + 3, "no trace", None),
                        ],
                    ),
                    stream(
                        &[("app", "b"), ("trace_id", X)],
                        vec![entry(t + 4, "stream label", None)],
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
        let req = SelectRequest {
            matchers: vec![nerve_storage::Matcher::equal("app", "a")],
            start_ns: t - 1,
            end_ns: t + 100,
            direction: logql::Direction::Forward,
            contains: Vec::new(),
            trace_id: Some(X.to_owned()),
        };
        let mut seen = Vec::new();
        StoreSource(&store)
            .select(&req, &mut |e| {
                seen.push(e.line.to_owned());
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(
            seen.len(),
            2,
            "index candidates: the metadata entry and the JSON line: {seen:?}"
        );
    }
}
