//! Service dependencies: the edges Jaeger's `/api/dependencies` draws, from parent/child
//! span pairs whose services differ.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::time::Instant;

use nerve_storage::traces::{ScanHint, SpanId, SpanStore, TraceId};

use crate::error::{Error, Result};

/// One edge: `parent` called `child` `calls` times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The calling service.
    pub parent: String,
    /// The called service.
    pub child: String,
    /// Parent/child span pairs seen.
    pub calls: u64,
}

/// Most spans remembered for one dependencies computation; beyond it the answer is an error
/// asking for a shorter lookback rather than unbounded memory.
pub const MAX_SPANS: usize = 5_000_000;

/// The edges among spans overlapping `[start_ns, end_ns]`, sorted by parent then child.
/// A pair counts when both spans are in range and their services differ.
pub fn dependencies(
    store: &SpanStore,
    start_ns: u64,
    end_ns: u64,
    deadline: Option<Instant>,
) -> Result<Vec<Dependency>> {
    let mut services: Vec<String> = Vec::new();
    let mut service_ids: HashMap<String, u32> = HashMap::new();
    // (trace, span) → service, and the (trace, parent, child service) of every non-root span.
    let mut owner: HashMap<(TraceId, SpanId), u32> = HashMap::new();
    let mut children: Vec<(TraceId, SpanId, u32)> = Vec::new();
    let mut failure: Option<Error> = None;
    let mut n = 0u32;
    store.scan(start_ns, end_ns, &ScanHint::default(), &mut |s| {
        n = n.wrapping_add(1);
        if n.is_multiple_of(4096) && deadline.is_some_and(|d| Instant::now() >= d) {
            failure = Some(Error::Timeout("dependencies"));
            return ControlFlow::Break(());
        }
        if owner.len() >= MAX_SPANS {
            failure = Some(Error::Execution(format!(
                "more than {MAX_SPANS} spans in the lookback window; ask for a shorter lookback"
            )));
            return ControlFlow::Break(());
        }
        let name = s.service_name();
        let id = match service_ids.get(name) {
            Some(&id) => id,
            None => {
                let id = services.len() as u32;
                services.push(name.to_owned());
                service_ids.insert(name.to_owned(), id);
                id
            }
        };
        owner.insert((s.trace_id, s.span_id), id);
        if !s.is_root() {
            children.push((s.trace_id, s.parent_span_id, id));
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let mut edges: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    for (trace, parent, child) in children {
        if let Some(&p) = owner.get(&(trace, parent))
            && p != child
        {
            *edges.entry((p, child)).or_default() += 1;
        }
    }
    let mut out: Vec<Dependency> = edges
        .into_iter()
        .map(|((p, c), calls)| Dependency {
            parent: services[p as usize].clone(),
            child: services[c as usize].clone(),
            calls,
        })
        .collect();
    out.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
    Ok(out)
}
