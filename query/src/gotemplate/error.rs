//! Errors of parsing and running a template, worded as Go's `text/template` words them.

use thiserror::Error;

/// Why a template did not parse or run. `Display` gives Go's text.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    /// Rejected when parsed: `template: NAME:LINE: MSG`.
    #[error("template: {name}:{line}: {msg}")]
    Parse {
        /// The template's name.
        name: String,
        /// 1-based line of the action at fault.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// Failed while running: `template: NAME:LINE:COL: executing "NAME" at <AT>: MSG`.
    #[error("template: {name}:{line}:{col}: executing \"{name}\" at <{at}>: {msg}")]
    Exec {
        /// The template's name.
        name: String,
        /// 1-based line.
        line: usize,
        /// Byte column as Go reports it.
        col: usize,
        /// The node at fault, as written.
        at: String,
        /// What is wrong.
        msg: String,
    },
    /// A resource bound was hit while running: `template: NAME: MSG`.
    #[error("template: {name}: {msg}")]
    Limit {
        /// The template's name.
        name: String,
        /// Which bound.
        msg: String,
    },
}

/// Why a template function failed; the executor wraps it as Go does
/// (`error calling NAME: ...`).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FuncError {
    /// The function got the wrong number of arguments.
    #[error("wrong number of args for {name}: want {want} got {got}")]
    Arity {
        /// The function.
        name: String,
        /// How many it takes.
        want: usize,
        /// How many it got.
        got: usize,
    },
    /// A variadic function got fewer arguments than it needs.
    #[error("wrong number of args for {name}: want at least {want} got {got}")]
    ArityAtLeast {
        /// The function.
        name: String,
        /// How many it takes at least.
        want: usize,
        /// How many it got.
        got: usize,
    },
    /// An argument has a type the function does not take.
    #[error("wrong type for value; expected {expected}; got {got} (in {name})")]
    Type {
        /// The function.
        name: String,
        /// The Go type wanted.
        expected: &'static str,
        /// The Go type given.
        got: &'static str,
    },
    /// Any other failure, worded as the function's Go counterpart words it.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for FuncError {
    fn from(s: String) -> Self {
        FuncError::Failed(s)
    }
}

impl From<&str> for FuncError {
    fn from(s: &str) -> Self {
        FuncError::Failed(s.to_owned())
    }
}

/// Checks that `name` got exactly `want` arguments.
pub fn want_args<T>(name: &str, args: &[T], want: usize) -> Result<(), FuncError> {
    if args.len() == want {
        Ok(())
    } else {
        Err(FuncError::Arity {
            name: name.to_owned(),
            want,
            got: args.len(),
        })
    }
}
