//! Stream label sets: the selector syntax of the protobuf `labels` field (`{job="x", a="b"}`),
//! label name rules, and Loki's `service_name` defaulting.

use crate::Error;

/// The label Loki (and Grafana's Logs Drilldown) uses to group streams by service.
pub const SERVICE_NAME: &str = "service_name";

/// The `service_name` of streams that carry none of the [`SERVICE_NAME_SOURCES`].
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Where Loki takes a missing `service_name` from, in priority order (Loki's default
/// `discover_service_name`, `pkg/validation/limits.go`).
pub const SERVICE_NAME_SOURCES: [&str; 12] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
];

/// Whether `name` is a valid Prometheus/Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        _ => false,
    }
}

/// A label name made from an arbitrary key the way Loki does for OTLP attributes and
/// structured metadata (Prometheus' `otlptranslator.LabelNamer` with default options): each
/// run of characters outside `[a-zA-Z0-9_]` becomes one `_`, and a leading digit gets a
/// `key_` prefix. `None` when nothing but underscores is left (e.g. `""` or `"..."`).
pub fn sanitize_label_name(key: &str) -> Option<String> {
    let mut out = String::with_capacity(key.len() + 4);
    let mut in_invalid_run = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            in_invalid_run = false;
        } else if !in_invalid_run {
            out.push('_');
            in_invalid_run = true;
        }
    }
    if out.bytes().all(|b| b == b'_') {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    Some(out)
}

/// Parses a label set in selector syntax, e.g. `{job="x", a="b\"q"}`, into pairs sorted by
/// name.
///
/// Values are double-quoted with Go escapes (`\"`, `\\`, `\n`, `\t`, `\xHH`, `\u00e9`, ...)
/// or back-quoted raw strings; only `=` is allowed between name and value; whitespace between
/// tokens and one trailing comma are accepted. Pairs with an empty value are dropped (an
/// empty label value means "no such label", as in Prometheus).
///
/// Errors ([`Error::InvalidLabels`]) on bad syntax, invalid label names, duplicate names and
/// label sets that end up empty; the message quotes the input and gives the byte offset.
pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, Error> {
    let mut p = Parser { src: s, pos: 0 };
    let pairs = p.label_set().map_err(|(pos, why)| {
        Error::InvalidLabels(format!("invalid labels {}: {why} at offset {pos}", quote_for_error(s)))
    })?;
    finish_label_set(pairs).map_err(|why| Error::InvalidLabels(format!("invalid labels {}: {why}", quote_for_error(s))))
}

/// Sorts `pairs` by name, rejects invalid and duplicate names, drops empty values and
/// rejects a set that is then empty. The error is a bare reason for the caller to prefix.
pub(crate) fn finish_label_set(mut pairs: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
    if let Some((name, _)) = pairs.iter().find(|(n, _)| !is_valid_label_name(n)) {
        return Err(format!("invalid label name {}", quote_for_error(name)));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("duplicate label name {}", quote_for_error(&w[0].0)));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    if pairs.is_empty() {
        return Err("a stream needs at least one label with a non-empty value".to_owned());
    }
    Ok(pairs)
}

/// Formats sorted pairs in selector syntax (`{a="x", b="y\"z"}`), the inverse of
/// [`parse_labels`].
pub fn format_labels(labels: &[(String, String)]) -> String {
    let mut out = String::with_capacity(2 + labels.iter().map(|(n, v)| n.len() + v.len() + 5).sum::<usize>());
    out.push('{');
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push('=');
        push_quoted(&mut out, value);
    }
    out.push('}');
    out
}

/// Appends `value` as a Go double-quoted string literal.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                use std::fmt::Write;
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` quoted for an error message, cut to a readable length.
pub(crate) fn quote_for_error(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}...", &s[..end])
}

/// Loki's `service_name` defaulting: when `labels` (sorted by name) has no non-empty
/// `service_name`, adds one with the value of the first of [`SERVICE_NAME_SOURCES`] present
/// with a non-empty value, else [`UNKNOWN_SERVICE`]. Keeps `labels` sorted.
pub fn ensure_service_name(labels: &mut Vec<(String, String)>) {
    let get = |labels: &[(String, String)], name: &str| {
        labels
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    if get(labels, SERVICE_NAME).is_some() {
        return;
    }
    let value = SERVICE_NAME_SOURCES
        .iter()
        .find_map(|source| get(labels, source))
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());
    labels.retain(|(n, _)| n != SERVICE_NAME);
    let at = labels.partition_point(|(n, _)| n.as_str() < SERVICE_NAME);
    labels.insert(at, (SERVICE_NAME.to_owned(), value));
}

/// A recursive-descent parser over the selector text; errors are (byte offset, reason).
struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

type ParseResult<T> = Result<T, (usize, String)>;

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn fail<T>(&self, why: impl Into<String>) -> ParseResult<T> {
        Err((self.pos, why.into()))
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("{c:?}"),
            None => "end of input".to_owned(),
        }
    }

    fn expect(&mut self, c: char) -> ParseResult<()> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            self.fail(format!("expected {c:?}, found {}", self.found()))
        }
    }

    fn label_set(&mut self) -> ParseResult<Vec<(String, String)>> {
        self.expect('{')?;
        let mut pairs = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                break;
            }
            let name = self.name()?;
            self.skip_ws();
            match self.peek() {
                Some('=') if !self.rest().starts_with("=~") => self.pos += 1,
                Some('!' | '=') => return self.fail("only `=` is allowed in a stream label set"),
                _ => return self.fail(format!("expected '=', found {}", self.found())),
            }
            self.skip_ws();
            let value = self.string()?;
            pairs.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return self.fail(format!("expected ',' or '}}', found {}", self.found())),
            }
        }
        self.skip_ws();
        if self.pos < self.src.len() {
            return self.fail(format!("unexpected {} after '}}'", self.found()));
        }
        Ok(pairs)
    }

    fn name(&mut self) -> ParseResult<String> {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return self.fail(format!("expected a label name, found {}", self.found()));
        }
        let name = rest[..len].to_owned();
        if !is_valid_label_name(&name) {
            return self.fail(format!("invalid label name {name:?}"));
        }
        self.pos += len;
        Ok(name)
    }

    fn string(&mut self) -> ParseResult<String> {
        match self.peek() {
            Some('"') => self.quoted(),
            Some('`') => {
                let start = self.pos + 1;
                match self.src.get(start..).and_then(|r| r.find('`')) {
                    Some(len) => {
                        self.pos = start + len + 1;
                        Ok(self.src[start..start + len].to_owned())
                    }
                    None => self.fail("unterminated raw string"),
                }
            }
            _ => self.fail(format!("expected a quoted label value, found {}", self.found())),
        }
    }

    /// A Go interpreted string literal; byte escapes must add up to valid UTF-8.
    fn quoted(&mut self) -> ParseResult<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                self.pos = start;
                return self.fail("unterminated string");
            };
            self.pos += c.len_utf8();
            match c {
                '"' => break,
                '\\' => self.escape(&mut out)?,
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        String::from_utf8(out).map_err(|_| (start, "label value is not valid UTF-8".to_owned()))
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> ParseResult<()> {
        let at = self.pos - 1;
        let Some(c) = self.peek() else {
            return self.fail("unterminated string");
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            '\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => {
                self.pos -= 1;
                (3, 8)
            }
            _ => return Err((at, format!("unknown escape sequence \\{c}"))),
        };
        let text = self.rest().get(..digits).unwrap_or("").to_owned();
        let value = match u32::from_str_radix(&text, radix) {
            Ok(v) if text.len() == digits && text.bytes().all(|b| b.is_ascii_alphanumeric()) => v,
            _ => return Err((at, format!("invalid escape sequence \\{c}{text}"))),
        };
        self.pos += digits;
        if matches!(c, 'u' | 'U') {
            let Some(ch) = char::from_u32(value) else {
                return Err((at, format!("escape \\{c}{text} is not a Unicode scalar value")));
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        } else {
            let Ok(b) = u8::try_from(value) else {
                return Err((at, format!("octal escape \\{text} is larger than a byte")));
            };
            out.push(b);
        }
        Ok(())
    }
}
