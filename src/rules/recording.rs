//! Recording rules: the expression's result renamed to the rule's name, with the group's and
//! rule's labels applied, written back as new series.

use std::collections::{BTreeMap, HashSet};

use nerve_storage::Labels;

/// A compiled recording rule.
#[derive(Clone, Debug)]
pub struct RecordingRule {
    /// The metric name written.
    pub name: String,
    /// Labels set on every output series (group labels merged in, rule labels winning); an
    /// empty value removes the label.
    pub labels: BTreeMap<String, String>,
}

impl RecordingRule {
    /// A rule writing `name`, with `group_labels` under the rule's own `labels`.
    pub fn new(name: &str, group_labels: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> Self {
        let mut all = group_labels.clone();
        all.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        RecordingRule {
            name: name.to_owned(),
            labels: all,
        }
    }

    /// The series to write for the expression's `result`; `limit` (0: none) bounds them.
    pub fn eval(&self, result: Vec<(Labels, f64)>, limit: usize) -> Result<Vec<(Labels, f64)>, String> {
        let mut out = Vec::with_capacity(result.len());
        let mut seen = HashSet::with_capacity(result.len());
        for (l, v) in result {
            let mut m: BTreeMap<&str, &str> = l.iter().collect();
            m.insert("__name__", &self.name);
            for (k, v) in &self.labels {
                if v.is_empty() {
                    m.remove(k.as_str());
                } else {
                    m.insert(k, v);
                }
            }
            let labels = Labels::from_pairs(m).map_err(|e| e.to_string())?;
            if !seen.insert(labels.clone()) {
                return Err("vector contains metrics with the same labelset after applying rule labels".into());
            }
            out.push((labels, v));
        }
        if limit > 0 && out.len() > limit {
            return Err(format!("exceeded limit of {limit} with {} series", out.len()));
        }
        Ok(out)
    }
}
