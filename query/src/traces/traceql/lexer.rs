//! TraceQL tokens: operators, literals (strings, numbers, Go-style durations), intrinsics and
//! attribute references, each with the byte offset it starts at.
//!
//! Attribute names follow Tempo: after `.` or a scope (`span.`, `resource.`, …) a name runs
//! until whitespace or one of `{}()=~!<>&|^,`, or is a quoted string.

use super::syntax_error;
use crate::error::Result;

/// Where an attribute is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrScope {
    /// `.name`: the span's attributes or its resource's.
    Unscoped,
    /// `span.name`.
    Span,
    /// `resource.name`.
    Resource,
    /// `event.name`: any event of the span.
    Event,
    /// `link.name`: any link of the span.
    Link,
    /// `instrumentation.name`: the instrumentation scope's attributes.
    Instrumentation,
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// An operator or punctuation (`&&`, `=~`, `>>`, `|`, `+`, `,`, …).
    Op(&'static str),
    /// A string literal (quotes removed, escapes applied).
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A duration literal (ns).
    Duration(u64),
    /// A bare word: intrinsic, keyword or enum value (`name`, `span:status`, `error`, `true`).
    Ident(String),
    /// An attribute reference.
    Attr(AttrScope, String),
    /// End of input.
    Eof,
}

impl Tok {
    /// The token as error messages show it.
    pub fn describe(&self) -> String {
        match self {
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::Op(o) => format!("{o:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Duration(d) => format!("duration {d}ns"),
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Attr(_, n) => format!("attribute {n:?}"),
            Tok::Eof => "end of query".into(),
        }
    }
}

/// Operators, longest first so `&&` wins over `&` and `!>>` over `!>`.
const OPS: [&str; 32] = [
    "&>>", "&<<", "!>>", "!<<", "&&", "||", ">>", "<<", "=~", "!~", "!=", ">=", "<=", "&>", "&<", "&~", "!>", "!<",
    "=", ">", "<", "!", "|", "~", "+", "-", "*", "/", "%", "^", ",", "&",
];

/// Characters that end an unquoted attribute name.
fn ends_attribute(c: char) -> bool {
    c.is_whitespace() || "{}()=~!<>&|^,".contains(c)
}

/// Splits `src` into tokens (the last is [`Tok::Eof`]), each with its byte offset.
pub fn lex(src: &str) -> Result<Vec<(Tok, usize)>> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = src[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let start = i;
        let tok = match c {
            '{' => {
                i += 1;
                Tok::LBrace
            }
            '}' => {
                i += 1;
                Tok::RBrace
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '"' | '`' => {
                let (s, end) = string(src, i)?;
                i = end;
                Tok::Str(s)
            }
            '.' => {
                let (name, end) = attr_name(src, i + 1)?;
                i = end;
                Tok::Attr(AttrScope::Unscoped, name)
            }
            c if c.is_ascii_digit() => {
                let end = src[i..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == 'µ' || c == '_'))
                    .map_or(src.len(), |n| i + n);
                let tok = number(&src[i..end])
                    .ok_or_else(|| syntax_error(src, i, format!("invalid number {:?}", &src[i..end])))?;
                i = end;
                tok
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = src[i..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map_or(src.len(), |n| i + n);
                let word = &src[i..end];
                i = end;
                let scope = match word {
                    "span" => Some(AttrScope::Span),
                    "resource" => Some(AttrScope::Resource),
                    "event" => Some(AttrScope::Event),
                    "link" => Some(AttrScope::Link),
                    "instrumentation" => Some(AttrScope::Instrumentation),
                    _ => None,
                };
                if b.get(i) == Some(&b'.') && word == "parent" {
                    return Err(syntax_error(src, start, "the parent scope is not supported".into()));
                }
                match (scope, b.get(i)) {
                    (Some(scope), Some(b'.')) => {
                        let (name, end) = attr_name(src, i + 1)?;
                        i = end;
                        Tok::Attr(scope, name)
                    }
                    (_, Some(b':')) if matches!(word, "span" | "trace" | "event" | "link" | "instrumentation") => {
                        let end = src[i + 1..]
                            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .map_or(src.len(), |n| i + 1 + n);
                        let full = &src[start..end];
                        i = end;
                        Tok::Ident(full.to_owned())
                    }
                    _ => Tok::Ident(word.to_owned()),
                }
            }
            _ => {
                let Some(op) = OPS.iter().find(|o| src[i..].starts_with(**o)) else {
                    return Err(syntax_error(src, i, format!("unexpected character {c:?}")));
                };
                i += op.len();
                Tok::Op(op)
            }
        };
        out.push((tok, start));
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

/// An attribute name starting at byte `i` (quoted or bare); the name and the offset after it.
fn attr_name(src: &str, i: usize) -> Result<(String, usize)> {
    if src[i..].starts_with('"') {
        let (name, end) = string(src, i)?;
        if name.is_empty() {
            return Err(syntax_error(src, i, "empty attribute name".into()));
        }
        return Ok((name, end));
    }
    let end = src[i..].find(ends_attribute).map_or(src.len(), |n| i + n);
    // A closing quote directly after a bare name belongs to the next token.
    let end = src[i..end].find('"').map_or(end, |n| i + n);
    if end == i {
        return Err(syntax_error(
            src,
            i.saturating_sub(1),
            "attribute name expected after \".\"".into(),
        ));
    }
    Ok((src[i..end].to_owned(), end))
}

/// A `"…"` (with Go escapes) or `` `…` `` (raw) string at byte `i`; its text and the offset after it.
fn string(src: &str, i: usize) -> Result<(String, usize)> {
    let quote = src[i..].chars().next().unwrap_or('"');
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((n, c)) = chars.next() {
        if c == quote {
            return Ok((out, i + 1 + n + 1));
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'u' => {
                let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                match ch {
                    Some(ch) if hex.len() == 4 => out.push(ch),
                    _ => return Err(syntax_error(src, i + 1 + n, format!("invalid escape \\u{hex}"))),
                }
            }
            e => return Err(syntax_error(src, i + 1 + n, format!("invalid escape \\{e}"))),
        }
    }
    Err(syntax_error(src, i, "unterminated string".into()))
}

/// An integer, float or Go duration (`300ms`, `1h30m`, `1.5s`, `10ns`).
fn number(s: &str) -> Option<Tok> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Tok::Int(i));
    }
    if s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E')
        && let Ok(f) = s.parse::<f64>()
    {
        return Some(Tok::Float(f));
    }
    duration(s).map(Tok::Duration)
}

/// A Go duration in ns: one or more `<number><unit>`, units ns, us, µs, ms, s, m, h (Go's
/// `time.ParseDuration`, the grammar LogQL reads label values with: one implementation,
/// [`crate::logql::parse_go_duration`]).
pub fn duration(s: &str) -> Option<u64> {
    crate::logql::parse_go_duration(s)
        .ok()
        .and_then(|ns| u64::try_from(ns).ok())
}
