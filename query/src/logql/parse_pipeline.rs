//! Parsing of stream selectors and log pipelines: line filters, parser stages, label filters,
//! formatting stages, `drop`/`keep` and `unwrap`.

use nerve_storage::{MatchOp, Matcher};
use regex::Regex;

use super::ast::*;
use super::lexer::{Tok, parse_err};
use super::parser::Parser;
use super::pattern::Pattern;
use super::template::Template;
use crate::error::Result;

const EMPTY_MATCHER_MSG: &str = "queries require at least one regexp or equality matcher that does not have an \
     empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

fn stage_err(stage: &str, e: impl std::fmt::Display) -> crate::Error {
    parse_err(0, 0, format!("stage '{stage}' : {e}"))
}

/// Loki's label-name sanitizer for extracted keys: invalid characters become `_`, and a
/// leading digit gets a `_` prefix.
pub fn sanitize_label_key(key: &str) -> String {
    let key = key.trim();
    let mut out = String::with_capacity(key.len() + 1);
    if key.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        out.push('_');
    }
    out.extend(
        key.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }),
    );
    out
}

impl Parser {
    fn match_op(&mut self) -> Option<MatchOp> {
        let op = match self.peek() {
            Tok::Eq => MatchOp::Equal,
            Tok::Neq => MatchOp::NotEqual,
            Tok::Re => MatchOp::Regex,
            Tok::Nre => MatchOp::NotRegex,
            _ => return None,
        };
        self.bump();
        Some(op)
    }

    fn matcher(&mut self) -> Result<Matcher> {
        let name = self.ident()?;
        let Some(op) = self.match_op() else {
            return Err(self.unexpected_expecting(Some("=, !=, =~ or !~")));
        };
        let value = self.string()?;
        Matcher::new(op, name, value).map_err(|e| parse_err(0, 0, e.to_string()))
    }

    /// `{a="b", ...}`.
    pub(super) fn selector(&mut self) -> Result<Vec<Matcher>> {
        self.expect(Tok::LBrace, "{")?;
        let mut ms = Vec::new();
        loop {
            if *self.peek() == Tok::RBrace && !ms.is_empty() {
                self.bump();
                break;
            }
            if !matches!(self.peek(), Tok::Ident(_)) {
                return Err(self.unexpected());
            }
            ms.push(self.matcher()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBrace => {}
                _ => return Err(self.unexpected_expecting(Some("} or ,"))),
            }
        }
        if ms.iter().all(Matcher::matches_empty) {
            return Err(parse_err(0, 0, EMPTY_MATCHER_MSG));
        }
        Ok(ms)
    }

    /// A log query: selector and pipeline (no unwrap).
    pub(super) fn log_expr(&mut self) -> Result<LogExpr> {
        let matchers = self.selector()?;
        let (stages, unwrap) = self.pipeline(false)?;
        debug_assert!(unwrap.is_none());
        Ok(LogExpr { matchers, stages })
    }

    /// Pipeline stages; with `allow_unwrap`, a final `| unwrap` and its post filters.
    pub(super) fn pipeline(&mut self, allow_unwrap: bool) -> Result<(Vec<Stage>, Option<Unwrap>)> {
        let mut stages = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::PipeExact => LineFilterOp::Contains,
                Tok::Neq => LineFilterOp::NotContains,
                Tok::PipeMatch => LineFilterOp::Match,
                Tok::Nre => LineFilterOp::NotMatch,
                Tok::PipePattern => LineFilterOp::Pattern,
                Tok::NotPattern => LineFilterOp::NotPattern,
                Tok::Pipe => {
                    self.bump();
                    if self.is_ident("unwrap") {
                        if !allow_unwrap {
                            return Err(self.unexpected());
                        }
                        let uw = self.unwrap()?;
                        return Ok((stages, Some(uw)));
                    }
                    stages.push(self.stage()?);
                    continue;
                }
                _ => return Ok((stages, None)),
            };
            self.bump();
            stages.push(Stage::LineFilter(self.line_filter(op)?));
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<LineFilter> {
        let mut alts = vec![self.line_matcher(op)?];
        while self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_)) {
            self.bump();
            alts.push(self.line_matcher(op)?);
        }
        Ok(LineFilter { op, alts })
    }

    fn line_matcher(&mut self, op: LineFilterOp) -> Result<LineMatcher> {
        if self.is_ident("ip") && *self.peek_at(1) == Tok::LParen {
            return Err(crate::Error::NotSupported("ip() line filters".into()));
        }
        let s = self.string()?;
        Ok(match op {
            LineFilterOp::Contains | LineFilterOp::NotContains => LineMatcher::Literal(s),
            LineFilterOp::Match | LineFilterOp::NotMatch => {
                LineMatcher::Regex(Regex::new(&s).map_err(|e| parse_err(0, 0, format!("invalid regex {s:?}: {e}")))?)
            }
            LineFilterOp::Pattern | LineFilterOp::NotPattern => {
                LineMatcher::Pattern(Pattern::new(&s, false).map_err(|e| parse_err(0, 0, e))?)
            }
        })
    }

    /// One stage after `|` (the `|` is consumed).
    fn stage(&mut self) -> Result<Stage> {
        let Tok::Ident(w) = self.peek().clone() else {
            if *self.peek() == Tok::LParen {
                return Ok(Stage::LabelFilter(self.label_filter()?));
            }
            return Err(self.unexpected());
        };
        // A keyword followed by a comparison is a label filter on a label of that name.
        let is_filter = matches!(
            self.peek_at(1),
            Tok::Eq | Tok::Neq | Tok::Re | Tok::Nre | Tok::CmpEq | Tok::Gt | Tok::Gte | Tok::Lt | Tok::Lte
        );
        if is_filter {
            return Ok(Stage::LabelFilter(self.label_filter()?));
        }
        self.bump();
        Ok(match w.as_str() {
            "json" => Stage::Json(self.json_params()?),
            "logfmt" => {
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek().clone() {
                    match f.as_str() {
                        "--strict" => strict = true,
                        "--keep-empty" => keep_empty = true,
                        _ => return Err(self.unexpected()),
                    }
                    self.bump();
                }
                let params = self.extraction_params()?;
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                }
            }
            "regexp" => {
                let s = self.string()?;
                Stage::Regexp(regexp_stage(&s).map_err(|e| stage_err(&format!("| regexp {s:?}"), e))?)
            }
            "pattern" => {
                let s = self.string()?;
                Stage::Pattern(Pattern::new(&s, true).map_err(|e| stage_err(&format!("| pattern {s:?}"), e))?)
            }
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => {
                let s = self.string()?;
                Stage::LineFormat(Template::parse(&s).map_err(|e| stage_err(&format!("| line_format {s:?}"), e))?)
            }
            "label_format" => Stage::LabelFormat(self.label_format()?),
            "drop" => Stage::Drop(self.named_matchers()?),
            "keep" => Stage::Keep(self.named_matchers()?),
            _ => {
                self.pos -= 1;
                return Err(self.unexpected());
            }
        })
    }

    /// `a="x", b` pairs of `json`/`logfmt` (label, expression).
    fn extraction_params(&mut self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        while let Tok::Ident(name) = self.peek().clone() {
            if matches!(name.as_str(), "or" | "and" | "offset" | "unless" | "by" | "without") {
                break;
            }
            self.bump();
            let expr = if *self.peek() == Tok::Eq {
                self.bump();
                self.string()?
            } else {
                name.clone()
            };
            out.push((name, expr));
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                break;
            }
        }
        Ok(out)
    }

    fn json_params(&mut self) -> Result<Vec<(String, JsonPath)>> {
        self.extraction_params()?
            .into_iter()
            .map(|(name, expr)| {
                let path = parse_json_path(&expr)
                    .map_err(|e| stage_err("| json", format!("cannot parse expression [{expr}]: {e}")))?;
                Ok((name, path))
            })
            .collect()
    }

    fn label_format(&mut self) -> Result<Vec<LabelFmt>> {
        let mut out: Vec<LabelFmt> = Vec::new();
        loop {
            let dst = self.ident()?;
            self.expect(Tok::Eq, "=")?;
            let f = match self.peek().clone() {
                Tok::Ident(src) => {
                    self.bump();
                    LabelFmt::Rename { dst: dst.clone(), src }
                }
                Tok::Str(s) => {
                    self.bump();
                    let tpl =
                        Template::parse_label(&s).map_err(|e| stage_err(&format!("| label_format {dst}={s:?}"), e))?;
                    LabelFmt::Template { dst: dst.clone(), tpl }
                }
                _ => return Err(self.unexpected_expecting(Some("STRING or IDENTIFIER"))),
            };
            let dup = out.iter().any(|o| match o {
                LabelFmt::Rename { dst: d, .. } | LabelFmt::Template { dst: d, .. } => *d == dst,
            });
            if dup {
                return Err(parse_err(
                    0,
                    0,
                    format!("multiple label name '{dst}' appears in the format"),
                ));
            }
            out.push(f);
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                return Ok(out);
            }
        }
    }

    fn named_matchers(&mut self) -> Result<Vec<NamedMatcher>> {
        let mut out = Vec::new();
        loop {
            if matches!(self.peek_at(1), Tok::Eq | Tok::Neq | Tok::Re | Tok::Nre) {
                out.push(NamedMatcher::Matcher(self.matcher()?));
            } else {
                out.push(NamedMatcher::Name(self.ident()?));
            }
            if *self.peek() == Tok::Comma {
                self.bump();
            } else {
                return Ok(out);
            }
        }
    }

    fn unwrap(&mut self) -> Result<Unwrap> {
        self.bump(); // `unwrap`
        let (label, conv) = match (self.peek().clone(), self.peek_at(1)) {
            (Tok::Ident(f), Tok::LParen) if matches!(f.as_str(), "duration" | "duration_seconds" | "bytes") => {
                self.bump();
                self.bump();
                let l = self.ident()?;
                self.expect(Tok::RParen, ")")?;
                let conv = if f == "bytes" {
                    Conversion::Bytes
                } else {
                    Conversion::Duration
                };
                (l, conv)
            }
            _ => (self.ident()?, Conversion::Float),
        };
        let mut post_filters = Vec::new();
        while *self.peek() == Tok::Pipe {
            self.bump();
            post_filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conv,
            post_filters,
        })
    }

    /// `a="x" and (b > 1 or c != "y"), d=~"z"`.
    ///
    /// Every `or`, `and` or `,` of a chain nests the tree one level deeper, so it counts
    /// against the depth limit until the filter ends.
    pub(super) fn label_filter(&mut self) -> Result<LabelFilter> {
        let depth = self.depth;
        self.enter()?;
        let r = self.label_filter_inner();
        self.depth = depth;
        r
    }

    fn label_filter_inner(&mut self) -> Result<LabelFilter> {
        let mut l = self.lf_and()?;
        while self.is_ident("or") {
            self.enter()?;
            self.bump();
            let r = self.lf_and()?;
            l = LabelFilter::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn lf_and(&mut self) -> Result<LabelFilter> {
        let mut l = self.lf_primary()?;
        loop {
            let explicit = *self.peek() == Tok::Comma || self.is_ident("and");
            let juxtaposed = matches!(self.peek(), Tok::Ident(w) if !matches!(w.as_str(), "or" | "and"))
                && matches!(
                    self.peek_at(1),
                    Tok::Eq | Tok::Neq | Tok::Re | Tok::Nre | Tok::CmpEq | Tok::Gt | Tok::Gte | Tok::Lt | Tok::Lte
                );
            if explicit {
                self.bump();
            } else if !juxtaposed {
                return Ok(l);
            }
            self.enter()?;
            let r = self.lf_primary()?;
            l = LabelFilter::And(Box::new(l), Box::new(r));
        }
    }

    fn lf_primary(&mut self) -> Result<LabelFilter> {
        if *self.peek() == Tok::LParen {
            self.bump();
            let f = self.label_filter()?;
            self.expect(Tok::RParen, ")")?;
            return Ok(f);
        }
        let name = self.ident()?;
        let op_tok = self.bump();
        let cmp = match op_tok {
            Tok::Eq | Tok::CmpEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Ne,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Le,
            Tok::Re | Tok::Nre => CmpOp::Eq,
            _ => {
                self.pos -= 1;
                return Err(self.unexpected());
            }
        };
        let string_op = match op_tok {
            Tok::Eq => Some(MatchOp::Equal),
            Tok::Neq => Some(MatchOp::NotEqual),
            Tok::Re => Some(MatchOp::Regex),
            Tok::Nre => Some(MatchOp::NotRegex),
            _ => None,
        };
        let neg = *self.peek() == Tok::Sub;
        match (self.peek().clone(), string_op) {
            (Tok::Str(s), Some(op)) => {
                self.bump();
                let m = Matcher::new(op, name, s).map_err(|e| parse_err(0, 0, e.to_string()))?;
                Ok(LabelFilter::Str(m))
            }
            (Tok::Num(_) | Tok::Sub | Tok::Add, _) if !matches!(op_tok, Tok::Re | Tok::Nre) => {
                if neg || *self.peek() == Tok::Add {
                    self.bump();
                }
                match self.bump() {
                    Tok::Num(v) => Ok(LabelFilter::Num {
                        name,
                        op: cmp,
                        value: if neg { -v } else { v },
                    }),
                    Tok::Duration(d) => Ok(LabelFilter::Duration {
                        name,
                        op: cmp,
                        value: if neg { -d } else { d },
                    }),
                    _ => {
                        self.pos -= 1;
                        Err(self.unexpected())
                    }
                }
            }
            (Tok::Duration(d), _) if !matches!(op_tok, Tok::Re | Tok::Nre) => {
                self.bump();
                Ok(LabelFilter::Duration {
                    name,
                    op: cmp,
                    value: d,
                })
            }
            (Tok::Bytes(b), _) if !matches!(op_tok, Tok::Re | Tok::Nre) => {
                self.bump();
                Ok(LabelFilter::Bytes {
                    name,
                    op: cmp,
                    value: b,
                })
            }
            (Tok::Ident(w), _) if w == "ip" && *self.peek_at(1) == Tok::LParen => {
                if matches!(op_tok, Tok::Eq | Tok::Neq) {
                    Err(crate::Error::NotSupported("ip() label filters".into()))
                } else {
                    Err(self.unexpected())
                }
            }
            _ => Err(self.unexpected()),
        }
    }
}

fn regexp_stage(src: &str) -> std::result::Result<RegexpStage, String> {
    let re = Regex::new(src).map_err(|e| e.to_string())?;
    let mut names: Vec<(usize, String)> = Vec::new();
    for (i, n) in re.capture_names().enumerate() {
        let Some(n) = n else { continue };
        if !nerve_storage::labels::is_valid_label_name(n) {
            return Err(format!("invalid extracted label name '{n}'"));
        }
        if names.iter().any(|(_, x)| x == n) {
            return Err(format!("duplicate extracted label name '{n}'"));
        }
        names.push((i, n.to_string()));
    }
    if names.is_empty() {
        return Err("at least one named capture must be supplied".into());
    }
    Ok(RegexpStage { re, names })
}

/// Parses a `| json` parameter path: `a.b[0]`, `["key with space"].c`, `a[1][2]`.
pub fn parse_json_path(s: &str) -> std::result::Result<JsonPath, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut field = String::new();
    let flush = |field: &mut String, out: &mut JsonPath| {
        if !field.is_empty() {
            out.push(JsonKey::Field(std::mem::take(field)));
        }
    };
    while i < b.len() {
        match b[i] {
            b'.' => {
                if field.is_empty() && out.last().is_none() {
                    return Err("syntax error: unexpected DOT".into());
                }
                flush(&mut field, &mut out);
                i += 1;
            }
            b'[' => {
                flush(&mut field, &mut out);
                let end = s[i..].find(']').ok_or("syntax error: missing ]")? + i;
                let inner = s[i + 1..end].trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                    out.push(JsonKey::Field(q.to_string()));
                } else {
                    let idx: usize = inner.parse().map_err(|_| format!("syntax error: unexpected {inner}"))?;
                    out.push(JsonKey::Index(idx));
                }
                i = end + 1;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or(' ');
                field.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    flush(&mut field, &mut out);
    if out.is_empty() {
        return Err("syntax error: empty expression".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        assert_eq!(
            parse_json_path(r#"a.b[0]["c d"]"#).unwrap(),
            vec![
                JsonKey::Field("a".into()),
                JsonKey::Field("b".into()),
                JsonKey::Index(0),
                JsonKey::Field("c d".into())
            ]
        );
        assert!(parse_json_path("").is_err());
        assert!(parse_json_path("a[x]").is_err());
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_label_key("a.b-c"), "a_b_c");
        assert_eq!(sanitize_label_key("1x"), "_1x");
    }
}
