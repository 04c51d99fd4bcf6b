//! Recursive-descent parser for LogQL expressions: metric queries, aggregations, binary
//! operators (precedence climbing, PromQL precedence) and the checks Loki makes at parse time.
//! Selectors and pipelines are parsed in [`super::parse_pipeline`].
//!
//! Errors mimic Loki's goyacc messages: `syntax error: unexpected X[, expecting Y]` at the
//! 1-based line and column of the offending token.

use regex::Regex;

use super::ast::*;
use super::lexer::{Tok, Token, parse_err, tokenize};
use crate::error::{Error, Result};

/// True for names Loki's lexer treats as function tokens when followed by `(`.
pub fn is_function_name(w: &str) -> bool {
    RangeOp::from_name(w).is_some()
        || VecOp::from_name(w).is_some()
        || matches!(
            w,
            "vector" | "label_replace" | "duration" | "duration_seconds" | "bytes"
        )
}

/// Parses a LogQL query. Text longer than
/// [`MAX_QUERY_BYTES`](crate::promql::prescan::MAX_QUERY_BYTES) is refused first.
pub fn parse(input: &str) -> Result<Expr> {
    crate::promql::prescan::check_length(input, "query")?;
    let toks = tokenize(input)?;
    let mut p = Parser { toks, pos: 0, depth: 0 };
    let e = p.expr(0)?;
    if *p.peek() != Tok::Eof {
        return Err(p.unexpected());
    }
    Ok(e)
}

/// Parser state: the token list and a cursor.
pub(super) struct Parser {
    pub(super) toks: Vec<Token>,
    pub(super) pos: usize,
    /// Current nesting depth, bounded by [`MAX_DEPTH`] so hostile input cannot overflow the
    /// stack.
    pub(super) depth: usize,
}

/// Deepest nesting of expressions and label filters accepted.
pub(super) const MAX_DEPTH: usize = 64;

impl Parser {
    pub(super) fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    pub(super) fn peek_at(&self, n: usize) -> &Tok {
        self.toks
            .get(self.pos + n)
            .or_else(|| self.toks.last())
            .map_or(&Tok::Eof, |t| &t.tok)
    }

    pub(super) fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len().saturating_sub(1) {
            self.pos += 1;
        }
        t
    }

    pub(super) fn is_ident(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == w)
    }

    fn cur(&self) -> Option<&Token> {
        self.toks.get(self.pos).or_else(|| self.toks.last())
    }

    /// `syntax error: unexpected <current token>`.
    pub(super) fn unexpected(&self) -> Error {
        self.unexpected_expecting(None)
    }

    pub(super) fn unexpected_expecting(&self, expecting: Option<&str>) -> Error {
        let Some(t) = self.cur() else {
            return parse_err(0, 0, "syntax error: unexpected $end");
        };
        let next_paren = *self.peek_at(1) == Tok::LParen;
        let mut msg = format!("syntax error: unexpected {}", t.display(next_paren));
        if let Some(e) = expecting {
            msg.push_str(", expecting ");
            msg.push_str(e);
        }
        parse_err(t.line, t.col, msg)
    }

    pub(super) fn expect(&mut self, t: Tok, display: &str) -> Result<()> {
        if *self.peek() == t {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected_expecting(Some(display)))
        }
    }

    pub(super) fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Tok::Ident(w) => {
                let w = w.clone();
                self.bump();
                Ok(w)
            }
            _ => Err(self.unexpected_expecting(Some("IDENTIFIER"))),
        }
    }

    pub(super) fn string(&mut self) -> Result<String> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected_expecting(Some("STRING"))),
        }
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::CmpEq => BinOp::Eq,
            Tok::Neq => BinOp::Ne,
            Tok::Gt => BinOp::Gt,
            Tok::Gte => BinOp::Ge,
            Tok::Lt => BinOp::Lt,
            Tok::Lte => BinOp::Le,
            Tok::Ident(w) if w == "and" => BinOp::And,
            Tok::Ident(w) if w == "or" => BinOp::Or,
            Tok::Ident(w) if w == "unless" => BinOp::Unless,
            _ => return None,
        })
    }

    /// Precedence climbing over binary operators.
    pub(super) fn expr(&mut self, min_prec: u8) -> Result<Expr> {
        self.enter()?;
        let r = self.expr_inner(min_prec);
        self.depth -= 1;
        r
    }

    /// Counts one nesting level; fails past [`MAX_DEPTH`].
    pub(super) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(parse_err(0, 0, "query is nested too deeply"));
        }
        Ok(())
    }

    /// Each operator of a chain nests the tree one level deeper (`a + b + c` is
    /// `(a + b) + c`), so it counts against [`MAX_DEPTH`] until the chain ends.
    fn expr_inner(&mut self, min_prec: u8) -> Result<Expr> {
        let depth = self.depth;
        let r = self.expr_chain(min_prec);
        self.depth = depth;
        r
    }

    fn expr_chain(&mut self, min_prec: u8) -> Result<Expr> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            if lhs.is_log() {
                return Err(self.unexpected());
            }
            self.enter()?;
            self.bump();
            let mut return_bool = false;
            if self.is_ident("bool") {
                if !op.is_comparison() {
                    return Err(parse_err(
                        0,
                        0,
                        "bool modifier can only be used on comparison operators",
                    ));
                }
                self.bump();
                return_bool = true;
            }
            let matching = self.vector_matching()?;
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs_tok = self.pos;
            let rhs = self.expr(next_min)?;
            if rhs.is_log() {
                self.pos = rhs_tok;
                return Err(parse_err(
                    0,
                    0,
                    "unexpected log query as binary operand; use a metric query",
                ));
            }
            let scalar = |e: &Expr| matches!(e, Expr::Literal(_));
            if op.is_comparison() && !return_bool && scalar(&lhs) && scalar(&rhs) {
                return Err(parse_err(0, 0, "comparisons between scalars must use BOOL modifier"));
            }
            if op.is_set() && (scalar(&lhs) || scalar(&rhs)) {
                return Err(parse_err(
                    0,
                    0,
                    format!("unexpected literal for right leg of logical/set binary operation ({op:?})").to_lowercase(),
                ));
            }
            lhs = Expr::Binary(Box::new(BinaryExpr {
                op,
                lhs,
                rhs,
                return_bool,
                matching,
            }));
        }
        Ok(lhs)
    }

    fn label_list(&mut self) -> Result<Vec<String>> {
        self.expect(Tok::LParen, "(")?;
        let mut v = Vec::new();
        while *self.peek() != Tok::RParen {
            v.push(self.ident()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected_expecting(Some(", or )"))),
            }
        }
        self.bump();
        Ok(v)
    }

    fn vector_matching(&mut self) -> Result<Option<VectorMatching>> {
        let on = if self.is_ident("on") {
            true
        } else if self.is_ident("ignoring") {
            false
        } else {
            return Ok(None);
        };
        self.bump();
        let labels = self.label_list()?;
        let card = if self.is_ident("group_left") || self.is_ident("group_right") {
            let left = self.is_ident("group_left");
            self.bump();
            let include = if *self.peek() == Tok::LParen {
                self.label_list()?
            } else {
                Vec::new()
            };
            if left {
                Cardinality::ManyToOne(include)
            } else {
                Cardinality::OneToMany(include)
            }
        } else {
            Cardinality::OneToOne
        };
        Ok(Some(VectorMatching { on, labels, card }))
    }

    fn grouping(&mut self) -> Result<Option<Grouping>> {
        let without = if self.is_ident("by") {
            false
        } else if self.is_ident("without") {
            true
        } else {
            return Ok(None);
        };
        self.bump();
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    fn number(&mut self) -> Result<f64> {
        let neg = match self.peek() {
            Tok::Sub => {
                self.bump();
                true
            }
            Tok::Add => {
                self.bump();
                false
            }
            _ => false,
        };
        match self.peek() {
            Tok::Num(n) => {
                let n = *n;
                self.bump();
                Ok(if neg { -n } else { n })
            }
            _ => Err(self.unexpected_expecting(Some("NUMBER"))),
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        match self.peek().clone() {
            Tok::Num(_) | Tok::Sub | Tok::Add => Ok(Expr::Literal(self.number()?)),
            Tok::LBrace => Ok(Expr::Log(self.log_expr()?)),
            Tok::LParen => {
                self.bump();
                let e = self.expr(0)?;
                self.expect(Tok::RParen, ")")?;
                Ok(e)
            }
            Tok::Ident(w) if *self.peek_at(1) == Tok::LParen || self.peek_is_grouping_at(1) => {
                if let Some(op) = RangeOp::from_name(&w) {
                    self.bump();
                    return self.range_agg(op);
                }
                if let Some(op) = VecOp::from_name(&w) {
                    self.bump();
                    return self.vector_agg(op);
                }
                match w.as_str() {
                    "vector" => {
                        self.bump();
                        self.bump();
                        let v = self.number()?;
                        self.expect(Tok::RParen, ")")?;
                        Ok(Expr::Vector(v))
                    }
                    "label_replace" => {
                        self.bump();
                        self.label_replace()
                    }
                    _ => Err(self.unexpected()),
                }
            }
            _ => Err(self.unexpected()),
        }
    }

    fn peek_is_grouping_at(&self, n: usize) -> bool {
        matches!(self.peek_at(n), Tok::Ident(w) if w == "by" || w == "without")
    }

    fn range_agg(&mut self, op: RangeOp) -> Result<Expr> {
        self.expect(Tok::LParen, "(")?;
        let param = if op == RangeOp::Quantile {
            let q = self.number()?;
            self.expect(Tok::Comma, ",")?;
            Some(q)
        } else {
            None
        };
        let range = self.log_range()?;
        self.expect(Tok::RParen, ")")?;
        let grouping = self.grouping()?;
        let unwrapped = range.unwrap.is_some();
        use RangeOp::*;
        let needs_unwrap = matches!(
            op,
            Sum | Avg | Min | Max | Stdvar | Stddev | Quantile | First | Last | RateCounter
        );
        let forbids_unwrap = matches!(op, Count | Bytes | BytesRate | Absent);
        if needs_unwrap && !unwrapped {
            return Err(parse_err(
                0,
                0,
                format!("invalid aggregation {} without unwrap", op.name()),
            ));
        }
        if forbids_unwrap && unwrapped {
            return Err(parse_err(
                0,
                0,
                format!("invalid aggregation {} with unwrap", op.name()),
            ));
        }
        if grouping.is_some() && !(needs_unwrap || op == Rate) {
            return Err(parse_err(
                0,
                0,
                format!("grouping not allowed for {} aggregation", op.name()),
            ));
        }
        Ok(Expr::RangeAgg(RangeAgg {
            op,
            param,
            range,
            grouping,
        }))
    }

    fn offset(&mut self) -> Result<Option<i64>> {
        if !self.is_ident("offset") {
            return Ok(None);
        }
        self.bump();
        let neg = *self.peek() == Tok::Sub;
        if neg {
            self.bump();
        }
        match self.peek() {
            Tok::Duration(d) => {
                let d = *d;
                self.bump();
                Ok(Some(if neg { -d } else { d }))
            }
            _ => Err(self.unexpected_expecting(Some("DURATION"))),
        }
    }

    /// `{sel} pipeline [range] offset`, `({sel} pipeline)[range]`, `{sel}[range] pipeline`.
    fn log_range(&mut self) -> Result<LogRange> {
        let paren = *self.peek() == Tok::LParen;
        if paren {
            self.bump();
        }
        if *self.peek() != Tok::LBrace {
            return Err(self.unexpected());
        }
        let matchers = self.selector()?;
        let (mut stages, mut unwrap) = self.pipeline(true)?;
        if paren {
            self.expect(Tok::RParen, ")")?;
        }
        let range_ns = match self.peek() {
            Tok::Range(r) => {
                let r = *r;
                self.bump();
                r
            }
            _ => return Err(self.unexpected_expecting(Some("RANGE"))),
        };
        let mut offset_ns = self.offset()?;
        if !paren && unwrap.is_none() {
            let (more, uw) = self.pipeline(true)?;
            stages.extend(more);
            unwrap = uw;
            if offset_ns.is_none() {
                offset_ns = self.offset()?;
            }
        }
        if range_ns <= 0 {
            return Err(parse_err(0, 0, "invalid range: must be positive"));
        }
        Ok(LogRange {
            log: LogExpr { matchers, stages },
            range_ns,
            offset_ns: offset_ns.unwrap_or(0),
            unwrap,
        })
    }

    fn vector_agg(&mut self, op: VecOp) -> Result<Expr> {
        let mut grouping = self.grouping()?;
        self.expect(Tok::LParen, "(")?;
        let mut param = None;
        if matches!(op, VecOp::Topk | VecOp::Bottomk) {
            match self.peek() {
                Tok::Num(n) => {
                    let n = *n;
                    if n.fract() != 0.0 || n < 0.0 {
                        return Err(parse_err(0, 0, format!("invalid parameter {}({n},", op.name())));
                    }
                    self.bump();
                    self.expect(Tok::Comma, ",")?;
                    param = Some(n as i64);
                }
                Tok::Ident(_) if *self.peek_at(1) != Tok::LParen => return Err(self.unexpected()),
                _ => {
                    return Err(parse_err(
                        0,
                        0,
                        format!("parameter required for operation {}", op.name()),
                    ));
                }
            }
        } else if let (Tok::Num(n), Tok::Comma) = (self.peek(), self.peek_at(1)) {
            return Err(parse_err(
                0,
                0,
                format!("unsupported parameter for operation {}({},", op.name(), n),
            ));
        }
        let inner = self.expr(0)?;
        if inner.is_log() {
            return Err(self.unexpected());
        }
        self.expect(Tok::RParen, ")")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        if matches!(op, VecOp::Sort | VecOp::SortDesc) && grouping.is_some() {
            return Err(parse_err(
                0,
                0,
                format!("grouping not allowed for {} aggregation", op.name()),
            ));
        }
        Ok(Expr::VectorAgg(VectorAgg {
            op,
            param,
            inner: Box::new(inner),
            grouping,
        }))
    }

    fn label_replace(&mut self) -> Result<Expr> {
        self.expect(Tok::LParen, "(")?;
        let inner = self.expr(0)?;
        if inner.is_log() {
            return Err(self.unexpected());
        }
        let mut args = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(Tok::Comma, ",")?;
            args.push(self.string()?);
        }
        self.expect(Tok::RParen, ")")?;
        let [dst, replacement, src, re] = <[String; 4]>::try_from(args).map_err(|_| self.unexpected())?;
        let re = Regex::new(&format!("^(?s:{re})$"))
            .map_err(|e| parse_err(0, 0, format!("invalid regex in label_replace: {e}")))?;
        if !nerve_storage::labels::is_valid_label_name(&dst) {
            return Err(parse_err(
                0,
                0,
                format!("invalid destination label name in label_replace: {dst}"),
            ));
        }
        Ok(Expr::LabelReplace(Box::new(LabelReplace {
            inner,
            dst,
            replacement,
            src,
            re,
        })))
    }
}
