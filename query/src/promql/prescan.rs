//! Size and nesting limits on PromQL text, checked before anything recurses over it.
//!
//! promql-parser builds a boxed tree whose checks, printing and dropping recurse, and nerve's
//! own re-reader ([`super::diagnose`]) and evaluator recurse over the tree too. A query nested
//! thousands of levels deep (`sum(sum(…`, `------1`, `((((…`) or a chain of thousands of
//! binary operators (the grammar nests `a + b + c` as `(a + b) + c`) would overflow a
//! thread's stack and abort the process, so [`check`] measures the text with a flat scan
//! first and refuses what is too big with a [`Error::BadData`] naming the limit.
//!
//! The depth measured is an upper bound of the parse tree's depth: every open `(`, `[` or `{`
//! adds a level, and so does every operator (binary or unary) inside the innermost open
//! bracket, because each one can wrap everything before it in that bracket in one more node.

use crate::error::{Error, Result};

/// Deepest nesting accepted: open brackets plus operators at each open level (see the module
/// documentation). Prometheus has no such limit; real queries stay far below it, and it keeps
/// parsing and evaluation well inside a 2 MiB thread stack (nerve gives query threads more).
pub const MAX_DEPTH: usize = 256;

/// Most subqueries one query may hold (their nesting is bounded by their number).
pub const MAX_SUBQUERIES: usize = 64;

/// Longest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 256 * 1024;

/// Refuses `query` when it is longer than [`MAX_QUERY_BYTES`] or nests deeper than
/// [`MAX_DEPTH`]. Never recurses; `O(len)`.
pub fn check(query: &str) -> Result<()> {
    check_length(query, "query")?;
    let Scan { depth, subqueries } = scan(query);
    if depth > MAX_DEPTH {
        return Err(Error::BadData(format!(
            "query is nested too deeply: {depth} levels of parentheses, brackets, braces and operators, the limit is {MAX_DEPTH}"
        )));
    }
    if subqueries > MAX_SUBQUERIES {
        return Err(Error::BadData(format!(
            "query has too many subqueries: {subqueries}, the limit is {MAX_SUBQUERIES}"
        )));
    }
    Ok(())
}

/// What [`scan`] measures.
struct Scan {
    /// The nesting measure of the module documentation.
    depth: usize,
    /// `[range:step]` brackets: an evaluated subquery level takes several times the stack of
    /// other nodes, so subqueries (and with them their nesting) are bounded by
    /// [`MAX_SUBQUERIES`].
    subqueries: usize,
}

/// Refuses text longer than [`MAX_QUERY_BYTES`]; `what` names it in the message.
pub fn check_length(text: &str, what: &str) -> Result<()> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::BadData(format!(
            "{what} is too long: {} bytes, the limit is {MAX_QUERY_BYTES} bytes",
            text.len()
        )));
    }
    Ok(())
}

/// The nesting measure of the module documentation (the largest sum, over the open brackets
/// and the top level, of one per bracket plus the operators seen so far inside each), and the
/// number of subqueries.
fn scan(query: &str) -> Scan {
    let b = query.as_bytes();
    // Operators seen at each open level; `levels[0]` is the top level. `in_braces` counts open
    // `{`: inside a selector `=`, `!=` and `=~` are matchers, not operators.
    let mut levels: Vec<(u8, usize, bool)> = vec![(0, 0, false)];
    let mut subqueries = 0usize;
    let mut sum = 0usize;
    let mut max = 0usize;
    let mut in_braces = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                levels.push((c, 0, false));
                sum += 1;
                if c == b'{' {
                    in_braces += 1;
                }
            }
            b')' | b']' | b'}' => {
                // A stray closer is the parser's to report; the top level is never popped.
                if levels.len() > 1
                    && let Some((open, ops, colon)) = levels.pop()
                {
                    sum -= 1 + ops;
                    if open == b'{' {
                        in_braces -= 1;
                    }
                    if open == b'[' && colon {
                        subqueries += 1;
                    }
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'<' | b'>' | b'!' | b'=' if in_braces == 0 => {
                // Two-character operators (`==`, `!=`, `>=`, `<=`) count once.
                if matches!(b.get(i + 1), Some(b'=')) && matches!(c, b'=' | b'!' | b'<' | b'>') {
                    i += 1;
                }
                bump(&mut levels);
                sum += 1;
            }
            b':' => {
                // `[range:step]`: a subquery once its bracket closes.
                if let Some(top) = levels.last_mut()
                    && top.0 == b'['
                {
                    top.2 = true;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                // Metric names hold `:`, durations in `[range:step]` end before it.
                let in_bracket = levels.last().is_some_and(|l| l.0 == b'[');
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || (b[i] == b':' && !in_bracket)) {
                    i += 1;
                }
                let word = &query[start..i];
                if in_braces == 0
                    && ["and", "or", "unless", "atan2"]
                        .iter()
                        .any(|k| word.eq_ignore_ascii_case(k))
                {
                    bump(&mut levels);
                    sum += 1;
                }
                max = max.max(sum);
                continue;
            }
            _ => {}
        }
        max = max.max(sum);
        i += 1;
    }
    Scan { depth: max, subqueries }
}

/// Counts one operator at the innermost level.
fn bump(levels: &mut [(u8, usize, bool)]) {
    if let Some(top) = levels.last_mut() {
        top.1 += 1;
    }
}

/// The index just past the string literal opening at `start` (or the end of the text when it
/// is not closed). Backquoted strings have no escapes.
fn skip_string(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(q: &str) -> usize {
        scan(q).depth
    }

    #[test]
    fn counts_subqueries() {
        assert_eq!(scan("rate(x[5m])").subqueries, 0);
        assert_eq!(scan("max_over_time(rate(x[5m])[1h:1m])").subqueries, 1);
        assert_eq!(scan("max_over_time(x[1h:])[2h:] offset 1m").subqueries, 2);
        let many = format!("{}up{}", "max_over_time(".repeat(65), "[5m:1m])".repeat(65));
        let e = check(&many).unwrap_err().to_string();
        assert!(e.contains("too many subqueries: 65, the limit is 64"), "{e}");
    }

    #[test]
    fn measures_brackets_operators_and_chains() {
        assert_eq!(depth("up"), 0);
        assert_eq!(depth("sum(rate(x[5m]))"), 3);
        assert_eq!(depth("a + b * c"), 2);
        assert_eq!(depth("-(-1)"), 3);
        // Matchers and strings are not operators or brackets.
        assert_eq!(depth(r#"x{a="(((", b!~"[+-]", c=~"x"}"#), 1);
        assert_eq!(depth("x # ((((( comment\n"), 0);
        assert_eq!(depth("a and b or c unless d"), 3);
        // Closing a bracket gives back its operators.
        assert_eq!(depth("(a+b+c) + (d)"), 3);
        assert_eq!(depth(")))"), 0);
    }

    #[test]
    fn refuses_deep_and_long_queries_naming_the_limit() {
        let deep = format!("{}1{}", "sum(".repeat(2000), ")".repeat(2000));
        let e = check(&deep).unwrap_err().to_string();
        assert!(e.contains("nested too deeply") && e.contains("limit is 256"), "{e}");
        assert!(check(&format!("{}1", "-".repeat(10_000))).is_err());
        assert!(check(&"(".repeat(50_000)).is_err());
        assert!(check(&vec!["up"; 300].join(" or ")).is_err());
        let ok = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(check(&ok).is_ok());
        let long = format!("up{{a=\"{}\"}}", "x".repeat(MAX_QUERY_BYTES));
        let e = check(&long).unwrap_err().to_string();
        assert!(e.contains("too long") && e.contains("262144"), "{e}");
    }
}
