//! The parsed form of a template: nodes, pipelines, commands and operands, with the
//! positions and source text Go's execution errors quote.

/// A node of a template body.
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

/// Line and column of an action, for error messages.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 0-based byte offset within the line.
    pub col: usize,
    /// Byte offset in the template.
    pub byte: usize,
}

pub(super) type Pipeline = Vec<Command>;

/// One command of a pipeline: a function and its arguments, or a single operand.
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
    Func(String, Callee),
    Sub(Pipeline, Vec<String>),
}

/// Who runs a function, decided when parsing (no name lookups per execution).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Callee {
    /// The dialect, through [`super::Env::call`].
    Dialect,
    /// Go's built-in `and`/`or`, which short-circuit.
    AndOr,
    /// Another Go built-in.
    Builtin,
}
