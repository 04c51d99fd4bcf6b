//! Alert templates rendered by nerve and by Debian's Prometheus 2.42 (the oracle) from the same
//! rule file: every annotation must come out byte for byte the same, errors included.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Nerve, client, eventually, free_port, require, start_prometheus};

/// (expression value, template). Each becomes one alert whose single series carries
/// `instance="db1.example.com:9100"` and `job="node"`. Left out on purpose: printing a whole
/// query result (Go prints pointer addresses) and PromQL parse errors inside `query` (their
/// position comes from the PromQL parser, not the template engine).
const CASES: &[(&str, &str)] = &[
    ("1234567", "{{ $value | humanize }}"),
    ("0.0001234", "{{ humanize $value }}"),
    ("-1500", "{{ humanize $value }}"),
    (
        "0",
        "{{ humanize $value }} {{ humanize1024 $value }} {{ humanizeDuration $value }}",
    ),
    ("1048576", "{{ humanize1024 $value }}"),
    ("1536", "{{ humanize1024 $value }}"),
    ("3600.5", "{{ humanizeDuration $value }}"),
    ("899.99", "{{ humanizeDuration $value }}"),
    ("90061", "{{ humanizeDuration $value }}"),
    ("0.25", "{{ humanizeDuration $value }}"),
    ("1.5", "{{ humanizeDuration $value }}"),
    ("0.1234567", "{{ humanizePercentage $value }}"),
    ("1435065584.128", "{{ humanizeTimestamp $value }}"),
    ("1e6", "{{ $value }}"),
    ("123456", "{{ $value }}"),
    ("0.00001", "{{ $value }}"),
    ("NaN", "{{ $value }} {{ humanize $value }}"),
    ("+Inf", "{{ $value }} {{ humanizeDuration $value }}"),
    (
        "99.44",
        "{{ printf \"%.1f%%\" $value }} {{ printf \"%5.2f|%-6s|%d\" $value \"ab\" 7 }}",
    ),
    (
        "2",
        "{{ printf \"%s\" $value }} {{ printf \"%v %g %e\" $value $value $value }}",
    ),
    ("1", "{{ $labels.instance }} {{ .Labels.job }} {{ $labels.missing }}|"),
    (
        "1",
        "{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }}",
    ),
    (
        "1",
        "{{ reReplaceAll \"(.*)\\\\.example\\\\.com(.*)\" \"$1$2\" $labels.instance }}",
    ),
    (
        "1",
        "{{ title \"hello o'neil\" }} {{ toUpper \"abc\" }} {{ toLower \"ABC\" }}",
    ),
    ("1", "{{ if gt $value 0.5 }}high{{ else }}low{{ end }}"),
    ("1", "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"),
    ("1", "{{ with query \"vector(42)\" }}{{ . | first | value }}{{ end }}"),
    ("1", "{{ range query \"vector(7)\" }}{{ .Value }}{{ .Labels }}{{ end }}"),
    ("1", "{{ query \"vector(3)\" | first | value | humanize }}"),
    (
        "1",
        "{{ len $labels }} {{ index $labels \"job\" }} {{ print 1 2 \"a\" \"b\" 3 }}",
    ),
    (
        "1",
        "{{ match \"^db\" $labels.instance }} {{ eq $labels.job \"node\" \"x\" }}",
    ),
    ("1", "{{ $x := \"v\" }}{{ $x }}{{ $x = \"w\" }}{{ $x }}"),
    (
        "1",
        "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" $labels.job }}",
    ),
    (
        "1",
        "{{ 'a' }} {{ 0x10 }} {{ 1.5e3 }} {{ true }} {{ html \"<a>\" }} {{ urlquery \"a b&c\" }}",
    ),
    ("1", "{{ humanize \"abc\" }}"),
    ("1", "{{ query \"vector(1) == 2\" | first }}"),
    ("1", "{{ gt $value 1 }}"),
    ("1", "{{ .Labels.job.x }}"),
    ("1", "line one\n  {{ humanize \"x\" }}"),
    ("1", "{{ range $labels.job }}{{ end }}"),
    ("1", "{{ index $labels 1 }}"),
    ("1", "{{ $labels.job | printf \"%d\" }}"),
    ("1", "{{ template \"nope\" }}"),
    ("1", "{{ with $x := query \"vector(1)\" }}{{ $x | len }}{{ end }}"),
    ("1", "{{ first (query \"vector(1) == 2\") }}"),
    ("1", "{{ range query \"vector(7)\" }}{{ . }}{{ end }}"),
    ("1", "{{ $undefined := $labels.nope }}[{{ $undefined }}]"),
    (
        "1",
        "{{ if and (eq $labels.job \"node\") (gt $value 0.0) }}both{{ end }}",
    ),
    ("1", "{{ humanizeDuration \"bad\" }}"),
    ("1", "{{ toTime 1435065584.128 }}"),
    ("1", "{{ parseDuration \"1h30m\" }} {{ args 1 \"a\" }}"),
];

fn rule_file() -> String {
    let mut out = String::from(
        "groups:\n  - name: oracle\n    interval: 1s\n    rules:\n      - record: oracle:one\n        expr: vector(1)\n        labels: {source: oracle}\n",
    );
    for (i, (v, t)) in CASES.iter().enumerate() {
        let expr = format!(
            "label_replace(label_replace(vector({v}), \"instance\", \"db1.example.com:9100\", \"\", \"\"), \"job\", \"node\", \"\", \"\")"
        );
        let quoted = serde_json::to_string(t).unwrap();
        out.push_str(&format!(
            "      - alert: T{i:02}\n        expr: '{expr}'\n        annotations:\n          s: {quoted}\n"
        ));
    }
    out
}

/// alertname → annotation `s` from an `/api/v1/alerts` answer, once every case is there.
fn annotations(body: &str) -> Option<BTreeMap<String, String>> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let m: BTreeMap<String, String> = v["data"]["alerts"]
        .as_array()?
        .iter()
        .filter_map(|a| {
            Some((
                a["labels"]["alertname"].as_str()?.to_owned(),
                a["annotations"]["s"].as_str()?.to_owned(),
            ))
        })
        .collect();
    (m.len() == CASES.len()).then_some(m)
}

#[test]
fn annotations_render_like_prometheus() {
    let prom_bin = require("prometheus");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rule_file()).unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n").unwrap();
    let port = free_port();
    let _prom = start_prometheus(&prom_bin, &cfg, &dir.path().join("prom"), port, &[]);
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let n = Nerve::start(&dir.path().join("data"), &["--config", &cfg_arg]);
    let get = |url: String| client().get(url).send().ok()?.text().ok();
    let theirs = eventually(Duration::from_secs(60), || {
        annotations(&get(format!("http://127.0.0.1:{port}/api/v1/alerts"))?)
    })
    .expect("prometheus never showed every alert");
    let ours =
        eventually(Duration::from_secs(60), || annotations(&get(n.url("/api/v1/alerts"))?)).unwrap_or_else(|| {
            panic!(
                "nerve never showed every alert\nalerts: {:?}\nrules: {:?}\nlog:\n{}",
                get(n.url("/api/v1/alerts")),
                get(n.url("/api/v1/rules")),
                n.logs()
            )
        });
    let mut diffs = Vec::new();
    for (i, (v, t)) in CASES.iter().enumerate() {
        let name = format!("T{i:02}");
        if theirs.get(&name) != ours.get(&name) {
            diffs.push(format!(
                "{t} (value {v})\n  prometheus: {:?}\n  nerve:      {:?}",
                theirs.get(&name),
                ours.get(&name)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} differ:\n{}",
        diffs.len(),
        CASES.len(),
        diffs.join("\n")
    );

    // `/api/v1/rules` has the same shape: the same keys on groups, both rule types and alerts.
    let rules =
        |url: String| -> serde_json::Value { serde_json::from_str(&get(url).unwrap_or_default()).unwrap_or_default() };
    let theirs = rules(format!("http://127.0.0.1:{port}/api/v1/rules"));
    let ours = rules(n.url("/api/v1/rules"));
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        k.sort();
        k
    };
    let shapes = |v: &serde_json::Value| {
        let g = &v["data"]["groups"][0];
        let rec = &g["rules"][0];
        let alert = &g["rules"][1];
        (
            keys(g),
            keys(rec),
            keys(alert),
            keys(&alert["alerts"][0]),
            rec["type"].clone(),
            alert["type"].clone(),
        )
    };
    assert_eq!(shapes(&ours), shapes(&theirs), "ours: {ours}\ntheirs: {theirs}");
    let a = &ours["data"]["groups"][0]["rules"][1];
    assert_eq!(
        (a["state"].as_str(), a["health"].as_str()),
        (Some("firing"), Some("ok"))
    );

    // The alert itself, the ALERTS / ALERTS_FOR_STATE series and the recorded series carry the
    // same labels and values.
    let alert_of = |url: String| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&get(url).unwrap_or_default()).unwrap_or_default();
        let mut a = v["data"]["alerts"]
            .as_array()
            .and_then(|l| l.iter().find(|a| a["labels"]["alertname"] == "T00").cloned())
            .unwrap_or_default();
        a["activeAt"] = serde_json::Value::Null;
        a
    };
    assert_eq!(
        alert_of(n.url("/api/v1/alerts")),
        alert_of(format!("http://127.0.0.1:{port}/api/v1/alerts"))
    );
    for q in [
        "ALERTS%7Balertname%3D%22T00%22%7D",
        "count(ALERTS_FOR_STATE%7Balertname%3D%22T00%22%7D)%20by%20(__name__,alertname,instance,job)",
        "oracle:one",
    ] {
        let series = |url: String| -> Vec<serde_json::Value> {
            let v: serde_json::Value = serde_json::from_str(&get(url).unwrap_or_default()).unwrap_or_default();
            v["data"]["result"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|x| serde_json::json!([x["metric"], x["value"][1]]))
                        .collect()
                })
                .unwrap_or_default()
        };
        let path = format!("/api/v1/query?query={q}");
        let ours = eventually(Duration::from_secs(10), || {
            Some(series(n.url(&path))).filter(|v| !v.is_empty())
        });
        let theirs = eventually(Duration::from_secs(10), || {
            Some(series(format!("http://127.0.0.1:{port}{path}"))).filter(|v| !v.is_empty())
        });
        assert_eq!(ours, theirs, "{q}");
    }
}
