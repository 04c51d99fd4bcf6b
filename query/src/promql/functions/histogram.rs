//! `histogram_quantile` over classic (`le`-labelled) bucket series: Prometheus 2.42's
//! `bucketQuantile` with bucket coalescing and monotonicity repair.

use std::collections::HashMap;

use nerve_storage::Labels;
use nerve_storage::labels::METRIC_NAME;

use crate::promql::labels::{filter, signature_without};
use crate::promql::value::{InstantSample, Vector};

/// φ-quantile of each group of buckets (series equal but for `le`).
pub(super) fn quantile(q: f64, v: Vector, ts: i64) -> Vector {
    let mut groups: HashMap<String, usize> = HashMap::new();
    let mut ordered: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for s in v {
        let Some(upper) = s.labels.get("le").and_then(parse_go_float) else {
            continue;
        };
        // The key keeps the metric name (as Prometheus' does); the output drops it.
        let mut key = signature_without(&s.labels, &["le".to_string()]);
        key.push_str(s.labels.get(METRIC_NAME).unwrap_or(""));
        let i = *groups.entry(key).or_insert_with(|| {
            let l = filter(&s.labels, |n| n != METRIC_NAME && n != "le" && n != "quantile");
            ordered.push((l, Vec::new()));
            ordered.len() - 1
        });
        ordered[i].1.push((upper, s.v));
    }
    ordered
        .into_iter()
        .map(|(labels, b)| InstantSample {
            labels,
            t: ts,
            v: bucket_quantile(q, b),
        })
        .collect()
}

/// Go's `strconv.ParseFloat` for the spellings `le` values use.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let word = t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity") || t.eq_ignore_ascii_case("nan");
    if !word && !t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    s.parse().ok()
}

fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap_or(std::cmp::Ordering::Equal));
    match b.last() {
        Some(l) if l.0 == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce equal bounds.
    let mut c: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for x in b {
        match c.last_mut() {
            Some(l) if l.0 == x.0 => l.1 += x.1,
            _ => c.push(x),
        }
    }
    // Ensure monotonic counts.
    let mut max = f64::NEG_INFINITY;
    for x in &mut c {
        if x.1 > max {
            max = x.1;
        } else if x.1 < max {
            x.1 = max;
        }
    }
    if c.len() < 2 {
        return f64::NAN;
    }
    let observations = c[c.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = c.len() - 1;
    let i = c[..n].partition_point(|x| x.1 < rank);
    if i == n {
        return c[n - 1].0;
    }
    if i == 0 && c[0].0 <= 0.0 {
        return c[0].0;
    }
    let (mut start, end, mut count) = (0.0, c[i].0, c[i].1);
    if i > 0 {
        start = c[i - 1].0;
        count -= c[i - 1].1;
        rank -= c[i - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let b = vec![(0.1, 10.0), (0.5, 50.0), (1.0, 90.0), (f64::INFINITY, 100.0)];
        assert!((bucket_quantile(0.5, b.clone()) - 0.5).abs() < 1e-12);
        assert_eq!(bucket_quantile(0.99, b.clone()), 1.0);
        assert!(bucket_quantile(0.5, vec![(1.0, 1.0)]).is_nan());
        assert_eq!(bucket_quantile(-1.0, b), f64::NEG_INFINITY);
    }
}
