//! Label matchers with Prometheus semantics: regexes are fully anchored, and a matcher that
//! matches the empty string also matches series that lack the label.

use regex::Regex;

use crate::error::{Error, Result};

/// The four matcher operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (anchored)
    Regex,
    /// `!~` (anchored)
    NotRegex,
}

impl MatchOp {
    /// The operator as written in PromQL and LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// The operator written as `s`, if it is one.
    pub fn from_symbol(s: &str) -> Option<MatchOp> {
        Some(match s {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Regex,
            "!~" => MatchOp::NotRegex,
            _ => return None,
        })
    }
}

/// A compiled matcher on one label.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Literal or regex source, as written.
    pub value: String,
    re: Option<Regex>,
    /// For regexes that are a plain alternation of literals (`a|b|c`), the literals, sorted:
    /// postings can then be looked up directly instead of scanning every value.
    literals: Option<Vec<String>>,
}

impl Matcher {
    /// Builds a matcher, compiling (and anchoring) the regex for `=~`/`!~`.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let value = value.into();
        let (re, literals) = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                let re = Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| Error::InvalidInput(format!("invalid regex {value:?}: {e}")))?;
                (Some(re), literal_alternation(&value))
            }
            _ => (None, None),
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
            literals,
        })
    }

    /// `(operator, name, value)` as written, for storing a matcher.
    pub fn to_parts(&self) -> (String, String, String) {
        (self.op.as_str().to_owned(), self.name.clone(), self.value.clone())
    }

    /// The matcher stored by [`Matcher::to_parts`].
    pub fn from_parts((op, name, value): (String, String, String)) -> Result<Self> {
        let op =
            MatchOp::from_symbol(&op).ok_or_else(|| Error::InvalidInput(format!("unknown matcher operator {op:?}")))?;
        Matcher::new(op, name, value)
    }

    /// Rebuilds matchers stored by [`Matcher::to_parts`] in `file`; a bad one is corruption.
    pub fn from_stored(parts: Vec<(String, String, String)>, file: &std::path::Path) -> Result<Vec<Matcher>> {
        parts
            .into_iter()
            .map(Matcher::from_parts)
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::corruption(file, 0, e.to_string()))
    }

    /// Shorthand for an `=` matcher.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
            literals: None,
        }
    }

    /// Whether a label value matches; an absent label is passed as `""`.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == v,
            MatchOp::NotEqual => self.value != v,
            MatchOp::Regex => self.regex_match(v),
            MatchOp::NotRegex => !self.regex_match(v),
        }
    }

    fn regex_match(&self, v: &str) -> bool {
        if let Some(lits) = &self.literals {
            return lits.binary_search_by(|l| l.as_str().cmp(v)).is_ok();
        }
        self.re.as_ref().is_some_and(|r| r.is_match(v))
    }

    /// True when the matcher accepts the empty string, i.e. also accepts series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The exact set of values this matcher accepts, when it is a finite literal set that
    /// does not include the empty value (`=` or a literal alternation regex).
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match self.op {
            MatchOp::Equal if !self.value.is_empty() => Some(vec![self.value.as_str()]),
            MatchOp::Regex => self
                .literals
                .as_ref()
                .filter(|l| !l.iter().any(|s| s.is_empty()))
                .map(|l| l.iter().map(String::as_str).collect()),
            _ => None,
        }
    }

    /// True when the operator is one of the negative ones.
    pub fn is_negative(&self) -> bool {
        matches!(self.op, MatchOp::NotEqual | MatchOp::NotRegex)
    }

    /// The matcher with the operator inverted (`=` ↔ `!=`, `=~` ↔ `!~`).
    pub fn inverse(&self) -> Matcher {
        let op = match self.op {
            MatchOp::Equal => MatchOp::NotEqual,
            MatchOp::NotEqual => MatchOp::Equal,
            MatchOp::Regex => MatchOp::NotRegex,
            MatchOp::NotRegex => MatchOp::Regex,
        };
        Matcher { op, ..self.clone() }
    }
}

/// Splits `a|b|c` into literals when no regex metacharacter appears.
fn literal_alternation(src: &str) -> Option<Vec<String>> {
    const META: &[char] = &['\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$'];
    if src.contains(META) {
        return None;
    }
    let mut v: Vec<String> = src.split('|').map(str::to_owned).collect();
    v.sort();
    v.dedup();
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchored_regex() {
        let m = Matcher::new(MatchOp::Regex, "job", "api.*").unwrap();
        assert!(m.matches("api-1"));
        assert!(!m.matches("xapi"));
        let m = Matcher::new(MatchOp::Regex, "job", "a|b").unwrap();
        assert!(m.matches("a") && m.matches("b") && !m.matches("ab"));
        assert_eq!(m.set_matches(), Some(vec!["a", "b"]));
    }

    #[test]
    fn empty_semantics() {
        assert!(Matcher::equal("x", "").matches_empty());
        assert!(Matcher::new(MatchOp::NotEqual, "x", "y").unwrap().matches_empty());
        assert!(Matcher::new(MatchOp::Regex, "x", ".*").unwrap().matches_empty());
        assert!(!Matcher::new(MatchOp::Regex, "x", ".+").unwrap().matches_empty());
        assert!(Matcher::new(MatchOp::Regex, "x", "a|").unwrap().set_matches().is_none());
    }

    #[test]
    fn bad_regex() {
        assert!(Matcher::new(MatchOp::Regex, "x", "(").is_err());
    }
}
