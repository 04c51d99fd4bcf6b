//! Prints a [`RuleFile`] as Prometheus rule-file YAML (what `nerve check slos --print`
//! writes), readable by promtool and by nerve's own rule-file parser. Multi-line
//! expressions print as literal blocks; other strings plain when that is unambiguous,
//! double-quoted otherwise.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::rules::file::{Language, RuleFile};

/// The YAML text of `file`.
pub fn to_yaml(file: &RuleFile) -> String {
    if file.groups.is_empty() {
        return "groups: []\n".into();
    }
    let mut out = String::from("groups:\n");
    for g in &file.groups {
        let _ = writeln!(out, "- name: {}", scalar(&g.name, 4));
        if let Some(i) = g.interval {
            let _ = writeln!(out, "  interval: {i}");
        }
        if let Some(l) = g.limit {
            let _ = writeln!(out, "  limit: {l}");
        }
        if g.language == Language::Logql {
            out.push_str("  language: logql\n");
        }
        map(&mut out, "  ", "labels", &g.labels);
        if g.rules.is_empty() {
            out.push_str("  rules: []\n");
            continue;
        }
        out.push_str("  rules:\n");
        for r in &g.rules {
            match (&r.record, &r.alert) {
                (Some(n), _) => {
                    let _ = writeln!(out, "  - record: {}", scalar(n, 6));
                }
                (None, Some(n)) => {
                    let _ = writeln!(out, "  - alert: {}", scalar(n, 6));
                }
                (None, None) => out.push_str("  -\n"),
            }
            let _ = writeln!(out, "    expr: {}", scalar(&r.expr, 6));
            if let Some(d) = r.for_ {
                let _ = writeln!(out, "    for: {d}");
            }
            if let Some(d) = r.keep_firing_for {
                let _ = writeln!(out, "    keep_firing_for: {d}");
            }
            map(&mut out, "    ", "labels", &r.labels);
            map(&mut out, "    ", "annotations", &r.annotations);
        }
    }
    out
}

fn map(out: &mut String, indent: &str, key: &str, m: &BTreeMap<String, String>) {
    if m.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}{key}:");
    for (k, v) in m {
        let _ = writeln!(
            out,
            "{indent}  {}: {}",
            scalar(k, indent.len() + 4),
            scalar(v, indent.len() + 4)
        );
    }
}

/// `s` as a YAML scalar; `indent` is the indentation of a literal block's lines.
fn scalar(s: &str, indent: usize) -> String {
    if is_plain(s) {
        return s.to_owned();
    }
    if let Some(block) = literal_block(s, indent) {
        return block;
    }
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Plain scalars: a letter first, then a safe set, never read back as anything but this
/// string.
fn is_plain(s: &str) -> bool {
    const RESERVED: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_:./()*- ".contains(c))
        && !s.contains(": ")
        && !s.ends_with([':', ' '])
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

/// A literal block (`|` keeps one final newline, `|-` none) for multi-line text that a
/// block can hold exactly.
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || s.ends_with("\n\n") || s.starts_with([' ', '\t', '\n']) {
        return None;
    }
    if s.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}')
    {
        return None;
    }
    let (body, header) = match s.strip_suffix('\n') {
        Some(b) => (b, "|"),
        None => (s, "|-"),
    };
    let pad = " ".repeat(indent);
    let mut out = header.to_owned();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Some(out)
}
