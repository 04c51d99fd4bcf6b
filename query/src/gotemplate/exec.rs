//! Running a parsed [`Template`](super::Template): variable scopes, `if`/`range`/`with`,
//! `template` calls, pipelines, and Go-style execution errors (boxed while they propagate,
//! so the values passed between evaluation steps stay small).

use std::borrow::Cow;
use std::collections::HashMap;

use super::ast::{Callee, Command, Node, Operand, Pipeline, Pos};
use super::builtins::call_builtin;
use super::error::{FuncError, TemplateError};
use super::{Dialect, Env, Value};

/// Deepest nesting of `{{ template }}` calls.
const MAX_CALL_DEPTH: usize = 64;
/// Most nodes one execution may run.
const MAX_STEPS: usize = 1_000_000;
/// Largest output of one execution.
const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// What `.` is: the root data (resolved through the [`Env`]) or a value that `with`,
/// `range` or a `template` call bound.
#[derive(Clone, Copy)]
pub(super) enum Dot<'v> {
    Root,
    Val(&'v Value),
}

/// Execution state: template name, dialect, environment, variables, `define`d templates.
pub(super) struct Scope<'a, E: Env + ?Sized> {
    name: &'a str,
    dialect: &'static Dialect,
    env: &'a E,
    vars: Vec<(String, Value)>,
    defs: &'a HashMap<String, Vec<Node>>,
    /// Bounds the output and the work of `range` over hostile data.
    steps: usize,
    /// Nesting of `{{ template }}` calls (bounded: templates may call themselves).
    calls: usize,
}

/// How a list of nodes ended: normally, or by `{{break}}` / `{{continue}}` inside a range.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Normal,
    Break,
    Continue,
}

impl<'a, E: Env + ?Sized> Scope<'a, E> {
    pub fn new(name: &'a str, dialect: &'static Dialect, env: &'a E, defs: &'a HashMap<String, Vec<Node>>) -> Self {
        let vars = if dialect.variables {
            let mut vars = env.vars();
            vars.push((String::new(), env.root()));
            vars
        } else {
            Vec::new()
        };
        Scope {
            name,
            dialect,
            env,
            vars,
            defs,
            steps: 0,
            calls: 0,
        }
    }

    fn var(&self, name: &str) -> &Value {
        const NIL: &Value = &Value::Nil;
        self.vars.iter().rev().find(|(n, _)| n == name).map_or(NIL, |(_, v)| v)
    }

    /// `$name := v` (a new variable) or `$name = v` (an existing one).
    fn set(&mut self, name: &str, v: Value, declare: bool, pos: Pos) -> Result<(), Box<TemplateError>> {
        if declare {
            self.vars.push((name.to_owned(), v));
        } else if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = v;
        } else {
            return Err(self.exec_error(pos, &format!("${name}"), &format!("undefined variable: ${name}")));
        }
        Ok(())
    }

    /// Go's execution error. Columns are byte offsets in the line, shifted on line 1 by the
    /// dialect's offset.
    fn exec_error(&self, pos: Pos, at: &str, msg: &str) -> Box<TemplateError> {
        let col = if pos.line == 1 {
            pos.col + self.dialect.first_line_col_offset
        } else {
            pos.col
        };
        Box::new(TemplateError::Exec {
            name: self.name.to_owned(),
            line: pos.line,
            col,
            at: at.to_owned(),
            msg: msg.to_owned(),
        })
    }

    fn limit(&self, msg: String) -> Box<TemplateError> {
        Box::new(TemplateError::Limit {
            name: self.name.to_owned(),
            msg,
        })
    }

    fn step(&mut self) -> Result<(), Box<TemplateError>> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.limit(format!("execution exceeded {MAX_STEPS} steps")));
        }
        Ok(())
    }

    /// Calls function `name`: the dialect's (which may override a built-in), else Go's
    /// built-in. Errors read as Go's: a wrong argument count at the function's name, other
    /// failures wrapped (`error calling humanize: ...`) at the command.
    fn call(
        &self,
        name: &str,
        callee: Callee,
        args: Vec<Value>,
        pos: Pos,
        at: &str,
    ) -> Result<Value, Box<TemplateError>> {
        let r = match callee {
            Callee::Dialect => self.env.call(name, args),
            Callee::AndOr | Callee::Builtin => call_builtin(name, args, self.dialect.typed_comparison_errors),
        };
        r.map_err(|e| match e {
            FuncError::Arity { .. } | FuncError::ArityAtLeast { .. } => self.exec_error(pos, name, &e.to_string()),
            e => self.exec_error(pos, at, &format!("error calling {name}: {e}")),
        })
    }
}

pub(super) fn exec_nodes<E: Env + ?Sized>(
    nodes: &[Node],
    sc: &mut Scope<'_, E>,
    dot: Dot<'_>,
    out: &mut String,
) -> Result<Flow, Box<TemplateError>> {
    for n in nodes {
        sc.step()?;
        if out.len() > MAX_OUTPUT_BYTES {
            return Err(sc.limit(format!("output exceeded {MAX_OUTPUT_BYTES} bytes")));
        }
        let flow = match n {
            Node::Text(t) => {
                out.push_str(t);
                Flow::Normal
            }
            Node::Break => Flow::Break,
            Node::Continue => Flow::Continue,
            Node::Action {
                pos,
                decl,
                assign,
                pipe,
            } => {
                let v = eval_pipeline(pipe, sc, dot)?;
                if let Some(name) = decl.first() {
                    sc.set(name, v, !*assign, *pos)?;
                } else {
                    v.write_to(out);
                }
                Flow::Normal
            }
            Node::If { cond, then, otherwise } => {
                let mark = sc.vars.len();
                let c = eval_pipeline(cond, sc, dot)?;
                let r = exec_nodes(if c.truthy() { then } else { otherwise }, sc, dot, out);
                sc.vars.truncate(mark);
                r?
            }
            Node::With {
                decl,
                pipe,
                body,
                otherwise,
            } => {
                let mark = sc.vars.len();
                let v = eval_pipeline(pipe, sc, dot)?;
                let r = if v.truthy() {
                    if let Some(name) = decl.first() {
                        sc.vars.push((name.clone(), v.clone()));
                    }
                    exec_nodes(body, sc, Dot::Val(&v), out)
                } else {
                    exec_nodes(otherwise, sc, dot, out)
                };
                sc.vars.truncate(mark);
                r?
            }
            Node::Range {
                pos,
                decl,
                pipe,
                body,
                otherwise,
            } => {
                let v = eval_pipeline(pipe, sc, dot)?;
                let branch = Branch { body, otherwise };
                exec_range(sc, dot, out, *pos, decl, pipe, v, branch)?;
                Flow::Normal
            }
            Node::Call { pos, name, pipe } => {
                exec_call(sc, dot, out, *pos, name, pipe.as_ref())?;
                Flow::Normal
            }
        };
        if flow != Flow::Normal {
            return Ok(flow);
        }
    }
    Ok(Flow::Normal)
}

/// `{{ template "name" pipeline }}`: the named template with the pipeline's value as `.`.
fn exec_call<E: Env + ?Sized>(
    sc: &mut Scope<'_, E>,
    dot: Dot<'_>,
    out: &mut String,
    pos: Pos,
    name: &str,
    pipe: Option<&Pipeline>,
) -> Result<(), Box<TemplateError>> {
    let defs = sc.defs;
    let Some(def) = defs.get(name) else {
        let text = match pipe.and_then(|p| p.last()) {
            Some(_) => format!("{{{{template {name:?} ...}}}}"),
            None => format!("{{{{template {name:?}}}}}"),
        };
        return Err(sc.exec_error(pos, &text, &format!("template {name:?} not defined")));
    };
    let arg = match pipe {
        Some(p) => eval_pipeline(p, sc, dot)?,
        None => Value::Nil,
    };
    sc.calls += 1;
    if sc.calls > MAX_CALL_DEPTH {
        return Err(sc.exec_error(pos, "template", "exceeded maximum template depth"));
    }
    // A called template sees only `$` (its dot), as in Go.
    let saved = std::mem::replace(&mut sc.vars, vec![(String::new(), arg.clone())]);
    let r = exec_nodes(def, sc, Dot::Val(&arg), out);
    sc.vars = saved;
    sc.calls -= 1;
    r.map(|_| ())
}

/// The two bodies of a `range`.
struct Branch<'n> {
    body: &'n [Node],
    otherwise: &'n [Node],
}

#[allow(clippy::too_many_arguments)]
fn exec_range<E: Env + ?Sized>(
    sc: &mut Scope<'_, E>,
    dot: Dot<'_>,
    out: &mut String,
    pos: Pos,
    decl: &[String],
    pipe: &Pipeline,
    v: Value,
    branch: Branch<'_>,
) -> Result<(), Box<TemplateError>> {
    let items: Box<dyn Iterator<Item = (Value, Value)>> = match v {
        Value::List(l) => Box::new(l.into_iter().enumerate().map(|(i, x)| (Value::Int(i as i64), x))),
        Value::Map(m) => Box::new(m.into_iter().map(|(k, x)| (Value::Str(k), x))),
        Value::Int(n) => Box::new((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i)))),
        Value::Nil => Box::new(std::iter::empty()),
        other => {
            // Go reports the last node it evaluated: the pipeline's last argument.
            let (at_pos, at) = match pipe.last() {
                Some(c) if c.args.len() == 1 => (c.arg_pos[0], c.arg_text[0].as_str()),
                Some(c) => (c.pos, c.text.as_str()),
                None => (pos, "range"),
            };
            return Err(sc.exec_error(at_pos, at, &format!("range can't iterate over {}", other.render())));
        }
    };
    let mut items = items.peekable();
    if items.peek().is_none() {
        exec_nodes(branch.otherwise, sc, dot, out)?;
        return Ok(());
    }
    for (k, x) in items {
        sc.step()?;
        let mark = sc.vars.len();
        match decl {
            [v] => sc.vars.push((v.clone(), x.clone())),
            [kn, vn] => {
                sc.vars.push((kn.clone(), k));
                sc.vars.push((vn.clone(), x.clone()));
            }
            _ => {}
        }
        let r = exec_nodes(branch.body, sc, Dot::Val(&x), out);
        sc.vars.truncate(mark);
        if r? == Flow::Break {
            break;
        }
    }
    Ok(())
}

fn eval_pipeline<E: Env + ?Sized>(
    p: &Pipeline,
    sc: &mut Scope<'_, E>,
    dot: Dot<'_>,
) -> Result<Value, Box<TemplateError>> {
    if let [cmd] = p.as_slice() {
        return eval_command(cmd, None, sc, dot);
    }
    let mut piped: Option<Value> = None;
    for cmd in p {
        piped = Some(eval_command(cmd, piped.take(), sc, dot)?);
    }
    Ok(piped.unwrap_or_default())
}

/// Where argument `i` of `cmd` is and how it reads, for an error about it.
fn arg_at(cmd: &Command, i: usize) -> (Pos, &str) {
    let pos = cmd.arg_pos.get(i).copied().unwrap_or(cmd.pos);
    (pos, cmd.arg_text.get(i).map_or(cmd.text.as_str(), String::as_str))
}

/// Follows `.a.b` from `v` for argument `i` of `cmd`, cloning only the value found.
fn fields<E: Env + ?Sized>(
    v: &Value,
    path: &[String],
    sc: &Scope<'_, E>,
    cmd: &Command,
    i: usize,
) -> Result<Value, Box<TemplateError>> {
    const EMPTY: &Value = &Value::Str(String::new());
    let mut v = v;
    for f in path {
        v = match v {
            // missingkey=zero, as Prometheus and Loki set it: a missing key is "".
            Value::Map(m) => m.get(f).unwrap_or(EMPTY),
            Value::Nil => v,
            other => {
                let msg = format!("can't evaluate field {f} in type {}", other.type_name());
                let (pos, at) = arg_at(cmd, i);
                return Err(sc.exec_error(pos, at, &msg));
            }
        };
    }
    Ok(v.clone())
}

/// Follows `.a.b` from `.`: on the root data, the first name is the environment's.
fn dot_fields<E: Env + ?Sized>(
    dot: Dot<'_>,
    path: &[String],
    sc: &Scope<'_, E>,
    cmd: &Command,
    i: usize,
) -> Result<Value, Box<TemplateError>> {
    match (dot, path.split_first()) {
        (Dot::Val(v), _) => fields(v, path, sc, cmd, i),
        (Dot::Root, None) => Ok(sc.env.root()),
        (Dot::Root, Some((first, rest))) => match sc.env.field(first) {
            Cow::Owned(v) if rest.is_empty() => Ok(v),
            v => fields(&v, rest, sc, cmd, i),
        },
    }
}

/// Evaluates argument `i` of `cmd`.
fn eval_arg<E: Env + ?Sized>(
    cmd: &Command,
    i: usize,
    sc: &mut Scope<'_, E>,
    dot: Dot<'_>,
) -> Result<Value, Box<TemplateError>> {
    Ok(match &cmd.args[i] {
        Operand::Field(path) => dot_fields(dot, path, sc, cmd, i)?,
        Operand::Var(name, path) => fields(sc.var(name), path, sc, cmd, i)?,
        Operand::Str(s) => Value::Str(s.clone()),
        Operand::Int(n) => Value::Int(*n),
        Operand::Float(f) => Value::Float(*f),
        Operand::Bool(b) => Value::Bool(*b),
        Operand::Nil => Value::Nil,
        Operand::Func(name, callee) => {
            let (pos, at) = arg_at(cmd, i);
            sc.call(name, *callee, Vec::new(), pos, at)?
        }
        Operand::Sub(p, path) => {
            let v = eval_pipeline(p, sc, dot)?;
            fields(&v, path, sc, cmd, i)?
        }
    })
}

fn eval_command<E: Env + ?Sized>(
    cmd: &Command,
    piped: Option<Value>,
    sc: &mut Scope<'_, E>,
    dot: Dot<'_>,
) -> Result<Value, Box<TemplateError>> {
    let pos = cmd.pos;
    match cmd.args.first() {
        // `and`/`or` short-circuit, as in Go.
        Some(Operand::Func(name, Callee::AndOr)) => {
            let n = cmd.args.len() - 1 + usize::from(piped.is_some());
            if n == 0 {
                let e = FuncError::ArityAtLeast {
                    name: name.clone(),
                    want: 1,
                    got: 0,
                };
                return Err(sc.exec_error(pos, name, &e.to_string()));
            }
            let mut last = Value::Nil;
            for i in 1..cmd.args.len() {
                last = eval_arg(cmd, i, sc, dot)?;
                if (name == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            Ok(piped.unwrap_or(last))
        }
        Some(Operand::Func(name, callee)) => {
            let mut args = Vec::with_capacity(cmd.args.len());
            for i in 1..cmd.args.len() {
                args.push(eval_arg(cmd, i, sc, dot)?);
            }
            args.extend(piped);
            sc.call(name, *callee, args, pos, &cmd.text)
        }
        Some(_) if cmd.args.len() == 1 && piped.is_none() => eval_arg(cmd, 0, sc, dot),
        Some(o) => {
            let msg = format!("can't give argument to non-function {}", describe(o));
            Err(sc.exec_error(pos, &cmd.text, &msg))
        }
        None => Err(sc.exec_error(pos, "", "missing value for command")),
    }
}

fn describe(o: &Operand) -> String {
    match o {
        Operand::Field(p) => format!(".{}", p.join(".")),
        Operand::Var(v, p) if p.is_empty() => format!("${v}"),
        Operand::Var(v, p) => format!("${v}.{}", p.join(".")),
        Operand::Str(s) => format!("{s:?}"),
        Operand::Int(i) => i.to_string(),
        Operand::Float(f) => f.to_string(),
        Operand::Bool(b) => b.to_string(),
        Operand::Nil => "nil".into(),
        Operand::Func(f, _) => f.clone(),
        Operand::Sub(..) => "(...)".into(),
    }
}
