//! The run-independent form of a Loki API answer (the same rules as `record.py`) and the
//! comparison of two such forms.
//!
//! Timestamps become offsets from T0 (nanosecond strings for log entries, integer milliseconds
//! for samples); streams, series and label lists are sorted (vectors keep their order for
//! `sort`/`sort_desc` queries); error answers keep only their status (the message is stored for
//! reading, not compared); index stats keep their field names, volumes their label sets,
//! patterns their pattern strings (Loki's numbers there vary between runs on the same data).

use serde_json::{Map, Value, json};

/// Relative tolerance of sample values: `|a - b| <= REL_TOL * max(|a|, |b|)`.
pub const REL_TOL: f64 = 1e-9;

/// Label pairs of a JSON object, sorted: the sort key of streams, series and metrics.
fn pairs(v: &Value) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    p.sort();
    p
}

/// `v`, or `{}` when it is missing or null.
fn obj_or_empty(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Null) | None => json!({}),
        Some(v) => v.clone(),
    }
}

/// `v` as an array (missing or null → empty).
fn items(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// `[ms from T0, value]` of a `[seconds, "value"]` sample.
fn sample(p: &Value, t0_ns: i64) -> Value {
    let secs = match &p[0] {
        Value::String(s) => s.parse::<f64>().unwrap_or(f64::NAN),
        v => v.as_f64().unwrap_or(f64::NAN),
    };
    json!([(secs * 1000.0).round() as i64 - t0_ns / 1_000_000, p[1].clone()])
}

/// Streams with entry timestamps as offsets, sorted by labels.
fn streams(res: &[Value], t0_ns: i64) -> Value {
    let mut out: Vec<Value> = res
        .iter()
        .map(|s| {
            let entries: Vec<Value> = items(s.get("values"))
                .iter()
                .map(|e| {
                    let ts = match e[0].as_str().and_then(|t| t.parse::<i64>().ok()) {
                        Some(t) => Value::String((t - t0_ns).to_string()),
                        None => e[0].clone(),
                    };
                    json!([ts, e[1].clone(), e.get(2).cloned().unwrap_or(Value::Null)])
                })
                .collect();
            json!({"labels": obj_or_empty(s.get("stream")), "entries": entries})
        })
        .collect();
    out.sort_by_key(|s| pairs(&s["labels"]));
    Value::Array(out)
}

/// Query and query_range answers.
fn query_result(text: &str, body: &Value, t0_ns: i64, out: &mut Map<String, Value>) {
    let data = &body["data"];
    let rt = data.get("resultType").cloned().unwrap_or(Value::Null);
    let res = items(data.get("result"));
    let result = match rt.as_str() {
        Some("streams") => streams(&res, t0_ns),
        Some("matrix") => {
            let mut s: Vec<Value> = res
                .iter()
                .map(|s| {
                    let v: Vec<Value> = items(s.get("values")).iter().map(|p| sample(p, t0_ns)).collect();
                    json!({"metric": obj_or_empty(s.get("metric")), "values": v})
                })
                .collect();
            s.sort_by_key(|s| pairs(&s["metric"]));
            Value::Array(s)
        }
        Some("vector") => {
            let mut s: Vec<Value> = res
                .iter()
                .map(|s| json!({"metric": obj_or_empty(s.get("metric")), "value": sample(&s["value"], t0_ns)}))
                .collect();
            if !text.starts_with("sort") {
                s.sort_by_key(|s| pairs(&s["metric"]));
            }
            Value::Array(s)
        }
        Some("scalar") => sample(&data["result"], t0_ns),
        _ => data.get("result").cloned().unwrap_or(Value::Null),
    };
    out.insert("resultType".into(), rt);
    out.insert("result".into(), result);
}

/// Sorted copy of `v` ordered by `key`.
fn sorted_by<K: Ord>(mut v: Vec<Value>, key: impl Fn(&Value) -> K) -> Value {
    v.sort_by_key(|x| key(x));
    Value::Array(v)
}

/// Label name of a detected label / field entry.
fn label_key(v: &Value) -> String {
    v["label"].as_str().unwrap_or_default().to_owned()
}

/// The normalized answer of one check of kind `kind` (see `queries.txt`).
pub fn normalize(kind: &str, text: &str, status: u16, body: &str, t0_ns: i64) -> Value {
    let mut out = Map::new();
    out.insert("status".into(), json!(status));
    if status != 200 {
        out.insert("error".into(), json!(truncate(body.trim(), 300)));
        return Value::Object(out);
    }
    let Ok(j) = serde_json::from_str::<Value>(body) else {
        out.insert("body".into(), json!(truncate(body.trim(), 300)));
        return Value::Object(out);
    };
    let str_key = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match kind {
        "query_range" | "query" => query_result(text, &j, t0_ns, &mut out),
        "labels" | "label_values" => {
            out.insert("data".into(), sorted_by(items(j.get("data")), str_key));
        }
        "series" => {
            out.insert("data".into(), sorted_by(items(j.get("data")), pairs));
        }
        "index_stats" => {
            let mut keys: Vec<String> = j.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            keys.sort();
            out.insert("keys".into(), json!(keys));
        }
        "index_volume" | "index_volume_range" => {
            let data = &j["data"];
            out.insert(
                "resultType".into(),
                data.get("resultType").cloned().unwrap_or(Value::Null),
            );
            let metrics = items(data.get("result"))
                .iter()
                .map(|s| obj_or_empty(s.get("metric")))
                .collect();
            out.insert("metrics".into(), sorted_by(metrics, pairs));
        }
        "detected_labels" => {
            out.insert(
                "detectedLabels".into(),
                sorted_by(items(j.get("detectedLabels")), label_key),
            );
        }
        "detected_fields" => {
            out.insert("fields".into(), sorted_by(items(j.get("fields")), label_key));
        }
        "detected_field_values" => {
            out.insert("values".into(), sorted_by(items(j.get("values")), str_key));
        }
        "patterns" => {
            let p = items(j.get("data"))
                .iter()
                .map(|p| json!(p["pattern"].as_str().unwrap_or_default()))
                .collect();
            out.insert("patterns".into(), sorted_by(p, str_key));
        }
        _ => {}
    }
    Value::Object(out)
}

/// The first `n` characters of `s`.
fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Whether two sample values (decimal strings, `NaN`, `+Inf`, `-Inf`) are equal within
/// [`REL_TOL`].
fn sample_value_eq(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_nan() && y.is_nan() => true,
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => (x - y).abs() <= REL_TOL * x.abs().max(y.abs()),
        _ => false,
    }
}

/// A `[number, string]` pair: a normalized sample.
fn is_sample(v: &Value) -> bool {
    matches!(
        v.as_array().map(Vec::as_slice),
        Some([Value::Number(_), Value::String(_)])
    )
}

/// Short text of a value for difference reports.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 {
        format!("{}…", truncate(&s, 160))
    } else {
        s
    }
}

/// `v` without the label `name` in stream labels and series metrics (for the figure of checks
/// that differ only by that label).
pub fn without_label(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| match (k.as_str(), x) {
                    ("labels" | "metric", Value::Object(l)) => {
                        let mut l = l.clone();
                        l.remove(name);
                        (k.clone(), Value::Object(l))
                    }
                    _ => (k.clone(), without_label(x, name)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| without_label(x, name)).collect()),
        v => v.clone(),
    }
}

/// `None` when `ours` equals `golden` (error messages ignored, sample values within
/// [`REL_TOL`]), else where and how they first differ.
pub fn difference(golden: &Value, ours: &Value) -> Option<String> {
    diff_at("", golden, ours)
}

fn diff_at(path: &str, g: &Value, o: &Value) -> Option<String> {
    if is_sample(g) && is_sample(o) {
        if g[0] != o[0] {
            return Some(format!("{path}: sample time {} vs Loki {}", o[0], g[0]));
        }
        let (a, b) = (g[1].as_str().unwrap_or_default(), o[1].as_str().unwrap_or_default());
        return (!sample_value_eq(a, b)).then(|| format!("{path}: value {b} vs Loki {a}"));
    }
    match (g, o) {
        (Value::Object(gm), Value::Object(om)) => {
            // Labels first: a stream's entries are only worth comparing once its labels agree.
            let mut keys: Vec<&String> = gm.keys().collect();
            keys.sort_by_key(|k| !matches!(k.as_str(), "labels" | "metric"));
            for k in keys {
                let gv = &gm[k];
                if path.is_empty() && k == "error" {
                    continue;
                }
                match om.get(k) {
                    None => return Some(format!("{path}/{k}: missing (Loki {})", short(gv))),
                    Some(ov) => {
                        if let Some(d) = diff_at(&format!("{path}/{k}"), gv, ov) {
                            return Some(d);
                        }
                    }
                }
            }
            om.keys()
                .find(|k| !(gm.contains_key(*k) || (path.is_empty() && *k == "error")))
                .map(|k| format!("{path}/{k}: extra {}", short(&om[k])))
        }
        (Value::Array(ga), Value::Array(oa)) => {
            for (i, (gv, ov)) in ga.iter().zip(oa).enumerate() {
                if let Some(d) = diff_at(&format!("{path}/{i}"), gv, ov) {
                    return Some(d);
                }
            }
            (ga.len() != oa.len()).then(|| format!("{path}: {} items vs Loki {}", oa.len(), ga.len()))
        }
        _ => (g != o).then(|| format!("{path}: {} vs Loki {}", short(o), short(g))),
    }
}
