//! `nerve --demo`: within seconds the simulated shop's three signals are there and link up —
//! services in the trace APIs, JSON log lines carrying trace ids, request-duration metrics
//! whose exemplars name stored traces, span metrics and service-graph edges, and a trace's
//! logs found by its id.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Nerve, client, encode, eventually};
use serde_json::Value;

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn vector(n: &Nerve, q: &str) -> Vec<Value> {
    let v = n.get_json(&format!("/api/v1/query?query={}", encode(q)));
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn log_lines(n: &Nerve, q: &str) -> Vec<(Value, String)> {
    let t = now_s();
    let v = n.get_json(&format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit=200",
        encode(q),
        (t - 300) * 1_000_000_000,
        (t + 5) * 1_000_000_000
    ));
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().cloned().unwrap_or_default() {
        for e in s["values"].as_array().unwrap() {
            out.push((s["stream"].clone(), e[1].as_str().unwrap().to_owned()));
        }
    }
    out
}

#[test]
fn demo_shop_fills_every_signal_and_links_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        "traces:\n  span_metrics:\n    interval: 1s\n    pairing_wait: 2s\n",
    )
    .unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--demo", "--config", cfg.to_str().unwrap()]);

    // Traces: the three services.
    let services = eventually(Duration::from_secs(30), || {
        let v = n.get_json("/jaeger/api/services");
        let s: BTreeSet<String> = v["data"]
            .as_array()?
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect();
        (s.len() >= 3).then_some(s)
    })
    .unwrap_or_else(|| panic!("no demo traces; log:\n{}", n.logs()));
    assert_eq!(
        services,
        BTreeSet::from(["cart", "frontend", "payments"].map(str::to_owned))
    );

    // Logs: JSON lines with the trace id, also as structured metadata.
    let lines = eventually(Duration::from_secs(20), || {
        let l = log_lines(&n, "{service_name=\"frontend\"} | json");
        (!l.is_empty()).then_some(l)
    })
    .expect("demo logs");
    let (labels, line) = &lines[0];
    assert_eq!(labels["env"], "demo", "{labels}");
    let trace_id = labels["trace_id"].as_str().expect("trace_id extracted").to_owned();
    assert!(line.contains(&trace_id), "{line}");

    // The log line's trace is stored, with spans of several services.
    let t = n.get_json(&format!("/jaeger/api/traces/{trace_id}"));
    let procs: BTreeSet<String> = t["data"][0]["processes"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["serviceName"].as_str().unwrap().to_owned())
        .collect();
    assert!(procs.len() >= 2, "{t}");

    // The trace's logs, by trace id across services.
    let of_trace = log_lines(&n, &format!("{{env=\"demo\"}} | trace_id=\"{trace_id}\""));
    let log_services: BTreeSet<String> = of_trace
        .iter()
        .map(|(l, _)| l["service_name"].as_str().unwrap().to_owned())
        .collect();
    assert!(log_services.len() >= 2, "{of_trace:?}");

    // Metrics: request durations per service with exemplars naming stored traces.
    let durations = eventually(Duration::from_secs(20), || {
        let v = vector(&n, "sum by (job) (http_server_request_duration_seconds_count)");
        (v.len() == 3).then_some(v)
    })
    .unwrap_or_else(|| panic!("no demo metrics; log:\n{}", n.logs()));
    assert_eq!(durations.len(), 3);
    let end = now_s() + 5;
    let ex = n.get_json(&format!(
        "/api/v1/query_exemplars?query={}&start={}&end={end}",
        encode("http_server_request_duration_seconds_bucket"),
        end - 600
    ));
    let ex_trace = ex["data"][0]["exemplars"][0]["labels"]["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{ex}"))
        .to_owned();
    let r = client()
        .get(n.url(&format!("/tempo/api/v2/traces/{ex_trace}")))
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "exemplar trace {ex_trace} is stored");

    // Span metrics and the service graph.
    let edges = eventually(Duration::from_secs(20), || {
        let v = vector(&n, "sum by (client, server) (traces_service_graph_request_total)");
        let e: BTreeSet<(String, String)> = v
            .iter()
            .map(|x| {
                (
                    x["metric"]["client"].as_str().unwrap_or("").to_owned(),
                    x["metric"]["server"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        (e.len() >= 4).then_some(e)
    })
    .unwrap_or_else(|| panic!("no service graph; log:\n{}", n.logs()));
    for (c, s) in [
        ("frontend", "cart"),
        ("frontend", "payments"),
        ("cart", "shop"),
        ("payments", "shop"),
    ] {
        assert!(edges.contains(&(c.to_owned(), s.to_owned())), "{c} → {s} in {edges:?}");
    }
    let red = vector(
        &n,
        "sum by (service) (traces_spanmetrics_calls_total{span_kind=\"SPAN_KIND_SERVER\"})",
    );
    assert_eq!(red.len(), 3, "{red:?}");
}

/// With write auth on, `--demo` sends with the configured write credentials.
#[test]
fn demo_uses_the_configured_write_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("auth.yml");
    std::fs::write(
        &cfg,
        "auth:\n  read:\n    bearer_token: r\n  write:\n    bearer_token: w\n",
    )
    .unwrap();
    let n = Nerve::start(&dir.path().join("data"), &["--demo", "--config", cfg.to_str().unwrap()]);
    let services = eventually(Duration::from_secs(60), || {
        let body = client()
            .get(n.url("/jaeger/api/services"))
            .bearer_auth("r")
            .send()
            .ok()?
            .text()
            .ok()?;
        body.contains("frontend").then_some(body)
    });
    assert!(services.is_some(), "the demo's spans did not arrive: {}", n.logs());
}
