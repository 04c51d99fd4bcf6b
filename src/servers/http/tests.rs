//! Router tests without a socket: probes, status endpoints, self-metrics, and the series /
//! labels / label-values APIs over a real TSDB in a temp dir.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use nerve_storage::Labels;
use nerve_storage::metrics::Tsdb;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::config::limits::LimitsConfig;
use crate::db::Db;

/// Data timestamps: 2024-06-10T06:13:20Z and 15 s later.
const T0: i64 = 1_718_000_000_000;

struct Fixture {
    app: Router,
    _tsdb: Arc<Tsdb>,
    _dir: tempfile::TempDir,
}

/// A router over a TSDB holding `up{job=a,instance=1}`, `up{job=b}` and `go_gc{job=a}`.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (state, tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
    let mut app = tsdb.appender();
    for pairs in [
        vec![("__name__", "up"), ("job", "a"), ("instance", "1")],
        vec![("__name__", "up"), ("job", "b")],
        vec![("__name__", "go_gc"), ("job", "a")],
    ] {
        let l = Labels::from_pairs(pairs).unwrap();
        app.append(&l, T0, 1.0).unwrap();
        app.append(&l, T0 + 15_000, 2.0).unwrap();
    }
    app.commit().unwrap();
    Fixture {
        app: router(state, &Policies::default()),
        _tsdb: tsdb,
        _dir: dir,
    }
}

/// A router whose TSDB is still "opening".
fn not_ready() -> Router {
    router(
        AppState::new(Arc::new(Db::new()), LimitsConfig::default()),
        &Policies::default(),
    )
}

pub(super) async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap();
    (parts.status, parts.headers, String::from_utf8(bytes.to_vec()).unwrap())
}

pub(super) async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
    let (s, _, b) = send(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (s, b)
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (s, b) = get(app, uri).await;
    (
        s,
        serde_json::from_str(&b).unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {b}")),
    )
}

async fn post_form(app: &Router, uri: &str, form: &str) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    let (s, _, b) = send(app, req).await;
    (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
}

#[tokio::test]
async fn probes() {
    let app = not_ready();
    assert_eq!(
        get(&app, "/-/healthy").await,
        (StatusCode::OK, "nerve is Healthy.\n".into())
    );
    assert_eq!(get(&app, "/-/ready").await.0, StatusCode::SERVICE_UNAVAILABLE);
    let f = fixture();
    assert_eq!(
        get(&f.app, "/-/ready").await,
        (StatusCode::OK, "nerve is Ready.\n".into())
    );
}

#[tokio::test]
async fn storage_endpoints_answer_503_until_ready() {
    let app = not_ready();
    let (s, h, b) = send(&app, Request::get("/api/v1/labels").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h[header::RETRY_AFTER], "5");
    assert!(b.contains("\"errorType\":\"unavailable\""), "{b}");
}

#[tokio::test]
async fn status_endpoints() {
    let app = not_ready();
    let (s, v) = get_json(&app, "/api/v1/status/buildinfo").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "success");
    for key in ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][key].is_string(), "missing {key}: {v}");
    }
    assert!(v["data"].get("features").is_none());

    for method in [Method::GET, Method::POST] {
        let req = Request::builder()
            .method(method)
            .uri("/api/v1/status/flags")
            .body(Body::empty())
            .unwrap();
        let (s, _, b) = send(&app, req).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(b.contains("\"errorType\":\"not_found\""), "{b}");
    }
    assert_eq!(get(&app, "/api/v1/nonexistent").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/nowhere").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn self_metrics() {
    let f = fixture();
    get(&f.app, "/-/healthy").await;
    let (s, h, body) = send(&f.app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    for want in [
        "nerve_ready 1",
        "nerve_tsdb_head_series 3",
        "nerve_tsdb_wal_size_bytes ",
        "nerve_tsdb_head_samples_appended_total 6",
        "nerve_http_request_duration_seconds_count{handler=\"/-/healthy\",method=\"GET\",code=\"200\"} 1",
    ] {
        assert!(body.contains(want), "missing {want:?} in\n{body}");
    }
}

#[tokio::test]
async fn series() {
    let f = fixture();
    let (s, v) = get_json(&f.app, "/api/v1/series?match[]=up").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"status":"success","data":[
            {"__name__":"up","instance":"1","job":"a"},
            {"__name__":"up","job":"b"}
        ]})
    );
    // Overlapping selectors are merged, sorted and de-duplicated.
    let (_, v) = get_json(&f.app, "/api/v1/series?match[]=up&match[]={job=%22a%22}").await;
    let names: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["__name__"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["go_gc", "up", "up"]);
    // limit cuts and warns; limit=0 is no limit.
    let (_, v) = get_json(&f.app, "/api/v1/series?match[]=up&limit=1").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));
    let (_, v) = get_json(&f.app, "/api/v1/series?match[]=up&limit=0").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v.get("warnings").is_none());
    // Form POST, with start/end as RFC 3339 and float seconds.
    let (s, v) = post_form(
        &f.app,
        "/api/v1/series",
        "match%5B%5D=go_gc&start=2024-06-10T06:00:00Z&end=1718000100.5",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!([{"__name__":"go_gc","job":"a"}]));
    // A range after the data is empty; end before start is empty too.
    let (_, v) = get_json(&f.app, "/api/v1/series?match[]=up&start=1800000000").await;
    assert_eq!(v["data"], json!([]));
    let (_, v) = get_json(&f.app, "/api/v1/series?match[]=up&start=1718000010&end=1718000000").await;
    assert_eq!(v["data"], json!([]));
}

#[tokio::test]
async fn series_errors() {
    let f = fixture();
    let cases = [
        ("/api/v1/series", "no match[] parameter provided"),
        (
            "/api/v1/series?match[]={job=~%22.*%22}",
            "at least one non-empty matcher",
        ),
        ("/api/v1/series?match[]=up{", "invalid parameter \"match[]\""),
        (
            "/api/v1/series?match[]=up&start=yesterday",
            "invalid parameter \"start\"",
        ),
        ("/api/v1/series?match[]=up&end=x", "invalid parameter \"end\""),
        ("/api/v1/series?match[]=up&limit=-1", "invalid parameter \"limit\""),
    ];
    for (uri, want) in cases {
        let (s, v) = get_json(&f.app, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(v["status"], "error");
        assert_eq!(v["errorType"], "bad_data");
        assert!(v["error"].as_str().unwrap().contains(want), "{uri}: {v}");
    }
}

#[tokio::test]
async fn labels() {
    let f = fixture();
    let (s, v) = get_json(&f.app, "/api/v1/labels").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!({"status":"success","data":["__name__","instance","job"]}));
    let (_, v) = get_json(&f.app, "/api/v1/labels?match[]=go_gc&start=1718000000&end=1718000060").await;
    assert_eq!(v["data"], json!(["__name__", "job"]));
    let (_, v) = get_json(&f.app, "/api/v1/labels?limit=2").await;
    assert_eq!(v["data"], json!(["__name__", "instance"]));
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));
    let (s, v) = post_form(&f.app, "/api/v1/labels", "match[]=go_gc&match[]=up%7Bjob%3D%22b%22%7D").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"], json!(["__name__", "job"]));
    let (_, v) = get_json(&f.app, "/api/v1/labels?match[]=up&start=1900000000").await;
    assert_eq!(v["data"], json!([]));
}

#[tokio::test]
async fn label_values() {
    let f = fixture();
    let (_, v) = get_json(&f.app, "/api/v1/label/job/values").await;
    assert_eq!(v, json!({"status":"success","data":["a","b"]}));
    let (_, v) = get_json(&f.app, "/api/v1/label/__name__/values?match[]={job=%22a%22}").await;
    assert_eq!(v["data"], json!(["go_gc", "up"]));
    let (_, v) = get_json(&f.app, "/api/v1/label/job/values?limit=1").await;
    assert_eq!(v["data"], json!(["a"]));
    assert_eq!(v["warnings"], json!(["results truncated due to limit"]));
    // Grafana's escaped names.
    let (_, v) = get_json(&f.app, "/api/v1/label/U__job/values").await;
    assert_eq!(v["data"], json!(["a", "b"]));
    let (_, v) = get_json(&f.app, "/api/v1/label/nothere/values").await;
    assert_eq!(v["data"], json!([]));
    // GET only: Grafana retries a 405 as GET.
    let (s, _) = post_form(&f.app, "/api/v1/label/job/values", "").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn status_config_and_runtimeinfo() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
    let app = router(state, &Policies::default());
    let (s, v) = get_json(&app, "/api/v1/status/config").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["data"]["yaml"].as_str().unwrap().contains("storage"), "{v}");
    let (s, v) = get_json(&app, "/api/v1/status/runtimeinfo").await;
    assert_eq!(s, StatusCode::OK);
    let d = &v["data"];
    assert!(d["startTime"].as_str().unwrap().ends_with('Z'), "{v}");
    assert_eq!(d["reloadConfigSuccess"], true);
    assert_eq!(d["storageRetention"], "15d");
    assert!(d["GOMAXPROCS"].as_u64().unwrap() >= 1);
}

/// `/api/v1/status/tsdb` reports the fixture's head as Prometheus would: the three series,
/// their label pairs, top lists by metric name, label name (values and value bytes) and pair.
#[tokio::test]
async fn tsdb_status() {
    let f = fixture();
    let (s, v) = get_json(&f.app, "/api/v1/status/tsdb").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert_eq!(
        d["headStats"],
        json!({"numSeries": 3, "numLabelPairs": 5, "chunkCount": 3, "minTime": T0, "maxTime": T0 + 15_000})
    );
    assert_eq!(
        d["seriesCountByMetricName"],
        json!([{"name": "up", "value": 2}, {"name": "go_gc", "value": 1}])
    );
    assert_eq!(
        d["labelValueCountByLabelName"],
        json!([{"name": "__name__", "value": 2}, {"name": "job", "value": 2}, {"name": "instance", "value": 1}])
    );
    assert_eq!(
        d["memoryInBytesByLabelName"],
        json!([{"name": "__name__", "value": 7}, {"name": "job", "value": 2}, {"name": "instance", "value": 1}])
    );
    assert_eq!(
        d["seriesCountByLabelValuePair"][0],
        json!({"name": "__name__=up", "value": 2})
    );
    assert_eq!(d["seriesCountByLabelValuePair"].as_array().unwrap().len(), 5);
    let (_, v) = get_json(&f.app, "/api/v1/status/tsdb?limit=1").await;
    assert_eq!(
        v["data"]["seriesCountByMetricName"],
        json!([{"name": "up", "value": 2}])
    );
    let (s, v) = get_json(&f.app, "/api/v1/status/tsdb?limit=x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

/// `/nerve/api/v1/traces/{id}/logs`: the lines of one trace across streams, whether the id
/// came as structured metadata or inside a JSON line, and nothing of other traces.
#[tokio::test]
async fn logs_of_a_trace() {
    let f = fixture_with_logs().await;
    let id = "0af7651916cd43dd8448eb211c80319c";
    let (s, v) = get_json(&f.app, &format!("/nerve/api/v1/traces/{id}/logs")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["traceId"], id);
    let mut lines: Vec<String> = v["data"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap().to_owned())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "checkout done",
            format!("{{\"trace_id\":\"{id}\",\"msg\":\"charged\"}}").as_str()
        ]
    );
    let first = &v["data"]["lines"].as_array().unwrap()[0];
    assert!(first["labels"]["app"].is_string(), "{first}");
    let (_, v) = get_json(&f.app, &format!("/nerve/api/v1/traces/{id}/logs?limit=1")).await;
    assert_eq!(v["data"]["lines"].as_array().unwrap().len(), 1);
    let (s, _) = get_json(&f.app, "/nerve/api/v1/traces/not-hex/logs").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// The fixture plus three pushed log lines in two streams: one with the trace id as
/// structured metadata, one with it in the JSON line, one of another trace.
async fn fixture_with_logs() -> Fixture {
    let f = fixture();
    let now = nerve_storage::logs::now_ns();
    let id = "0af7651916cd43dd8448eb211c80319c";
    let body = json!({"streams": [
        {"stream": {"app": "shop"}, "values": [
            [(now - 2_000).to_string(), "checkout done", {"trace_id": id}],
            [(now - 1_000).to_string(), "other", {"trace_id": "11111111111111111111111111111111"}]]},
        {"stream": {"app": "pay"}, "values": [
            [now.to_string(), format!("{{\"trace_id\":\"{id}\",\"msg\":\"charged\"}}")]]}]});
    let req = Request::post("/loki/api/v1/push")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, _, b) = send(&f.app, req).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    f
}

#[tokio::test]
async fn query_limits_come_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let limits = LimitsConfig {
        query_max_samples: Some(3),
        ..Default::default()
    };
    let (state, tsdb) = AppState::for_tests(dir.path(), limits);
    let mut app = tsdb.appender();
    let l = Labels::from_pairs([("__name__", "m")]).unwrap();
    for i in 0..10 {
        app.append(&l, T0 + i * 15_000, i as f64).unwrap();
    }
    app.commit().unwrap();
    let app = router(state, &Policies::default());
    let (s, v) = get_json(
        &app,
        &format!("/api/v1/query?query=m[5m]&time={}", (T0 + 150_000) / 1000),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"].as_str().unwrap().contains("too many samples"), "{v}");
    let (s, _) = get_json(
        &app,
        &format!("/api/v1/query?query=m[20s]&time={}", (T0 + 150_000) / 1000),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "two samples fit");
}
