//! The parser: actions, blocks (`if`, `range`, `with`, `define`, `block`), declarations and
//! pipelines, with Go's parse-time checks (undefined variables, unknown functions,
//! non-executable pipeline stages, `break` outside `range`) and the dialect's refusals.

use std::collections::HashMap;

use super::Dialect;
use super::ast::{Callee, Command, Node, Operand, Pipeline, Pos};
use super::builtins::is_builtin;
use super::error::TemplateError;
use super::lex::{Span, Tok, parse_number, tokens};

/// Deepest nesting of blocks and parentheses accepted (hostile input cannot blow the stack).
const MAX_DEPTH: usize = 64;

/// Templates named by `define` and `block`.
pub(super) type Definitions = HashMap<String, Vec<Node>>;

/// Parses `src` into nodes and the templates it defines.
pub(super) fn parse_template(
    name: &str,
    src: &str,
    dialect: &'static Dialect,
) -> Result<(Vec<Node>, Definitions), TemplateError> {
    let mut vars: Vec<String> = dialect.predefined_vars.iter().map(|v| (*v).to_owned()).collect();
    vars.push(String::new());
    let mut p = Parser {
        name,
        src,
        dialect,
        pos: 0,
        depth: 0,
        vars,
        range_depth: 0,
        defs: HashMap::new(),
    };
    let (nodes, end) = p.list()?;
    if let Some((kw, pos)) = end {
        return Err(p.err_at(pos.line, &format!("unexpected {{{{{kw}}}}}")));
    }
    Ok((nodes, p.defs))
}

/// The tokens of one action (or clause) and where they are in the template.
struct Toks<'s> {
    toks: Vec<Tok>,
    spans: Vec<Span>,
    src: &'s str,
    /// Byte offset of `src` in the whole template.
    base: usize,
}

impl Toks<'_> {
    fn text(&self, first: usize, last: usize) -> String {
        let (a, b) = (self.spans[first].start, self.spans[last].end);
        self.src.get(a..b).unwrap_or_default().to_owned()
    }
}

struct Parser<'a> {
    name: &'a str,
    src: &'a str,
    dialect: &'static Dialect,
    pos: usize,
    depth: usize,
    /// Variables in scope (parse-time check, as Go does).
    vars: Vec<String>,
    /// How many `range` bodies enclose the current position (`break`/`continue` need one).
    range_depth: usize,
    /// Templates named by `define` and `block`.
    defs: Definitions,
}

/// A block terminator: keyword text and its position.
type End = Option<(String, Pos)>;

impl Parser<'_> {
    fn err_at(&self, line: usize, msg: &str) -> TemplateError {
        TemplateError::Parse {
            name: self.name.to_owned(),
            line,
            msg: msg.to_owned(),
        }
    }

    /// The tokens of `src`; variables are refused here when the dialect has none.
    fn tokens(&self, src: &str, line: usize) -> Result<(Vec<Tok>, Vec<Span>), TemplateError> {
        let (toks, spans) = tokens(src).map_err(|m| self.err_at(line, &m))?;
        if !self.dialect.variables && toks.iter().any(|t| matches!(t, Tok::Var(..))) {
            let msg = format!("variables are not supported by {}", self.dialect.label);
            return Err(self.err_at(line, &msg));
        }
        Ok((toks, spans))
    }

    fn pos_of(&self, byte: usize) -> Pos {
        let mut byte = byte.min(self.src.len());
        while !self.src.is_char_boundary(byte) {
            byte -= 1;
        }
        let before = &self.src[..byte];
        let line = before.matches('\n').count() + 1;
        let col = byte - before.rfind('\n').map_or(0, |i| i + 1);
        Pos { line, col, byte }
    }

    fn enter(&mut self, line: usize) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(line, "nested too deeply"));
        }
        Ok(())
    }

    /// Parses nodes until `{{end}}`/`{{else ...}}` (returned) or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, End), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let rest = &self.src[self.pos..];
            let Some(open) = rest.find("{{") else {
                if !rest.is_empty() {
                    nodes.push(Node::Text(rest.to_owned()));
                }
                self.pos = self.src.len();
                return Ok((nodes, None));
            };
            let mut text = rest[..open].to_owned();
            let action_start = self.pos + open;
            self.pos = action_start + 2;
            let r = &self.src[self.pos..];
            let left_trim = r.starts_with("- ") || r.starts_with("-\t") || r.starts_with("-\n") || r.starts_with("-\r");
            if left_trim {
                text.truncate(text.trim_end().len());
                self.pos += 2;
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            let pos = self.pos_of(action_start);
            let raw_start = self.pos;
            let Some(close) = self.src[self.pos..].find("}}") else {
                return Err(self.err_at(pos.line, "unclosed action"));
            };
            let mut inner = &self.src[self.pos..self.pos + close];
            let mut trim_after = false;
            if let Some(x) = inner
                .strip_suffix(" -")
                .or_else(|| inner.strip_suffix("\t-"))
                .or_else(|| inner.strip_suffix("\n-"))
            {
                inner = x;
                trim_after = true;
            }
            // Go's comments sit right against the delimiters (or their trim markers).
            let is_comment = inner.starts_with("/*");
            let comment_closed = inner.ends_with("*/");
            let inner_abs = raw_start + (inner.len() - inner.trim_start().len());
            let inner = inner.trim().to_owned();
            self.pos += close + 2;
            if trim_after {
                let r = &self.src[self.pos..];
                self.pos += r.len() - r.trim_start().len();
            }
            if is_comment {
                if !comment_closed {
                    return Err(self.err_at(pos.line, "unclosed comment"));
                }
                continue;
            }
            if inner.is_empty() {
                return Err(self.err_at(pos.line, "missing value for command"));
            }
            let (kw, arg) = match inner.split_once(char::is_whitespace) {
                Some((k, a)) => (k, a.trim()),
                None => (inner.as_str(), ""),
            };
            let arg_abs = inner_abs + (arg.as_ptr() as usize).saturating_sub(inner.as_ptr() as usize);
            if self.dialect.rejected_keywords.contains(&kw) {
                let msg = format!("{kw:?} is not supported by {}", self.dialect.label);
                return Err(self.err_at(pos.line, &msg));
            }
            match kw {
                "end" | "else" => return Ok((nodes, Some((inner.clone(), pos)))),
                "if" => nodes.push(self.block(BlockKind::If, arg, arg_abs, pos)?),
                "range" => nodes.push(self.block(BlockKind::Range, arg, arg_abs, pos)?),
                "with" => nodes.push(self.block(BlockKind::With, arg, arg_abs, pos)?),
                "define" => {
                    let name = self.template_name(arg, arg_abs, pos, "define")?.0;
                    self.definition(name, pos)?;
                }
                "template" | "block" => {
                    let (name, toks) = self.template_name(arg, arg_abs, pos, kw)?;
                    let pipe = if toks.toks.is_empty() {
                        if kw == "block" {
                            return Err(self.err_at(pos.line, "missing value for block clause"));
                        }
                        None
                    } else {
                        let mut i = 0;
                        let p = self.pipeline(&toks, &mut i, pos.line)?;
                        if i != toks.toks.len() {
                            return Err(
                                self.err_at(pos.line, &format!("unexpected {} in {kw}", toks.toks[i].describe()))
                            );
                        }
                        Some(p)
                    };
                    if kw == "block" {
                        self.definition(name.clone(), pos)?;
                    }
                    // Go places the call at its name.
                    let pos = self.pos_of(arg_abs);
                    nodes.push(Node::Call { pos, name, pipe });
                }
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return Err(self.err_at(pos.line, &format!("{{{{{kw}}}}} outside {{{{range}}}}")));
                    }
                    if !arg.is_empty() {
                        return Err(self.err_at(pos.line, &format!("unexpected {arg:?} in {{{{{kw}}}}}")));
                    }
                    nodes.push(if kw == "break" { Node::Break } else { Node::Continue });
                }
                _ => {
                    let (decl, pipe, assign) = self.decl_pipeline(&inner, inner_abs, pos, 1)?;
                    nodes.push(Node::Action {
                        pos,
                        decl,
                        assign,
                        pipe,
                    });
                }
            }
        }
    }

    /// The quoted name after `define`, `template` or `block`, and the tokens after it.
    fn template_name<'s>(
        &self,
        arg: &'s str,
        base: usize,
        pos: Pos,
        kw: &str,
    ) -> Result<(String, Toks<'s>), TemplateError> {
        let (mut toks, mut spans) = self.tokens(arg, pos.line)?;
        match toks.first() {
            Some(Tok::Str(n)) => {
                let n = n.clone();
                toks.remove(0);
                spans.remove(0);
                Ok((
                    n,
                    Toks {
                        toks,
                        spans,
                        src: arg,
                        base,
                    },
                ))
            }
            _ => Err(self.err_at(pos.line, &format!("unexpected {arg:?} in {kw} clause"))),
        }
    }

    /// Parses a `define`/`block` body up to `{{end}}`; it sees only `$`, as in Go.
    fn definition(&mut self, name: String, pos: Pos) -> Result<(), TemplateError> {
        self.enter(pos.line)?;
        let vars = std::mem::replace(&mut self.vars, vec![String::new()]);
        let ranges = std::mem::replace(&mut self.range_depth, 0);
        let r = self.list();
        self.vars = vars;
        self.range_depth = ranges;
        self.depth -= 1;
        match r? {
            (body, Some((e, _))) if e == "end" => {
                self.defs.insert(name, body);
                Ok(())
            }
            (_, Some((e, epos))) => Err(self.err_at(epos.line, &format!("unexpected {{{{{e}}}}}"))),
            (_, None) => Err(self.err_at(self.pos_of(self.src.len()).line, "unexpected EOF")),
        }
    }

    fn block(&mut self, kind: BlockKind, arg: &str, base: usize, pos: Pos) -> Result<Node, TemplateError> {
        self.enter(pos.line)?;
        let scope_len = self.vars.len();
        let r = self.block_inner(kind, arg, base, pos);
        self.vars.truncate(scope_len);
        self.depth -= 1;
        r
    }

    fn block_inner(&mut self, kind: BlockKind, arg: &str, base: usize, pos: Pos) -> Result<Node, TemplateError> {
        if arg.is_empty() {
            return Err(self.err_at(pos.line, &format!("missing value for {}", kind.word())));
        }
        let (decl, pipe, _) = self.decl_pipeline(arg, base, pos, if kind == BlockKind::Range { 2 } else { 1 })?;
        if kind == BlockKind::Range {
            self.range_depth += 1;
        }
        let body = self.list();
        if kind == BlockKind::Range {
            self.range_depth -= 1;
        }
        let (body, end) = body?;
        let otherwise = match end {
            Some((e, _)) if e == "end" => Vec::new(),
            Some((e, epos)) if e == "else" => {
                let (o, end) = self.list()?;
                match end {
                    Some((e, _)) if e == "end" => o,
                    _ => return Err(self.err_at(epos.line, "unexpected EOF")),
                }
            }
            Some((e, epos)) if e.starts_with("else") => {
                let rest = e["else".len()..].trim();
                match rest.split_once(char::is_whitespace) {
                    Some(("if", c)) if kind == BlockKind::If => {
                        let c = c.trim();
                        let e_abs = epos.byte + self.src.get(epos.byte..).and_then(|r| r.find(e.as_str())).unwrap_or(0);
                        let c_abs = e_abs + (c.as_ptr() as usize).saturating_sub(e.as_ptr() as usize);
                        vec![self.block(BlockKind::If, c, c_abs, epos)?]
                    }
                    _ => return Err(self.err_at(epos.line, &format!("unexpected {{{{{e}}}}}"))),
                }
            }
            Some((e, epos)) => return Err(self.err_at(epos.line, &format!("unexpected {{{{{e}}}}}"))),
            None => return Err(self.err_at(self.pos_of(self.src.len()).line, "unexpected EOF")),
        };
        Ok(match kind {
            BlockKind::If => Node::If {
                cond: pipe,
                then: body,
                otherwise,
            },
            BlockKind::Range => Node::Range {
                pos,
                decl,
                pipe,
                body,
                otherwise,
            },
            BlockKind::With => Node::With {
                decl,
                pipe,
                body,
                otherwise,
            },
        })
    }

    /// `[$a[, $b] :=] pipeline` with at most `max_decl` declared variables (two only in
    /// `range`); `$a = pipeline` assigns a variable (which must exist when it runs).
    fn decl_pipeline(
        &mut self,
        src: &str,
        base: usize,
        pos: Pos,
        max_decl: usize,
    ) -> Result<(Vec<String>, Pipeline, bool), TemplateError> {
        let (toks, spans) = self.tokens(src, pos.line)?;
        let t = Toks { toks, spans, src, base };
        let toks = &t.toks;
        let mut i = 0;
        let mut decl = Vec::new();
        let mut assign = false;
        if let Some(Tok::Var(v, f)) = toks.first()
            && f.is_empty()
        {
            match (toks.get(1), toks.get(2), toks.get(3)) {
                (Some(Tok::Declare), ..) => {
                    decl.push(v.clone());
                    i = 2;
                }
                (Some(Tok::Assign), ..) => {
                    // Go checks assignments only when they run.
                    decl.push(v.clone());
                    assign = true;
                    i = 2;
                }
                (Some(Tok::Comma), Some(Tok::Var(w, g)), Some(Tok::Declare)) if g.is_empty() && max_decl >= 2 => {
                    decl.push(v.clone());
                    decl.push(w.clone());
                    i = 4;
                }
                _ => {}
            }
        }
        let pipe = self.pipeline(&t, &mut i, pos.line)?;
        if i != toks.len() {
            return Err(self.err_at(pos.line, &format!("unexpected {} in command", toks[i].describe())));
        }
        // Declared variables are visible after the declaration.
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok((decl, pipe, assign))
    }

    fn pipeline(&mut self, t: &Toks<'_>, i: &mut usize, line: usize) -> Result<Pipeline, TemplateError> {
        self.enter(line)?;
        let r = self.pipeline_inner(t, i, line);
        self.depth -= 1;
        r
    }

    fn pipeline_inner(&mut self, tk: &Toks<'_>, i: &mut usize, line: usize) -> Result<Pipeline, TemplateError> {
        let toks = &tk.toks[..];
        let mut cmds = Vec::new();
        loop {
            let mut args = Vec::new();
            let mut arg_pos = Vec::new();
            let mut arg_text = Vec::new();
            let cmd_first = *i;
            while let Some(t) = toks.get(*i) {
                let op_first = *i;
                let op = match t {
                    Tok::Pipe | Tok::Close => break,
                    Tok::Open => {
                        *i += 1;
                        let p = self.pipeline(tk, i, line)?;
                        if toks.get(*i) != Some(&Tok::Close) {
                            return Err(self.err_at(line, "unclosed left paren"));
                        }
                        let fields = match toks.get(*i + 1) {
                            Some(Tok::Field(f)) if !f.is_empty() => {
                                *i += 1;
                                f.clone()
                            }
                            _ => Vec::new(),
                        };
                        Operand::Sub(p, fields)
                    }
                    Tok::Field(f) => Operand::Field(f.clone()),
                    Tok::Var(v, f) => {
                        if !self.vars.iter().any(|x| x == v) {
                            return Err(self.err_at(line, &format!("undefined variable \"${v}\"")));
                        }
                        Operand::Var(v.clone(), f.clone())
                    }
                    Tok::Str(s) => Operand::Str(s.clone()),
                    Tok::Num(n) => {
                        parse_number(n).ok_or_else(|| self.err_at(line, &format!("bad number syntax: {n:?}")))?
                    }
                    Tok::Word(w) => match w.as_str() {
                        "true" => Operand::Bool(true),
                        "false" => Operand::Bool(false),
                        "nil" => Operand::Nil,
                        w if self.dialect.functions.contains(&w) => Operand::Func(w.to_owned(), Callee::Dialect),
                        "and" | "or" => Operand::Func(w.to_owned(), Callee::AndOr),
                        w if is_builtin(w) => Operand::Func(w.to_owned(), Callee::Builtin),
                        w => return Err(self.err_at(line, &format!("function {w:?} not defined"))),
                    },
                    Tok::Comma | Tok::Declare | Tok::Assign => {
                        return Err(self.err_at(line, &format!("unexpected {} in operand", t.describe())));
                    }
                };
                args.push(op);
                arg_pos.push(self.pos_of(tk.base + tk.spans[op_first].at));
                arg_text.push(tk.text(op_first, *i));
                *i += 1;
            }
            if args.is_empty() {
                return Err(self.err_at(line, "missing value for command"));
            }
            // As Go's parser: later stages may not start with a constant or `.` (fields and
            // variables fail only when run); extra arguments to a non-function fail when run.
            let constant = matches!(
                &args[0],
                Operand::Bool(_) | Operand::Nil | Operand::Int(_) | Operand::Float(_) | Operand::Str(_)
            ) || matches!(&args[0], Operand::Field(p) if p.is_empty());
            if !cmds.is_empty() && constant {
                return Err(self.err_at(
                    line,
                    &format!("non executable command in pipeline stage {}", cmds.len() + 1),
                ));
            }
            let last = (*i).saturating_sub(1).max(cmd_first);
            cmds.push(Command {
                args,
                pos: self.pos_of(tk.base + tk.spans[cmd_first].start),
                text: tk.text(cmd_first, last),
                arg_pos,
                arg_text,
            });
            match toks.get(*i) {
                Some(Tok::Pipe) => {
                    *i += 1;
                    // Go accepts a trailing `|`.
                    if matches!(toks.get(*i), None | Some(Tok::Close)) {
                        return Ok(cmds);
                    }
                }
                _ => return Ok(cmds),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    If,
    Range,
    With,
}

impl BlockKind {
    fn word(self) -> &'static str {
        match self {
            BlockKind::If => "if",
            BlockKind::Range => "range",
            BlockKind::With => "with",
        }
    }
}
