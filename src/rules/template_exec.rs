//! Running a parsed [`Template`](super::template::Template): the value model, variable
//! scopes, `if`/`range`/`with`, pipelines and Go-style execution errors.

use std::collections::BTreeMap;

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

/// Execution state: template name, variables, the query function.
pub(super) struct Scope<'a> {
    pub name: &'a str,
    vars: Vec<(String, Value)>,
    pub query: Option<&'a QueryFn<'a>>,
    /// Bounds the output and the work of `range` over hostile data.
    steps: usize,
}

/// Most nodes one execution may run.
const MAX_STEPS: usize = 1_000_000;
/// Largest output of one execution (an annotation or a label value).
const MAX_OUTPUT_BYTES: usize = 1 << 20;

impl<'a> Scope<'a> {
    pub fn new(name: &'a str, data: &TemplateData, query: Option<&'a QueryFn<'a>>) -> Self {
        let mut vars = data.vars.clone();
        vars.push((String::new(), data.dot.clone()));
        Scope {
            name,
            vars,
            query,
            steps: 0,
        }
    }

    fn var(&self, name: &str) -> &Value {
        const NIL: &Value = &Value::Nil;
        self.vars.iter().rev().find(|(n, _)| n == name).map_or(NIL, |(_, v)| v)
    }

    fn set(&mut self, name: &str, v: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = v;
        } else {
            self.vars.push((name.to_owned(), v));
        }
    }

    pub fn exec_error(&self, pos: Pos, at: &str, msg: &str) -> String {
        format!(
            "template: {name}:{}:{}: executing \"{name}\" at <{at}>: {msg}",
            pos.line,
            pos.col + 1,
            name = self.name
        )
    }
}

pub(super) fn exec_nodes(nodes: &[Node], sc: &mut Scope<'_>, dot: &Value, out: &mut String) -> Result<(), String> {
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
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action { pos, decl, pipe } => {
                let v = eval_pipeline(pipe, sc, dot, *pos)?;
                if let Some(name) = decl.first() {
                    sc.set(name, v);
                } else {
                    out.push_str(&v.render());
                }
            }
            Node::If {
                pos,
                cond,
                then,
                otherwise,
            } => {
                let mark = sc.vars.len();
                let c = eval_pipeline(cond, sc, dot, *pos)?;
                let r = exec_nodes(if c.truthy() { then } else { otherwise }, sc, dot, out);
                sc.vars.truncate(mark);
                r?;
            }
            Node::With {
                pos,
                decl,
                pipe,
                body,
                otherwise,
            } => {
                let mark = sc.vars.len();
                let v = eval_pipeline(pipe, sc, dot, *pos)?;
                let r = if v.truthy() {
                    if let Some(name) = decl.first() {
                        sc.vars.push((name.clone(), v.clone()));
                    }
                    exec_nodes(body, sc, &v, out)
                } else {
                    exec_nodes(otherwise, sc, dot, out)
                };
                sc.vars.truncate(mark);
                r?;
            }
            Node::Range {
                pos,
                decl,
                pipe,
                body,
                otherwise,
            } => {
                let v = eval_pipeline(pipe, sc, dot, *pos)?;
                let items: Box<dyn Iterator<Item = (Value, Value)>> = match v {
                    Value::List(l) => Box::new(l.into_iter().enumerate().map(|(i, x)| (Value::Int(i as i64), x))),
                    Value::Map(m) => Box::new(m.into_iter().map(|(k, x)| (Value::Str(k), x))),
                    Value::Int(n) => Box::new((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i)))),
                    Value::Nil => Box::new(std::iter::empty()),
                    other => {
                        return Err(sc.exec_error(
                            *pos,
                            "range",
                            &format!("range can't iterate over {}", other.render()),
                        ));
                    }
                };
                let mut items = items.peekable();
                if items.peek().is_none() {
                    exec_nodes(otherwise, sc, dot, out)?;
                    continue;
                }
                for (k, x) in items {
                    sc.steps += 1;
                    if sc.steps > MAX_STEPS {
                        return Err(format!("template: {}: execution exceeded {MAX_STEPS} steps", sc.name));
                    }
                    let mark = sc.vars.len();
                    match decl.as_slice() {
                        [v] => sc.vars.push((v.clone(), x.clone())),
                        [kn, vn] => {
                            sc.vars.push((kn.clone(), k));
                            sc.vars.push((vn.clone(), x.clone()));
                        }
                        _ => {}
                    }
                    let r = exec_nodes(body, sc, &x, out);
                    sc.vars.truncate(mark);
                    r?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, sc: &mut Scope<'_>, dot: &Value, pos: Pos) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for cmd in p {
        piped = Some(eval_command(cmd, piped.take(), sc, dot, pos)?);
    }
    Ok(piped.unwrap_or_default())
}

/// Follows `.a.b` from `v`, cloning only the value found.
fn fields(v: &Value, path: &[String], sc: &Scope<'_>, pos: Pos) -> Result<Value, String> {
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
                    &format!(".{f}"),
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

fn eval_operand(o: &Operand, sc: &mut Scope<'_>, dot: &Value, pos: Pos) -> Result<Value, String> {
    Ok(match o {
        Operand::Field(path) => fields(dot, path, sc, pos)?,
        Operand::Var(name, path) => fields(sc.var(name), path, sc, pos)?,
        Operand::Str(s) => Value::Str(s.clone()),
        Operand::Int(i) => Value::Int(*i),
        Operand::Float(f) => Value::Float(*f),
        Operand::Bool(b) => Value::Bool(*b),
        Operand::Nil => Value::Nil,
        Operand::Func(name) => call(name, Vec::new(), sc, pos)?,
        Operand::Sub(p, path) => {
            let v = eval_pipeline(p, sc, dot, pos)?;
            fields(&v, path, sc, pos)?
        }
    })
}

fn eval_command(
    cmd: &Command,
    piped: Option<Value>,
    sc: &mut Scope<'_>,
    dot: &Value,
    pos: Pos,
) -> Result<Value, String> {
    match cmd.args.first() {
        Some(Operand::Func(name)) => {
            // `and`/`or` short-circuit, as in Go.
            if name == "and" || name == "or" {
                let mut last = Value::Nil;
                let n = cmd.args.len() - 1 + usize::from(piped.is_some());
                if n == 0 {
                    return Err(sc.exec_error(
                        pos,
                        name,
                        &format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                for a in &cmd.args[1..] {
                    last = eval_operand(a, sc, dot, pos)?;
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
            for a in &cmd.args[1..] {
                args.push(eval_operand(a, sc, dot, pos)?);
            }
            args.extend(piped);
            call(name, args, sc, pos)
        }
        Some(o) if cmd.args.len() == 1 && piped.is_none() => eval_operand(o, sc, dot, pos),
        _ => Err(sc.exec_error(pos, "", "can't give argument to non-function")),
    }
}
