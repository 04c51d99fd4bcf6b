//! The Grafana provisioning example (`docs/grafana/provisioning`) and dashboard
//! (`docs/grafana/dashboards`) against nerve's router: every datasource URL's path prefix
//! serves the calls that datasource type makes (api-contracts.md §1–§3), every datasource uid
//! a link names exists, and every query in the links and the dashboard runs successfully on
//! data of each signal.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::config::limits::LimitsConfig;

const PROVISIONING: &str = include_str!("../../../docs/grafana/provisioning/datasources/nerve.yaml");
const DASHBOARD: &str = include_str!("../../../docs/grafana/dashboards/nerve-golden-signals.json");
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn call(app: &Router, method: Method, uri: &str, body: Option<(&str, String)>) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some((ct, b)) => {
            req = req.header(header::CONTENT_TYPE, ct);
            Body::from(b)
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// GETs `uri` and checks a 2xx answer (and `"status":"success"` where the API has one).
async fn ok(app: &Router, uri: &str) -> String {
    let (status, body) = call(app, Method::GET, uri, None).await;
    assert!(status.is_success(), "GET {uri}: {status} {body}");
    if let Ok(v) = serde_json::from_str::<Value>(&body)
        && let Some(s) = v.get("status").and_then(Value::as_str)
    {
        assert_eq!(s, "success", "GET {uri}: {body}");
    }
    body
}

/// The path of a datasource URL (`http://nerve:9090/tempo` → `/tempo`).
fn prefix(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .map_or(String::new(), |i| rest[i..].trim_end_matches('/').to_owned())
}

/// Every `datasourceUid` anywhere under `v`.
fn referenced_uids(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "datasourceUid"
                    && let Some(s) = x.as_str()
                {
                    out.insert(s.to_owned());
                }
                referenced_uids(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| referenced_uids(x, out)),
        _ => {}
    }
}

/// A literal `$$` in provisioning is a `$` in Grafana; then Grafana's own variables.
fn expand(q: &str) -> String {
    q.replace("$$", "$")
        .replace("${__span.tags[\"service.name\"]}", "shop")
        .replace("${__span.traceId}", TRACE)
        .replace("$__tags", "service=\"shop\"")
        .replace("$__rate_interval", "1m")
        // The dashboard's "All" (its `allValue`; Loki refuses selectors that match "").
        .replace("$service", ".+")
}

/// Data of each signal: a span of service `shop` (and its span metrics), a log line of
/// `shop` carrying the span's trace id.
async fn seed(app: &Router, state: &AppState) {
    let now_ns = nerve_storage::logs::now_ns();
    let trace = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"spans": [{"traceId": TRACE, "spanId": "b7ad6b7169203331", "name": "GET /",
            "kind": 2, "startTimeUnixNano": (now_ns - 2_000_000_000).to_string(),
            "endTimeUnixNano": (now_ns - 1_900_000_000).to_string()}]}]}]});
    let (s, b) = call(
        app,
        Method::POST,
        "/v1/traces",
        Some(("application/json", trace.to_string())),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let push = serde_json::json!({"streams": [{"stream": {"service_name": "shop"},
        "values": [[now_ns.to_string(), "checkout done", {"trace_id": TRACE}]]}]});
    let (s, b) = call(
        app,
        Method::POST,
        "/loki/api/v1/push",
        Some(("application/json", push.to_string())),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let g = state.span_metrics.clone().expect("span metrics on by default");
    let tsdb = state.db.get().unwrap();
    let now_ms = (now_ns / 1_000_000) as i64;
    g.write(&tsdb, g.flush(std::time::Instant::now(), now_ms - 30_000));
}

#[tokio::test]
async fn provisioning_example_matches_the_router() {
    let dir = tempfile::tempdir().unwrap();
    let (mut state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
    state.span_metrics = crate::config::traces::SpanMetricsConfig::default()
        .policy()
        .map(crate::spanmetrics::Generator::new);
    let app = router(state.clone(), &Policies::default());
    seed(&app, &state).await;
    // A second flush 30 s later, so rates have two points.
    let g = state.span_metrics.clone().unwrap();
    g.write(
        &state.db.get().unwrap(),
        g.flush(
            std::time::Instant::now(),
            (nerve_storage::logs::now_ns() / 1_000_000) as i64,
        ),
    );

    let cfg: Value = serde_saphyr::from_str(PROVISIONING).expect("provisioning YAML parses");
    let sources = cfg["datasources"].as_array().expect("datasources");
    let uids: BTreeSet<String> = sources.iter().map(|d| d["uid"].as_str().unwrap().to_owned()).collect();
    assert_eq!(uids.len(), sources.len(), "unique uids");
    let mut refs = BTreeSet::new();
    referenced_uids(&cfg, &mut refs);
    let dash: Value = serde_json::from_str(DASHBOARD).expect("dashboard JSON parses");
    let mut dash_uids = BTreeSet::new();
    collect_uids(&dash, &mut dash_uids);
    for u in refs.iter().chain(&dash_uids) {
        assert!(uids.contains(u), "unknown datasource uid {u:?}");
    }

    let now_s = nerve_storage::logs::now_ns() / 1_000_000_000;
    let (start_s, end_s) = (now_s - 600, now_s + 60);
    let mut types = BTreeSet::new();
    for d in sources {
        let p = prefix(d["url"].as_str().unwrap());
        let ty = d["type"].as_str().unwrap();
        types.insert(ty.to_owned());
        match ty {
            "prometheus" => {
                // Save & test, then what Explore and the editors call.
                let (s, b) = call(
                    &app,
                    Method::POST,
                    &format!("{p}/api/v1/query"),
                    Some(("application/x-www-form-urlencoded", "query=1%2B1&time=4".into())),
                )
                .await;
                assert_eq!(s, StatusCode::OK, "{b}");
                for path in [
                    "/api/v1/status/buildinfo".to_owned(),
                    format!("/api/v1/labels?start={start_s}&end={end_s}&limit=40000"),
                    format!("/api/v1/label/__name__/values?start={start_s}&end={end_s}"),
                    format!(
                        "/api/v1/label/service/values?start={start_s}&end={end_s}&match[]={}",
                        encode("traces_spanmetrics_calls_total")
                    ),
                    format!(
                        "/api/v1/series?match[]={}&start={start_s}&end={end_s}",
                        encode("{__name__!=\"\"}")
                    ),
                    "/api/v1/metadata".to_owned(),
                    "/api/v1/rules".to_owned(),
                    format!(
                        "/api/v1/query_exemplars?query=test&start={}&end={}",
                        start_s * 1000,
                        end_s * 1000
                    ),
                ] {
                    ok(&app, &format!("{p}{path}")).await;
                }
                let (s, _) = call(&app, Method::GET, &format!("{p}/api/v1/status/flags"), None).await;
                assert_eq!(
                    s,
                    StatusCode::NOT_FOUND,
                    "flags must be 404 (200 means Thanos to Grafana)"
                );
                // Exemplars of span metrics carry the trace id the exemplar link opens.
                let ex = ok(
                    &app,
                    &format!(
                        "{p}/api/v1/query_exemplars?query={}&start={start_s}&end={end_s}",
                        encode("traces_spanmetrics_latency_bucket")
                    ),
                )
                .await;
                assert!(ex.contains(TRACE), "{ex}");
            }
            "loki" => {
                let health = ok(
                    &app,
                    &format!(
                        "{p}/loki/api/v1/query?query={}&time=4000000000&direction=backward",
                        encode("vector(1)+vector(1)")
                    ),
                )
                .await;
                assert!(health.contains("\"2\""), "{health}");
                let ns = |s: i64| s * 1_000_000_000;
                for path in [
                    format!("/loki/api/v1/labels?start={}&end={}", ns(start_s), ns(end_s)),
                    format!(
                        "/loki/api/v1/label/service_name/values?start={}&end={}",
                        ns(start_s),
                        ns(end_s)
                    ),
                    format!(
                        "/loki/api/v1/series?match[]={}&start={}&end={}",
                        encode("{service_name=\"shop\"}"),
                        ns(start_s),
                        ns(end_s)
                    ),
                    format!(
                        "/loki/api/v1/index/stats?query={}&start={}&end={}",
                        encode("{service_name=\"shop\"}"),
                        ns(start_s),
                        ns(end_s)
                    ),
                    format!(
                        "/loki/api/v1/index/volume?query={}&start={}&end={}",
                        encode("{service_name=\"shop\"}"),
                        ns(start_s),
                        ns(end_s)
                    ),
                ] {
                    ok(&app, &format!("{p}{path}")).await;
                }
                // Derived fields' regex finds the id in a line that prints it.
                for f in d["jsonData"]["derivedFields"].as_array().unwrap() {
                    if f["matcherType"] == "regex" {
                        let re = regex::Regex::new(f["matcherRegex"].as_str().unwrap()).unwrap();
                        for line in [format!("trace_id={TRACE} ok"), format!("{{\"traceId\":\"{TRACE}\"}}")] {
                            assert_eq!(
                                re.captures(&line).map(|c| c[1].to_owned()).as_deref(),
                                Some(TRACE),
                                "{line}"
                            );
                        }
                    }
                }
            }
            "tempo" => {
                for path in [
                    "/api/echo".to_owned(),
                    "/api/status/buildinfo".to_owned(),
                    format!(
                        "/api/search?q={}&start={start_s}&end={end_s}",
                        encode("{resource.service.name=\"shop\"}")
                    ),
                    "/api/search/tags".to_owned(),
                    "/api/v2/search/tags".to_owned(),
                    "/api/v2/search/tag/resource.service.name/values".to_owned(),
                    "/api/search/tag/service.name/values".to_owned(),
                    format!("/api/traces/{TRACE}"),
                    format!("/api/v2/traces/{TRACE}"),
                ] {
                    ok(&app, &format!("{p}{path}")).await;
                }
            }
            "jaeger" => {
                for path in [
                    "/api/services".to_owned(),
                    "/api/services/shop/operations".to_owned(),
                    format!(
                        "/api/traces?service=shop&start={}&end={}&limit=20",
                        start_s * 1_000_000,
                        end_s * 1_000_000
                    ),
                    format!("/api/traces/{TRACE}"),
                    format!("/api/dependencies?endTs={}&lookback=3600000", end_s * 1000),
                ] {
                    ok(&app, &format!("{p}{path}")).await;
                }
            }
            other => panic!("no calls known for datasource type {other}"),
        }
        // The links' queries run.
        let j = &d["jsonData"];
        for link in [&j["tracesToLogsV2"], &j["tracesToMetrics"]] {
            if let Some(q) = link["query"].as_str() {
                let body = run_logql(&app, &expand(q), start_s, end_s).await;
                assert!(body.contains("checkout done"), "trace → logs finds the line: {body}");
            }
            for q in link["queries"].as_array().into_iter().flatten() {
                run_promql(&app, &expand(q["query"].as_str().unwrap()), now_s).await;
            }
        }
    }
    assert_eq!(
        types,
        BTreeSet::from(["jaeger", "loki", "prometheus", "tempo"].map(str::to_owned))
    );

    // Every dashboard query runs.
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            match t["datasource"]["type"].as_str().unwrap() {
                "prometheus" => {
                    let body = run_promql(&app, &expand(t["expr"].as_str().unwrap()), now_s).await;
                    if panel["id"] == 1 {
                        assert!(body.contains("\"shop\""), "request rate of shop: {body}");
                    }
                }
                "loki" => {
                    let body = run_logql(&app, &expand(t["expr"].as_str().unwrap()), start_s, end_s).await;
                    assert!(body.contains("checkout done"), "{body}");
                }
                "tempo" => assert_eq!(t["queryType"], "serviceMap"),
                other => panic!("dashboard uses datasource type {other}"),
            }
        }
    }
    let var = &dash["templating"]["list"][0];
    assert_eq!(
        var["query"]["query"],
        "label_values(traces_spanmetrics_calls_total, service)"
    );
    assert_eq!(var["allValue"], ".+");
}

fn collect_uids(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(u)), Some(Value::String(_))) = (m.get("uid"), m.get("type")) {
                out.insert(u.clone());
            }
            for (k, x) in m {
                if k != "templating" || x.is_object() {
                    collect_uids(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_uids(x, out)),
        _ => {}
    }
    out.remove("nerve-golden-signals");
}

async fn run_promql(app: &Router, q: &str, at: i64) -> String {
    let body = format!("query={}&time={at}", encode(q));
    let (s, b) = call(
        app,
        Method::POST,
        "/api/v1/query",
        Some(("application/x-www-form-urlencoded", body)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{q}: {b}");
    b
}

async fn run_logql(app: &Router, q: &str, start_s: i64, end_s: i64) -> String {
    ok(
        app,
        &format!(
            "/loki/api/v1/query_range?query={}&start={}&end={}&limit=100&direction=backward",
            encode(q),
            start_s * 1_000_000_000,
            end_s * 1_000_000_000
        ),
    )
    .await
}
