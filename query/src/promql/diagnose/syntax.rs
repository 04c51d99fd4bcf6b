//! A recursive-descent recognizer for Prometheus 2.42's PromQL grammar
//! (`promql/parser/generated_parser.y`) that keeps token positions and reports syntax errors
//! the way that grammar's `error` productions do ("unexpected X in label matching, expected
//! string"), plus the errors its semantic actions add (unknown function, wrong number of
//! aggregation arguments, ranges on non-selectors, repeated `offset`/`@`).

use super::lexer::{Kind, Token, go_quote};
use super::literal::{check_duration, parse_number, regex_error, unquote};

/// One syntax tree node with the byte offset Prometheus reports for it.
#[derive(Debug)]
pub(super) struct Node {
    pub pos: usize,
    pub kind: NodeKind,
}

/// The shapes the type checker needs.
#[derive(Debug)]
pub(super) enum NodeKind {
    Number,
    Str,
    Selector {
        name: Option<String>,
        /// `(label, operator, unquoted value)`.
        matchers: Vec<(String, String, String)>,
        offset: bool,
        at: bool,
    },
    Matrix(Box<Node>),
    Subquery {
        expr: Box<Node>,
        offset: bool,
        at: bool,
    },
    Call {
        name: String,
        args: Vec<Node>,
    },
    Aggregate {
        op: String,
        args: Vec<Node>,
    },
    Binary {
        op: String,
        op_pos: usize,
        lhs: Box<Node>,
        rhs: Box<Node>,
        return_bool: bool,
        /// `on(...)`/`ignoring(...)` was given, with these labels.
        matching: Option<(bool, Vec<String>)>,
        /// `group_left`/`group_right` was given, with these labels.
        group: Option<Vec<String>>,
    },
    Unary(Box<Node>),
    Paren(Box<Node>),
}

/// A position and message, as Prometheus' `ParseErr` holds them.
pub(super) type Diag = (usize, String);

/// The parser state: tokens, the cursor, and the errors semantic actions added so far.
pub(super) struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    /// Errors of semantic actions (they do not stop the parse).
    pub errors: Vec<Diag>,
    known_function: &'a dyn Fn(&str) -> bool,
}

type Res<T> = Result<T, Diag>;

/// Binary operator precedence (higher binds tighter) and right associativity.
fn binary_prec(t: &Token) -> Option<(u8, bool)> {
    if t.kind != Kind::Op {
        return None;
    }
    Some(match t.val.to_ascii_lowercase().as_str() {
        "or" => (1, false),
        "and" | "unless" => (2, false),
        "==" | "!=" | "<=" | "<" | ">=" | ">" => (3, false),
        "+" | "-" => (4, false),
        "*" | "/" | "%" | "atan2" => (5, false),
        "^" => (6, true),
        _ => return None,
    })
}

/// Whether a token may name a label in grouping clauses (`maybe_label`).
fn maybe_label(t: &Token) -> bool {
    match t.kind {
        Kind::Ident | Kind::MetricIdent | Kind::Keyword | Kind::Aggr | Kind::Preproc => true,
        Kind::Op => ["and", "or", "unless", "atan2"].contains(&t.val.to_ascii_lowercase().as_str()),
        _ => false,
    }
}

/// Prometheus' `isLabel`.
fn is_label(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && cs.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl<'a> Parser<'a> {
    /// A parser over `toks` (which end with an end-of-input or error token).
    pub fn new(toks: &'a [Token], known_function: &'a dyn Fn(&str) -> bool) -> Self {
        Parser {
            toks,
            i: 0,
            errors: Vec::new(),
            known_function,
        }
    }

    fn peek(&self) -> &'a Token {
        let toks: &'a [Token] = self.toks;
        &toks[self.i.min(toks.len() - 1)]
    }

    fn bump(&mut self) -> &'a Token {
        let t = self.peek();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn is(&self, kind: Kind) -> bool {
        self.peek().kind == kind
    }

    fn is_word(&self, kind: Kind, word: &str) -> bool {
        let t = self.peek();
        t.kind == kind && t.val.eq_ignore_ascii_case(word)
    }

    /// Prometheus' `unexpected(context, expected)` at the current token (lexer errors are
    /// reported as they are).
    fn unexpected<T>(&self, context: &str, expected: &str) -> Res<T> {
        let t = self.peek();
        if t.kind == Kind::Error {
            return Err((t.pos, t.val.clone()));
        }
        let mut m = format!("unexpected {}", t.desc());
        if !context.is_empty() {
            m.push_str(" in ");
            m.push_str(context);
        }
        if !expected.is_empty() {
            m.push_str(", expected ");
            m.push_str(expected);
        }
        Err((t.pos, m))
    }

    /// A whole query: one expression, then the end of input.
    pub fn query(&mut self) -> Res<Node> {
        if self.is(Kind::Eof) {
            return Err((0, "no expression found in input".into()));
        }
        let e = self.expr(0)?;
        if !self.is(Kind::Eof) {
            return self.unexpected("", "");
        }
        Ok(e)
    }

    fn expr(&mut self, min_prec: u8) -> Res<Node> {
        let mut lhs = self.unary()?;
        while let Some((prec, right)) = binary_prec(self.peek()) {
            if prec < min_prec {
                break;
            }
            let op_tok = self.bump();
            let return_bool = if self.is_word(Kind::Keyword, "bool") {
                self.bump();
                true
            } else {
                false
            };
            let mut matching = None;
            let mut group = None;
            if self.is_word(Kind::Keyword, "on") || self.is_word(Kind::Keyword, "ignoring") {
                let on = self.bump().val.eq_ignore_ascii_case("on");
                matching = Some((on, self.grouping()?));
                if self.is_word(Kind::Keyword, "group_left") || self.is_word(Kind::Keyword, "group_right") {
                    self.bump();
                    group = Some(if self.is(Kind::LParen) {
                        self.grouping()?
                    } else {
                        Vec::new()
                    });
                }
            }
            let rhs = self.expr(if right { prec } else { prec + 1 })?;
            lhs = Node {
                pos: lhs.pos,
                kind: NodeKind::Binary {
                    op: op_tok.val.to_ascii_lowercase(),
                    op_pos: op_tok.pos,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    return_bool,
                    matching,
                    group,
                },
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Res<Node> {
        let t = self.peek();
        if t.kind == Kind::Op && (t.val == "-" || t.val == "+") {
            self.bump();
            let e = self.expr(6)?;
            let kind = match e.kind {
                NodeKind::Number => NodeKind::Number,
                _ => NodeKind::Unary(Box::new(e)),
            };
            return Ok(Node { pos: t.pos, kind });
        }
        let p = self.primary()?;
        self.postfix(p)
    }

    fn primary(&mut self) -> Res<Node> {
        let t = self.peek();
        match t.kind {
            Kind::Number => {
                self.bump();
                if let Err(m) = parse_number(&t.val) {
                    self.errors.push((t.pos, m));
                }
                Ok(Node {
                    pos: t.pos,
                    kind: NodeKind::Number,
                })
            }
            Kind::Str => {
                self.bump();
                Ok(Node {
                    pos: t.pos,
                    kind: NodeKind::Str,
                })
            }
            Kind::LParen => {
                self.bump();
                let e = self.expr(0)?;
                if !self.is(Kind::RParen) {
                    return self.unexpected("", "");
                }
                self.bump();
                Ok(Node {
                    pos: t.pos,
                    kind: NodeKind::Paren(Box::new(e)),
                })
            }
            Kind::LBrace => self.selector(None, t.pos),
            Kind::Ident if self.toks.get(self.i + 1).is_some_and(|n| n.kind == Kind::LParen) => {
                self.bump();
                let args = self.call_body()?;
                if !(self.known_function)(&t.val) {
                    self.errors
                        .push((t.pos, format!("unknown function with name {}", go_quote(&t.val))));
                }
                Ok(Node {
                    pos: t.pos,
                    kind: NodeKind::Call {
                        name: t.val.clone(),
                        args,
                    },
                })
            }
            Kind::Ident | Kind::MetricIdent => {
                self.bump();
                self.selector(Some(t.val.clone()), t.pos)
            }
            Kind::Aggr => self.aggregate(),
            _ => self.unexpected("", ""),
        }
    }

    fn aggregate(&mut self) -> Res<Node> {
        let op = self.bump();
        let mut grouped = false;
        if self.is_word(Kind::Keyword, "by") || self.is_word(Kind::Keyword, "without") {
            self.bump();
            self.grouping()?;
            grouped = true;
        }
        if !self.is(Kind::LParen) {
            return self.unexpected("aggregation", "");
        }
        let args = self.call_body()?;
        if !grouped && (self.is_word(Kind::Keyword, "by") || self.is_word(Kind::Keyword, "without")) {
            self.bump();
            self.grouping()?;
        }
        let name = op.val.to_ascii_lowercase();
        let want = if ["topk", "bottomk", "quantile", "count_values"].contains(&name.as_str()) {
            2
        } else {
            1
        };
        if args.is_empty() {
            self.errors
                .push((op.pos, "no arguments for aggregate expression provided".into()));
        } else if args.len() != want {
            self.errors.push((
                op.pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {want}, got {}",
                    args.len()
                ),
            ));
        }
        Ok(Node {
            pos: op.pos,
            kind: NodeKind::Aggregate { op: name, args },
        })
    }

    /// `( args )` of a function call or aggregation; the cursor is on `(`.
    fn call_body(&mut self) -> Res<Vec<Node>> {
        self.bump();
        let mut args = Vec::new();
        if self.is(Kind::RParen) {
            self.bump();
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            match self.peek().kind {
                Kind::Comma => {
                    let comma = self.bump();
                    if self.is(Kind::RParen) {
                        self.errors
                            .push((comma.pos, "trailing commas not allowed in function call args".into()));
                        self.bump();
                        return Ok(args);
                    }
                }
                Kind::RParen => {
                    self.bump();
                    return Ok(args);
                }
                _ => return self.unexpected("", ""),
            }
        }
    }

    /// `( label, … )` after `by`, `without`, `on`, `ignoring` or `group_x`.
    fn grouping(&mut self) -> Res<Vec<String>> {
        if !self.is(Kind::LParen) {
            return self.unexpected("grouping opts", "\"(\"");
        }
        self.bump();
        let mut labels = Vec::new();
        if self.is(Kind::RParen) {
            self.bump();
            return Ok(labels);
        }
        loop {
            if !maybe_label(self.peek()) {
                return self.unexpected("grouping opts", "label");
            }
            let l = self.bump();
            if !is_label(&l.val) {
                return self.unexpected("grouping opts", "label");
            }
            labels.push(l.val.clone());
            match self.peek().kind {
                Kind::Comma => {
                    self.bump();
                    if self.is(Kind::RParen) {
                        self.bump();
                        return Ok(labels);
                    }
                }
                Kind::RParen => {
                    self.bump();
                    return Ok(labels);
                }
                _ => return self.unexpected("grouping opts", "\",\" or \")\""),
            }
        }
    }

    /// A vector selector: an optional name, then optional `{matchers}`.
    fn selector(&mut self, name: Option<String>, pos: usize) -> Res<Node> {
        let mut matchers = Vec::new();
        if self.is(Kind::LBrace) {
            self.bump();
            if self.is(Kind::RBrace) {
                self.bump();
            } else {
                loop {
                    if !self.is(Kind::Ident) {
                        return self.unexpected("label matching", "identifier or \"}\"");
                    }
                    let label = self.bump();
                    let op = self.peek();
                    if !(op.kind == Kind::Eql || (op.kind == Kind::Op && ["!=", "=~", "!~"].contains(&op.val.as_str())))
                    {
                        return self.unexpected("label matching", "label matching operator");
                    }
                    self.bump();
                    if !self.is(Kind::Str) {
                        return self.unexpected("label matching", "string");
                    }
                    let value = unquote(&self.bump().val);
                    if op.val.contains('~') {
                        let anchored = format!("^(?:{value})$");
                        if let Err(e) = regex::Regex::new(&anchored) {
                            self.errors.push((label.pos, regex_error(&e.to_string(), &anchored)));
                        }
                    }
                    matchers.push((label.val.clone(), op.val.clone(), value));
                    match self.peek().kind {
                        Kind::Comma => {
                            self.bump();
                            if self.is(Kind::RBrace) {
                                self.bump();
                                break;
                            }
                        }
                        Kind::RBrace => {
                            self.bump();
                            break;
                        }
                        _ => return self.unexpected("label matching", "\",\" or \"}\""),
                    }
                }
            }
        }
        Ok(Node {
            pos,
            kind: NodeKind::Selector {
                name,
                matchers,
                offset: false,
                at: false,
            },
        })
    }

    /// Range and subquery brackets, `offset` and `@` after an expression.
    fn postfix(&mut self, mut e: Node) -> Res<Node> {
        loop {
            if self.is(Kind::LBracket) {
                e = self.bracket(e)?;
            } else if self.is_word(Kind::Keyword, "offset") {
                self.bump();
                if self.is_word(Kind::Op, "-") {
                    self.bump();
                }
                if !self.is(Kind::Duration) {
                    return self.unexpected("offset", "duration");
                }
                let d = self.bump();
                check_duration(&mut self.errors, d);
                self.set_modifier(&mut e, true);
            } else if self.is_word(Kind::Op, "@") {
                self.bump();
                if self.is_word(Kind::Op, "-") || self.is_word(Kind::Op, "+") {
                    self.bump();
                }
                if self.is(Kind::Number) {
                    self.bump();
                } else if self.is(Kind::Preproc) {
                    self.bump();
                    if !self.is(Kind::LParen) {
                        return self.unexpected("", "");
                    }
                    self.bump();
                    if !self.is(Kind::RParen) {
                        return self.unexpected("", "");
                    }
                    self.bump();
                } else {
                    return self.unexpected("@", "timestamp");
                }
                self.set_modifier(&mut e, false);
            } else {
                return Ok(e);
            }
        }
    }

    fn bracket(&mut self, e: Node) -> Res<Node> {
        let open = self.bump();
        if !self.is(Kind::Duration) {
            return self.unexpected("subquery selector", "duration");
        }
        let d = self.bump();
        check_duration(&mut self.errors, d);
        if self.is(Kind::RBracket) {
            self.bump();
            let msg = match &e.kind {
                NodeKind::Selector { offset: true, .. } => Some("no offset modifiers allowed before range"),
                NodeKind::Selector { at: true, .. } => Some("no @ modifiers allowed before range"),
                NodeKind::Selector { .. } => None,
                _ => Some("ranges only allowed for vector selectors"),
            };
            if let Some(m) = msg {
                self.errors.push((open.pos, m.into()));
            }
            return Ok(Node {
                pos: e.pos,
                kind: NodeKind::Matrix(Box::new(e)),
            });
        }
        if !self.is(Kind::Colon) {
            return self.unexpected("subquery or range", "\":\" or \"]\"");
        }
        self.bump();
        if self.is(Kind::Duration) {
            let d = self.bump();
            check_duration(&mut self.errors, d);
            if !self.is(Kind::RBracket) {
                return self.unexpected("subquery selector", "\"]\"");
            }
        } else if !self.is(Kind::RBracket) {
            return self.unexpected("subquery selector", "duration or \"]\"");
        }
        self.bump();
        Ok(Node {
            pos: e.pos,
            kind: NodeKind::Subquery {
                expr: Box::new(e),
                offset: false,
                at: false,
            },
        })
    }

    /// Prometheus' `addOffset` / `setTimestamp` checks.
    fn set_modifier(&mut self, e: &mut Node, offset: bool) {
        let (what, which) = if offset {
            ("offset modifier", "offset may not be set multiple times")
        } else {
            ("@ modifier", "@ <timestamp> may not be set multiple times")
        };
        let pos = e.pos;
        let flags = match &mut e.kind {
            NodeKind::Selector { offset: o, at: a, .. } | NodeKind::Subquery { offset: o, at: a, .. } => Some((o, a)),
            NodeKind::Matrix(vs) => match &mut vs.kind {
                NodeKind::Selector { offset: o, at: a, .. } => Some((o, a)),
                _ => {
                    self.errors
                        .push((pos, "ranges only allowed for vector selectors".into()));
                    return;
                }
            },
            _ => None,
        };
        match flags {
            None => self.errors.push((
                pos,
                format!("{what} must be preceded by an instant vector selector or range vector selector or a subquery"),
            )),
            Some((o, a)) => {
                let flag = if offset { o } else { a };
                if *flag {
                    self.errors.push((pos, which.into()));
                }
                *flag = true;
            }
        }
    }
}
