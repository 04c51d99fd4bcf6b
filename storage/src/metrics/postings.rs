//! Postings: for each `name="value"` pair, the set of series ids that carry it, and the
//! evaluation of label matchers over them with Prometheus semantics.
//!
//! Ids are `u32` and sets are roaring bitmaps, so intersections and unions are word-parallel.
//! The same evaluation runs over the head's in-memory index and each block's on-disk index
//! through [`IndexReader`].

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::matcher::Matcher;

/// The read side of a label index, as matcher evaluation needs it.
pub trait IndexReader {
    /// Every series id in the index.
    fn all_postings(&self) -> Result<RoaringBitmap>;
    /// Calls `f` with each distinct value of label `name` (any order).
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) -> Result<()>;
    /// The series carrying `name="value"`; empty when the pair is unknown.
    fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap>;
}

/// Union of the postings of every value of `m.name` for which `pred` holds.
fn union_where(ix: &dyn IndexReader, m: &Matcher, pred: impl Fn(&str) -> bool) -> Result<RoaringBitmap> {
    let mut values = Vec::new();
    ix.for_each_value(&m.name, &mut |v| {
        if pred(v) {
            values.push(v.to_owned());
        }
    })?;
    let mut out = RoaringBitmap::new();
    for v in values {
        out |= ix.postings(&m.name, &v)?;
    }
    Ok(out)
}

/// Series ids matching all `matchers`.
///
/// Semantics (as Prometheus): a matcher that accepts `""` also accepts series without the label,
/// so it is evaluated as "all series minus those whose value it rejects"; every other matcher
/// selects the union of the postings of the values it accepts. Literal sets (`=` and `a|b|c`
/// regexes) are looked up directly instead of scanning the label's values.
pub fn postings_for_matchers(ix: &dyn IndexReader, matchers: &[Matcher]) -> Result<RoaringBitmap> {
    let mut include: Option<RoaringBitmap> = None;
    let mut exclude = RoaringBitmap::new();
    // Positive, selective matchers first: they can short-circuit to empty.
    let mut order: Vec<&Matcher> = matchers.iter().collect();
    order.sort_by_key(|m| (m.matches_empty(), m.set_matches().is_none()));
    for m in order {
        if m.matches_empty() {
            // Exclude the series whose value this matcher rejects.
            exclude |= union_where(ix, m, |v| !m.matches(v))?;
            continue;
        }
        let set = match m.set_matches() {
            Some(values) => {
                let mut u = RoaringBitmap::new();
                for v in values {
                    u |= ix.postings(&m.name, v)?;
                }
                u
            }
            None => union_where(ix, m, |v| m.matches(v))?,
        };
        include = Some(match include {
            None => set,
            Some(acc) => acc & set,
        });
        if include.as_ref().is_some_and(RoaringBitmap::is_empty) {
            return Ok(RoaringBitmap::new());
        }
    }
    let mut out = match include {
        Some(i) => i,
        None => ix.all_postings()?,
    };
    out -= exclude;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::matcher::MatchOp;
    use std::collections::BTreeMap;

    /// A brute-force index over a list of label sets, used as the model in tests.
    pub struct VecIndex(pub Vec<Labels>);

    impl IndexReader for VecIndex {
        fn all_postings(&self) -> Result<RoaringBitmap> {
            Ok((0..self.0.len() as u32).collect())
        }
        fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) -> Result<()> {
            let mut seen = BTreeMap::new();
            for l in &self.0 {
                if let Some(v) = l.get(name) {
                    seen.insert(v.to_owned(), ());
                }
            }
            for v in seen.keys() {
                f(v);
            }
            Ok(())
        }
        fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
            Ok(self
                .0
                .iter()
                .enumerate()
                .filter(|(_, l)| l.get(name) == Some(value))
                .map(|(i, _)| i as u32)
                .collect())
        }
    }

    fn ix() -> VecIndex {
        VecIndex(vec![
            Labels::from_pairs([("__name__", "up"), ("job", "a")]).unwrap(),
            Labels::from_pairs([("__name__", "up"), ("job", "b"), ("env", "prod")]).unwrap(),
            Labels::from_pairs([("__name__", "x"), ("job", "a")]).unwrap(),
        ])
    }

    fn sel(ms: &[Matcher]) -> Vec<u32> {
        postings_for_matchers(&ix(), ms).unwrap().iter().collect()
    }

    #[test]
    fn prometheus_semantics() {
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        assert_eq!(sel(&[m(MatchOp::Equal, "__name__", "up")]), vec![0, 1]);
        assert_eq!(sel(&[m(MatchOp::Equal, "env", "")]), vec![0, 2]);
        assert_eq!(sel(&[m(MatchOp::NotEqual, "env", "prod")]), vec![0, 2]);
        assert_eq!(
            sel(&[m(MatchOp::Regex, "job", "a|b"), m(MatchOp::NotRegex, "__name__", "x")]),
            vec![0, 1]
        );
        assert_eq!(sel(&[m(MatchOp::Regex, "env", ".+")]), vec![1]);
        assert_eq!(sel(&[m(MatchOp::Regex, "env", ".*")]), vec![0, 1, 2]);
        assert_eq!(
            sel(&[m(MatchOp::Regex, "job", "b.*"), m(MatchOp::Equal, "__name__", "x")]),
            Vec::<u32>::new()
        );
        assert_eq!(sel(&[m(MatchOp::NotRegex, "job", "a")]), vec![1]);
    }
}
