//! Binary operators: arithmetic, comparison (with `bool`), `atan2` and the set operators, with
//! `on`/`ignoring` and `group_left`/`group_right`, as Prometheus 2.42's `VectorBinop`,
//! `VectorscalarBinop` and set operations define them (including their errors).

use std::collections::{HashMap, HashSet};

use nerve_storage::Labels;
use promql_parser::parser::token::*;
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{Evaluator, type_error};
use super::labels;
use super::value::{InstantSample, StepValue, Vector};
use crate::error::{Error, Result};

/// Evaluates a binary expression at `ts`.
pub(crate) fn eval(ev: &mut Evaluator<'_>, b: &BinaryExpr, ts: i64) -> Result<StepValue> {
    let lhs = ev.eval(&b.lhs, ts)?;
    let rhs = ev.eval(&b.rhs, ts)?;
    let op = b.op.id();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    match (lhs, rhs) {
        (StepValue::Scalar(l), StepValue::Scalar(r)) => {
            let (v, keep) = apply(op, l, r)?;
            if b.op.is_comparison_operator() {
                if !return_bool {
                    return Err(Error::BadData(
                        "comparisons between scalars must use BOOL modifier".into(),
                    ));
                }
                return Ok(StepValue::Scalar(if keep { 1.0 } else { 0.0 }));
            }
            Ok(StepValue::Scalar(v))
        }
        (StepValue::Vector(l), StepValue::Scalar(r)) => {
            Ok(StepValue::Vector(vector_scalar(op, l, r, false, return_bool, ts)?))
        }
        (StepValue::Scalar(l), StepValue::Vector(r)) => {
            Ok(StepValue::Vector(vector_scalar(op, r, l, true, return_bool, ts)?))
        }
        (StepValue::Vector(l), StepValue::Vector(r)) => {
            let m = Matching::of(b.modifier.as_ref());
            let out = match op {
                T_LAND => and(l, r, &m),
                T_LOR => or(l, r, &m),
                T_LUNLESS => unless(l, r, &m),
                _ => vector_vector(op, l, r, &m, return_bool, ts)?,
            };
            Ok(StepValue::Vector(out))
        }
        (l, StepValue::Vector(_) | StepValue::Scalar(_)) => Err(type_error("binary operand", &l)),
        (_, r) => Err(type_error("binary operand", &r)),
    }
}

/// Applies an arithmetic or comparison operator; for comparisons the value is the left side
/// and `keep` tells whether the comparison held.
fn apply(op: u16, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => return Err(Error::NotSupported(format!("binary operator {}", TokenType::new(op)))),
    })
}

fn is_comparison(op: u16) -> bool {
    TokenType::new(op).is_comparison_operator()
}

/// Prometheus 2.42 drops the metric name for these operators only.
fn drops_name(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD)
}

fn vector_scalar(op: u16, vec: Vector, s: f64, swap: bool, return_bool: bool, ts: i64) -> Result<Vector> {
    let mut out = Vec::with_capacity(vec.len());
    for x in vec {
        let (l, r) = if swap { (s, x.v) } else { (x.v, s) };
        let (mut v, mut keep) = apply(op, l, r)?;
        if is_comparison(op) && swap {
            v = r;
        }
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool {
                labels::drop_metric_name(&x.labels)
            } else {
                x.labels
            };
            out.push(InstantSample { labels, t: ts, v });
        }
    }
    Ok(out)
}

/// How two vectors are matched.
struct Matching {
    card: Card,
    on: bool,
    names: Vec<String>,
    include: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
}

impl Matching {
    fn of(m: Option<&BinModifier>) -> Self {
        let (on, names) = match m.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        let (card, include) = match m.map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(l)) => (Card::ManyToOne, l.labels.clone()),
            Some(VectorMatchCardinality::OneToMany(l)) => (Card::OneToMany, l.labels.clone()),
            _ => (Card::OneToOne, Vec::new()),
        };
        Matching {
            card,
            on,
            names,
            include,
        }
    }

    fn signature(&self, l: &Labels) -> String {
        if self.on {
            labels::signature_on(l, &self.names)
        } else {
            labels::signature_without(l, &self.names)
        }
    }
}

fn vector_vector(op: u16, lhs: Vector, rhs: Vector, m: &Matching, return_bool: bool, ts: i64) -> Result<Vector> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let (lhs, rhs) = if m.card == Card::OneToMany {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    let mut right: HashMap<String, &InstantSample> = HashMap::with_capacity(rhs.len());
    for rs in &rhs {
        let sig = m.signature(&rs.labels);
        if let Some(dup) = right.get(&sig) {
            let side = if m.card == Card::OneToMany { "left" } else { "right" };
            let matched = if m.on {
                labels::keep_only(&rs.labels, &m.names)
            } else {
                labels::drop_metric_name(&labels::remove(&rs.labels, &m.names))
            };
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {matched} on the {side} hand-side of the operation: \
                 [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                rs.labels, dup.labels
            )));
        }
        right.insert(sig, rs);
    }
    let mut matched_one: HashSet<String> = HashSet::new();
    let mut matched_many: HashMap<String, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in &lhs {
        let sig = m.signature(&ls.labels);
        let Some(rs) = right.get(&sig) else { continue };
        let (vl, vr) = if m.card == Card::OneToMany {
            (rs.v, ls.v)
        } else {
            (ls.v, rs.v)
        };
        let (mut v, keep) = apply(op, vl, vr)?;
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut metric = result_metric(&ls.labels, &rs.labels, op, m);
        if return_bool {
            metric = labels::drop_metric_name(&metric);
        }
        if m.card == Card::OneToOne {
            if !matched_one.insert(sig) {
                return Err(Error::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                ));
            }
        } else if !matched_many.entry(sig).or_default().insert(metric.clone()) {
            return Err(Error::Execution(
                "multiple matches for matching labels: grouping labels must ensure unique matches".into(),
            ));
        }
        out.push(InstantSample {
            labels: metric,
            t: ts,
            v,
        });
    }
    Ok(out)
}

fn result_metric(lhs: &Labels, rhs: &Labels, op: u16, m: &Matching) -> Labels {
    let mut l = if drops_name(op) {
        labels::drop_metric_name(lhs)
    } else {
        lhs.clone()
    };
    match m.card {
        Card::OneToOne => {
            l = if m.on {
                labels::keep_only(&l, &m.names)
            } else {
                labels::remove(&l, &m.names)
            };
        }
        Card::ManyToOne | Card::OneToMany => {
            for n in &m.include {
                l = labels::set(&l, n, rhs.get(n).unwrap_or(""));
            }
        }
    }
    l
}

fn and(lhs: Vector, rhs: Vector, m: &Matching) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<String> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| right.contains(&m.signature(&s.labels)))
        .collect()
}

fn or(lhs: Vector, rhs: Vector, m: &Matching) -> Vector {
    if lhs.is_empty() {
        return rhs;
    }
    if rhs.is_empty() {
        return lhs;
    }
    let left: HashSet<String> = lhs.iter().map(|s| m.signature(&s.labels)).collect();
    let mut out = lhs;
    out.extend(rhs.into_iter().filter(|s| !left.contains(&m.signature(&s.labels))));
    out
}

fn unless(lhs: Vector, rhs: Vector, m: &Matching) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs;
    }
    let right: HashSet<String> = rhs.iter().map(|s| m.signature(&s.labels)).collect();
    lhs.into_iter()
        .filter(|s| !right.contains(&m.signature(&s.labels)))
        .collect()
}
