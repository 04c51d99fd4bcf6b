//! Cardinality figures of the head, as Prometheus' `/api/v1/status/tsdb` reports them: per
//! label name the number of values and the bytes of those values, series per metric name and
//! per label pair, the top entries of each.

use super::Head;

/// One `(name, count)` entry of a top list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Metric name, label name, or `name=value` pair.
    pub name: String,
    /// The count (series, values or bytes).
    pub count: u64,
}

/// The head's cardinality figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadCardinality {
    /// Series in the head.
    pub num_series: u64,
    /// Distinct label pairs.
    pub num_label_pairs: u64,
    /// Chunks held by head series (closed and open).
    pub chunk_count: u64,
    /// Series per metric name, most first.
    pub series_by_metric_name: Vec<Stat>,
    /// Distinct values per label name, most first.
    pub values_by_label_name: Vec<Stat>,
    /// Bytes of the distinct values per label name, most first.
    pub value_bytes_by_label_name: Vec<Stat>,
    /// Series per label pair, most first.
    pub series_by_label_pair: Vec<Stat>,
}

/// The `top` largest of `v` (ties by name), largest first.
fn top(mut v: Vec<Stat>, n: usize) -> Vec<Stat> {
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    v.truncate(n);
    v
}

impl Head {
    /// The cardinality figures, each list cut to its `limit` largest entries.
    pub fn cardinality(&self, limit: usize) -> HeadCardinality {
        let (mut by_metric, mut by_name, mut bytes, mut pairs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut num_label_pairs = 0u64;
        {
            let p = self.postings.read();
            for (name, values) in &p.map {
                num_label_pairs += values.len() as u64;
                by_name.push(Stat {
                    name: name.to_string(),
                    count: values.len() as u64,
                });
                bytes.push(Stat {
                    name: name.to_string(),
                    count: values.keys().map(|v| v.len() as u64).sum(),
                });
                for (value, ids) in values {
                    if &**name == "__name__" {
                        by_metric.push(Stat {
                            name: value.to_string(),
                            count: ids.len(),
                        });
                    }
                    pairs.push(Stat {
                        name: format!("{name}={value}"),
                        count: ids.len(),
                    });
                }
            }
        }
        let mut chunk_count = 0u64;
        for shard in &self.by_id {
            for s in shard.read().values() {
                let d = s.data.lock();
                chunk_count += d.closed.len() as u64 + u64::from(d.open.is_some());
            }
        }
        HeadCardinality {
            num_series: self.num_series(),
            num_label_pairs,
            chunk_count,
            series_by_metric_name: top(by_metric, limit),
            values_by_label_name: top(by_name, limit),
            value_bytes_by_label_name: top(bytes, limit),
            series_by_label_pair: top(pairs, limit),
        }
    }
}
