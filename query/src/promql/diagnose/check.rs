//! Prometheus 2.42's `checkAST`: type checks that run once a query parsed, with its messages
//! and positions (children before parents, arguments in order).

use super::lexer::go_quote;
use super::syntax::{Diag, Node, NodeKind};

/// A value type, named as Prometheus' `DocumentedType` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Scalar,
    Vector,
    Matrix,
    Str,
}

impl Ty {
    fn documented(self) -> &'static str {
        match self {
            Ty::Scalar => "scalar",
            Ty::Vector => "instant vector",
            Ty::Matrix => "range vector",
            Ty::Str => "string",
        }
    }

    /// Prometheus' raw `ValueType` name.
    fn raw(self) -> &'static str {
        match self {
            Ty::Scalar => "scalar",
            Ty::Vector => "vector",
            Ty::Matrix => "matrix",
            Ty::Str => "string",
        }
    }

    fn code(c: u8) -> Ty {
        match c {
            b'm' => Ty::Matrix,
            b's' => Ty::Scalar,
            b'S' => Ty::Str,
            _ => Ty::Vector,
        }
    }
}

/// Signature of a Prometheus 2.42 function: argument types (`v` instant vector, `m` range
/// vector, `s` scalar, `S` string), how many optional trailing arguments (-1: unbounded) and
/// the result type.
type Signature = (&'static str, &'static str, i32, u8);

/// Every function of Prometheus 2.42 (`promql/parser/functions.go`).
pub(super) const FUNCTIONS: &[Signature] = &[
    ("abs", "v", 0, b'v'),
    ("absent", "v", 0, b'v'),
    ("absent_over_time", "m", 0, b'v'),
    ("acos", "v", 0, b'v'),
    ("acosh", "v", 0, b'v'),
    ("asin", "v", 0, b'v'),
    ("asinh", "v", 0, b'v'),
    ("atan", "v", 0, b'v'),
    ("atanh", "v", 0, b'v'),
    ("avg_over_time", "m", 0, b'v'),
    ("ceil", "v", 0, b'v'),
    ("changes", "m", 0, b'v'),
    ("clamp", "vss", 0, b'v'),
    ("clamp_max", "vs", 0, b'v'),
    ("clamp_min", "vs", 0, b'v'),
    ("cos", "v", 0, b'v'),
    ("cosh", "v", 0, b'v'),
    ("count_over_time", "m", 0, b'v'),
    ("days_in_month", "v", 1, b'v'),
    ("day_of_month", "v", 1, b'v'),
    ("day_of_week", "v", 1, b'v'),
    ("day_of_year", "v", 1, b'v'),
    ("deg", "v", 0, b'v'),
    ("delta", "m", 0, b'v'),
    ("deriv", "m", 0, b'v'),
    ("exp", "v", 0, b'v'),
    ("floor", "v", 0, b'v'),
    ("histogram_count", "v", 0, b'v'),
    ("histogram_sum", "v", 0, b'v'),
    ("histogram_fraction", "ssv", 0, b'v'),
    ("histogram_quantile", "sv", 0, b'v'),
    ("holt_winters", "mss", 0, b'v'),
    ("hour", "v", 1, b'v'),
    ("idelta", "m", 0, b'v'),
    ("increase", "m", 0, b'v'),
    ("irate", "m", 0, b'v'),
    ("label_replace", "vSSSS", 0, b'v'),
    ("label_join", "vSSS", -1, b'v'),
    ("last_over_time", "m", 0, b'v'),
    ("ln", "v", 0, b'v'),
    ("log10", "v", 0, b'v'),
    ("log2", "v", 0, b'v'),
    ("max_over_time", "m", 0, b'v'),
    ("min_over_time", "m", 0, b'v'),
    ("minute", "v", 1, b'v'),
    ("month", "v", 1, b'v'),
    ("pi", "", 0, b's'),
    ("predict_linear", "ms", 0, b'v'),
    ("present_over_time", "m", 0, b'v'),
    ("quantile_over_time", "sm", 0, b'v'),
    ("rad", "v", 0, b'v'),
    ("rate", "m", 0, b'v'),
    ("resets", "m", 0, b'v'),
    ("round", "vs", 1, b'v'),
    ("scalar", "v", 0, b's'),
    ("sgn", "v", 0, b'v'),
    ("sin", "v", 0, b'v'),
    ("sinh", "v", 0, b'v'),
    ("sort", "v", 0, b'v'),
    ("sort_desc", "v", 0, b'v'),
    ("sqrt", "v", 0, b'v'),
    ("stddev_over_time", "m", 0, b'v'),
    ("stdvar_over_time", "m", 0, b'v'),
    ("sum_over_time", "m", 0, b'v'),
    ("tan", "v", 0, b'v'),
    ("tanh", "v", 0, b'v'),
    ("time", "", 0, b's'),
    ("timestamp", "v", 0, b'v'),
    ("vector", "s", 0, b'v'),
    ("year", "v", 1, b'v'),
];

fn signature(name: &str) -> Option<&'static Signature> {
    FUNCTIONS.iter().find(|f| f.0 == name)
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | "<=" | "<" | ">=" | ">")
}

fn is_set(op: &str) -> bool {
    matches!(op, "and" | "or" | "unless")
}

/// Checks `n`, appending errors to `errs`, and returns its type.
pub(super) fn check(n: &Node, errs: &mut Vec<Diag>) -> Ty {
    match &n.kind {
        NodeKind::Number => Ty::Scalar,
        NodeKind::Str => Ty::Str,
        NodeKind::Paren(e) => check(e, errs),
        NodeKind::Matrix(vs) => {
            check(vs, errs);
            Ty::Matrix
        }
        NodeKind::Selector { name, matchers, .. } => {
            if let Some(name) = name {
                for (l, _, v) in matchers {
                    if l == "__name__" {
                        errs.push((
                            n.pos,
                            format!(
                                "metric name must not be set twice: {} or {}",
                                go_quote(name),
                                go_quote(v)
                            ),
                        ));
                    }
                }
            } else if !matchers.iter().any(|(_, op, v)| !matches_empty(op, v)) {
                errs.push((
                    n.pos,
                    "vector selector must contain at least one non-empty matcher".into(),
                ));
            }
            Ty::Vector
        }
        NodeKind::Subquery { expr, .. } => {
            let t = check(expr, errs);
            if t != Ty::Vector {
                errs.push((
                    n.pos,
                    format!("subquery is only allowed on instant vector, got {} instead", t.raw()),
                ));
            }
            Ty::Matrix
        }
        NodeKind::Unary(e) => {
            let t = check(e, errs);
            if t != Ty::Scalar && t != Ty::Vector {
                errs.push((
                    n.pos,
                    format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                        t.documented()
                    ),
                ));
            }
            t
        }
        NodeKind::Aggregate { op, args } => {
            let two = args.len() == 2;
            if let Some(e) = args.last() {
                expect(e, Ty::Vector, "aggregation expression", errs);
            }
            if two && matches!(op.as_str(), "topk" | "bottomk" | "quantile") {
                expect(&args[0], Ty::Scalar, "aggregation parameter", errs);
            }
            if two && op == "count_values" {
                expect(&args[0], Ty::Str, "aggregation parameter", errs);
            }
            Ty::Vector
        }
        NodeKind::Call { name, args } => {
            let Some(&(name, types, variadic, ret)) = signature(name) else {
                return Ty::Vector;
            };
            let nargs = types.len();
            if variadic == 0 {
                if nargs != args.len() {
                    errs.push((
                        n.pos,
                        format!("expected {nargs} argument(s) in call to {name:?}, got {}", args.len()),
                    ));
                }
            } else {
                let na = nargs - 1;
                if na > args.len() {
                    errs.push((
                        n.pos,
                        format!(
                            "expected at least {na} argument(s) in call to {name:?}, got {}",
                            args.len()
                        ),
                    ));
                } else if variadic > 0 && na + variadic as usize > 0 && na + (variadic as usize) < args.len() {
                    errs.push((
                        n.pos,
                        format!(
                            "expected at most {} argument(s) in call to {name:?}, got {}",
                            na + variadic as usize,
                            args.len()
                        ),
                    ));
                }
            }
            for (i, a) in args.iter().enumerate() {
                let i = if i >= nargs {
                    if variadic == 0 || nargs == 0 {
                        break;
                    }
                    nargs - 1
                } else {
                    i
                };
                expect(
                    a,
                    Ty::code(types.as_bytes()[i]),
                    &format!("call to function {name:?}"),
                    errs,
                );
            }
            Ty::code(ret)
        }
        NodeKind::Binary {
            op,
            op_pos,
            lhs,
            rhs,
            return_bool,
            matching,
            group,
        } => {
            let lt = check(lhs, errs);
            let rt = check(rhs, errs);
            if *return_bool && !is_comparison(op) {
                errs.push((*op_pos, "bool modifier can only be used on comparison operators".into()));
            }
            if is_comparison(op) && !return_bool && lt == Ty::Scalar && rt == Ty::Scalar {
                errs.push((*op_pos, "comparisons between scalars must use BOOL modifier".into()));
            }
            if let (Some((true, on)), Some(inc)) = (matching, group) {
                for l in on.iter().filter(|l| inc.contains(l)) {
                    errs.push((
                        *op_pos,
                        format!("label {l:?} must not occur in ON and GROUP clause at once"),
                    ));
                }
            }
            if lt != Ty::Scalar && lt != Ty::Vector {
                errs.push((
                    lhs.pos,
                    "binary expression must contain only scalar and instant vector types".into(),
                ));
            }
            if rt != Ty::Scalar && rt != Ty::Vector {
                errs.push((
                    rhs.pos,
                    "binary expression must contain only scalar and instant vector types".into(),
                ));
            }
            if lt != Ty::Vector || rt != Ty::Vector {
                if matching.as_ref().is_some_and(|(_, l)| !l.is_empty()) {
                    errs.push((n.pos, "vector matching only allowed between instant vectors".into()));
                }
            } else if is_set(op) && group.is_some() {
                errs.push((n.pos, format!("no grouping allowed for {op:?} operation")));
                errs.push((n.pos, "set operations must always be many-to-many".into()));
            }
            if (lt == Ty::Scalar || rt == Ty::Scalar) && is_set(op) {
                errs.push((
                    n.pos,
                    format!("set operator {op:?} not allowed in binary scalar expression"),
                ));
            }
            if lt == Ty::Scalar && rt == Ty::Scalar {
                Ty::Scalar
            } else {
                Ty::Vector
            }
        }
    }
}

fn expect(n: &Node, want: Ty, context: &str, errs: &mut Vec<Diag>) {
    let t = check(n, errs);
    if t != want {
        errs.push((
            n.pos,
            format!(
                "expected type {} in {context}, got {}",
                want.documented(),
                t.documented()
            ),
        ));
    }
}

/// Whether a matcher matches the empty label value.
fn matches_empty(op: &str, v: &str) -> bool {
    match op {
        "=" => v.is_empty(),
        "!=" => !v.is_empty(),
        _ => {
            let m = regex::Regex::new(&format!("^(?:{v})$")).is_ok_and(|r| r.is_match(""));
            if op == "=~" { m } else { !m }
        }
    }
}
