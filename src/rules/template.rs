//! Go's `text/template` as Prometheus rule authors use it in alert labels and annotations:
//! text, `{{ pipeline }}` actions with `{{-`/`-}}` trimming and comments, variables
//! (`$labels.instance`, `$value`, `$externalLabels.x`, `$x := ...`, `$x = ...`), field chains
//! (`.Labels.job`), pipes, parentheses, `if`/`else if`/`else`, `range` (with `else`,
//! `$k, $v :=`, `break`, `continue`), `with`, and `define`/`template`/`block`. Functions:
//! [`super::template_funcs`]. What parses is what Go's parser (as in promtool 2.42) accepts;
//! `tests/check_rules_promtool.rs` checks that on 128 snippets.
//!
//! This is a separate engine from LogQL's `line_format` one (`nerve_query::logql::Template`):
//! that one has no variables, no `range`/`with`/`define`, no map or list values and a different
//! function library, all of which alert templates need; it also resolves fields straight from
//! a line's labels without building a value per line, which its hot path relies on.
//!
//! Errors read like Go's: at parse time `template: __alert_X:1: function "nope" not defined`,
//! when run `template: __alert_X:1:115: executing "__alert_X" at <humanize "x">: ...` with the
//! same columns as Prometheus (`tests/rules_template_oracle.rs` compares them).

use std::collections::{BTreeMap, HashMap};

pub use super::template_exec::{QueryFn, QuerySamples, Value};
use super::template_exec::{Scope, exec_nodes};
use super::template_parse::parse_template;

/// A parsed template. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    pub(super) nodes: Vec<Node>,
    /// Templates named by `define` and `block`.
    defs: HashMap<String, Vec<Node>>,
}

#[derive(Clone, Debug)]
pub(super) enum Node {
    Text(String),
    Action {
        pos: Pos,
        decl: Vec<String>,
        /// `$x = ...` (assignment) rather than `$x := ...` (declaration).
        assign: bool,
        pipe: Pipeline,
    },
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pos: Pos,
        decl: Vec<String>,
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        decl: Vec<String>,
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ template "name" pipeline }}` (also what `block` leaves in place).
    Call {
        pos: Pos,
        name: String,
        pipe: Option<Pipeline>,
    },
    Break,
    Continue,
}

/// Line and column (1-based) of an action, for error messages.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pos {
    pub line: usize,
    /// 0-based byte offset within the line.
    pub col: usize,
    /// Byte offset in the template.
    pub byte: usize,
}

pub(super) type Pipeline = Vec<Command>;

#[derive(Clone, Debug)]
pub(super) struct Command {
    pub args: Vec<Operand>,
    /// Where the command starts, and its text, for Go-style execution errors.
    pub pos: Pos,
    pub text: String,
    /// Where each argument is (a field chain: its second element, as Go reports it) and its
    /// text.
    pub arg_pos: Vec<Pos>,
    pub arg_text: Vec<String>,
}

#[derive(Clone, Debug)]
pub(super) enum Operand {
    /// `.a.b` (empty path: `.`).
    Field(Vec<String>),
    /// `$name.a.b` (`$` alone is the root data).
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Pipeline, Vec<String>),
}

/// What a template sees: the data (`.`) and the predefined variables.
#[derive(Clone, Debug, Default)]
pub struct TemplateData {
    /// The root value (`.` and `$`).
    pub dot: Value,
    /// Variables available from the start, without the `$`.
    pub vars: Vec<(String, Value)>,
}

impl TemplateData {
    /// The data of alert label and annotation templates, as Prometheus defines it:
    /// `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`, and the variables `$labels`,
    /// `$externalLabels`, `$externalURL`, `$value`.
    pub fn alert(
        labels: &BTreeMap<String, String>,
        external_labels: &BTreeMap<String, String>,
        external_url: &str,
        value: f64,
    ) -> Self {
        let strs = |m: &BTreeMap<String, String>| {
            Value::Map(m.iter().map(|(k, v)| (k.clone(), Value::Str(v.clone()))).collect())
        };
        let vars = vec![
            ("labels".to_owned(), strs(labels)),
            ("externalLabels".to_owned(), strs(external_labels)),
            ("externalURL".to_owned(), Value::Str(external_url.to_owned())),
            ("value".to_owned(), Value::Float(value)),
        ];
        let dot = Value::Map(BTreeMap::from([
            ("Labels".to_owned(), vars[0].1.clone()),
            ("ExternalLabels".to_owned(), vars[1].1.clone()),
            ("ExternalURL".to_owned(), vars[2].1.clone()),
            ("Value".to_owned(), vars[3].1.clone()),
        ]));
        TemplateData { dot, vars }
    }
}

impl Template {
    /// Parses `src`; `name` appears in error messages (Prometheus uses `__alert_<name>`).
    pub fn parse(name: &str, src: &str) -> Result<Template, String> {
        let (nodes, defs) = parse_template(name, src)?;
        Ok(Template {
            name: name.to_owned(),
            nodes,
            defs,
        })
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the template; `query` answers the `query` function (None: it fails).
    pub fn execute(&self, data: &TemplateData, query: Option<&QueryFn<'_>>) -> Result<String, String> {
        let mut scope = Scope::new(&self.name, data, query, &self.defs);
        let mut out = String::new();
        exec_nodes(&self.nodes, &mut scope, &data.dot, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
