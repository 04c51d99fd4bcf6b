//! `line_format` against a real Loki's answers: every template in
//! `loki_golden/line_format.tsv` (recorded by `loki_golden/record_line_format.py` from a Loki
//! built from source) must give the same line, or the same `__error_details__`, in nerve.

use nerve_query::logql::{Direction, Limits, LogValue, MemSource, eval_range};
use nerve_storage::Labels;

const GOLDEN: &str = include_str!("loki_golden/line_format.tsv");

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The header value `# key<TAB>value`.
fn header(key: &str) -> String {
    GOLDEN
        .lines()
        .find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix('\t'))
        .map(unescape)
        .unwrap_or_else(|| panic!("golden file lacks {key}"))
}

#[test]
fn line_format_answers_like_loki() {
    let ts: i64 = header("ts_ns").parse().unwrap();
    let line = header("line");
    let mut src = MemSource::new();
    src.push_lines(Labels::from_pairs([("app", "golden")]).unwrap(), [(ts, line.as_str())]);
    let mut cases = 0;
    let mut failures = Vec::new();
    for row in GOLDEN.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut cols = row.splitn(3, '\t');
        let (Some(tpl), Some(kind), Some(want)) = (cols.next(), cols.next(), cols.next()) else {
            panic!("malformed golden row {row:?}");
        };
        let want = unescape(want);
        let q = format!("{{app=\"golden\"}} | logfmt | line_format `{tpl}`");
        let got = match eval_range(
            &src,
            &q,
            ts - 1_000_000_000,
            ts + 1_000_000_000,
            1_000_000_000,
            None,
            10,
            Direction::Forward,
            &Limits::default(),
        ) {
            Ok(LogValue::Streams(v)) if v.len() == 1 => {
                let details = v[0].parsed.iter().find(|(n, _)| n == "__error_details__");
                match details {
                    Some((_, d)) => ("ERR", d.clone()),
                    None => ("OK", v[0].line.clone()),
                }
            }
            other => panic!("{q}: {other:?}"),
        };
        cases += 1;
        if got != (kind, want.clone()) {
            failures.push(format!("{tpl}\n  loki:  {kind} {want}\n  nerve: {} {}", got.0, got.1));
        }
    }
    assert!(cases >= 20, "only {cases} golden cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} differ from Loki:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
