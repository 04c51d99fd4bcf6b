//! `GET /api/v1/targets` (P `web/api/v1/api.go` `targets`, shapes in `docs/querying/api.md`).
//!
//! `state=active|dropped|any` (default any) and `scrapePool=<job>` filter the answer, as in
//! Prometheus. Times are RFC 3339 in UTC; a target not scraped yet shows Go's zero time.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::envelope::{LabelSet, Success};
use super::params::Params;
use crate::config::units::PromDuration;
use crate::scrape::relabel::LabelMap;
use crate::servers::error::ApiError;
use crate::state::AppState;

/// Routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/targets", get(targets))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget<'a> {
    discovered_labels: &'a LabelMap,
    labels: LabelSet<'a>,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: &'a str,
    last_error: String,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: String,
    scrape_timeout: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedTarget<'a> {
    discovered_labels: &'a LabelMap,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery<'a> {
    active_targets: Vec<ActiveTarget<'a>>,
    dropped_targets: Vec<DroppedTarget<'a>>,
    dropped_target_counts: BTreeMap<&'a str, usize>,
}

/// `GET /api/v1/targets`.
async fn targets(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let want = params.first("state").unwrap_or("any").to_ascii_lowercase();
    let (active, dropped) = match want.as_str() {
        "" | "any" => (true, true),
        "active" => (true, false),
        "dropped" => (false, true),
        other => return Err(ApiError::bad_data(format!("invalid state {other:?}"))),
    };
    let pool_filter = params.first("scrapePool").filter(|p| !p.is_empty());
    let snapshot = state.scrape.registry().snapshot();
    let mut out = TargetDiscovery {
        active_targets: Vec::new(),
        dropped_targets: Vec::new(),
        dropped_target_counts: BTreeMap::new(),
    };
    for (job, pool) in snapshot
        .iter()
        .filter(|(j, _)| pool_filter.is_none_or(|p| p == j.as_str()))
    {
        out.dropped_target_counts.insert(job, pool.dropped.len());
        if active {
            for t in &pool.active {
                let last = t.last();
                out.active_targets.push(ActiveTarget {
                    discovered_labels: &t.spec.discovered,
                    labels: LabelSet(&t.spec.labels),
                    scrape_pool: job,
                    scrape_url: &t.spec.url,
                    global_url: &t.spec.url,
                    last_error: last.error,
                    last_scrape: last.at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339),
                    last_scrape_duration: last.duration_s,
                    health: last.health.as_str(),
                    scrape_interval: PromDuration(t.spec.interval).to_string(),
                    scrape_timeout: PromDuration(t.spec.timeout).to_string(),
                });
            }
        }
        if dropped {
            out.dropped_targets
                .extend(pool.dropped.iter().map(|d| DroppedTarget { discovered_labels: d }));
        }
    }
    Ok(Success::new(out).into_response())
}

/// RFC 3339 in UTC with nanoseconds trimmed of trailing zeros, e.g.
/// `2024-01-02T03:04:05.123Z` (Go's `time.RFC3339Nano`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = nerve_query::gofmt::civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_matches_go() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }
}
