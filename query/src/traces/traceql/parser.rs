//! Recursive-descent TraceQL parser: set expressions over `{ … }` filters (`&&` binds
//! tighter than `||`, as inside filters), typed comparisons checked at parse time.

use nerve_storage::traces::{SpanKind, StatusCode};
use regex::RegexBuilder;

use super::lexer::{AttrScope, Tok, lex};
use super::{Cmp, Cond, Field, Filter, Intrinsic, Lit, MAX_DEPTH, MAX_FILTERS, Op, Query, SetExpr, syntax_error};
use crate::error::{Error, Result};

/// Largest compiled regex (bytes), so a hostile pattern cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Operators that relate spansets by tree position in Tempo.
const STRUCTURAL: [&str; 15] = [
    ">>", "<<", ">", "<", "~", "!>>", "!<<", "!>", "!<", "!~", "&>>", "&<<", "&>", "&<", "&~",
];
/// Arithmetic operators.
const ARITHMETIC: [&str; 6] = ["+", "-", "*", "/", "%", "^"];

pub fn parse(src: &str) -> Result<Query> {
    crate::promql::prescan::check_length(src, "query")?;
    if src.trim().is_empty() {
        return Err(syntax_error(src, 0, "empty query".into()));
    }
    let mut p = Parser {
        src,
        toks: lex(src)?,
        pos: 0,
        depth: 0,
        filters: Vec::new(),
    };
    let expr = p.set_or()?;
    match p.peek() {
        Tok::Eof => Ok(Query {
            filters: p.filters,
            expr,
        }),
        Tok::Op("|") => Err(p.error("pipelines (|) are not supported")),
        Tok::Op(o) if STRUCTURAL.contains(o) => Err(p.error(&format!("structural operator {o} is not supported"))),
        t => {
            let msg = format!("unexpected {}, expected && or || between spansets", t.describe());
            Err(p.error(&msg))
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    filters: Vec<Filter>,
}

/// One side of a comparison.
enum Operand {
    Field(Field),
    Lit(Lit),
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error(&self, msg: &str) -> Error {
        syntax_error(self.src, self.offset(), msg.to_owned())
    }

    fn unexpected(&self, expected: &str) -> Error {
        self.error(&format!("unexpected {}, expected {expected}", self.peek().describe()))
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("query nests too deeply (more than {MAX_DEPTH} levels)")));
        }
        Ok(())
    }

    fn set_or(&mut self) -> Result<SetExpr> {
        self.enter()?;
        let mut left = self.set_and()?;
        while *self.peek() == Tok::Op("||") {
            self.next();
            let right = self.set_and()?;
            left = SetExpr::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn set_and(&mut self) -> Result<SetExpr> {
        let mut left = self.set_term()?;
        while *self.peek() == Tok::Op("&&") {
            self.next();
            let right = self.set_term()?;
            left = SetExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn set_term(&mut self) -> Result<SetExpr> {
        match self.peek() {
            Tok::LParen => {
                self.next();
                let e = self.set_or()?;
                self.expect_close(Tok::RParen, "\")\"")?;
                Ok(e)
            }
            Tok::LBrace => {
                if self.filters.len() == MAX_FILTERS {
                    return Err(self.error(&format!("too many spanset filters (at most {MAX_FILTERS})")));
                }
                self.next();
                let cond = if *self.peek() == Tok::RBrace {
                    Cond::Const(true)
                } else {
                    self.cond_or()?
                };
                self.expect_close(Tok::RBrace, "\"}\"")?;
                self.filters.push(Filter { cond });
                Ok(SetExpr::Filter(self.filters.len() - 1))
            }
            Tok::Ident(w) if is_pipeline_word(w) => Err(self.error(&format!(
                "{w}() is not supported (pipelines and aggregates are not supported)"
            ))),
            _ => Err(self.unexpected("\"{\" starting a spanset filter")),
        }
    }

    fn expect_close(&mut self, close: Tok, what: &str) -> Result<()> {
        if *self.peek() == close {
            self.next();
            return Ok(());
        }
        match self.peek() {
            Tok::Op(o) if ARITHMETIC.contains(o) => Err(self.error("arithmetic is not supported")),
            Tok::Op("|") if close == Tok::RBrace => {
                Err(self.error("unexpected \"|\", expected \"}\" (write || for or)"))
            }
            Tok::Op("&") if close == Tok::RBrace => {
                Err(self.error("unexpected \"&\", expected \"}\" (write && for and)"))
            }
            _ => Err(self.unexpected(&format!("&&, || or {what}"))),
        }
    }

    /// Every `&&` or `||` of a chain nests the tree one level deeper (`a && b && c` is
    /// `(a && b) && c`), so it counts against [`MAX_DEPTH`] until the chain ends.
    fn cond_or(&mut self) -> Result<Cond> {
        let depth = self.depth;
        self.enter()?;
        let mut left = self.cond_and()?;
        while *self.peek() == Tok::Op("||") {
            self.enter()?;
            self.next();
            let right = self.cond_and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        self.depth = depth;
        Ok(left)
    }

    fn cond_and(&mut self) -> Result<Cond> {
        let mut left = self.cond_unary()?;
        while *self.peek() == Tok::Op("&&") {
            self.enter()?;
            self.next();
            let right = self.cond_unary()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn cond_unary(&mut self) -> Result<Cond> {
        match self.peek() {
            Tok::Op("!") => {
                self.enter()?;
                self.next();
                let c = self.cond_unary()?;
                self.depth -= 1;
                Ok(Cond::Not(Box::new(c)))
            }
            Tok::LParen => {
                self.next();
                let c = self.cond_or()?;
                self.expect_close(Tok::RParen, "\")\"")?;
                if cmp_op(self.peek()).is_some() {
                    return Err(self.error("comparing expressions is not supported (compare a field with a value)"));
                }
                Ok(c)
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Cond> {
        let left_at = self.offset();
        let left = self.operand()?;
        if let Tok::Op(o) = self.peek()
            && ARITHMETIC.contains(o)
        {
            return Err(self.error("arithmetic is not supported"));
        }
        let Some(op) = cmp_op(self.peek()) else {
            return match left {
                Operand::Lit(Lit::Bool(b)) => Ok(Cond::Const(b)),
                Operand::Field(f @ Field::Attr(..)) => self.cmp(f, Op::Eq, Lit::Bool(true), left_at),
                _ => Err(self.unexpected("a comparison operator (=, !=, >, >=, <, <=, =~, !~)")),
            };
        };
        self.next();
        let right_at = self.offset();
        let right = self.operand()?;
        if let Tok::Op(o) = self.peek()
            && ARITHMETIC.contains(o)
        {
            return Err(self.error("arithmetic is not supported"));
        }
        match (left, right) {
            (Operand::Field(f), Operand::Lit(l)) => self.cmp(f, op, l, right_at),
            (Operand::Lit(l), Operand::Field(f)) => {
                let flipped = match op {
                    Op::Gt => Op::Lt,
                    Op::Ge => Op::Le,
                    Op::Lt => Op::Gt,
                    Op::Le => Op::Ge,
                    Op::Re | Op::Nre => {
                        return Err(syntax_error(
                            self.src,
                            left_at,
                            "the regex of =~ and !~ goes on the right".into(),
                        ));
                    }
                    op => op,
                };
                self.cmp(f, flipped, l, left_at)
            }
            (Operand::Lit(a), Operand::Lit(b)) => static_compare(&a, op, &b)
                .map(Cond::Const)
                .ok_or_else(|| syntax_error(self.src, left_at, "these values cannot be compared".into())),
            (Operand::Field(_), Operand::Field(_)) => Err(syntax_error(
                self.src,
                right_at,
                "comparing two fields is not supported (compare a field with a value)".into(),
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand> {
        let at = self.offset();
        let neg = *self.peek() == Tok::Op("-");
        if neg {
            self.next();
        }
        let tok = self.next();
        let operand = match tok {
            Tok::Str(s) if !neg => Operand::Lit(Lit::Str(s)),
            Tok::Int(i) => Operand::Lit(Lit::Int(if neg { i.wrapping_neg() } else { i })),
            Tok::Float(f) => Operand::Lit(Lit::Float(if neg { -f } else { f })),
            Tok::Duration(d) if !neg => Operand::Lit(Lit::Duration(d)),
            Tok::Duration(_) => {
                return Err(syntax_error(
                    self.src,
                    at,
                    "negative durations are not supported".into(),
                ));
            }
            Tok::Attr(scope, name) if !neg => Operand::Field(Field::Attr(scope, name)),
            Tok::Ident(w) if !neg => word(&w).map_err(|msg| syntax_error(self.src, at, msg))?,
            _ if neg => return Err(syntax_error(self.src, at, "arithmetic is not supported".into())),
            tok => {
                let msg = format!("unexpected {}, expected a field or a value", tok.describe());
                return Err(syntax_error(self.src, at, msg));
            }
        };
        Ok(operand)
    }

    /// A checked `field op lit`; `at` locates the literal for errors.
    fn cmp(&self, field: Field, op: Op, lit: Lit, at: usize) -> Result<Cond> {
        let err = |msg: String| Err(syntax_error(self.src, at, msg));
        let field_name = describe_field(&field);
        let eq_only = matches!(op, Op::Eq | Op::Ne);
        match &lit {
            Lit::Nil if !eq_only => return err("nil can only be compared with = or !=".into()),
            Lit::Bool(_) if !eq_only => return err("booleans can only be compared with = or !=".into()),
            Lit::Status(s) if matches!(field, Field::Attr(..)) => {
                return err(format!(
                    "{} is a status value and {field_name} an attribute; quote it to compare with a string",
                    s.as_str()
                ));
            }
            Lit::Kind(k) if matches!(field, Field::Attr(..)) => {
                return err(format!(
                    "{} is a kind value and {field_name} an attribute; quote it to compare with a string",
                    k.as_str()
                ));
            }
            _ => {}
        }
        if let Field::Intrinsic(i) = &field {
            let want = intrinsic_type(*i);
            let ok = matches!(
                (want, &lit),
                (_, Lit::Nil)
                    | (Type::Str, Lit::Str(_))
                    | (Type::Duration, Lit::Duration(_))
                    | (Type::Status, Lit::Status(_))
                    | (Type::Kind, Lit::Kind(_))
            );
            if !ok {
                return err(format!("{field_name} cannot be compared with {}", describe_lit(&lit)));
            }
            if matches!(want, Type::Status | Type::Kind) && !eq_only {
                return err(format!("{field_name} can only be compared with = or !="));
            }
        }
        let re = match (op, &lit) {
            (Op::Re | Op::Nre, Lit::Str(s)) => Some(
                RegexBuilder::new(&format!("^(?:{s})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        syntax_error(
                            self.src,
                            at,
                            format!("invalid regex {s:?}: {}", first_line(&e.to_string())),
                        )
                    })?,
            ),
            (Op::Re | Op::Nre, _) => return err("=~ and !~ need a string regex".into()),
            _ => None,
        };
        Ok(Cond::Cmp(Box::new(Cmp { field, op, lit, re })))
    }
}

/// The comparison operator a token is.
fn cmp_op(t: &Tok) -> Option<Op> {
    Some(match t {
        Tok::Op("=") => Op::Eq,
        Tok::Op("!=") => Op::Ne,
        Tok::Op(">") => Op::Gt,
        Tok::Op(">=") => Op::Ge,
        Tok::Op("<") => Op::Lt,
        Tok::Op("<=") => Op::Le,
        Tok::Op("=~") => Op::Re,
        Tok::Op("!~") => Op::Nre,
        _ => return None,
    })
}

fn is_pipeline_word(w: &str) -> bool {
    matches!(
        w,
        "count"
            | "avg"
            | "min"
            | "max"
            | "sum"
            | "select"
            | "by"
            | "coalesce"
            | "rate"
            | "quantile_over_time"
            | "count_over_time"
            | "histogram_over_time"
            | "compare"
    )
}

/// A bare word as an operand: intrinsic, keyword or enum value.
fn word(w: &str) -> std::result::Result<Operand, String> {
    use Intrinsic as I;
    let intrinsic = match w {
        "name" | "span:name" => I::Name,
        "status" | "span:status" => I::Status,
        "statusMessage" | "span:statusMessage" => I::StatusMessage,
        "kind" | "span:kind" => I::Kind,
        "duration" | "span:duration" => I::Duration,
        "span:id" => I::SpanId,
        "span:parentID" => I::ParentId,
        "trace:id" => I::TraceId,
        "rootName" | "trace:rootName" => I::RootName,
        "rootServiceName" | "trace:rootService" => I::RootService,
        "traceDuration" | "trace:duration" => I::TraceDuration,
        "event:name" => I::EventName,
        "link:traceID" => I::LinkTraceId,
        "link:spanID" => I::LinkSpanId,
        "instrumentation:name" => I::ScopeName,
        "instrumentation:version" => I::ScopeVersion,
        _ => {
            let lit = match w {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                "nil" => Lit::Nil,
                "error" => Lit::Status(StatusCode::Error),
                "ok" => Lit::Status(StatusCode::Ok),
                "unset" => Lit::Status(StatusCode::Unset),
                "unspecified" => Lit::Kind(SpanKind::Unspecified),
                "internal" => Lit::Kind(SpanKind::Internal),
                "server" => Lit::Kind(SpanKind::Server),
                "client" => Lit::Kind(SpanKind::Client),
                "producer" => Lit::Kind(SpanKind::Producer),
                "consumer" => Lit::Kind(SpanKind::Consumer),
                w if w.contains(':') => return Err(format!("unknown intrinsic {w:?}")),
                w if is_pipeline_word(w) => {
                    return Err(format!(
                        "{w}() is not supported (pipelines and aggregates are not supported)"
                    ));
                }
                w => {
                    return Err(format!(
                        "unknown identifier {w:?} (write attributes as .{w}, span.{w} or resource.{w})"
                    ));
                }
            };
            return Ok(Operand::Lit(lit));
        }
    };
    Ok(Operand::Field(Field::Intrinsic(intrinsic)))
}

/// The static types of intrinsics.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Str,
    Duration,
    Status,
    Kind,
}

fn intrinsic_type(i: Intrinsic) -> Type {
    match i {
        Intrinsic::Status => Type::Status,
        Intrinsic::Kind => Type::Kind,
        Intrinsic::Duration | Intrinsic::TraceDuration => Type::Duration,
        _ => Type::Str,
    }
}

fn describe_field(f: &Field) -> String {
    match f {
        Field::Attr(scope, name) => {
            let prefix = match scope {
                AttrScope::Unscoped => "",
                AttrScope::Span => "span",
                AttrScope::Resource => "resource",
                AttrScope::Event => "event",
                AttrScope::Link => "link",
                AttrScope::Instrumentation => "instrumentation",
            };
            format!("{prefix}.{name}")
        }
        Field::Intrinsic(i) => super::eval::intrinsic_name(*i).to_owned(),
    }
}

fn describe_lit(l: &Lit) -> String {
    match l {
        Lit::Str(s) => format!("string {s:?}"),
        Lit::Int(i) => format!("number {i}"),
        Lit::Float(f) => format!("number {f}"),
        Lit::Bool(b) => format!("boolean {b}"),
        Lit::Duration(d) => format!("duration {d}ns"),
        Lit::Status(s) => format!("status {}", s.as_str()),
        Lit::Kind(k) => format!("kind {}", k.as_str()),
        Lit::Nil => "nil".into(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

/// `a op b` for two literals, when they can be compared.
fn static_compare(a: &Lit, op: Op, b: &Lit) -> Option<bool> {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Lit::Str(x), Lit::Str(y)) => Some(x.cmp(y)),
        (Lit::Int(x), Lit::Int(y)) => Some(x.cmp(y)),
        (Lit::Int(_) | Lit::Float(_), Lit::Int(_) | Lit::Float(_)) => num(a).partial_cmp(&num(b)),
        (Lit::Duration(x), Lit::Duration(y)) => Some(x.cmp(y)),
        (Lit::Bool(x), Lit::Bool(y)) if matches!(op, Op::Eq | Op::Ne) => Some(x.cmp(y)),
        _ => return None,
    };
    if matches!(op, Op::Re | Op::Nre) {
        return None;
    }
    Some(ord.is_some_and(|o| super::eval::ordering_satisfies(o, op)))
}

fn num(l: &Lit) -> f64 {
    match l {
        Lit::Int(i) => *i as f64,
        Lit::Float(f) => *f,
        _ => f64::NAN,
    }
}
