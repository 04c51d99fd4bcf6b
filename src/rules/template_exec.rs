//! Running a parsed [`Template`](super::template::Template): the value model, variable
//! scopes, `if`/`range`/`with`, pipelines and Go-style execution errors.

use std::collections::{BTreeMap, HashMap};

use super::template::{Command, Node, Operand, Pipeline, Pos, TemplateData};
use super::template_funcs::{call, go_value};

/// Samples as the template `query` function returns them: `(labels, value)`.
pub type QuerySamples = Vec<(BTreeMap<String, String>, f64)>;

/// Answers the template `query` function: PromQL text → samples.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<QuerySamples, String> + 'a;

/// A value flowing through a template.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// Go's `nil` (renders `<no value>`).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (literals, `len`).
    Int(i64),
    /// A float (`$value`, sample values).
    Float(f64),
    /// A string.
    Str(String),
    /// A time, in nanoseconds since the epoch (`toTime`).
    Time(i64),
    /// A map or a struct (labels, samples, the root data).
    Map(BTreeMap<String, Value>),
    /// A list (query results).
    List(Vec<Value>),
}

impl Value {
    /// Go's notion of truth: false, 0, nil and empty strings, maps and lists are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Time(_) => true,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// The text `{{ . }}` prints for this value.
    pub fn render(&self) -> String {
        go_value(self)
    }

    /// A sample as templates see it: `.Labels` and `.Value`.
    pub fn sample(labels: &BTreeMap<String, String>, v: f64) -> Value {
        Value::Map(BTreeMap::from([
            (
                "Labels".to_owned(),
                Value::Map(labels.iter().map(|(k, v)| (k.clone(), Value::Str(v.clone()))).collect()),
            ),
            ("Value".to_owned(), Value::Float(v)),
        ]))
    }
}

/// Execution state: template name, variables, the query function, `define`d templates.
pub(super) struct Scope<'a> {
    pub name: &'a str,
    vars: Vec<(String, Value)>,
    pub query: Option<&'a QueryFn<'a>>,
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

/// Length of the definitions Prometheus prepends to alert templates
/// (`{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}`
/// `{{$externalURL := .ExternalURL}}{{$value := .Value}}`), which shifts its error columns.
const PROMETHEUS_HEADER_LEN: usize = 112;

/// Deepest nesting of `{{ template }}` calls.
const MAX_CALL_DEPTH: usize = 64;

/// Most nodes one execution may run.
const MAX_STEPS: usize = 1_000_000;
/// Largest output of one execution (an annotation or a label value).
const MAX_OUTPUT_BYTES: usize = 1 << 20;

impl<'a> Scope<'a> {
    pub fn new(
        name: &'a str,
        data: &TemplateData,
        query: Option<&'a QueryFn<'a>>,
        defs: &'a HashMap<String, Vec<Node>>,
    ) -> Self {
        let mut vars = data.vars.clone();
        vars.push((String::new(), data.dot.clone()));
        Scope {
            name,
            vars,
            query,
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
    fn set(&mut self, name: &str, v: Value, declare: bool, pos: Pos) -> Result<(), String> {
        if declare {
            self.vars.push((name.to_owned(), v));
        } else if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = v;
        } else {
            return Err(self.exec_error(pos, &format!("${name}"), &format!("undefined variable: ${name}")));
        }
        Ok(())
    }

    /// Go's execution error. Columns are byte offsets in the line, and line 1 starts after
    /// the variable definitions Prometheus puts in front of every alert template.
    pub fn exec_error(&self, pos: Pos, at: &str, msg: &str) -> String {
        let col = if pos.line == 1 {
            pos.col + PROMETHEUS_HEADER_LEN
        } else {
            pos.col
        };
        format!(
            "template: {name}:{}:{col}: executing \"{name}\" at <{at}>: {msg}",
            pos.line,
            name = self.name
        )
    }
}

pub(super) fn exec_nodes(nodes: &[Node], sc: &mut Scope<'_>, dot: &Value, out: &mut String) -> Result<Flow, String> {
    for n in nodes {
        sc.steps += 1;
        if sc.steps > MAX_STEPS {
            return Err(format!("template: {}: execution exceeded {MAX_STEPS} steps", sc.name));
        }
        if out.len() > MAX_OUTPUT_BYTES {
            return Err(format!(
                "template: {}: output exceeded {MAX_OUTPUT_BYTES} bytes",
                sc.name
            ));
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
                    out.push_str(&v.render());
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
                    exec_nodes(body, sc, &v, out)
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
                exec_range(sc, dot, out, *pos, decl, pipe, body, otherwise)?;
                Flow::Normal
            }
            Node::Call { pos, name, pipe } => {
                let Some(def) = sc.defs.get(name) else {
                    let text = match pipe.as_ref().and_then(|p| p.last()) {
                        Some(_) => format!("{{{{template {name:?} ...}}}}"),
                        None => format!("{{{{template {name:?}}}}}"),
                    };
                    return Err(sc.exec_error(*pos, &text, &format!("template {name:?} not defined")));
                };
                let arg = match pipe {
                    Some(p) => eval_pipeline(p, sc, dot)?,
                    None => Value::Nil,
                };
                sc.calls += 1;
                if sc.calls > MAX_CALL_DEPTH {
                    return Err(sc.exec_error(*pos, "template", "exceeded maximum template depth"));
                }
                // A called template sees only `$` (its dot), as in Go.
                let saved = std::mem::replace(&mut sc.vars, vec![(String::new(), arg.clone())]);
                let r = exec_nodes(def, sc, &arg, out);
                sc.vars = saved;
                sc.calls -= 1;
                r?;
                Flow::Normal
            }
        };
        if flow != Flow::Normal {
            return Ok(flow);
        }
    }
    Ok(Flow::Normal)
}

#[allow(clippy::too_many_arguments)]
fn exec_range(
    sc: &mut Scope<'_>,
    dot: &Value,
    out: &mut String,
    pos: Pos,
    decl: &[String],
    pipe: &Pipeline,
    body: &[Node],
    otherwise: &[Node],
) -> Result<(), String> {
    let v = eval_pipeline(pipe, sc, dot)?;
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
        exec_nodes(otherwise, sc, dot, out)?;
        return Ok(());
    }
    for (k, x) in items {
        sc.steps += 1;
        if sc.steps > MAX_STEPS {
            return Err(format!("template: {}: execution exceeded {MAX_STEPS} steps", sc.name));
        }
        let mark = sc.vars.len();
        match decl {
            [v] => sc.vars.push((v.clone(), x.clone())),
            [kn, vn] => {
                sc.vars.push((kn.clone(), k));
                sc.vars.push((vn.clone(), x.clone()));
            }
            _ => {}
        }
        let r = exec_nodes(body, sc, &x, out);
        sc.vars.truncate(mark);
        if r? == Flow::Break {
            break;
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, sc: &mut Scope<'_>, dot: &Value) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for cmd in p {
        piped = Some(eval_command(cmd, piped.take(), sc, dot)?);
    }
    Ok(piped.unwrap_or_default())
}

/// Follows `.a.b` from `v`, cloning only the value found.
fn fields(v: &Value, path: &[String], sc: &Scope<'_>, pos: Pos, at: &str) -> Result<Value, String> {
    const EMPTY: &Value = &Value::Str(String::new());
    let mut v = v;
    for f in path {
        v = match v {
            // missingkey=zero, as Prometheus sets it: a missing label is "".
            Value::Map(m) => m.get(f).unwrap_or(EMPTY),
            Value::Nil => v,
            other => {
                return Err(sc.exec_error(
                    pos,
                    at,
                    &format!("can't evaluate field {f} in type {}", type_name(other)),
                ));
            }
        };
    }
    Ok(v.clone())
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Time(_) => "time.Time",
        Value::Map(_) => "map[string]interface {}",
        Value::List(_) => "[]interface {}",
    }
}

/// Evaluates argument `i` of `cmd`.
fn eval_arg(cmd: &Command, i: usize, sc: &mut Scope<'_>, dot: &Value) -> Result<Value, String> {
    let pos = cmd.arg_pos.get(i).copied().unwrap_or(cmd.pos);
    let at = cmd.arg_text.get(i).map_or(cmd.text.as_str(), String::as_str);
    Ok(match &cmd.args[i] {
        Operand::Field(path) => fields(dot, path, sc, pos, at)?,
        Operand::Var(name, path) => fields(sc.var(name), path, sc, pos, at)?,
        Operand::Str(s) => Value::Str(s.clone()),
        Operand::Int(n) => Value::Int(*n),
        Operand::Float(f) => Value::Float(*f),
        Operand::Bool(b) => Value::Bool(*b),
        Operand::Nil => Value::Nil,
        Operand::Func(name) => call(name, Vec::new(), sc, pos, at)?,
        Operand::Sub(p, path) => {
            let v = eval_pipeline(p, sc, dot)?;
            fields(&v, path, sc, pos, at)?
        }
    })
}

fn eval_command(cmd: &Command, piped: Option<Value>, sc: &mut Scope<'_>, dot: &Value) -> Result<Value, String> {
    let pos = cmd.pos;
    match cmd.args.first() {
        Some(Operand::Func(name)) => {
            // `and`/`or` short-circuit, as in Go.
            if name == "and" || name == "or" {
                let mut last = Value::Nil;
                let n = cmd.args.len() - 1 + usize::from(piped.is_some());
                if n == 0 {
                    return Err(sc.exec_error(
                        pos,
                        &cmd.text,
                        &format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                for i in 1..cmd.args.len() {
                    last = eval_arg(cmd, i, sc, dot)?;
                    if (name == "and") != last.truthy() {
                        return Ok(last);
                    }
                }
                if let Some(p) = piped {
                    last = p;
                }
                return Ok(last);
            }
            let mut args = Vec::with_capacity(cmd.args.len());
            for i in 1..cmd.args.len() {
                args.push(eval_arg(cmd, i, sc, dot)?);
            }
            args.extend(piped);
            call(name, args, sc, pos, &cmd.text)
        }
        Some(_) if cmd.args.len() == 1 && piped.is_none() => eval_arg(cmd, 0, sc, dot),
        Some(o) => Err(sc.exec_error(
            pos,
            &cmd.text,
            &format!("can't give argument to non-function {}", describe(o)),
        )),
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
        Operand::Func(f) => f.clone(),
        Operand::Sub(..) => "(...)".into(),
    }
}
