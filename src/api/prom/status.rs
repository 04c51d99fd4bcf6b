//! `GET /api/v1/status/tsdb`: the head's cardinality figures in Prometheus' shape
//! (`headStats`, then the top lists `seriesCountByMetricName`, `labelValueCountByLabelName`,
//! `memoryInBytesByLabelName` — bytes of the distinct values per label name —
//! and `seriesCountByLabelValuePair`). `limit` (default 10, as Prometheus 2.42 always uses)
//! sets the length of the lists.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use nerve_storage::metrics::{CardinalityStat, HeadCardinality};
use serde::Serialize;

use super::envelope::Success;
use super::params::Params;
use crate::servers::error::ApiError;
use crate::state::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadStats {
    num_series: u64,
    num_label_pairs: u64,
    chunk_count: u64,
    min_time: i64,
    max_time: i64,
}

#[derive(Serialize)]
struct Stat {
    name: String,
    value: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TsdbStatus {
    head_stats: HeadStats,
    series_count_by_metric_name: Vec<Stat>,
    label_value_count_by_label_name: Vec<Stat>,
    memory_in_bytes_by_label_name: Vec<Stat>,
    series_count_by_label_value_pair: Vec<Stat>,
}

fn stats(v: Vec<CardinalityStat>) -> Vec<Stat> {
    v.into_iter()
        .map(|s| Stat {
            name: s.name,
            value: s.count,
        })
        .collect()
}

/// `GET /api/v1/status/tsdb[?limit=N]`.
pub async fn tsdb_status(State(state): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let limit = match p.first("limit") {
        None | Some("") => 10,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ApiError::bad_data(format!(
                    "limit must be a positive number, got {s:?}"
                )));
            }
        },
    };
    let tsdb = state.db.ready()?;
    let (c, st): (HeadCardinality, _) =
        tokio::task::spawn_blocking(move || (tsdb.head_cardinality(limit), tsdb.stats())).await?;
    // Prometheus reports an empty head's times as the extremes it tracks them with.
    let (min_time, max_time) = if c.num_series == 0 || st.head_min_time > st.head_max_time {
        (i64::MAX, i64::MIN)
    } else {
        (st.head_min_time, st.head_max_time)
    };
    Ok(Success::new(TsdbStatus {
        head_stats: HeadStats {
            num_series: c.num_series,
            num_label_pairs: c.num_label_pairs,
            chunk_count: c.chunk_count,
            min_time,
            max_time,
        },
        series_count_by_metric_name: stats(c.series_by_metric_name),
        label_value_count_by_label_name: stats(c.values_by_label_name),
        memory_in_bytes_by_label_name: stats(c.value_bytes_by_label_name),
        series_count_by_label_value_pair: stats(c.series_by_label_pair),
    })
    .into_response())
}
