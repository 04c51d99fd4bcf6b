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
            trace_id: None,
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
