//! Turns the entries selected for a range aggregation into samples, one series per distinct
//! label set (docs: LogQL › Metric queries › Range vector aggregation / Unwrapped range
//! aggregations).
//!
//! Value per entry: 1 for counts and rates, the length of the (processed) line in bytes for
//! `bytes_*`, the converted label for `unwrap`. With `unwrap`, entries whose label is missing
//! or empty are skipped (Loki issue 6713); a failed conversion yields 0 and
//! `__error__="SampleExtractionErr"`, which the post-unwrap filters can drop. Series labels
//! are all labels (stream, metadata, parsed, errors) except the unwrapped one; a `by`
//! grouping on the range aggregation keeps only the listed labels, `without` removes them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Instant;

use nerve_storage::Labels;
use nerve_storage::labels::hash_pairs;

use super::ast::{Conversion, Grouping, RangeAgg, RangeOp};
use super::labels_builder::LabelsBuilder;
use super::pushdown::{pushdown_for, pushdown_trace_id};
use super::source::{Direction, LogSource, Select};
use super::stages::{self, label_filter_matches, parse_go_float};
use super::units::{parse_bytes, parse_go_duration};
use super::value::Limits;
use crate::error::{Error, Result};

/// `SampleExtractionErr`.
pub const SAMPLE_EXTRACTION_ERR: &str = "SampleExtractionErr";

/// The samples of one series, in time order.
#[derive(Clone, Debug)]
pub struct Series {
    /// Series labels.
    pub labels: Labels,
    /// `(timestamp ns, value)`.
    pub points: Vec<(i64, f64)>,
}

fn keep_label(name: &str, grouping: Option<&Grouping>, unwrapped: Option<&str>) -> bool {
    match grouping {
        Some(g) if !g.without => g.labels.iter().any(|l| l == name),
        Some(g) => !g.labels.iter().any(|l| l == name) && Some(name) != unwrapped,
        None => Some(name) != unwrapped,
    }
}

fn convert(conv: Conversion, v: &str) -> std::result::Result<f64, String> {
    match conv {
        Conversion::Float => parse_go_float(v),
        Conversion::Duration => parse_go_duration(v).map(|ns| ns as f64 / 1e9),
        Conversion::Bytes => parse_bytes(v).map(|b| b as f64),
    }
}

/// Selects `[start_ns, end_ns)` for `ra` and extracts its series, keeping the labels `grouping`
/// keeps (`ra`'s own, or one injected from an enclosing `sum`). A sample whose pipeline failed
/// is not grouped (all labels but the unwrapped one), so the error reaches the result, as in
/// Loki.
pub fn collect(
    src: &dyn LogSource,
    ra: &RangeAgg,
    grouping: Option<&Grouping>,
    start_ns: i64,
    end_ns: i64,
    limits: &Limits,
) -> Result<Vec<Series>> {
    let req = Select {
        matchers: ra.range.log.matchers.clone(),
        start_ns,
        end_ns,
        direction: Direction::Forward,
        contains: pushdown_for(&ra.range.log),
        trace_id: pushdown_trace_id(&ra.range.log),
    };
    let stages = &ra.range.log.stages;
    let unwrap = ra.range.unwrap.as_ref();
    let unwrapped = unwrap.map(|u| u.label.as_str());
    let mut series: Vec<Series> = Vec::new();
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut seen = 0usize;
    let mut kept = 0usize;
    let mut timed_out = false;
    let mut too_many = false;
    src.select(&req, &mut |e| {
        seen += 1;
        if seen.is_multiple_of(256) && limits.deadline.is_some_and(|d| Instant::now() > d) {
            timed_out = true;
            return ControlFlow::Break(());
        }
        let mut lb = LabelsBuilder::new(e.labels, e.metadata);
        let Some(line) = stages::run(stages, e.ts_ns, Cow::Borrowed(e.line), &mut lb) else {
            return ControlFlow::Continue(());
        };
        let value = match unwrap {
            Some(uw) => {
                let raw = match lb.get(&uw.label) {
                    Some(v) if !v.is_empty() => v,
                    _ => return ControlFlow::Continue(()),
                };
                let v = match convert(uw.conv, raw) {
                    Ok(v) => v,
                    Err(msg) => {
                        lb.set_err(SAMPLE_EXTRACTION_ERR, Some(msg));
                        0.0
                    }
                };
                for f in &uw.post_filters {
                    if !label_filter_matches(f, &mut lb) {
                        return ControlFlow::Continue(());
                    }
                }
                v
            }
            None if matches!(ra.op, RangeOp::Bytes | RangeOp::BytesRate) => line.len() as f64,
            None => 1.0,
        };
        let failed = lb.has_err();
        let mut pairs: Vec<(&str, &str)> = lb
            .pairs()
            .filter(|(n, _, _)| keep_label(n, if failed { None } else { grouping }, unwrapped))
            .map(|(n, v, _)| (n, v))
            .collect();
        pairs.sort_unstable();
        let h = hash_pairs(pairs.iter().copied());
        let bucket = index.entry(h).or_default();
        let idx = match bucket
            .iter()
            .find(|&&i| series[i].labels.eq_pairs(pairs.iter().copied()))
        {
            Some(&i) => i,
            None => {
                series.push(Series {
                    labels: Labels::from_pairs(pairs.iter().copied()).unwrap_or_default(),
                    points: Vec::new(),
                });
                bucket.push(series.len() - 1);
                series.len() - 1
            }
        };
        series[idx].points.push((e.ts_ns, value));
        kept += 1;
        if limits.max_samples > 0 && kept > limits.max_samples {
            too_many = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    if timed_out {
        return Err(Error::Timeout("logql sample extraction"));
    }
    if too_many {
        return Err(Error::TooManySamples("logql sample extraction"));
    }
    Ok(series)
}
