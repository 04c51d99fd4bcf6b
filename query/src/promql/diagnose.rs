//! Where a rejected PromQL query goes wrong, the way Prometheus 2.42 says it.
//!
//! promql-parser reports no positions, so once it has rejected a query (or [`super::plan`]
//! refused something Prometheus 2.42 lacks), this module re-reads the query with a lexer and a
//! recognizer modelled on Prometheus' own (`promql/parser/{lex.go,generated_parser.y,
//! parse.go}`) and renders `line:col: parse error: message` with Prometheus' conventions:
//! 1-based line, and the column as the byte offset from the last line break.

mod check;
mod lexer;
mod literal;
mod syntax;

use self::syntax::{Diag, Parser};

/// Prometheus' rendering of the errors of one query (`ParseErrors.Error()`: the first one),
/// or `None` when this module finds nothing wrong (the caller then falls back to
/// promql-parser's message).
///
/// `unknown` names functions promql-parser knows but Prometheus 2.42 does not.
pub fn diagnose(query: &str, unknown: &[&str]) -> Option<String> {
    let errs = errors(query, unknown);
    errs.first().map(|(pos, msg)| render(query, *pos, msg))
}

fn errors(query: &str, unknown: &[&str]) -> Vec<Diag> {
    let toks = lexer::lex(query);
    let known = |name: &str| !unknown.contains(&name) && check::FUNCTIONS.iter().any(|f| f.0 == name);
    let mut p = Parser::new(&toks, &known);
    let res = p.query();
    let mut errs = std::mem::take(&mut p.errors);
    match res {
        Err(e) => errs.push(e),
        Ok(root) if errs.is_empty() => {
            check::check(&root, &mut errs);
        }
        Ok(_) => {}
    }
    errs
}

/// `line:col: parse error: msg` for a byte offset, as Prometheus' `ParseErr.Error()` does it.
fn render(query: &str, pos: usize, msg: &str) -> String {
    let pos = pos.min(query.len());
    let before = query.as_bytes().get(..pos).unwrap_or_default();
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let last_break = before.iter().rposition(|b| *b == b'\n').map_or(-1, |i| i as i64);
    let col = pos as i64 - last_break;
    format!("{line}:{col}: parse error: {msg}")
}

#[cfg(test)]
mod tests;
