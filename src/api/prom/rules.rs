//! `/api/v1/rules` and `/api/v1/alerts`, shaped as Prometheus' `web/api/v1/api.go` answers
//! them (Grafana's rule and alert views read these), for PromQL groups; the same for LogQL
//! groups at Loki's ruler paths `/prometheus/api/v1/rules` and `/prometheus/api/v1/alerts`,
//! where Grafana's Loki datasource looks for them.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::envelope::Success;
use super::params::Params;
use crate::rules::alert::Alert;
use crate::rules::file::Language;
use crate::rules::gofmt::rfc3339_ms;
use crate::rules::status::GroupStatus;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// Routes of this module, to be merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(prom_rules))
        .route("/api/v1/alerts", get(prom_alerts))
        .route("/prometheus/api/v1/rules", get(loki_rules))
        .route("/prometheus/api/v1/alerts", get(loki_alerts))
}

/// `lastEvaluation` of a rule never evaluated (Go's zero time).
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: &'static str,
    active_at: String,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    name: String,
    query: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<f64>,
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<Vec<ApiAlert>>,
    health: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_error: String,
    evaluation_time: f64,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiGroup {
    name: String,
    file: String,
    rules: Vec<ApiRule>,
    interval: f64,
    limit: usize,
    evaluation_time: f64,
    last_evaluation: String,
}

/// An alert as the API shows it; the value as Prometheus prints it,
/// `strconv.FormatFloat(v, 'e', -1, 64)` (`1e+00`, `1.5e-01`).
fn api_alert(a: &Alert) -> ApiAlert {
    ApiAlert {
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        state: a.state.as_str(),
        active_at: rfc3339_ms(a.active_at_ms),
        value: nerve_query::gofmt::go_e(a.value),
        keep_firing_since: a.keep_firing_since_ms.map(rfc3339_ms),
    }
}

/// Which rules `/api/v1/rules` shows.
struct RuleFilter<'a> {
    alerts: bool,
    records: bool,
    /// `rule_name[]` (empty: all).
    names: Vec<&'a str>,
}

fn api_group(g: &GroupStatus, f: &RuleFilter<'_>) -> ApiGroup {
    let (want_alerts, want_records) = (f.alerts, f.records);
    let rules = g
        .rules
        .iter()
        .filter(|r| f.names.is_empty() || f.names.contains(&r.name.as_str()))
        .filter_map(|r| {
            let (kind, state, duration, keep, annotations, alerts) = match &r.alerting {
                Some(a) if want_alerts => (
                    "alerting",
                    Some(a.state.as_str()),
                    Some(a.hold_ms as f64 / 1000.0),
                    Some(a.keep_firing_ms as f64 / 1000.0),
                    Some(r.annotations.clone()),
                    Some(a.alerts.iter().map(api_alert).collect()),
                ),
                None if want_records => ("recording", None, None, None, None, None),
                _ => return None,
            };
            Some(ApiRule {
                state,
                name: r.name.clone(),
                query: r.expr.clone(),
                duration,
                keep_firing_for: keep,
                labels: r.labels.clone(),
                annotations,
                alerts,
                health: r.health.as_str(),
                last_error: r.last_error.clone().unwrap_or_default(),
                evaluation_time: r.eval_seconds,
                last_evaluation: r.last_eval_ms.map_or_else(|| ZERO_TIME.to_owned(), rfc3339_ms),
                kind,
            })
        })
        .collect();
    ApiGroup {
        name: g.name.clone(),
        file: g.file.clone(),
        rules,
        interval: g.interval_ms as f64 / 1000.0,
        limit: g.limit,
        evaluation_time: g.eval_seconds,
        last_evaluation: g.last_eval_ms.map_or_else(|| ZERO_TIME.to_owned(), rfc3339_ms),
    }
}

#[derive(Serialize)]
struct RulesData {
    groups: Vec<ApiGroup>,
}

/// `GET /api/v1/rules[?type=alert|record]`, optionally narrowed by `rule_name[]`,
/// `rule_group[]` and `file[]` (newer Prometheus versions' filters; groups left without rules
/// by a filter are omitted).
#[tracing::instrument(skip_all)]
async fn prom_rules(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    rules(&state, &params, Language::Promql)
}

/// `GET /prometheus/api/v1/rules`: the LogQL groups (Loki's ruler API).
#[tracing::instrument(skip_all)]
async fn loki_rules(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    rules(&state, &params, Language::Logql)
}

fn rules(state: &AppState, params: &Params, language: Language) -> Result<Response, ApiError> {
    let typ = params.first("type").unwrap_or("").to_lowercase();
    let (want_alerts, want_records) = match typ.as_str() {
        "" => (true, true),
        "alert" => (true, false),
        "record" => (false, true),
        other => return Err(ApiError::bad_data(format!("not supported value {other:?}"))),
    };
    let filter = RuleFilter {
        alerts: want_alerts,
        records: want_records,
        names: params.all("rule_name[]"),
    };
    let (groups_wanted, files_wanted) = (params.all("rule_group[]"), params.all("file[]"));
    let filtered = !filter.names.is_empty() || !groups_wanted.is_empty() || !files_wanted.is_empty();
    let groups = state
        .rules
        .groups()
        .iter()
        .filter(|g| g.language == language)
        .filter(|g| groups_wanted.is_empty() || groups_wanted.contains(&g.name.as_str()))
        .filter(|g| files_wanted.is_empty() || files_wanted.contains(&g.file.as_str()))
        .map(|g| api_group(g, &filter))
        .filter(|g| !filtered || !g.rules.is_empty())
        .collect();
    Ok(Success::new(RulesData { groups }).into_response())
}

#[derive(Serialize)]
struct AlertsData {
    alerts: Vec<ApiAlert>,
}

/// `GET /api/v1/alerts`: every pending and firing alert of PromQL rules.
#[tracing::instrument(skip_all)]
async fn prom_alerts(State(state): State<AppState>) -> Response {
    alerts(&state, Language::Promql)
}

/// `GET /prometheus/api/v1/alerts`: the same for LogQL rules (Loki's ruler API).
#[tracing::instrument(skip_all)]
async fn loki_alerts(State(state): State<AppState>) -> Response {
    alerts(&state, Language::Logql)
}

fn alerts(state: &AppState, language: Language) -> Response {
    let mut alerts = Vec::new();
    for g in state.rules.groups().iter().filter(|g| g.language == language) {
        for a in g.rules.iter().filter_map(|r| r.alerting.as_ref()) {
            alerts.extend(a.alerts.iter().map(api_alert));
        }
    }
    Success::new(AlertsData { alerts }).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::config::limits::LimitsConfig;
    use crate::servers::http::{Policies, router};
    use crate::state::AppState;
    use nerve_query::gofmt::go_e as value_e;

    async fn get(app: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
        let resp = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// Without rule files the answers are what Grafana expects from an empty Prometheus.
    #[tokio::test]
    async fn empty_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _tsdb) = AppState::for_tests(dir.path(), LimitsConfig::default());
        let app = router(state, &Policies::default());
        let (s, v) = get(&app, "/api/v1/rules").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v, serde_json::json!({"status": "success", "data": {"groups": []}}));
        let (s, v) = get(&app, "/api/v1/alerts").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v, serde_json::json!({"status": "success", "data": {"alerts": []}}));
        let (s, v) = get(&app, "/prometheus/api/v1/rules").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v, serde_json::json!({"status": "success", "data": {"groups": []}}));
        let (s, v) = get(&app, "/prometheus/api/v1/alerts").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v, serde_json::json!({"status": "success", "data": {"alerts": []}}));
        let (s, v) = get(&app, "/api/v1/rules?type=bogus").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["errorType"], "bad_data");
        assert_eq!(v["error"], "not supported value \"bogus\"");
    }

    #[test]
    fn values_like_go() {
        assert_eq!(value_e(1.0), "1e+00");
        assert_eq!(value_e(0.15), "1.5e-01");
        assert_eq!(value_e(1234.5), "1.2345e+03");
        assert_eq!(value_e(f64::NAN), "NaN");
    }
}
