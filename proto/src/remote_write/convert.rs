//! Conversion from remote-write 1.0 to 2.0 messages (used for tests, benches
//! and forwarding to 2.0 receivers).

use std::collections::HashMap;

use crate::{prompb, write_v2};

/// Suffixes a series name may add to its family name.
const FAMILY_SUFFIXES: [&str; 6] = ["_total", "_bucket", "_sum", "_count", "_created", "_info"];

/// Interns strings into a 2.0 symbols table whose first entry is `""`.
struct SymbolTable<'a> {
    symbols: Vec<String>,
    index: HashMap<&'a str, u32>,
}

impl<'a> SymbolTable<'a> {
    fn new() -> Self {
        SymbolTable {
            symbols: vec![String::new()],
            index: HashMap::from([("", 0)]),
        }
    }

    fn intern(&mut self, s: &'a str) -> u32 {
        if let Some(&r) = self.index.get(s) {
            return r;
        }
        // More than u32::MAX distinct strings cannot be encoded in 2.0 at all;
        // saturating keeps this total (the result would fail to flatten).
        let r = u32::try_from(self.symbols.len()).unwrap_or(u32::MAX);
        self.symbols.push(s.to_owned());
        self.index.insert(s, r);
        r
    }

    fn labels(&mut self, labels: &'a [prompb::Label]) -> Vec<u32> {
        let mut refs = Vec::with_capacity(labels.len() * 2);
        for l in labels {
            refs.push(self.intern(&l.name));
            refs.push(self.intern(&l.value));
        }
        refs
    }
}

/// Converts a 1.0 request to the equivalent 2.0 request.
///
/// Labels, samples, exemplars and native histograms carry over unchanged.
/// 1.0 family metadata is attached to every series whose `__name__` is the
/// family name, possibly followed by `_total`, `_bucket`, `_sum`, `_count`,
/// `_created` or `_info`; metadata matching no series is dropped, since 2.0
/// has nowhere else to put it.
pub fn v1_to_v2(req: &prompb::WriteRequest) -> write_v2::Request {
    let mut table = SymbolTable::new();
    let families: HashMap<&str, &prompb::MetricMetadata> = req
        .metadata
        .iter()
        .map(|m| (m.metric_family_name.as_str(), m))
        .collect();
    let timeseries = req
        .timeseries
        .iter()
        .map(|ts| {
            let labels_refs = table.labels(&ts.labels);
            let metadata = series_name(ts)
                .and_then(|name| family_of(&families, name))
                .map(|m| write_v2::Metadata {
                    r#type: m.r#type,
                    help_ref: table.intern(&m.help),
                    unit_ref: table.intern(&m.unit),
                });
            write_v2::TimeSeries {
                labels_refs,
                samples: ts
                    .samples
                    .iter()
                    .map(|s| write_v2::Sample {
                        value: s.value,
                        timestamp: s.timestamp,
                        start_timestamp: 0,
                    })
                    .collect(),
                histograms: ts.histograms.iter().map(histogram).collect(),
                exemplars: ts
                    .exemplars
                    .iter()
                    .map(|e| write_v2::Exemplar {
                        labels_refs: table.labels(&e.labels),
                        value: e.value,
                        timestamp: e.timestamp,
                    })
                    .collect(),
                metadata,
                created_timestamp: 0,
            }
        })
        .collect();
    write_v2::Request {
        symbols: table.symbols,
        timeseries,
    }
}

fn series_name(ts: &prompb::TimeSeries) -> Option<&str> {
    ts.labels
        .iter()
        .find(|l| l.name == "__name__")
        .map(|l| l.value.as_str())
}

fn family_of<'m>(
    families: &HashMap<&str, &'m prompb::MetricMetadata>,
    name: &str,
) -> Option<&'m prompb::MetricMetadata> {
    if let Some(m) = families.get(name) {
        return Some(m);
    }
    FAMILY_SUFFIXES
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find_map(|family| families.get(family).copied())
}

fn spans(spans: &[prompb::BucketSpan]) -> Vec<write_v2::BucketSpan> {
    spans
        .iter()
        .map(|s| write_v2::BucketSpan {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

fn histogram(h: &prompb::Histogram) -> write_v2::Histogram {
    use prompb::histogram::{Count as C1, ZeroCount as Z1};
    use write_v2::histogram::{Count as C2, ZeroCount as Z2};
    write_v2::Histogram {
        count: h.count.map(|c| match c {
            C1::CountInt(n) => C2::CountInt(n),
            C1::CountFloat(n) => C2::CountFloat(n),
        }),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count.map(|z| match z {
            Z1::ZeroCountInt(n) => Z2::ZeroCountInt(n),
            Z1::ZeroCountFloat(n) => Z2::ZeroCountFloat(n),
        }),
        negative_spans: spans(&h.negative_spans),
        negative_deltas: h.negative_deltas.clone(),
        negative_counts: h.negative_counts.clone(),
        positive_spans: spans(&h.positive_spans),
        positive_deltas: h.positive_deltas.clone(),
        positive_counts: h.positive_counts.clone(),
        reset_hint: h.reset_hint,
        timestamp: h.timestamp,
        custom_values: h.custom_values.clone(),
        start_timestamp: 0,
    }
}
