//! Differential suite against Grafana Loki, without Loki: nerve answers the checks of
//! `tests/loki_diff/queries.txt` (LogQL log and metric queries, instant queries, labels,
//! series, index stats and volumes, Logs Drilldown endpoints, error cases) over the data set
//! `tests/loki_diff/data.json` (written by `gen.py`), and every normalized answer is compared
//! with the one a real Loki gave, recorded by `record.sh` into `golden/answers.jsonl`.
//!
//! Both sides push the data with T0 = start of yesterday (UTC), so epoch-aligned steps fall on
//! the same offsets. Streams are compared entry by entry with their labels, matrices point by
//! point (values within a relative 1e-9). Checks listed in `known_differences.txt` (with a
//! one-line reason each) are expected to differ: the test fails when any other check differs
//! and when a listed check starts matching, so the list only shrinks.
//! `LOKI_DIFF_WRITE_KNOWN=1` rewrites that list from the current differences (keeping the
//! reasons already written) instead of failing; `LOKI_DIFF_DUMP=FILE` writes nerve's normalized
//! answers there (same format as the golden file) for side-by-side reading.

mod common;
#[path = "loki_diff/normalize.rs"]
mod normalize;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, encode, eventually};
use serde_json::{Value, json};

const NS: i64 = 1_000_000_000;

/// One check of `queries.txt`.
struct Check {
    id: String,
    kind: String,
    params: Vec<(String, String)>,
    text: String,
}

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/loki_diff")
}

/// Start of yesterday (UTC) in nanoseconds.
fn t0_ns() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    (now - now % 86_400 - 86_400) * NS
}

/// `k=v` words as pairs.
fn key_values<'a>(words: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    words
        .map(|w| {
            let (k, v) = w.split_once('=').unwrap_or_else(|| panic!("bad parameter {w:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Parses `queries.txt` (format described in its header).
fn parse_checks(src: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    let (mut kind, mut defaults) = (String::new(), Vec::new());
    for line in src.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("@ ") {
            let mut words = rest.split_whitespace();
            kind = words.next().expect("kind").to_owned();
            defaults = key_values(words);
            continue;
        }
        let (head, text) = line
            .split_once(" :: ")
            .unwrap_or((line.trim_end_matches([' ', ':']), ""));
        let mut words = head.split_whitespace();
        let id = words.next().expect("id").to_owned();
        let mut params: Vec<(String, String)> = defaults.clone();
        for (k, v) in key_values(words) {
            params.retain(|(pk, _)| *pk != k);
            params.push((k, v));
        }
        params.retain(|(_, v)| !v.is_empty());
        checks.push(Check {
            id,
            kind: kind.clone(),
            params,
            text: text.trim().to_owned(),
        });
    }
    checks
}

/// The URL path and query string of one check.
fn request_of(c: &Check, t0: i64) -> String {
    let path = match c.kind.as_str() {
        "query_range" => "/loki/api/v1/query_range".to_owned(),
        "query" => "/loki/api/v1/query".to_owned(),
        "labels" => "/loki/api/v1/labels".to_owned(),
        "label_values" => format!("/loki/api/v1/label/{}/values", encode(&c.text)),
        "series" => "/loki/api/v1/series".to_owned(),
        "index_stats" => "/loki/api/v1/index/stats".to_owned(),
        "index_volume" => "/loki/api/v1/index/volume".to_owned(),
        "index_volume_range" => "/loki/api/v1/index/volume_range".to_owned(),
        "detected_labels" => "/loki/api/v1/detected_labels".to_owned(),
        "detected_fields" => "/loki/api/v1/detected_fields".to_owned(),
        "detected_field_values" => format!("/loki/api/v1/detected_field/{}/values", encode(&c.text)),
        "patterns" => "/loki/api/v1/patterns".to_owned(),
        k => panic!("unknown kind {k}"),
    };
    let mut q = Vec::new();
    if !matches!(c.kind.as_str(), "label_values" | "detected_field_values") && !c.text.is_empty() {
        let key = if c.kind == "series" { "match[]" } else { "query" };
        q.push(format!("{}={}", encode(key), encode(&c.text)));
    }
    for (k, v) in &c.params {
        let v = match k.as_str() {
            "start" | "end" | "time" => (t0 + (v.parse::<f64>().expect("seconds") * NS as f64) as i64).to_string(),
            _ => v.clone(),
        };
        q.push(format!("{}={}", encode(k), encode(&v)));
    }
    format!("{path}?{}", q.join("&"))
}

/// Pushes `data.json` with T0 added to every offset; returns the number of entries.
fn push_data(n: &Nerve, t0: i64) -> usize {
    let data: Value = serde_json::from_str(&std::fs::read_to_string(suite_dir().join("data.json")).unwrap()).unwrap();
    let mut total = 0;
    for s in data["streams"].as_array().expect("streams") {
        let values: Vec<Value> = s["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| {
                let mut e = v.as_array().unwrap().clone();
                let off: i64 = e[0].as_str().unwrap().parse().unwrap();
                e[0] = json!((t0 + off).to_string());
                Value::Array(e)
            })
            .collect();
        total += values.len();
        for chunk in values.chunks(500) {
            let body = json!({"streams": [{"stream": s["stream"], "values": chunk}]});
            let r = n
                .http
                .post(n.url("/loki/api/v1/push"))
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .expect("push");
            let status = r.status();
            assert!(status.is_success(), "push: {status} {}", r.text().unwrap_or_default());
        }
    }
    total
}

/// `id → answer` of the golden file.
fn goldens() -> BTreeMap<String, Value> {
    let src = std::fs::read_to_string(suite_dir().join("golden/answers.jsonl")).expect("golden answers");
    src.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("golden line");
            (v["id"].as_str().unwrap().to_owned(), v["answer"].clone())
        })
        .collect()
}

/// `id → reason` of `known_differences.txt` (`ID reason…` per line, `#` comments).
fn known_differences() -> BTreeMap<String, String> {
    let src = std::fs::read_to_string(suite_dir().join("known_differences.txt")).unwrap_or_default();
    src.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            (id.to_owned(), reason.trim().to_owned())
        })
        .collect()
}

/// Rewrites `known_differences.txt` with the current differences.
fn write_known(diffs: &BTreeMap<String, String>, known: &BTreeMap<String, String>) {
    let mut out = String::from(
        "# Checks of queries.txt where nerve's answer differs from Loki's today: `ID reason`.\n\
         # tests/loki_diff.rs fails when a check outside this list differs and when a listed\n\
         # check matches again (then delete its line).\n",
    );
    for (id, d) in diffs {
        let reason = known
            .get(id)
            .filter(|r| !r.is_empty())
            .cloned()
            .unwrap_or_else(|| d.clone());
        out.push_str(&format!("{id} {reason}\n"));
    }
    std::fs::write(suite_dir().join("known_differences.txt"), out).unwrap();
}

#[test]
fn nerve_answers_as_loki_recorded() {
    let checks = parse_checks(&std::fs::read_to_string(suite_dir().join("queries.txt")).unwrap());
    let golden = goldens();
    let known = known_differences();
    let dir = tempfile::tempdir().unwrap();
    // The recording Loki's limits (../shared/peers/loki.yaml): max_query_series 100000.
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "limits:\n  max_query_series: 100000\n").unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--config", cfg.to_str().unwrap()]);
    let t0 = t0_ns();
    let total = push_data(&n, t0);
    // Every pushed line is visible before the checks run.
    let seen = eventually(Duration::from_secs(60), || {
        let q = format!(
            "/loki/api/v1/query?query={}&time={}",
            encode(
                r#"sum(count_over_time({namespace=~".+"}[5h])) + sum(count_over_time({job=~".+"}[5h])) + sum(count_over_time({service_name="legacy"}[5h]))"#
            ),
            t0 + 4 * 3600 * NS + NS
        );
        let v = n.get_json(&q);
        let got = v["data"]["result"][0]["value"][1].as_str()?.parse::<usize>().ok()?;
        (got == total).then_some(got)
    });
    assert_eq!(seen, Some(total), "not every pushed line became visible");

    let mut equal = 0;
    let mut diffs = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut now_matching = Vec::new();
    let mut dump = Vec::new();
    // Differing checks that would be equal without the `detected_level` label.
    let mut only_detected_level = 0;
    for c in &checks {
        let want = golden
            .get(&c.id)
            .unwrap_or_else(|| panic!("{}: no golden answer; run record.sh", c.id));
        let r = n.http.get(n.url(&request_of(c, t0))).send().expect("GET");
        let status = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        let ours = normalize::normalize(&c.kind, &c.text, status, &body, t0);
        dump.push(json!({"id": c.id, "call": c.kind, "answer": ours}).to_string());
        match normalize::difference(want, &ours) {
            None if known.contains_key(&c.id) => now_matching.push(c.id.clone()),
            None => equal += 1,
            Some(d) => {
                let strip = |v: &Value| normalize::without_label(v, "detected_level");
                if normalize::difference(&strip(want), &strip(&ours)).is_none() {
                    only_detected_level += 1;
                }
                if !known.contains_key(&c.id) {
                    unexpected.push(format!("{} {} `{}`: {d}", c.id, c.kind, c.text));
                }
                diffs.insert(c.id.clone(), d);
            }
        }
    }
    for id in known.keys() {
        assert!(
            checks.iter().any(|c| &c.id == id),
            "known_differences.txt lists unknown check {id}"
        );
    }
    eprintln!(
        "loki_diff: {} checks: {equal} equal to Loki, {} known differences, {} unexpected differences, {} known differences now matching",
        checks.len(),
        diffs.len() - unexpected.len(),
        unexpected.len(),
        now_matching.len()
    );
    eprintln!("loki_diff: {only_detected_level} of the differing checks differ only in the detected_level label");
    if let Some(path) = std::env::var_os("LOKI_DIFF_DUMP") {
        std::fs::write(path, dump.join("\n") + "\n").expect("write LOKI_DIFF_DUMP");
    }
    if std::env::var_os("LOKI_DIFF_WRITE_KNOWN").is_some() {
        write_known(&diffs, &known);
        return;
    }
    assert!(
        unexpected.is_empty() && now_matching.is_empty(),
        "differences from Loki outside known_differences.txt:\n{}\nknown differences that now match (delete their lines): {now_matching:?}",
        unexpected.join("\n")
    );
}
