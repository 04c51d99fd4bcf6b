//! Turning the registry's counters and histograms into samples: label sets, the leading 0 of
//! new series, stale markers of idle ones, cumulative buckets with `le` as Go prints it, and
//! the pending exemplar of each series.

use nerve_storage::Labels;
use nerve_storage::metrics::{Exemplar, STALE_NAN};
use nerve_storage::traces::hex;

use super::{Counter, Flush, Histogram, Witness};

/// The label set `__name__=name` + `base` (+ `extra`).
pub(super) fn labels_of(name: &str, base: &[(&str, &str)], extra: Option<(&str, &str)>) -> Labels {
    let pairs = std::iter::once(("__name__", name))
        .chain(base.iter().copied())
        .chain(extra);
    // Names are fixed and unique; values may be empty (then the label is absent).
    Labels::from_pairs(pairs).unwrap_or_default()
}

pub(super) fn exemplar(w: &Witness) -> Exemplar {
    Exemplar {
        labels: Labels::from_pairs([("trace_id", hex(&w.trace_id)), ("span_id", hex(&w.span_id))]).unwrap_or_default(),
        t: w.t_ms,
        v: w.value,
    }
}

/// Writes one series: a 0 first when `fresh`, its value (or a stale marker when not `live`),
/// and the pending exemplar.
pub(super) fn push(
    out: &mut Flush,
    labels: Labels,
    value: f64,
    fresh: bool,
    live: bool,
    now_ms: i64,
    w: Option<Witness>,
) {
    if !live {
        out.samples.push((labels, now_ms, STALE_NAN));
        return;
    }
    if fresh {
        out.samples.push((labels.clone(), now_ms - 1, 0.0));
    }
    if let Some(w) = w {
        out.exemplars.push((labels.clone(), exemplar(&w)));
    }
    out.samples.push((labels, now_ms, value));
}

pub(super) fn write_counter(
    out: &mut Flush,
    name: &str,
    base: &[(&str, &str)],
    c: &mut Counter,
    fresh: bool,
    live: bool,
    now_ms: i64,
) {
    push(
        out,
        labels_of(name, base, None),
        c.value as f64,
        fresh,
        live,
        now_ms,
        c.witness.take(),
    );
}

#[allow(clippy::too_many_arguments)]
pub(super) fn write_histogram(
    out: &mut Flush,
    name: &str,
    base: &[(&str, &str)],
    bounds: &[f64],
    h: &mut Histogram,
    fresh: bool,
    live: bool,
    now_ms: i64,
) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    let mut witnesses = std::mem::take(&mut h.witnesses);
    for (i, n) in h.counts.iter().enumerate() {
        cumulative += n;
        let le = bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| format_le(*b));
        let labels = labels_of(&bucket, base, Some(("le", &le)));
        let w = witnesses
            .iter()
            .position(|(b, _)| *b == i)
            .map(|p| witnesses.swap_remove(p).1);
        push(out, labels, cumulative as f64, fresh, live, now_ms, w);
    }
    push(
        out,
        labels_of(&format!("{name}_sum"), base, None),
        h.sum,
        fresh,
        live,
        now_ms,
        None,
    );
    push(
        out,
        labels_of(&format!("{name}_count"), base, None),
        h.count() as f64,
        fresh,
        live,
        now_ms,
        None,
    );
}

/// A bucket bound as Go's `strconv.FormatFloat(b, 'f', -1, 64)` prints it (`0.002`, `1`).
fn format_le(b: f64) -> String {
    format!("{b}")
}
