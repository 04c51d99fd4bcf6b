//! Go's `text/template`, once for every dialect nerve speaks: Prometheus alert labels and
//! annotations (`src/rules`) and LogQL `line_format`/`label_format` ([`crate::logql`]).
//!
//! Text, `{{ pipeline }}` actions with `{{-`/`-}}` trimming and comments, variables
//! (`$x := ...`, `$x = ...`, predefined ones such as Prometheus' `$labels`), field chains
//! (`.Labels.job`), pipes, parentheses, `if`/`else if`/`else`, `range` (with `else`,
//! `$k, $v :=`, `break`, `continue`), `with`, and `define`/`template`/`block`. What parses is
//! what Go's parser accepts, less what a [`Dialect`] rejects; errors read as Go's
//! ([`TemplateError`]).
//!
//! The function library is the caller's: Go's built-ins (`and`, `or`, `not`, `len`, `index`,
//! `print*`, `eq`..., `html`, `js`, `urlquery`, `slice`, `call`) live here, the dialect's own
//! functions are named by [`Dialect::functions`] (checked when parsing) and run by
//! [`Env::call`]. An [`Env`] also resolves `.name` on the root data, so LogQL reads a line's
//! labels directly instead of building a map per line.

mod ast;
mod builtins;
mod error;
mod exec;
mod lex;
mod parse;
mod printf;
mod value;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;

pub use builtins::query_escape;
pub use error::{FuncError, TemplateError, want_args};
pub use printf::sprintf;
pub use value::Value;

use ast::Node;

/// What differs between the template languages built on Go's: extra functions, predefined
/// variables, constructs the dialect refuses, and how execution errors are placed.
#[derive(Debug)]
pub struct Dialect {
    /// Functions the dialect adds to Go's built-ins (a name here overrides a built-in, as
    /// `Funcs` does in Go). [`Env::call`] runs them.
    pub functions: &'static [&'static str],
    /// Variables (without `$`) defined before the template starts; [`Env::vars`] gives their
    /// values.
    pub predefined_vars: &'static [&'static str],
    /// False: `$` variables and declarations are refused when parsing.
    pub variables: bool,
    /// Action keywords refused when parsing (`range`, `with`, `define`, ...).
    pub rejected_keywords: &'static [&'static str],
    /// How refusals name the dialect (`"range" is not supported by LogQL templates`).
    pub label: &'static str,
    /// Comparison errors name the two types (`incompatible types for comparison: string and
    /// int`), as Go ≥ 1.20 words them (Loki); Go 1.19 (Prometheus 2.42) does not.
    pub typed_comparison_errors: bool,
    /// Added to the column of execution errors on line 1 (Prometheus runs alert templates
    /// behind a line of variable definitions, which shifts its columns).
    pub first_line_col_offset: usize,
}

/// What a running template reads: the root data, the predefined variables and the dialect's
/// functions.
pub trait Env {
    /// `.name` on the root data (a missing name is the dialect's zero value).
    fn field(&self, name: &str) -> Cow<'_, Value>;
    /// The root data itself (`{{ . }}`, `$`).
    fn root(&self) -> Value;
    /// Values of [`Dialect::predefined_vars`].
    fn vars(&self) -> Vec<(String, Value)> {
        Vec::new()
    }
    /// Runs the dialect function `name` (one of [`Dialect::functions`]).
    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError>;
}

/// A parsed template. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    dialect: &'static Dialect,
    nodes: Vec<Node>,
    /// Templates named by `define` and `block`.
    defs: HashMap<String, Vec<Node>>,
}

impl Template {
    /// Parses `src` in `dialect`; `name` appears in error messages.
    pub fn parse(name: &str, src: &str, dialect: &'static Dialect) -> Result<Template, TemplateError> {
        let (nodes, defs) = parse::parse_template(name, src, dialect)?;
        Ok(Template {
            name: name.to_owned(),
            dialect,
            nodes,
            defs,
        })
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the template over `env`, appending its output to `out`.
    pub fn execute<E: Env + ?Sized>(&self, env: &E, out: &mut String) -> Result<(), TemplateError> {
        let mut scope = exec::Scope::new(&self.name, self.dialect, env, &self.defs);
        exec::exec_nodes(&self.nodes, &mut scope, exec::Dot::Root, out).map_err(|e| *e)?;
        Ok(())
    }
}
