//! JSON of Loki query results (Loki's `pkg/util/marshal`, api-contracts §2.3).
//!
//! Streams: entries are grouped by stream in order of first appearance, each stream's entries
//! in the query's direction. With the `categorize-labels` encoding flag a stream is keyed by its
//! indexed labels and every entry carries a third element with its structured metadata and
//! parsed labels (`{}` when it has none), and `encodingFlags` is written before `result`
//! (Grafana picks its parser from flags already read). Without the flag, a stream is keyed by
//! all labels (indexed ∪ structured metadata ∪ parsed) and entries are `[ts, line]`.
//! Timestamps of entries are nanosecond strings; metric results use the Prometheus encoding.

use std::collections::HashMap;
use std::fmt::Write as _;

use nerve_query::logql::{LogLine, LogValue};
use nerve_storage::Labels;

use crate::api::json::{write_labels, write_point, write_str};

/// The response encoding the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Entries `[ts, line]`, all labels in `stream`.
    Legacy,
    /// `X-Loki-Response-Encoding-Flags: categorize-labels`.
    Categorized,
}

fn write_pairs(out: &mut String, pairs: &[(String, String)]) {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

fn write_entry(out: &mut String, l: &LogLine, enc: Encoding) {
    let _ = write!(out, "[\"{}\",", l.ts_ns);
    write_str(out, &l.line);
    if enc == Encoding::Categorized {
        out.push_str(",{");
        let mut first = true;
        for (key, pairs) in [("structuredMetadata", &l.structured_metadata), ("parsed", &l.parsed)] {
            if pairs.is_empty() {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "\"{key}\":");
            write_pairs(out, pairs);
        }
        out.push('}');
    }
    out.push(']');
}

/// Appends `[{"stream":{..},"values":[..]},..]` for `lines`.
pub fn write_streams(out: &mut String, lines: &[LogLine], enc: Encoding) {
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, Vec<&LogLine>> = HashMap::new();
    for l in lines {
        let key = match enc {
            Encoding::Categorized => l.stream.clone(),
            Encoding::Legacy => l.full_labels(),
        };
        let g = groups.entry(key.clone()).or_default();
        if g.is_empty() {
            order.push(key);
        }
        g.push(l);
    }
    out.push('[');
    for (i, key) in order.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"stream\":");
        write_labels(out, key);
        out.push_str(",\"values\":[");
        for (j, l) in groups.get(key).into_iter().flatten().enumerate() {
            if j > 0 {
                out.push(',');
            }
            write_entry(out, l, enc);
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// The whole success body of a query.
pub fn render(v: &LogValue, enc: Encoding, exec_secs: f64) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("{\"status\":\"success\",\"data\":{");
    let returned = match v {
        LogValue::Streams(lines) => {
            out.push_str("\"resultType\":\"streams\",");
            if enc == Encoding::Categorized {
                out.push_str("\"encodingFlags\":[\"categorize-labels\"],");
            }
            out.push_str("\"result\":");
            write_streams(&mut out, lines, enc);
            lines.len()
        }
        LogValue::Vector(samples) => {
            out.push_str("\"resultType\":\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                write_point(&mut out, s.ts_ns.div_euclid(1_000_000), s.value);
                out.push('}');
            }
            out.push(']');
            samples.len()
        }
        LogValue::Matrix(series) => {
            out.push_str("\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, (t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(&mut out, t.div_euclid(1_000_000), *v);
                }
                out.push_str("]}");
            }
            out.push(']');
            series.len()
        }
        LogValue::Scalar(t, v) => {
            out.push_str("\"resultType\":\"scalar\",\"result\":");
            write_point(&mut out, t.div_euclid(1_000_000), *v);
            1
        }
    };
    let _ = write!(
        out,
        ",\"stats\":{{\"summary\":{{\"execTime\":{exec_secs},\"totalEntriesReturned\":{returned}}}}}}}}}"
    );
    out
}
