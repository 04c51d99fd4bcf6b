//! Label sets: the identity of a series (metrics) or a stream (logs).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::error::{Error, Result};

/// The label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair. Strings are reference-counted so the head can intern them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name.
    pub name: Arc<str>,
    /// Label value; never empty inside a stored series (empty means absent).
    pub value: Arc<str>,
}

impl Label {
    /// Builds a label from anything string-like.
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A label set sorted by name with unique names. This ordering is the series ordering used by
/// queriers (lexicographic over the (name, value) pairs, as Prometheus sorts).
///
/// Immutable and shared: cloning bumps a reference count, so a head cut, a query result and
/// the head's series can hold the same set without copying it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// An empty label set.
    pub fn empty() -> Self {
        Labels(Arc::from([]))
    }

    /// Builds a label set from pairs in any order, sorting them and dropping empty values.
    /// Duplicate names are an error.
    pub fn from_pairs<N, V, I>(pairs: I) -> Result<Self>
    where
        N: Into<Arc<str>>,
        V: Into<Arc<str>>,
        I: IntoIterator<Item = (N, V)>,
    {
        let mut v: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label::new(n, v))
            .filter(|l| !l.value.is_empty())
            .collect();
        v.sort();
        for w in v.windows(2) {
            if w[0].name == w[1].name {
                return Err(Error::InvalidInput(format!("duplicate label name {:?}", &*w[0].name)));
            }
        }
        Ok(Labels(v.into()))
    }

    /// Wraps labels that the caller guarantees are sorted, unique and without empty values.
    /// Used by decoders of our own on-disk formats, which only ever hold such sets.
    pub fn from_sorted_unchecked(v: Vec<Label>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].name < w[1].name), "BUG: labels not sorted");
        Labels(v.into())
    }

    /// The labels, sorted by name.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| (*l.name).cmp(name))
            .ok()
            .map(|i| &*self.0[i].value)
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Iterates `(name, value)` as string slices.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|l| (&*l.name, &*l.value))
    }

    /// A 64-bit hash of the set, stable within one process (used for sharding and maps).
    /// Equal to [`hash_pairs`] over the same pairs, so raw wire labels can be looked up
    /// without building a `Labels` first.
    pub fn hash64(&self) -> u64 {
        hash_pairs(self.iter())
    }

    /// True when this set equals `pairs` (sorted by name; pairs with empty values ignored).
    pub fn eq_pairs<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let mut mine = self.iter();
        for (n, v) in pairs.into_iter().filter(|p| !p.1.is_empty()) {
            if mine.next() != Some((n, v)) {
                return false;
            }
        }
        mine.next().is_none()
    }

    /// Checks what Prometheus checks before storing: a non-empty metric name and label names
    /// of the form `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub fn validate_series(&self) -> Result<()> {
        match self.metric_name() {
            None => return Err(Error::InvalidInput(format!("series {self} has no metric name"))),
            Some(n) if !is_valid_metric_name(n) => {
                return Err(Error::InvalidInput(format!("invalid metric name {n:?}")));
            }
            _ => {}
        }
        for l in self.0.iter() {
            if !is_valid_label_name(&l.name) {
                return Err(Error::InvalidInput(format!(
                    "invalid label name {:?} in series {self}",
                    &*l.name
                )));
            }
        }
        Ok(())
    }

    /// Approximate heap bytes held by this set if its strings were not shared.
    pub fn byte_size(&self) -> usize {
        self.0.iter().map(|l| l.name.len() + l.value.len() + 32).sum()
    }
}

impl fmt::Display for Labels {
    /// PromQL notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.metric_name() {
            f.write_str(n)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| &*l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, &*l.value)?;
        }
        f.write_str("}")
    }
}

/// Hash of label pairs as [`Labels::hash64`] computes it; pairs with empty values are skipped,
/// like absent labels.
pub fn hash_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    use std::hash::BuildHasher;
    // foldhash with one random seed per process: fast on short strings (this runs for every
    // ingested series), and the seed keeps collisions from being crafted offline.
    static STATE: std::sync::OnceLock<foldhash::fast::RandomState> = std::sync::OnceLock::new();
    let mut h = STATE.get_or_init(foldhash::fast::RandomState::default).build_hasher();
    for (n, v) in pairs.into_iter().filter(|p| !p.1.is_empty()) {
        h.write(n.as_bytes());
        h.write_u8(0xff);
        h.write(v.as_bytes());
        h.write_u8(0xfe);
    }
    h.finish()
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, Prometheus's legacy label name rule.
pub fn is_valid_label_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus's legacy metric name rule.
pub fn is_valid_metric_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_drops_empty() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]).unwrap();
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![("a", "1"), ("b", "2")]);
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn rejects_duplicates() {
        assert!(Labels::from_pairs([("a", "1"), ("a", "2")]).is_err());
    }

    #[test]
    fn validation() {
        let ok = Labels::from_pairs([("__name__", "up"), ("job", "x")]).unwrap();
        assert!(ok.validate_series().is_ok());
        let no_name = Labels::from_pairs([("job", "x")]).unwrap();
        assert!(no_name.validate_series().is_err());
        let bad = Labels::from_pairs([("__name__", "up"), ("1x", "x")]).unwrap();
        assert!(bad.validate_series().is_err());
        assert_eq!(ok.to_string(), "up{job=\"x\"}");
    }
}
