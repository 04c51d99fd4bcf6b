//! Literal checks of Prometheus 2.42's parser actions: numbers (Go's `ParseInt`/`ParseFloat`),
//! durations (`model.ParseDuration`), regular expressions and string unquoting.

use super::lexer::{Token, go_quote};
use super::syntax::Diag;

/// The value of a string token (quotes removed, common escapes resolved).
pub(super) fn unquote(s: &str) -> String {
    if s.starts_with('`') {
        return s.trim_matches('`').to_string();
    }
    let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(c) => out.push(c),
            None => {}
        }
    }
    out
}

/// `model.ParseDuration`'s check of a lexed duration.
pub(super) fn check_duration(errors: &mut Vec<Diag>, t: &Token) {
    let mut rest = t.val.as_str();
    let mut last_rank = 0;
    let units = [("y", 1), ("w", 2), ("d", 3), ("h", 4), ("ms", 7), ("m", 5), ("s", 6)];
    let ok = !rest.is_empty()
        && loop {
            if rest.is_empty() {
                break true;
            }
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                break false;
            }
            rest = &rest[n..];
            let Some((u, rank)) = units.iter().find(|(u, _)| rest.starts_with(u)) else {
                break false;
            };
            if *rank <= last_rank {
                break false;
            }
            last_rank = *rank;
            rest = &rest[u.len()..];
        };
    if !ok {
        errors.push((t.pos, format!("not a valid duration string: {}", go_quote(&t.val))));
    }
}

/// Prometheus' `parseNumber` (Go `ParseInt(s, 0, 64)`, then `ParseFloat`), error text only.
pub(super) fn parse_number(s: &str) -> Result<(), String> {
    let lower = s.to_ascii_lowercase();
    let int_ok = if let Some(h) = lower.strip_prefix("0x") {
        !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())
    } else {
        !lower.is_empty() && lower.chars().all(|c| c.is_ascii_digit())
    };
    let float_ok = matches!(lower.as_str(), "inf" | "nan") || lower.parse::<f64>().is_ok();
    if int_ok || float_ok {
        Ok(())
    } else {
        Err(format!(
            "error parsing number: strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        ))
    }
}

/// Go's `regexp/syntax` wording for the common regex errors (Rust's otherwise).
pub(super) fn regex_error(rust: &str, anchored: &str) -> String {
    let code = if rust.contains("unclosed group") {
        "missing closing )".to_string()
    } else if rust.contains("unopened group") {
        "unexpected )".to_string()
    } else {
        rust.lines()
            .last()
            .unwrap_or("")
            .trim_start_matches("error: ")
            .to_string()
    };
    format!("error parsing regexp: {code}: `{anchored}`")
}
