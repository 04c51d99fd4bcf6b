//! PromQL series selectors (`up{job=~"a|b"}`) → storage [`Matcher`]s.

use nerve_storage::labels::METRIC_NAME;
use nerve_storage::{MatchOp, Matcher};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, Expr};

use crate::error::{Error, Result};

/// Parses one series selector as the `match[]` parameter carries it.
///
/// Only a plain instant-vector selector is accepted (no offset, `@`, ranges or operators), as in
/// Prometheus. A selector whose matchers all accept the empty string is refused, because it
/// would select every series.
///
/// Text longer or nested deeper than [`crate::promql::prescan`] allows is refused first.
pub fn parse_selector(src: &str) -> Result<Vec<Matcher>> {
    crate::promql::prescan::check(src)?;
    let expr = parser::parse(src).map_err(|e| Error::BadData(format!("1:1: parse error: {e}")))?;
    let vs = match expr {
        Expr::VectorSelector(vs) => vs,
        other => {
            return Err(Error::BadData(format!(
                "invalid parameter \"match[]\": expected a series selector, got {}",
                kind_name(&other)
            )));
        }
    };
    if vs.offset.is_some() || vs.at.is_some() {
        return Err(Error::BadData(
            "invalid parameter \"match[]\": offset and @ are not allowed in a series selector".into(),
        ));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Error::BadData(
            "invalid parameter \"match[]\": `or` in selectors is not supported".into(),
        ));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        out.push(Matcher::new(op, m.name.clone(), m.value.clone())?);
    }
    if out.iter().all(Matcher::matches_empty) {
        return Err(Error::BadData(
            "match[] must contain at least one non-empty matcher".into(),
        ));
    }
    Ok(out)
}

fn kind_name(e: &Expr) -> &'static str {
    match e {
        Expr::MatrixSelector(_) => "a range vector selector",
        Expr::NumberLiteral(_) => "a number",
        Expr::StringLiteral(_) => "a string",
        Expr::Call(_) => "a function call",
        Expr::Aggregate(_) => "an aggregation",
        Expr::Binary(_) => "a binary expression",
        _ => "an expression",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_matchers() {
        let m = parse_selector(r#"up{job=~"a|b",x!="y"}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].name, "__name__");
        assert!(m[1].matches("a") && !m[1].matches("c"));
        assert!(m[2].is_negative());
    }

    #[test]
    fn rejects_empty_matching_and_non_selectors() {
        assert!(parse_selector(r#"{job=~".*"}"#).is_err());
        assert!(parse_selector("rate(x[5m])").is_err());
        assert!(parse_selector("up offset 5m").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
