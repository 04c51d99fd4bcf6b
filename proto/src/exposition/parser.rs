//! The line-by-line parser shared by both text formats.

use super::lexer::{Cursor, float, float_seconds_ms, int_ms, unescape_help};
use super::{EXEMPLAR_MAX_LABEL_CHARS, Entry, Exemplar, Format, Label, MetricType, ParseError, Sample};

/// A pull parser over one exposition body. Call [`Parser::next_entry`] until it returns
/// `Ok(None)` (end of body) or an error (after which it returns `Ok(None)`).
///
/// Entries borrow the body (`'a`) and the parser's label buffers, which are reused for every
/// line: copy what you need before asking for the next entry.
#[derive(Debug)]
pub struct Parser<'a> {
    body: &'a str,
    /// Byte offset of the next unread line.
    pos: usize,
    /// 1-based number of the line read last.
    line: usize,
    format: Format,
    labels: Vec<Label<'a>>,
    exemplar_labels: Vec<Label<'a>>,
    saw_eof: bool,
    done: bool,
}

/// A sample line without its labels (which stay in the parser's buffers).
struct Scanned<'a> {
    name: &'a str,
    series: &'a str,
    value: f64,
    timestamp_ms: Option<i64>,
    exemplar: Option<(f64, Option<i64>)>,
}

/// What a non-sample line turned out to be.
enum Comment<'a> {
    Entry(Entry<'a, 'a>),
    Skip,
    Eof,
}

impl<'a> Parser<'a> {
    /// Starts parsing `body` in `format`. Fails if the body is not UTF-8 (naming the line).
    pub fn new(body: &'a [u8], format: Format) -> Result<Self, ParseError> {
        let body = std::str::from_utf8(body).map_err(|e| {
            let ok = &body[..e.valid_up_to()];
            ParseError {
                line: 1 + ok.iter().filter(|&&b| b == b'\n').count(),
                message: "invalid UTF-8".to_owned(),
            }
        })?;
        Ok(Parser {
            body,
            pos: 0,
            line: 0,
            format,
            labels: Vec::with_capacity(16),
            exemplar_labels: Vec::new(),
            saw_eof: false,
            done: false,
        })
    }

    /// The format being parsed.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The 1-based number of the line the last entry came from.
    pub fn line(&self) -> usize {
        self.line
    }

    fn err(&mut self, message: impl Into<String>) -> ParseError {
        self.done = true;
        ParseError {
            line: self.line,
            message: message.into(),
        }
    }

    /// Takes the next line (without its `\n`), or `None` at the end of the body.
    #[inline]
    fn next_line(&mut self) -> Option<&'a str> {
        if self.pos >= self.body.len() {
            return None;
        }
        let rest = self.body.get(self.pos..)?;
        self.line += 1;
        let line = match memchr_newline(rest) {
            Some(i) => {
                self.pos += i + 1;
                rest.get(..i)?
            }
            None => {
                self.pos = self.body.len();
                rest
            }
        };
        Some(line)
    }

    /// The next entry, `Ok(None)` at the end of the body.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_, 'a>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let line = loop {
            let Some(line) = self.next_line() else {
                self.done = true;
                if self.format == Format::OpenMetrics && !self.saw_eof {
                    self.line += 1;
                    return Err(self.err("data does not end with # EOF"));
                }
                return Ok(None);
            };
            let trimmed = line.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() {
                if self.format == Format::OpenMetrics {
                    return Err(self.err("unexpected empty line"));
                }
                continue;
            }
            if trimmed.as_bytes()[0] == b'#' {
                match self.comment(trimmed) {
                    Ok(Comment::Entry(e)) => return Ok(Some(e)),
                    Ok(Comment::Skip) => continue,
                    Ok(Comment::Eof) => {
                        self.saw_eof = true;
                        self.done = true;
                        if self.pos < self.body.len() {
                            self.line += 1;
                            return Err(self.err("unexpected data after # EOF"));
                        }
                        return Ok(None);
                    }
                    Err(m) => return Err(self.err(m)),
                }
            }
            if self.format == Format::OpenMetrics && trimmed.len() != line.len() {
                return Err(self.err("unexpected whitespace at the start of the line"));
            }
            break trimmed;
        };
        match self.scan_sample(line) {
            Ok(s) => Ok(Some(Entry::Sample(Sample {
                name: s.name,
                labels: &self.labels,
                series: s.series,
                value: s.value,
                timestamp_ms: s.timestamp_ms,
                exemplar: s.exemplar.map(|(value, timestamp_ms)| Exemplar {
                    labels: &self.exemplar_labels,
                    value,
                    timestamp_ms,
                }),
            }))),
            Err(m) => Err(self.err(m)),
        }
    }

    /// Parses a `#` line.
    fn comment(&self, line: &'a str) -> Result<Comment<'a>, String> {
        let om = self.format == Format::OpenMetrics;
        let mut c = Cursor::new(line);
        c.eat(b'#');
        if om && line == "# EOF" {
            return Ok(Comment::Eof);
        }
        if c.skip_ws() == 0 {
            return if om {
                Err(format!("invalid comment line {line:?}"))
            } else {
                Ok(Comment::Skip)
            };
        }
        let keyword = c.token();
        let is_meta = matches!(keyword, "HELP" | "TYPE") || (om && keyword == "UNIT");
        if !is_meta {
            return if om {
                Err(format!(
                    "invalid comment line {line:?}, expected HELP, TYPE, UNIT or EOF"
                ))
            } else {
                Ok(Comment::Skip)
            };
        }
        if c.skip_ws() == 0 {
            return if om || !c.at_end() {
                Err(format!("expected metric name after # {keyword}"))
            } else {
                Ok(Comment::Skip)
            };
        }
        let name = c
            .name(true)
            .ok_or_else(|| format!("invalid metric name in # {keyword} line"))?;
        let sep = c.skip_ws();
        if sep == 0 && !c.at_end() {
            return Err(format!("invalid metric name in # {keyword} line"));
        }
        let entry = match keyword {
            "HELP" => Entry::Help {
                name,
                help: unescape_help(c.rest(), om),
            },
            "TYPE" => {
                let t = c.token();
                c.skip_ws();
                if !c.at_end() {
                    return Err(format!("unexpected text after type {t:?}"));
                }
                Entry::Type {
                    name,
                    kind: metric_type(t, om)?,
                }
            }
            _ => {
                let unit = c.token();
                c.skip_ws();
                if !c.at_end() {
                    return Err(format!("unexpected text after unit {unit:?}"));
                }
                Entry::Unit { name, unit }
            }
        };
        Ok(Comment::Entry(entry))
    }

    /// Parses a sample line; its labels go to the parser's label buffers.
    #[inline]
    fn scan_sample(&mut self, line: &'a str) -> Result<Scanned<'a>, String> {
        let om = self.format == Format::OpenMetrics;
        let mut c = Cursor::new(line);
        let start = c.pos();
        let Some(name) = c.name(true) else {
            let found = line.chars().next().unwrap_or(' ');
            return Err(format!("expected a metric name, found {found:?}"));
        };
        self.labels.clear();
        if c.eat(b'{') {
            c.label_set(&mut self.labels)?;
        }
        let series = c.slice(start, c.pos());
        if c.skip_ws() == 0 {
            return Err(match c.peek() {
                None => format!("expected a value after {series:?}"),
                Some(ch) => format!("unexpected {:?} after metric name {name:?}", char::from(ch)),
            });
        }
        let value = float(c.token())?;
        c.skip_ws();
        let mut timestamp_ms = None;
        if !c.at_end() && c.peek() != Some(b'#') {
            let tok = c.token();
            timestamp_ms = Some(if om { float_seconds_ms(tok)? } else { int_ms(tok)? });
            c.skip_ws();
        }
        let mut exemplar = None;
        if !c.at_end() {
            if !om || c.peek() != Some(b'#') {
                return Err(format!("unexpected text {:?} at the end of the sample", c.rest()));
            }
            c.eat(b'#');
            c.skip_ws();
            if !c.eat(b'{') {
                return Err("expected '{' to start the exemplar's labels".to_owned());
            }
            self.exemplar_labels.clear();
            c.label_set(&mut self.exemplar_labels)?;
            let chars: usize = self
                .exemplar_labels
                .iter()
                .map(|l| l.name.chars().count() + l.value.chars().count())
                .sum();
            if chars > EXEMPLAR_MAX_LABEL_CHARS {
                return Err(format!(
                    "exemplar labels have {chars} characters, more than the limit of {EXEMPLAR_MAX_LABEL_CHARS}"
                ));
            }
            if c.skip_ws() == 0 {
                return Err("expected the exemplar's value".to_owned());
            }
            let ev = float(c.token()).map_err(|e| format!("exemplar: {e}"))?;
            c.skip_ws();
            let mut ets = None;
            if !c.at_end() {
                ets = Some(float_seconds_ms(c.token()).map_err(|e| format!("exemplar: {e}"))?);
                c.skip_ws();
            }
            if !c.at_end() {
                return Err(format!("unexpected text {:?} after the exemplar", c.rest()));
            }
            exemplar = Some((ev, ets));
        }
        Ok(Scanned {
            name,
            series,
            value,
            timestamp_ms,
            exemplar,
        })
    }
}

/// Finds the next `\n` (std's `str::find` on a `char` uses a memchr-style search).
#[inline]
fn memchr_newline(s: &str) -> Option<usize> {
    s.find('\n')
}

fn metric_type(t: &str, om: bool) -> Result<MetricType, String> {
    Ok(match (t, om) {
        ("counter", _) => MetricType::Counter,
        ("gauge", _) => MetricType::Gauge,
        ("histogram", _) => MetricType::Histogram,
        ("summary", _) => MetricType::Summary,
        ("untyped", false) | ("unknown", true) => MetricType::Unknown,
        ("gaugehistogram", true) => MetricType::GaugeHistogram,
        ("info", true) => MetricType::Info,
        ("stateset", true) => MetricType::StateSet,
        _ => return Err(format!("invalid metric type {t:?}")),
    })
}
