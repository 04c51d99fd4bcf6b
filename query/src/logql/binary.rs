//! Binary operators between step values, with PromQL's matching rules (which Loki follows):
//! one-to-one matching on all labels or `on(...)`/`ignoring(...)`, `group_left`/`group_right`,
//! filtering comparisons unless `bool`, and the set operators `and`, `or`, `unless`.

use std::collections::{HashMap, HashSet};

use nerve_storage::Labels;

use super::ast::{BinOp, BinaryExpr, Cardinality, VectorMatching};
use super::step::{StepValue, Vector};
use crate::error::{Error, Result};

fn arith(op: BinOp, l: f64, r: f64) -> f64 {
    match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div => l / r,
        BinOp::Mod => l % r,
        BinOp::Pow => l.powf(r),
        BinOp::Eq => ((l == r) as u8).into(),
        BinOp::Ne => ((l != r) as u8).into(),
        BinOp::Gt => ((l > r) as u8).into(),
        BinOp::Ge => ((l >= r) as u8).into(),
        BinOp::Lt => ((l < r) as u8).into(),
        BinOp::Le => ((l <= r) as u8).into(),
        BinOp::And | BinOp::Or | BinOp::Unless => f64::NAN,
    }
}

/// Applies `b.op` to evaluated operands.
pub fn eval(b: &BinaryExpr, l: StepValue, r: StepValue) -> Result<StepValue> {
    let op = b.op;
    Ok(match (l, r) {
        (StepValue::Scalar(x), StepValue::Scalar(y)) => StepValue::Scalar(arith(op, x, y)),
        (StepValue::Vector(v), StepValue::Scalar(s)) => StepValue::Vector(with_scalar(b, v, s, false)),
        (StepValue::Scalar(s), StepValue::Vector(v)) => StepValue::Vector(with_scalar(b, v, s, true)),
        (StepValue::Vector(lv), StepValue::Vector(rv)) => StepValue::Vector(match op {
            BinOp::And | BinOp::Or | BinOp::Unless => set_op(op, b.matching.as_ref(), lv, rv),
            _ => vector_vector(b, lv, rv)?,
        }),
    })
}

fn with_scalar(b: &BinaryExpr, v: Vector, s: f64, scalar_left: bool) -> Vector {
    v.into_iter()
        .filter_map(|(l, x)| {
            let (a, c) = if scalar_left { (s, x) } else { (x, s) };
            let res = arith(b.op, a, c);
            if b.op.is_comparison() {
                if b.return_bool {
                    Some((l, res))
                } else if res == 1.0 {
                    Some((l, x))
                } else {
                    None
                }
            } else {
                Some((l, res))
            }
        })
        .collect()
}

/// The matching signature of a series.
fn signature(l: &Labels, m: Option<&VectorMatching>) -> Labels {
    match m {
        None => l.clone(),
        Some(m) => {
            let listed = |n: &str| m.labels.iter().any(|x| x == n);
            Labels::from_pairs(l.iter().filter(|(n, _)| listed(n) == m.on)).unwrap_or_default()
        }
    }
}

fn set_op(op: BinOp, m: Option<&VectorMatching>, lv: Vector, rv: Vector) -> Vector {
    let rsigs: HashSet<Labels> = rv.iter().map(|(l, _)| signature(l, m)).collect();
    match op {
        BinOp::And => lv
            .into_iter()
            .filter(|(l, _)| rsigs.contains(&signature(l, m)))
            .collect(),
        BinOp::Unless => lv
            .into_iter()
            .filter(|(l, _)| !rsigs.contains(&signature(l, m)))
            .collect(),
        _ => {
            let lsigs: HashSet<Labels> = lv.iter().map(|(l, _)| signature(l, m)).collect();
            let mut out = lv;
            out.extend(rv.into_iter().filter(|(l, _)| !lsigs.contains(&signature(l, m))));
            out
        }
    }
}

fn result_labels(b: &BinaryExpr, many: &Labels, one: &Labels) -> Labels {
    let Some(m) = &b.matching else { return many.clone() };
    match &m.card {
        Cardinality::OneToOne => signature(many, Some(m)),
        Cardinality::ManyToOne(include) | Cardinality::OneToMany(include) => {
            let mut pairs: Vec<(String, String)> = many
                .iter()
                .filter(|(n, _)| !include.iter().any(|i| i == n))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            for i in include {
                if let Some(v) = one.get(i) {
                    pairs.push((i.clone(), v.to_string()));
                }
            }
            Labels::from_pairs(pairs).unwrap_or_default()
        }
    }
}

fn vector_vector(b: &BinaryExpr, lv: Vector, rv: Vector) -> Result<Vector> {
    let card = b.matching.as_ref().map_or(&Cardinality::OneToOne, |m| &m.card);
    // The "one" side is indexed; the "many" side iterates.
    let many_left = !matches!(card, Cardinality::OneToMany(_));
    let (many, one) = if many_left { (lv, rv) } else { (rv, lv) };
    let m = b.matching.as_ref();
    let mut one_idx: HashMap<Labels, (Labels, f64)> = HashMap::new();
    for (l, v) in one {
        let sig = signature(&l, m);
        if one_idx.insert(sig.clone(), (l, v)).is_some() {
            let side = if many_left { "right" } else { "left" };
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
    }
    let one_to_one = matches!(card, Cardinality::OneToOne);
    let mut matched: HashSet<Labels> = HashSet::new();
    let mut out_labels: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    for (l, v) in many {
        let sig = signature(&l, m);
        let Some((ol, ov)) = one_idx.get(&sig) else { continue };
        if one_to_one && !matched.insert(sig) {
            return Err(Error::Execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
            ));
        }
        let (x, y) = if many_left { (v, *ov) } else { (*ov, v) };
        let res = arith(b.op, x, y);
        let value = if b.op.is_comparison() && !b.return_bool {
            if res != 1.0 {
                continue;
            }
            x
        } else {
            res
        };
        let labels = result_labels(b, &l, ol);
        if !out_labels.insert(labels.clone()) {
            return Err(Error::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        out.push((labels, value));
    }
    Ok(out)
}
