//! Runs a pipeline on one entry: line filters, parsers, label filters, formatting, `drop`,
//! `keep` and `decolorize`, with Loki's error-label behaviour (docs: LogQL › Log queries).
//!
//! - Numeric, duration and byte label filters drop lines without the label; a value that does
//!   not convert keeps the line and sets `__error__="LabelFilterErr"`; once an error is set,
//!   only string filters (such as `__error__=""`) can drop the line.
//! - `line_format`/`label_format` template failures keep the line and set
//!   `__error__="TemplateFormatErr"`.

use std::borrow::Cow;

use super::ast::{LabelFilter, LabelFmt, LineFilter, LineFilterOp, LineMatcher, NamedMatcher, Stage};
use super::labels_builder::{Category, LabelsBuilder, Snapshot};
use super::parsers;
use super::template::TemplateCtx;
use super::units::{parse_bytes, parse_go_duration};

/// `LabelFilterErr`.
pub const LABEL_FILTER_ERR: &str = "LabelFilterErr";
/// `TemplateFormatErr`.
pub const TEMPLATE_ERR: &str = "TemplateFormatErr";

/// Runs `stages`; `None` when the entry is filtered out, else the (possibly rewritten) line.
pub fn run<'a>(
    stages: &[Stage],
    ts_ns: i64,
    mut line: Cow<'a, str>,
    lb: &mut LabelsBuilder<'a>,
) -> Option<Cow<'a, str>> {
    for st in stages {
        match st {
            Stage::LineFilter(f) => {
                if !line_filter_matches(f, &line) {
                    return None;
                }
            }
            Stage::Json(params) if params.is_empty() => parsers::json_all(&line, lb),
            Stage::Json(params) => parsers::json_params(&line, params, lb),
            Stage::Logfmt {
                strict,
                keep_empty,
                params,
            } => parsers::logfmt(&line, *strict, *keep_empty, params, lb),
            Stage::Regexp(r) => parsers::regexp(&line, r, lb),
            Stage::Pattern(p) => parsers::pattern(&line, p, lb),
            Stage::Unpack => {
                if let Some(l) = parsers::unpack(&line, lb) {
                    line = Cow::Owned(l);
                }
            }
            Stage::LabelFilter(f) => {
                if !label_filter_matches(f, lb) {
                    return None;
                }
            }
            Stage::LineFormat(t) => {
                let mut out = String::with_capacity(line.len());
                let res = t.exec(
                    &TemplateCtx {
                        data: lb,
                        line: &line,
                        ts_ns,
                    },
                    &mut out,
                );
                match res {
                    Ok(()) => line = Cow::Owned(out),
                    Err(e) => lb.set_err(TEMPLATE_ERR, Some(e.to_string())),
                }
            }
            Stage::LabelFormat(fmts) => label_format(fmts, ts_ns, &line, lb),
            Stage::Drop(items) => {
                for it in items {
                    match it {
                        NamedMatcher::Name(n) => lb.del(n),
                        NamedMatcher::Matcher(m) => {
                            if lb.get(&m.name).is_some_and(|v| m.matches(v)) {
                                lb.del(&m.name);
                            }
                        }
                    }
                }
            }
            Stage::Keep(items) => lb.retain(|name, value| {
                items.iter().any(|it| match it {
                    NamedMatcher::Name(n) => n == name,
                    NamedMatcher::Matcher(m) => m.name == name && m.matches(value),
                })
            }),
            Stage::Decolorize => {
                if line.contains('\x1b') {
                    line = Cow::Owned(decolorize(&line));
                }
            }
        }
    }
    Some(line)
}

fn line_filter_matches(f: &LineFilter, line: &str) -> bool {
    let any = f.alts.iter().any(|m| match m {
        LineMatcher::Literal(s) => line.contains(s.as_str()),
        LineMatcher::Regex(r) => r.is_match(line),
        LineMatcher::Pattern(p) => p.test(line),
    });
    match f.op {
        LineFilterOp::Contains | LineFilterOp::Match | LineFilterOp::Pattern => any,
        LineFilterOp::NotContains | LineFilterOp::NotMatch | LineFilterOp::NotPattern => !any,
    }
}

/// Go's `strconv.ParseFloat` as far as label values go.
pub fn parse_go_float(s: &str) -> Result<f64, String> {
    let t = s.trim_start_matches(['+', '-']);
    let ok_special = matches!(t.to_ascii_lowercase().as_str(), "inf" | "infinity" | "nan");
    let valid_chars = t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !(ok_special || valid_chars) || s.is_empty() {
        return Err(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"));
    }
    s.parse::<f64>()
        .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
}

/// Evaluates a label filter, setting `LabelFilterErr` on conversion failures.
pub fn label_filter_matches(f: &LabelFilter, lb: &mut LabelsBuilder<'_>) -> bool {
    match f {
        LabelFilter::And(a, b) => {
            let l = label_filter_matches(a, lb);
            let r = label_filter_matches(b, lb);
            l && r
        }
        LabelFilter::Or(a, b) => label_filter_matches(a, lb) || label_filter_matches(b, lb),
        LabelFilter::Str(m) => m.matches(lb.get(&m.name).unwrap_or("")),
        LabelFilter::Num { name, op, value } => {
            convert_and_compare(lb, name, |v| parse_go_float(v).map(|x| op.cmp(x, *value)))
        }
        LabelFilter::Duration { name, op, value } => {
            convert_and_compare(lb, name, |v| parse_go_duration(v).map(|x| op.cmp(x, *value)))
        }
        LabelFilter::Bytes { name, op, value } => {
            convert_and_compare(lb, name, |v| parse_bytes(v).map(|x| op.cmp(x, *value)))
        }
    }
}

fn convert_and_compare(lb: &mut LabelsBuilder<'_>, name: &str, f: impl FnOnce(&str) -> Result<bool, String>) -> bool {
    if lb.has_err() {
        return true;
    }
    let Some(v) = lb.get(name) else {
        return false;
    };
    match f(v) {
        Ok(b) => b,
        Err(e) => {
            lb.set_err(LABEL_FILTER_ERR, Some(e));
            true
        }
    }
}

fn label_format(fmts: &[LabelFmt], ts_ns: i64, line: &str, lb: &mut LabelsBuilder<'_>) {
    let mut snapshot: Option<Snapshot> = None;
    for f in fmts {
        match f {
            LabelFmt::Rename { dst, src } => {
                let Some(v) = lb.get(src).map(str::to_string) else {
                    continue;
                };
                let cat = lb.category(src).unwrap_or(Category::Parsed);
                lb.del(src);
                lb.set(cat, Cow::Owned(dst.clone()), Cow::Owned(v));
            }
            LabelFmt::Template { dst, tpl } => {
                let snap = snapshot.get_or_insert_with(|| Snapshot::of(lb));
                let mut out = String::new();
                let ctx = TemplateCtx {
                    data: snap,
                    line,
                    ts_ns,
                };
                match tpl.exec(&ctx, &mut out) {
                    Ok(()) => lb.set_parsed(dst.clone(), out),
                    Err(e) => lb.set_err(TEMPLATE_ERR, Some(e.to_string())),
                }
            }
        }
    }
}

/// Removes ANSI colour escape sequences (`ESC [ ... m`).
pub fn decolorize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(params) = after.strip_prefix('[') {
            let end = params.find(|c: char| !(c.is_ascii_digit() || c == ';'));
            if let Some(e) = end
                && params.as_bytes()[e] == b'm'
            {
                rest = &params[e + 1..];
                continue;
            }
        }
        out.push('\x1b');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decolor() {
        assert_eq!(
            decolorize("\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[m"),
            "red and green"
        );
        assert_eq!(decolorize("a\x1bb"), "a\x1bb");
    }

    #[test]
    fn go_float() {
        assert_eq!(parse_go_float("1e3"), Ok(1000.0));
        assert!(parse_go_float("").is_err());
        assert!(parse_go_float("12ms").is_err());
        assert!(parse_go_float("Inf").unwrap().is_infinite());
    }
}
