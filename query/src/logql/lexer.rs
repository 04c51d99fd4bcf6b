//! The LogQL lexer: turns the query text into tokens carrying their 1-based line and column,
//! so parse errors can name the position the way Loki does.
//!
//! Words are always [`Tok::Ident`]; the parser decides from context whether a word is a
//! keyword. Durations and byte sizes are recognised from a number followed by letters, and
//! `[...]` is a single [`Tok::Range`] token (as in Loki, whose range tokens report line 0).

use super::units::{parse_bytes, parse_duration};
use crate::error::{Error, Result};

/// One lexical token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A word: label name, keyword or function name.
    Ident(String),
    /// A string literal, unescaped (`"..."` with Go escapes, or a raw `` `...` `` string).
    Str(String),
    /// A number.
    Num(f64),
    /// A duration literal such as `250ms` or `1h30m`, in nanoseconds.
    Duration(i64),
    /// A byte-size literal such as `20KB`, in bytes.
    Bytes(u64),
    /// A range `[5m]`, in nanoseconds.
    Range(i64),
    /// A parser flag such as `--strict`.
    Flag(String),
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `==`
    CmpEq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `|`
    Pipe,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `!>`
    NotPattern,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// End of input.
    Eof,
}

/// A token and where it starts.
#[derive(Clone, Debug)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// 1-based line (0 for range tokens, as Loki reports them).
    pub line: usize,
    /// 1-based column in characters.
    pub col: usize,
}

/// Words Loki's lexer always turns into keyword tokens; errors name them by their text.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "unwrap",
    "offset",
    "and",
    "or",
    "unless",
    "drop",
    "keep",
    "decolorize",
    "ip",
];

impl Token {
    /// How Loki's yacc error messages name this token (`IDENTIFIER`, `STRING`, `)`, `by`, ...).
    pub fn display(&self, next_is_paren: bool) -> String {
        match &self.tok {
            Tok::Ident(w) if KEYWORDS.contains(&w.as_str()) => w.clone(),
            Tok::Ident(w) if next_is_paren && super::parser::is_function_name(w) => w.clone(),
            Tok::Ident(_) => "IDENTIFIER".into(),
            Tok::Str(_) => "STRING".into(),
            Tok::Num(_) => "NUMBER".into(),
            Tok::Duration(_) => "DURATION".into(),
            Tok::Bytes(_) => "BYTES".into(),
            Tok::Range(_) => "RANGE".into(),
            Tok::Flag(_) => "PARSER_FLAG".into(),
            Tok::Eof => "$end".into(),
            t => punct_text(t).to_string(),
        }
    }
}

/// The source text of a punctuation token.
pub fn punct_text(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Eq => "=",
        Tok::Neq => "!=",
        Tok::Re => "=~",
        Tok::Nre => "!~",
        Tok::CmpEq => "==",
        Tok::Gt => ">",
        Tok::Gte => ">=",
        Tok::Lt => "<",
        Tok::Lte => "<=",
        Tok::Pipe => "|",
        Tok::PipeExact => "|=",
        Tok::PipeMatch => "|~",
        Tok::PipePattern => "|>",
        Tok::NotPattern => "!>",
        Tok::Add => "+",
        Tok::Sub => "-",
        Tok::Mul => "*",
        Tok::Div => "/",
        Tok::Mod => "%",
        Tok::Pow => "^",
        _ => "",
    }
}

/// A parse error at a position, as [`Error::BadData`] whose text reads like Loki's
/// `ParseError`: `parse error at line 1, col 17: <msg>`, or `parse error : <msg>` when line
/// and col are both 0 (no position).
pub fn parse_err(line: usize, col: usize, msg: impl Into<String>) -> Error {
    let msg = msg.into();
    Error::BadData(if line == 0 && col == 0 {
        format!("parse error : {msg}")
    } else {
        format!("parse error at line {line}, col {col}: {msg}")
    })
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self) -> Result<Token> {
        self.skip_space_and_comments();
        let (line, col) = (self.line, self.col);
        let tok = |t: Tok| Ok(Token { tok: t, line, col });
        let Some(c) = self.peek() else {
            return tok(Tok::Eof);
        };
        let two = |l: &Self, s: char| l.peek_at(1) == Some(s);
        match c {
            '{' | '}' | '(' | ')' | ',' | '+' | '*' | '/' | '%' | '^' => {
                self.bump();
                tok(match c {
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    '+' => Tok::Add,
                    '*' => Tok::Mul,
                    '/' => Tok::Div,
                    '%' => Tok::Mod,
                    _ => Tok::Pow,
                })
            }
            '-' => {
                if two(self, '-') && self.peek_at(2).is_some_and(|c| c.is_ascii_alphabetic()) {
                    self.bump();
                    self.bump();
                    let mut w = String::from("--");
                    while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_' || *c == '-') {
                        w.push(c);
                        self.bump();
                    }
                    return tok(Tok::Flag(w));
                }
                self.bump();
                tok(Tok::Sub)
            }
            '=' => {
                self.bump();
                match self.peek() {
                    Some('~') => {
                        self.bump();
                        tok(Tok::Re)
                    }
                    Some('=') => {
                        self.bump();
                        tok(Tok::CmpEq)
                    }
                    _ => tok(Tok::Eq),
                }
            }
            '!' => {
                self.bump();
                let t = match self.peek() {
                    Some('=') => Tok::Neq,
                    Some('~') => Tok::Nre,
                    Some('>') => Tok::NotPattern,
                    _ => return Err(parse_err(line, col, "syntax error: unexpected !")),
                };
                self.bump();
                tok(t)
            }
            '|' => {
                self.bump();
                let t = match self.peek() {
                    Some('=') => Tok::PipeExact,
                    Some('~') => Tok::PipeMatch,
                    Some('>') => Tok::PipePattern,
                    _ => return tok(Tok::Pipe),
                };
                self.bump();
                tok(t)
            }
            '>' | '<' => {
                self.bump();
                let eq = self.peek() == Some('=');
                if eq {
                    self.bump();
                }
                tok(match (c, eq) {
                    ('>', false) => Tok::Gt,
                    ('>', true) => Tok::Gte,
                    ('<', false) => Tok::Lt,
                    _ => Tok::Lte,
                })
            }
            '"' => {
                self.bump();
                let s = self.quoted(line, col)?;
                tok(Tok::Str(s))
            }
            '`' => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        None => return Err(parse_err(line, col, "literal not terminated")),
                        Some('`') => break,
                        Some(c) => s.push(c),
                    }
                }
                tok(Tok::Str(s))
            }
            '[' => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        None => return Err(parse_err(0, col, "missing closing ']' in duration")),
                        Some(']') => break,
                        Some(c) => s.push(c),
                    }
                }
                let d = parse_duration(s.trim()).map_err(|e| parse_err(0, col, e))?;
                Ok(Token {
                    tok: Tok::Range(d),
                    line: 0,
                    col,
                })
            }
            c if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) => {
                self.number(line, col)
            }
            c if c.is_alphabetic() || c == '_' => {
                let w = self.word();
                tok(Tok::Ident(w))
            }
            c => Err(parse_err(line, col, format!("syntax error: unexpected {c}"))),
        }
    }

    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            w.push(c);
            self.bump();
        }
        w
    }

    fn number(&mut self, line: usize, col: usize) -> Result<Token> {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|c| c.is_ascii_digit() || *c == '.') {
            s.push(c);
            self.bump();
        }
        // Exponent: `e` followed by digits, optionally signed.
        if matches!(self.peek(), Some('e' | 'E')) {
            let signed = matches!(self.peek_at(1), Some('+' | '-'));
            let digit_at = if signed { 2 } else { 1 };
            if self.peek_at(digit_at).is_some_and(|d| d.is_ascii_digit()) {
                for _ in 0..digit_at {
                    s.extend(self.bump());
                }
                while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                    s.push(c);
                    self.bump();
                }
            }
        }
        let mut unit = false;
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '.' || *c == 'µ') {
            unit = true;
            s.push(c);
            self.bump();
        }
        let tok = if unit {
            match (parse_duration(&s), parse_bytes(&s)) {
                (Ok(d), _) => Tok::Duration(d),
                (_, Ok(b)) => Tok::Bytes(b),
                (Err(e), _) => return Err(parse_err(line, col, e)),
            }
        } else {
            let v: f64 = s
                .parse()
                .map_err(|_| parse_err(line, col, format!("syntax error: unexpected {s}")))?;
            Tok::Num(v)
        };
        Ok(Token { tok, line, col })
    }

    /// Reads a Go double-quoted string after the opening quote.
    fn quoted(&mut self, line: usize, col: usize) -> Result<String> {
        let mut s = String::new();
        let unterminated = || parse_err(line, col, "literal not terminated");
        loop {
            let c = self.bump().ok_or_else(unterminated)?;
            match c {
                '"' => return Ok(s),
                '\n' => return Err(unterminated()),
                '\\' => {
                    let e = self.bump().ok_or_else(unterminated)?;
                    match e {
                        'a' => s.push('\x07'),
                        'b' => s.push('\x08'),
                        'f' => s.push('\x0c'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'v' => s.push('\x0b'),
                        '\\' => s.push('\\'),
                        '"' => s.push('"'),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let mut v = 0u32;
                            for _ in 0..n {
                                let d = self.bump().and_then(|d| d.to_digit(16));
                                let d = d.ok_or_else(|| parse_err(line, col, "invalid syntax"))?;
                                v = v * 16 + d;
                            }
                            if e == 'x' {
                                // \xHH is a byte; keep ASCII, map others to their Latin-1 char.
                                s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                            } else {
                                s.push(char::from_u32(v).ok_or_else(|| parse_err(line, col, "invalid syntax"))?);
                            }
                        }
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                let d = self.bump().and_then(|d| d.to_digit(8));
                                v = v * 8 + d.ok_or_else(|| parse_err(line, col, "invalid syntax"))?;
                            }
                            s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(parse_err(line, col, "invalid syntax")),
                    }
                }
                c => s.push(c),
            }
        }
    }
}

/// Splits `input` into tokens, ending with [`Tok::Eof`].
pub fn tokenize(input: &str) -> Result<Vec<Token>> {
    let mut lx = Lexer {
        chars: input.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        let t = lx.next_token()?;
        let eof = t.tok == Tok::Eof;
        out.push(t);
        if eof {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn basic() {
        assert_eq!(
            toks(r#"{a="b\n"} |= `x\n` |~ "y" != "z" | logfmt --strict --keep-empty"#),
            vec![
                Tok::LBrace,
                Tok::Ident("a".into()),
                Tok::Eq,
                Tok::Str("b\n".into()),
                Tok::RBrace,
                Tok::PipeExact,
                Tok::Str("x\\n".into()),
                Tok::PipeMatch,
                Tok::Str("y".into()),
                Tok::Neq,
                Tok::Str("z".into()),
                Tok::Pipe,
                Tok::Ident("logfmt".into()),
                Tok::Flag("--strict".into()),
                Tok::Flag("--keep-empty".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers_durations_bytes() {
        assert_eq!(
            toks("1 1.5 1e3 250ms 1h30m 20KB [5m] 2-1"),
            vec![
                Tok::Num(1.0),
                Tok::Num(1.5),
                Tok::Num(1000.0),
                Tok::Duration(250_000_000),
                Tok::Duration(5_400_000_000_000),
                Tok::Bytes(20_000),
                Tok::Range(300_000_000_000),
                Tok::Num(2.0),
                Tok::Sub,
                Tok::Num(1.0),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn positions_and_comments() {
        let t = tokenize("{a=\"b\"} # c\n |= \"x\"").unwrap();
        assert_eq!((t[5].line, t[5].col), (2, 2));
        let e = tokenize("rate({ foo = \"bar\" }[5minutes])").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parse error at line 0, col 21: unknown unit \"minutes\" in duration \"5minutes\""
        );
    }
}
