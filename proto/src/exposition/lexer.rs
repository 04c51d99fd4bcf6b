//! Low-level scanning of one line: names, label sets, quoted strings, numbers.
//!
//! A [`Cursor`] walks the bytes of a line that is already known to be valid UTF-8. Every
//! delimiter it looks for is ASCII, so slicing at those positions always lands on character
//! boundaries. Functions return `Err(String)` with what was expected; the parser adds the
//! line number.

use std::borrow::Cow;

use super::Label;

/// A position in one line.
pub(super) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
}

fn is_name_start(b: u8, metric: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (metric && b == b':')
}

fn is_name_char(b: u8, metric: bool) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || (metric && b == b':')
}

impl<'a> Cursor<'a> {
    pub(super) fn new(line: &'a str) -> Self {
        Cursor { line, pos: 0 }
    }

    /// The byte at the cursor, if any.
    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.line.as_bytes().get(self.pos).copied()
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    /// Everything from the cursor to the end of the line.
    pub(super) fn rest(&self) -> &'a str {
        self.line.get(self.pos..).unwrap_or("")
    }

    /// The text between two earlier positions.
    pub(super) fn slice(&self, from: usize, to: usize) -> &'a str {
        self.line.get(from..to).unwrap_or("")
    }

    /// Consumes `b` if it is next.
    #[inline]
    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips spaces and tabs; returns how many were skipped.
    #[inline]
    pub(super) fn skip_ws(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Reads a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or a label name (no `:`).
    #[inline]
    pub(super) fn name(&mut self, metric: bool) -> Option<&'a str> {
        let b = self.line.as_bytes();
        let start = self.pos;
        if !b.get(start).is_some_and(|&c| is_name_start(c, metric)) {
            return None;
        }
        let mut i = start + 1;
        while i < b.len() && is_name_char(b[i], metric) {
            i += 1;
        }
        self.pos = i;
        self.line.get(start..i)
    }

    /// Reads a token up to the next space, tab or end of line.
    #[inline]
    pub(super) fn token(&mut self) -> &'a str {
        let b = self.line.as_bytes();
        let start = self.pos;
        let mut i = start;
        while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
            i += 1;
        }
        self.pos = i;
        self.line.get(start..i).unwrap_or("")
    }

    /// Reads a label set after its `{` up to and including `}` into `out`. Whitespace
    /// around names, `=`, values and commas is accepted, as is a trailing comma.
    pub(super) fn label_set(&mut self, out: &mut Vec<Label<'a>>) -> Result<(), String> {
        loop {
            self.skip_ws();
            if self.eat(b'}') {
                return Ok(());
            }
            let Some(name) = self.name(false) else {
                return Err(match self.peek() {
                    None => "unexpected end of line in label set, expected label name or '}'".to_owned(),
                    Some(c) => format!("invalid label name starting at {:?}", char::from(c)),
                });
            };
            self.skip_ws();
            if !self.eat(b'=') {
                return Err(format!("expected '=' after label name {name:?}"));
            }
            self.skip_ws();
            if !self.eat(b'"') {
                return Err(format!("expected '\"' to start the value of label {name:?}"));
            }
            let value = self
                .quoted()
                .ok_or_else(|| format!("unterminated value of label {name:?}"))?;
            out.push(Label { name, value });
            self.skip_ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                return Ok(());
            }
            return Err(match self.peek() {
                None => "unexpected end of line in label set, expected ',' or '}'".to_owned(),
                Some(c) => format!("expected ',' or '}}' after label {name:?}, found {:?}", char::from(c)),
            });
        }
    }

    /// Reads a quoted string after its opening `"` up to and including the closing `"`, and
    /// unescapes `\\`, `\"` and `\n` (other escapes are kept as written, as Prometheus does).
    /// `None` if the closing quote is missing.
    fn quoted(&mut self) -> Option<Cow<'a, str>> {
        let b = self.line.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut escaped = false;
        while i < b.len() {
            match b[i] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        if i >= b.len() {
            return None;
        }
        self.pos = i + 1;
        let raw = self.line.get(start..i)?;
        Some(if escaped {
            Cow::Owned(unescape(raw, true))
        } else {
            Cow::Borrowed(raw)
        })
    }
}

/// Replaces `\\` by `\`, `\n` by a newline and (if `quote`) `\"` by `"`. Any other backslash
/// sequence is kept as written.
pub(super) fn unescape(raw: &str, quote: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Unescapes help text: borrowed when there is nothing to unescape.
pub(super) fn unescape_help(raw: &str, quote: bool) -> Cow<'_, str> {
    if raw.contains('\\') {
        Cow::Owned(unescape(raw, quote))
    } else {
        Cow::Borrowed(raw)
    }
}

/// Parses a sample value: a float in Go's `ParseFloat` syntax as far as Rust accepts it
/// (`NaN`, `+Inf`, `-Inf`, `1e3`, `.5`, ...).
#[inline]
pub(super) fn float(tok: &str) -> Result<f64, String> {
    if tok.is_empty() {
        return Err("expected a value".to_owned());
    }
    // Rust's parser also accepts "infinity"/"nan" in any case, like Go's.
    tok.parse::<f64>().map_err(|_| format!("invalid value {tok:?}"))
}

/// Parses a text-format timestamp: integer milliseconds.
#[inline]
pub(super) fn int_ms(tok: &str) -> Result<i64, String> {
    tok.parse::<i64>()
        .map_err(|_| format!("invalid timestamp {tok:?}, expected integer milliseconds"))
}

/// Parses an OpenMetrics timestamp: float seconds, converted to milliseconds by truncation
/// (as Prometheus does).
#[inline]
pub(super) fn float_seconds_ms(tok: &str) -> Result<i64, String> {
    let s: f64 = tok
        .parse()
        .map_err(|_| format!("invalid timestamp {tok:?}, expected seconds"))?;
    if !s.is_finite() {
        return Err(format!("invalid timestamp {tok:?}"));
    }
    let ms = s * 1000.0;
    if ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
        return Err(format!("timestamp {tok:?} out of range"));
    }
    Ok(ms as i64)
}
