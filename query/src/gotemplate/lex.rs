//! The tokenizer of templates: the text inside one `{{ ... }}` action as fields,
//! variables, literals, words and punctuation.

use super::ast::Operand;

/// A number literal as an operand (Go accepts hex too).
pub(super) fn parse_number(n: &str) -> Option<Operand> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Operand::Int(i));
    }
    if let Some(h) = n.strip_prefix("0x").or_else(|| n.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok().map(Operand::Int);
    }
    n.parse::<f64>().ok().map(Operand::Float)
}

/// A token inside an action.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(String),
    Word(String),
    Pipe,
    Open,
    Close,
    Comma,
    Declare,
    Assign,
}

impl Tok {
    /// How Go's errors show the token.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Field(f) => format!("<.{}>", f.join(".")),
            Tok::Var(v, _) => format!("<${v}>"),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Num(n) | Tok::Word(n) => format!("<{n}>"),
            Tok::Pipe => "<|>".into(),
            Tok::Open => "<(>".into(),
            Tok::Close => "<)>".into(),
            Tok::Comma => "<,>".into(),
            Tok::Declare => "<:=>".into(),
            Tok::Assign => "<=>".into(),
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `.a.b.c` starting at a `.`; returns the names (empty for a lone `.`).
/// Also returns where Go places the chain in error messages: its second element (or its
/// only one), as a char index.
fn field_chain(chars: &[char], i: &mut usize) -> Result<(Vec<String>, usize), String> {
    let mut out = Vec::new();
    let mut chain_at = *i;
    while *i < chars.len() && chars[*i] == '.' {
        let start = *i + 1;
        let mut j = start;
        while j < chars.len() && is_ident(chars[j]) {
            j += 1;
        }
        if j == start {
            // A lone `.` is the dot; a `.` after a field or before another `.` is an error.
            if !out.is_empty() || chars.get(start) == Some(&'.') {
                return Err("bad character U+002E '.'".into());
            }
            *i += 1;
            break;
        }
        if out.len() == 1 {
            chain_at = *i;
        }
        out.push(chars[start..j].iter().collect());
        *i = j;
    }
    Ok((out, chain_at))
}

/// Where a token is in the action text, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Where Go reports the node in errors (a field chain's second element).
    pub at: usize,
}

/// Splits the text of one action into tokens, with their spans.
pub(super) fn tokens(src: &str) -> Result<(Vec<Tok>, Vec<Span>), String> {
    let chars: Vec<char> = src.chars().collect();
    let mut offs: Vec<usize> = src.char_indices().map(|(b, _)| b).collect();
    offs.push(src.len());
    let mut i = 0;
    let mut out = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    let mut chain_at: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        let tok_start = i;
        let before = out.len();
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
                spans.push(Span {
                    start: offs[tok_start],
                    end: offs[i],
                    at: offs[tok_start],
                });
                if i < chars.len() && chars[i] == '.' {
                    let s = i;
                    let (f, at) = field_chain(&chars, &mut i)?;
                    out.push(Tok::Field(f));
                    spans.push(Span {
                        start: offs[s],
                        end: offs[i],
                        at: offs[at],
                    });
                }
                continue;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                let (f, at) = field_chain(&chars, &mut i)?;
                chain_at = Some(at);
                out.push(Tok::Field(f));
            }
            '$' => {
                i += 1;
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                let fields = if i < chars.len() && chars[i] == '.' {
                    // Go places `$v.a.b` at its first field.
                    chain_at = Some(i);
                    field_chain(&chars, &mut i)?.0
                } else {
                    Vec::new()
                };
                out.push(Tok::Var(name, fields));
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("unterminated quoted string".into());
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied().ok_or("unterminated quoted string")?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                _ => return Err(format!("invalid syntax: \\{e}")),
                            });
                        }
                        c => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            '\'' => {
                // A character constant is its code point, as in Go.
                let (c, len) = match (chars.get(i + 1), chars.get(i + 2), chars.get(i + 3)) {
                    (Some('\\'), Some(e), Some('\'')) => (
                        match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '0' => '\0',
                            other => *other,
                        },
                        4,
                    ),
                    (Some(c), Some('\''), _) if *c != '\\' && *c != '\'' => (*c, 3),
                    _ => return Err("malformed character constant".into()),
                };
                out.push(Tok::Num((c as u32).to_string()));
                i += len;
            }
            '`' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated raw quoted string".into());
                }
                out.push(Tok::Str(chars[start..i].iter().collect()));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                out.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if is_ident(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            c => return Err(format!("unexpected {c:?} in command")),
        }
        if out.len() > before {
            spans.push(Span {
                start: offs[tok_start],
                end: offs[i],
                at: offs[chain_at.take().unwrap_or(tok_start)],
            });
        }
    }
    Ok((out, spans))
}
