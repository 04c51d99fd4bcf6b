//! Differential test of the PromQL engine against Debian's real Prometheus 2.42.
//!
//! One generated data set (counters with resets, gauges with NaN, ±Inf and gaps, a classic
//! histogram, a summary, series starting and ending mid-range, label values with quotes,
//! backslashes and UTF-8) is loaded into Prometheus with `promtool tsdb create-blocks-from
//! openmetrics` and into nerve with remote write. Every query of [`queries`] runs as instant
//! queries at several times and as range queries with several steps against both; results are
//! compared (result type, label sets, timestamps, values within 1e-9 relative, NaN/±Inf exact,
//! error type where Prometheus errors). Every mismatch is printed; the test fails below
//! [`MIN_MATCH_RATE`].

mod common;
#[path = "promql_oracle/dataset.rs"]
mod dataset;
#[path = "promql_oracle/queries.rs"]
mod queries;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, eventually, free_port, post_form, remote_write, require, start_prometheus};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::Value;

use dataset::{SPAN_MS, SeriesData, dataset};
use queries::queries;

/// One comparison: a label for the report, form parameters and the API path.
type Case = (String, Vec<(&'static str, String)>, &'static str);

/// Lowest acceptable share of identical (query, time/range) results. Measured: 3213/3213
/// (100%); the margin covers date functions and alignment moving with the wall clock.
const MIN_MATCH_RATE: f64 = 0.998;

fn escape_om(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn om_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn openmetrics(data: &[SeriesData]) -> String {
    let mut s = String::new();
    for (ls, pts) in data {
        let name = &ls.iter().find(|(k, _)| k == "__name__").unwrap().1;
        let rest: Vec<String> = ls
            .iter()
            .filter(|(k, _)| k != "__name__")
            .map(|(k, v)| format!("{k}=\"{}\"", escape_om(v)))
            .collect();
        for (t, v) in pts {
            let _ = writeln!(
                s,
                "{name}{{{}}} {} {}.{:03}",
                rest.join(","),
                om_float(*v),
                t / 1000,
                t % 1000
            );
        }
    }
    s.push_str("# EOF\n");
    s
}

/// Remote-writes the data set, 8 series per request.
fn load_dataset(n: &Nerve, data: &[SeriesData]) {
    for chunk in data.chunks(8) {
        let req = WriteRequest {
            timeseries: chunk
                .iter()
                .map(|(ls, pts)| TimeSeries {
                    labels: ls
                        .iter()
                        .map(|(k, v)| Label {
                            name: k.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                    samples: pts
                        .iter()
                        .map(|(t, v)| Sample {
                            value: *v,
                            timestamp: *t,
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        remote_write(n, nerve_proto::encode_v1(&req));
    }
}

fn post(base: &str, path: &str, params: &[(&str, String)]) -> Value {
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, text) = post_form(&format!("{base}{path}"), &params);
    let mut v: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({"status":"unparsable","body":text}));
    v["httpStatus"] = status.into();
    v
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            x => x.parse().unwrap_or(f64::NAN),
        },
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

fn same_value(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a - b).abs() <= 1e-12
}

fn metric_key(m: &Value) -> String {
    let mut kv: Vec<(String, String)> = m
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    kv.sort();
    format!("{kv:?}")
}

/// `None` when equal, else a description of the first difference.
fn compare(query: &str, p: &Value, n: &Value) -> Option<String> {
    if p["status"] != "success" {
        if n["status"] == "error" && n["errorType"] == p["errorType"] {
            return None;
        }
        return Some(format!(
            "prometheus: {} {} / nerve: {}",
            p["errorType"],
            p["error"],
            short(n)
        ));
    }
    if n["status"] != "success" {
        return Some(format!("nerve failed: {} {}", n["errorType"], n["error"]));
    }
    let (pd, nd) = (&p["data"], &n["data"]);
    if pd["resultType"] != nd["resultType"] {
        return Some(format!("resultType {} vs {}", pd["resultType"], nd["resultType"]));
    }
    let (pr, nr) = (&pd["result"], &nd["result"]);
    match pd["resultType"].as_str() {
        Some("scalar") | Some("string") => {
            let ok = num(&pr[0]) == num(&nr[0])
                && (if pd["resultType"] == "string" {
                    pr[1] == nr[1]
                } else {
                    same_value(num(&pr[1]), num(&nr[1]))
                });
            (!ok).then(|| format!("{pr} vs {nr}"))
        }
        Some("vector") => {
            let empty = Vec::new();
            let (pa, na) = (pr.as_array().unwrap_or(&empty), nr.as_array().unwrap_or(&empty));
            if pa.len() != na.len() {
                return Some(format!(
                    "{} vs {} elements: {} vs {}",
                    pa.len(),
                    na.len(),
                    short(pr),
                    short(nr)
                ));
            }
            let ordered = query.starts_with("sort");
            if ordered {
                for (a, b) in pa.iter().zip(na) {
                    if !same_value(num(&a["value"][1]), num(&b["value"][1])) {
                        return Some(format!("order/value {} vs {}", a, b));
                    }
                }
            }
            let nm: BTreeMap<String, &Value> = na.iter().map(|s| (metric_key(&s["metric"]), s)).collect();
            for a in pa {
                let Some(b) = nm.get(&metric_key(&a["metric"])) else {
                    return Some(format!("series {} missing in nerve: {}", a["metric"], short(nr)));
                };
                if num(&a["value"][0]) != num(&b["value"][0]) || !same_value(num(&a["value"][1]), num(&b["value"][1])) {
                    return Some(format!("{} vs {}", a, b));
                }
            }
            None
        }
        Some("matrix") => {
            let empty = Vec::new();
            let (pa, na) = (pr.as_array().unwrap_or(&empty), nr.as_array().unwrap_or(&empty));
            if pa.len() != na.len() {
                return Some(format!(
                    "{} vs {} series: {} vs {}",
                    pa.len(),
                    na.len(),
                    short(pr),
                    short(nr)
                ));
            }
            let nm: BTreeMap<String, &Value> = na.iter().map(|s| (metric_key(&s["metric"]), s)).collect();
            for a in pa {
                let Some(b) = nm.get(&metric_key(&a["metric"])) else {
                    return Some(format!("series {} missing in nerve", a["metric"]));
                };
                let (av, bv) = (
                    a["values"].as_array().unwrap_or(&empty),
                    b["values"].as_array().unwrap_or(&empty),
                );
                if av.len() != bv.len() {
                    return Some(format!("{}: {} vs {} points", a["metric"], av.len(), bv.len()));
                }
                for (x, y) in av.iter().zip(bv) {
                    if num(&x[0]) != num(&y[0]) || !same_value(num(&x[1]), num(&y[1])) {
                        return Some(format!("{}: point {x} vs {y}", a["metric"]));
                    }
                }
            }
            None
        }
        other => Some(format!("unknown resultType {other:?}")),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 400 {
        format!("{}…", &s[..s.char_indices().nth(400).map_or(s.len(), |c| c.0)])
    } else {
        s
    }
}

#[test]
fn promql_matches_prometheus() {
    // The comparison itself must notice a difference.
    let a = serde_json::json!({"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"1"]}]}});
    let b = serde_json::json!({"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"1.1"]}]}});
    assert!(compare("x", &a, &b).is_some() && compare("x", &a, &a).is_none());
    let prom_bin = require("prometheus");
    let promtool = require("promtool");
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    // Data from t0 to t0 + 2h, ending 10 minutes ago, aligned to the minute.
    let t0 = (now - SPAN_MS - 600_000) / 60_000 * 60_000;
    let data = dataset(t0);

    let om = dir.path().join("data.om");
    std::fs::write(&om, openmetrics(&data)).unwrap();
    let prom_data = dir.path().join("prom");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&prom_data)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  evaluation_interval: 1m\n").unwrap();
    let _prom = start_prometheus(&prom_bin, &cfg, &prom_data, port, &[]);
    let prom_url = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(60), || {
        client()
            .get(format!("{prom_url}/-/ready"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    })
    .expect("prometheus ready");

    let n = Nerve::start(&dir.path().join("nerve"), &[]);
    load_dataset(&n, &data);
    let nerve_url = format!("http://{}", n.addr);

    let sec = |ms: i64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let instants = [
        t0 + 30 * 60_000,
        t0 + 61 * 60_000 + 7_000,
        t0 + 119 * 60_000 + 59_500,
        t0 + SPAN_MS + 180_000,
    ];
    let ranges = [
        (t0, t0 + SPAN_MS, 60_000),
        (t0 + 10 * 60_000 + 3_000, t0 + 70 * 60_000, 37_000),
        (t0 + 45 * 60_000, t0 + 55 * 60_000, 15_000),
    ];
    let at = sec(t0 + 60 * 60_000);
    let (mut total, mut matched, mut nonempty) = (0usize, 0usize, 0usize);
    let mut mismatches = Vec::new();
    for q in queries() {
        let q = q.replace("$T", &at);
        let mut cases: Vec<Case> = Vec::new();
        for t in instants {
            cases.push((
                format!("@{}", sec(t)),
                vec![("query", q.clone()), ("time", sec(t))],
                "/api/v1/query",
            ));
        }
        for (s, e, st) in ranges {
            cases.push((
                format!("[{}..{} step {}]", sec(s), sec(e), st / 1000),
                vec![
                    ("query", q.clone()),
                    ("start", sec(s)),
                    ("end", sec(e)),
                    ("step", (st / 1000).to_string()),
                ],
                "/api/v1/query_range",
            ));
        }
        for (label, params, path) in cases {
            let p = post(&prom_url, path, &params);
            let nv = post(&nerve_url, path, &params);
            total += 1;
            let r = &p["data"]["result"];
            if p["status"] == "success" && !(r.is_array() && r.as_array().is_some_and(|a| a.is_empty())) {
                nonempty += 1;
            }
            match compare(&q, &p, &nv) {
                None => matched += 1,
                Some(d) => mismatches.push(format!("{q} {label}: {d}")),
            }
        }
    }
    for m in &mismatches {
        eprintln!("MISMATCH {m}");
    }
    let rate = matched as f64 / total as f64;
    eprintln!(
        "promql oracle: {matched}/{total} results identical ({:.2}%), {} queries, {nonempty} non-empty Prometheus results",
        rate * 100.0,
        queries().len()
    );

    // promtool as an API client against nerve.
    for args in [
        vec![
            "query".to_string(),
            "instant".into(),
            nerve_url.clone(),
            "sum(http_requests_total)".into(),
            format!("--time={}", sec(t0 + 3_600_000)),
        ],
        vec![
            "query".to_string(),
            "range".into(),
            format!("--start={}", sec(t0)),
            format!("--end={}", sec(t0 + 600_000)),
            "--step=1m".into(),
            nerve_url.clone(),
            "rate(http_requests_total[5m])".into(),
        ],
    ] {
        let out = Command::new(&promtool).args(&args).output().expect("promtool query");
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "promtool {args:?}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Golden error responses.
    let e = post(&nerve_url, "/api/v1/query", &[("query", "sum(".into())]);
    assert_eq!(
        (e["httpStatus"].as_u64(), e["errorType"].as_str()),
        (Some(400), Some("bad_data")),
        "{e}"
    );
    assert!(
        e["error"]
            .as_str()
            .unwrap_or("")
            .contains("1:5: parse error: unclosed left parenthesis"),
        "{e}"
    );
    let e = post(
        &nerve_url,
        "/api/v1/query",
        &[
            ("query", "http_requests_total + on(job) temperature".into()),
            ("time", sec(t0 + 3_600_000)),
        ],
    );
    assert_eq!(
        (e["httpStatus"].as_u64(), e["errorType"].as_str()),
        (Some(422), Some("execution")),
        "{e}"
    );
    let e = post(
        &nerve_url,
        "/api/v1/query_range",
        &[
            ("query", "sum_over_time(http_requests_total[2h:1s])".into()),
            ("start", sec(t0)),
            ("end", sec(t0 + SPAN_MS)),
            ("step", "1".into()),
            ("timeout", "0.001".into()),
        ],
    );
    assert_eq!(
        (e["httpStatus"].as_u64(), e["errorType"].as_str()),
        (Some(503), Some("timeout")),
        "{e}"
    );
    for (params, msg) in [
        (
            vec![
                ("query", "1".to_string()),
                ("start", "10".into()),
                ("end", "5".into()),
                ("step", "1".into()),
            ],
            "end timestamp",
        ),
        (
            vec![
                ("query", "1".to_string()),
                ("start", "0".into()),
                ("end", "5".into()),
                ("step", "0".into()),
            ],
            "zero or negative",
        ),
        (
            vec![
                ("query", "1".to_string()),
                ("start", "0".into()),
                ("end", "100000".into()),
                ("step", "1".into()),
            ],
            "11,000",
        ),
    ] {
        let e = post(&nerve_url, "/api/v1/query_range", &params);
        assert_eq!(
            (e["httpStatus"].as_u64(), e["errorType"].as_str()),
            (Some(400), Some("bad_data")),
            "{e}"
        );
        assert!(e["error"].as_str().unwrap_or("").contains(msg), "{e}");
    }
    let ex = post(
        &nerve_url,
        "/api/v1/query_exemplars",
        &[
            ("query", "test".into()),
            ("start", "1718000000000".into()),
            ("end", "1718000600000".into()),
        ],
    );
    assert_eq!(ex["status"], "success", "{ex}");

    assert!(
        nonempty * 10 > total * 7,
        "too few non-empty results ({nonempty}/{total}): is the data loaded?"
    );
    assert!(
        rate >= MIN_MATCH_RATE,
        "match rate {:.4} below {MIN_MATCH_RATE}; {} mismatches printed above",
        rate,
        mismatches.len()
    );
}
