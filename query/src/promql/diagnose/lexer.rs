//! A PromQL lexer that follows Prometheus 2.42's (`promql/parser/lex.go`) state machine closely
//! enough to reproduce its error positions and messages: which character is unexpected, where
//! an unclosed parenthesis or bracket is noticed, what a bad duration looks like.
//!
//! Only [`super`] uses it, and only after promql-parser has rejected a query, so it favours
//! fidelity to Prometheus' quirks over speed.

/// What a token is; the Prometheus item type, coarsened where the parser does not care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A name without a colon (`foo`, a label name inside braces).
    Ident,
    /// A name with a colon (`job:rate5m`).
    MetricIdent,
    /// A number literal, `Inf` and `NaN` included.
    Number,
    /// A duration literal (`5m`, `1h30m`).
    Duration,
    /// A quoted or raw string, quotes included.
    Str,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    /// `=` (label matching; not an operator in Prometheus' token table).
    Eql,
    Colon,
    /// An operator: arithmetic, comparison, set (`and`, `or`, `unless`), `atan2`, `@`,
    /// regex matchers.
    Op,
    /// `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`, `bool`, `offset`.
    Keyword,
    /// An aggregation operator (`sum`, `topk`, …).
    Aggr,
    /// `start` or `end` (the `@` preprocessors).
    Preproc,
    /// End of input.
    Eof,
    /// A lexer error; the token's text is the message.
    Error,
}

/// One token: its kind, byte offset and text (the message for [`Kind::Error`]).
#[derive(Clone, Debug)]
pub(super) struct Token {
    pub kind: Kind,
    pub pos: usize,
    pub val: String,
}

const AGGREGATORS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
];
const KEYWORDS: &[&str] = &[
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
];
const WORD_OPERATORS: &[&str] = &["and", "or", "unless", "atan2"];

impl Token {
    /// Prometheus' `Item.desc()`: how the parser names the token in "unexpected …".
    pub fn desc(&self) -> String {
        match self.kind {
            Kind::Eof => "end of input".into(),
            Kind::Error => self.val.clone(),
            Kind::Ident => format!("identifier {}", go_quote(&self.val)),
            Kind::MetricIdent => format!("metric identifier {}", go_quote(&self.val)),
            Kind::Number => format!("number {}", short_quote(&self.val)),
            Kind::Duration => format!("duration {}", short_quote(&self.val)),
            Kind::Str => format!("string {}", short_quote(&self.val)),
            Kind::Op => format!("<op:{}>", self.val),
            Kind::Keyword => format!("<{}>", self.val),
            Kind::Aggr => format!("<aggr:{}>", self.val),
            _ => short_quote(&self.val),
        }
    }
}

/// Go's `%.10q...` for long values, `%q` otherwise (`Item.String()`).
fn short_quote(s: &str) -> String {
    if s.chars().count() > 10 {
        let head: String = s.chars().take(10).collect();
        format!("{}...", go_quote(&head))
    } else {
        go_quote(s)
    }
}

/// Go's `%q` for the strings PromQL tokens hold.
pub(super) fn go_quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\x{:02x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Go's `%q` for one rune (`'x'`).
fn rune_quote(c: Option<char>) -> String {
    match c {
        None => "'\\x00'".into(),
        Some('\'') => "'\\''".into(),
        Some('\\') => "'\\\\'".into(),
        Some('\n') => "'\\n'".into(),
        Some('\t') => "'\\t'".into(),
        Some(c) => format!("'{c}'"),
    }
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: Option<char>) -> bool {
    c.is_some_and(|c| is_alpha(c) || c.is_ascii_digit())
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

struct Lexer<'a> {
    input: &'a str,
    start: usize,
    pos: usize,
    width: usize,
    paren_depth: i32,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    out: Vec<Token>,
}

/// Lexes `input` up to and including its end or its first error.
pub(super) fn lex(input: &str) -> Vec<Token> {
    let mut l = Lexer {
        input,
        start: 0,
        pos: 0,
        width: 0,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        out: Vec::new(),
    };
    loop {
        let done = if l.brace_open {
            l.inside_braces()
        } else {
            l.statements()
        };
        if done {
            return l.out;
        }
    }
}

impl Lexer<'_> {
    fn next(&mut self) -> Option<char> {
        match self.input[self.pos..].chars().next() {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn emit(&mut self, kind: Kind) {
        self.out.push(Token {
            kind,
            pos: self.start,
            val: self.input[self.start..self.pos].to_string(),
        });
        self.start = self.pos;
    }

    /// Records an error at the current token start; lexing stops.
    fn error(&mut self, msg: String) -> bool {
        self.out.push(Token {
            kind: Kind::Error,
            pos: self.start,
            val: msg,
        });
        true
    }

    /// One step of `lexStatements`; true when lexing is over.
    fn statements(&mut self) -> bool {
        if self.input[self.pos..].starts_with('#') {
            return self.comment();
        }
        let Some(r) = self.next() else {
            if self.paren_depth != 0 {
                return self.error("unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.error("unclosed left bracket".into());
            }
            self.emit(Kind::Eof);
            return true;
        };
        match r {
            ',' => self.emit(Kind::Comma),
            c if is_space(c) => self.space(),
            '*' | '/' | '%' | '+' | '-' | '^' | '@' => self.emit(Kind::Op),
            '=' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(Kind::Op);
                }
                Some('~') => return self.error("unexpected character after '=': '~'".into()),
                _ => self.emit(Kind::Eql),
            },
            '!' => match self.next() {
                Some('=') => self.emit(Kind::Op),
                t => return self.error(format!("unexpected character after '!': {}", rune_quote(t))),
            },
            '<' | '>' => {
                if self.peek() == Some('=') {
                    self.next();
                }
                self.emit(Kind::Op);
            }
            c if c.is_ascii_digit() || (c == '.' && self.peek().is_some_and(|p| p.is_ascii_digit())) => {
                self.backup();
                return self.number_or_duration();
            }
            '"' | '\'' => return self.string(r),
            '`' => return self.raw_string(),
            c if is_alpha(c) || c == ':' => {
                if !self.bracket_open {
                    self.backup();
                    self.keyword_or_identifier();
                } else if self.got_colon {
                    return self.error(format!("unexpected colon {}", rune_quote(Some(c))));
                } else {
                    self.emit(Kind::Colon);
                    self.got_colon = true;
                }
            }
            '(' => {
                self.emit(Kind::LParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(Kind::RParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus' errorf overwrites the item just emitted.
                    self.out.pop();
                    return self.error("unexpected right parenthesis ')'".into());
                }
            }
            '{' => {
                self.emit(Kind::LBrace);
                self.brace_open = true;
            }
            '[' => {
                if self.bracket_open {
                    return self.error("unexpected left bracket '['".into());
                }
                self.got_colon = false;
                self.emit(Kind::LBracket);
                while self.peek().is_some_and(is_space) {
                    self.next();
                }
                self.start = self.pos;
                self.bracket_open = true;
                return self.duration();
            }
            ']' => {
                if !self.bracket_open {
                    return self.error("unexpected right bracket ']'".into());
                }
                self.emit(Kind::RBracket);
                self.bracket_open = false;
            }
            c => return self.error(format!("unexpected character: {}", rune_quote(Some(c)))),
        }
        false
    }

    /// One step of `lexInsideBraces`.
    fn inside_braces(&mut self) -> bool {
        if self.input[self.pos..].starts_with('#') {
            return self.comment();
        }
        let Some(r) = self.next() else {
            return self.error("unexpected end of input inside braces".into());
        };
        match r {
            c if is_space(c) => self.space(),
            c if is_alpha(c) => {
                while is_alnum(self.next()) {}
                self.backup();
                self.emit(Kind::Ident);
            }
            ',' => self.emit(Kind::Comma),
            '"' | '\'' => return self.string(r),
            '`' => return self.raw_string(),
            '=' => {
                if self.next() == Some('~') {
                    self.emit(Kind::Op);
                } else {
                    self.backup();
                    self.emit(Kind::Eql);
                }
            }
            '!' => match self.next() {
                Some('~') | Some('=') => self.emit(Kind::Op),
                t => {
                    return self.error(format!(
                        "unexpected character after '!' inside braces: {}",
                        rune_quote(t)
                    ));
                }
            },
            '{' => return self.error("unexpected left brace '{'".into()),
            '}' => {
                self.emit(Kind::RBrace);
                self.brace_open = false;
            }
            c => return self.error(format!("unexpected character inside braces: {}", rune_quote(Some(c)))),
        }
        false
    }

    fn comment(&mut self) -> bool {
        while let Some(c) = self.next() {
            if c == '\n' {
                break;
            }
        }
        self.start = self.pos;
        false
    }

    fn space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.next();
        }
        self.start = self.pos;
    }

    fn string(&mut self, quote: char) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    self.next();
                }
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::Str);
        false
    }

    fn raw_string(&mut self) -> bool {
        loop {
            match self.next() {
                None => return self.error("unterminated raw string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::Str);
        false
    }

    /// `scanNumber`: true when a number ends here (the next character is not alphanumeric).
    fn scan_number(&mut self) -> bool {
        let mut digits = "0123456789";
        if self.accept("0") && self.accept("xX") {
            digits = "0123456789abcdefABCDEF";
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789");
        }
        !is_alnum(self.peek())
    }

    /// `acceptRemainingDuration`.
    fn remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            self.accept_run("0123456789");
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        let c = self.next();
        !is_alnum(c)
    }

    fn number_or_duration(&mut self) -> bool {
        if self.scan_number() {
            self.emit(Kind::Number);
            return false;
        }
        if self.remaining_duration() {
            self.backup();
            self.emit(Kind::Duration);
            return false;
        }
        let text = self.input[self.start..self.pos].to_string();
        self.error(format!("bad number or duration syntax: {}", go_quote(&text)))
    }

    fn duration(&mut self) -> bool {
        if self.scan_number() {
            return self.error("missing unit character in duration".into());
        }
        if !self.remaining_duration() {
            let text = self.input[self.start..self.pos].to_string();
            return self.error(format!("bad duration syntax: {}", go_quote(&text)));
        }
        self.backup();
        self.emit(Kind::Duration);
        false
    }

    fn keyword_or_identifier(&mut self) {
        loop {
            match self.next() {
                Some(c) if is_alpha(c) || c.is_ascii_digit() || c == ':' => {}
                _ => break,
            }
        }
        self.backup();
        let word = self.input[self.start..self.pos].to_ascii_lowercase();
        let kind = if AGGREGATORS.contains(&word.as_str()) {
            Kind::Aggr
        } else if KEYWORDS.contains(&word.as_str()) {
            Kind::Keyword
        } else if WORD_OPERATORS.contains(&word.as_str()) {
            Kind::Op
        } else if word == "start" || word == "end" {
            Kind::Preproc
        } else if word == "inf" || word == "nan" {
            Kind::Number
        } else if word.contains(':') {
            Kind::MetricIdent
        } else {
            Kind::Ident
        };
        self.emit(kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(q: &str) -> Vec<(Kind, usize)> {
        lex(q).into_iter().map(|t| (t.kind, t.pos)).collect()
    }

    #[test]
    fn positions_of_tokens_and_errors() {
        assert_eq!(
            kinds("sum(x)"),
            [
                (Kind::Aggr, 0),
                (Kind::LParen, 3),
                (Kind::Ident, 4),
                (Kind::RParen, 5),
                (Kind::Eof, 6)
            ]
        );
        let t = lex("foo)");
        assert_eq!(
            (t[1].kind, t[1].pos, t[1].val.as_str()),
            (Kind::Error, 4, "unexpected right parenthesis ')'")
        );
        let t = lex("foo[5x]");
        assert_eq!((t[2].pos, t[2].val.as_str()), (4, "bad duration syntax: \"5\""));
        let t = lex("foo{a=\"b");
        assert_eq!(
            (t.last().map(|t| t.pos), t.last().map(|t| t.val.as_str())),
            (Some(6), Some("unterminated quoted string"))
        );
    }
}
