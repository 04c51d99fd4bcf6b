//! Label-set edits the engine needs (drop the metric name, keep or remove names, set one
//! label) and match signatures for grouping and vector matching.

use std::fmt::Write;

use nerve_storage::labels::METRIC_NAME;
use nerve_storage::{Label, Labels};

/// The set without `__name__`.
pub fn drop_metric_name(l: &Labels) -> Labels {
    if l.get(METRIC_NAME).is_none() {
        return l.clone();
    }
    filter(l, |n| n != METRIC_NAME)
}

/// Keeps only labels whose name passes `keep`.
pub fn filter(l: &Labels, mut keep: impl FnMut(&str) -> bool) -> Labels {
    Labels::from_sorted_unchecked(l.as_slice().iter().filter(|x| keep(&x.name)).cloned().collect())
}

/// Keeps only the labels named in `names`.
pub fn keep_only(l: &Labels, names: &[String]) -> Labels {
    filter(l, |n| names.iter().any(|x| x == n))
}

/// Removes the labels named in `names`.
pub fn remove(l: &Labels, names: &[String]) -> Labels {
    filter(l, |n| !names.iter().any(|x| x == n))
}

/// Sets `name` to `value`; an empty value removes the label (Prometheus semantics).
pub fn set(l: &Labels, name: &str, value: &str) -> Labels {
    let mut v: Vec<Label> = l.as_slice().to_vec();
    match v.binary_search_by(|x| (*x.name).cmp(name)) {
        Ok(i) if value.is_empty() => {
            v.remove(i);
        }
        Ok(i) => v[i] = Label::new(name, value),
        Err(_) if value.is_empty() => {}
        Err(i) => v.insert(i, Label::new(name, value)),
    }
    Labels::from_sorted_unchecked(v)
}

fn push_pair(out: &mut String, n: &str, v: &str) {
    // Length-prefixed so that no label content can forge a separator.
    let _ = write!(out, "{}:{}{}:{}", n.len(), n, v.len(), v);
}

/// Signature over exactly the labels in `names` (`on(...)`, `by(...)`).
pub fn signature_on(l: &Labels, names: &[String]) -> String {
    let mut s = String::new();
    for (n, v) in l.iter() {
        if names.iter().any(|x| x == n) {
            push_pair(&mut s, n, v);
        }
    }
    s
}

/// Signature over every label except `names` and `__name__` (`ignoring(...)`, `without(...)`).
pub fn signature_without(l: &Labels, names: &[String]) -> String {
    let mut s = String::new();
    for (n, v) in l.iter() {
        if n != METRIC_NAME && !names.iter().any(|x| x == n) {
            push_pair(&mut s, n, v);
        }
    }
    s
}

/// `model.LabelName.IsValid` of Prometheus 2.42: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(n: &str) -> bool {
    nerve_storage::labels::is_valid_label_name(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a"), ("x", "1")]).unwrap();
        assert_eq!(drop_metric_name(&l).to_string(), "{job=\"a\", x=\"1\"}");
        assert_eq!(set(&l, "b", "2").get("b"), Some("2"));
        assert_eq!(set(&l, "job", "").get("job"), None);
        assert_eq!(keep_only(&l, &["job".into()]).len(), 1);
        assert_eq!(remove(&l, &["job".into()]).len(), 2);
        assert_eq!(
            signature_without(&l, &[]),
            signature_on(&l, &["job".into(), "x".into()])
        );
    }
}
