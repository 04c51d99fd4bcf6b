//! nerve's `limits:` section: bounds on every input, so one client cannot exhaust memory.

use serde::{Deserialize, Serialize};

use super::units::ByteSize;

/// Default cap on a compressed remote-write body.
pub const DEFAULT_REMOTE_WRITE_MAX_BODY: u64 = 32 << 20;
/// Default cap on a decompressed remote-write body.
pub const DEFAULT_REMOTE_WRITE_MAX_DECODED: u64 = 256 << 20;
/// Default cap on decompressed remote-write bytes being processed at once.
pub const DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_BYTES: u64 = 256 << 20;
/// Default cap on remote-write requests being processed at once.
pub const DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_REQUESTS: usize = 32;

/// Default cap on a Loki push or OTLP logs body as sent.
pub const DEFAULT_LOGS_MAX_BODY: u64 = 64 << 20;
/// Default cap on a decompressed log push body.
pub const DEFAULT_LOGS_MAX_DECODED: u64 = 256 << 20;
/// Default longest log line (Loki's `max_line_size`).
pub const DEFAULT_LOGS_MAX_LINE: u64 = 256 << 10;
/// Default label names per log stream (Loki's `max_label_names_per_series`).
pub const DEFAULT_LOGS_MAX_LABELS: usize = 15;
/// Default number of log streams.
pub const DEFAULT_LOGS_MAX_STREAMS: usize = 10_000;
/// Default sustained log ingestion rate, bytes of lines per second.
pub const DEFAULT_LOGS_RATE: u64 = 64 << 20;
/// Default log ingestion burst, bytes.
pub const DEFAULT_LOGS_BURST: u64 = 128 << 20;
/// Default cap on log bytes pushed but not yet indexed (memory held by the log head).
pub const DEFAULT_LOGS_MAX_HEAD: u64 = 256 << 20;
/// Default cap on metric series in the head.
pub const DEFAULT_MAX_SERIES: u64 = 2_000_000;
/// Default cap on head series of one metric name.
pub const DEFAULT_MAX_SERIES_PER_METRIC: u64 = 200_000;
/// Default bound on how far ahead of the wall clock a metric sample may be dated.
pub const DEFAULT_MAX_FUTURE: std::time::Duration = std::time::Duration::from_secs(600);
/// Default largest `limit` of a LogQL log query (Loki's `max_entries_limit_per_query`).
pub const DEFAULT_MAX_ENTRIES_LIMIT_PER_QUERY: usize = 5000;
/// Default most series of one LogQL metric query's answer (Loki's `max_query_series`).
pub const DEFAULT_MAX_QUERY_SERIES: usize = 500;
/// Default most traces one Jaeger or Tempo search returns.
pub const DEFAULT_TRACES_MAX_SEARCH_LIMIT: usize = 1000;
/// Default largest query answer body.
pub const DEFAULT_QUERY_MAX_RESPONSE_BYTES: u64 = 128 << 20;
/// Share of the machine's (or cgroup's) memory used as the default `max_memory`, in percent.
pub const DEFAULT_MAX_MEMORY_PERCENT: u64 = 80;
/// Default cap on decompressed request bytes held by all requests together.
pub const DEFAULT_MAX_INFLIGHT_DECOMPRESSED: u64 = 256 << 20;

/// The `limits:` section. Every field is optional; the accessors give the effective value.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted remote-write body as sent (snappy-compressed); larger → 413.
    /// Default 32MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_body_bytes: Option<ByteSize>,
    /// Largest accepted remote-write body after decompression; larger → 413. Default 256MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_decoded_bytes: Option<ByteSize>,
    /// Decompressed remote-write bytes processed concurrently; when full, requests get
    /// 503 + Retry-After and the sender retries. Default 256MB; must be at least
    /// `remote_write_max_decoded_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_inflight_bytes: Option<ByteSize>,
    /// Remote-write requests processed concurrently (same back-pressure). Default 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_max_inflight_requests: Option<usize>,
    /// Samples per second accepted by remote write (token bucket, 0 = no limit). Over it the
    /// request is refused whole with 503 + Retry-After, which senders retry. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_ingestion_rate: Option<u64>,
    /// Remote-write burst in samples (default twice the rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write_ingestion_burst: Option<u64>,
    /// Most metric series in the head; samples creating more are refused (400 on remote
    /// write, naming the limit; samples of existing series are still stored). 0 = no limit.
    /// Default 2000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_series: Option<u64>,
    /// Most head series of one metric name, same refusal (0 = no limit). Default 200000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_series_per_metric: Option<u64>,
    /// Resident memory above which every ingest path answers 503 + Retry-After (gRPC
    /// UNAVAILABLE) until memory falls again; queries keep working. 0 = no limit. Default 80%
    /// of the cgroup memory limit or, without one, of the machine's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<ByteSize>,
    /// Decompressed bytes that all ingest requests together may hold while their bodies are
    /// inflated and decoded; past it → 503 + Retry-After. Bounds what concurrent
    /// decompression bombs can take, whatever `max_memory` is. 0 = no limit. Default 256MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inflight_decompressed_bytes: Option<ByteSize>,
    /// Queries (PromQL) evaluated at once; more wait. Default 20 (Prometheus').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_max_concurrency: Option<usize>,
    /// Longest a PromQL or LogQL query may run (a request's own `timeout` can only lower it).
    /// Default 2m (Prometheus').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_timeout: Option<super::units::PromDuration>,
    /// Most samples one PromQL query may hold in memory, and most samples a LogQL metric query
    /// may extract from log lines. Default 50000000 (Prometheus').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_max_samples: Option<usize>,
    /// Most series a LogQL metric query may answer with; more are refused with 400 and Loki's
    /// "maximum number of series … reached for a single query" (Loki's `max_query_series`).
    /// 0 = no limit. Default 500 (Loki's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_series: Option<usize>,
    /// Largest `limit` a LogQL log query may ask for; a larger one is refused with 400 and
    /// Loki's "max entries limit per query exceeded" (Loki's `max_entries_limit_per_query`;
    /// metric queries are not affected). 0 = no limit. Default 5000 (Loki's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_entries_limit_per_query: Option<usize>,
    /// Most traces one Jaeger (`/api/traces`) or Tempo (`/api/search`) search returns; a
    /// larger `limit` is lowered to it. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_max_search_limit: Option<usize>,
    /// Largest answer body of a PromQL, LogQL or trace search query; a larger answer is
    /// refused with 422 `execution` naming this limit instead of being sent. 0 = no limit.
    /// Default 128MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_max_response_bytes: Option<ByteSize>,
    /// Most spans of one trace held unflushed; more are refused (partial success). 0 = no
    /// limit. Default 50000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_max_spans_per_trace: Option<usize>,
    /// Labels per series accepted on ingest (0 = no limit). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_labels_per_series: Option<usize>,
    /// Longest label name accepted on ingest, in bytes (0 = no limit). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_label_name_length: Option<usize>,
    /// Longest label value accepted on ingest, in bytes (0 = no limit). Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_label_value_length: Option<usize>,
    /// How far ahead of the wall clock a metric sample or exemplar may be dated; later ones
    /// are refused on every ingest path (400 naming the series and the bound on remote
    /// write, partial success on OTLP, counted and logged for scrapes, rules and span
    /// metrics). Samples older than the metrics retention are refused the same way.
    /// Default 10m (Mimir's creation grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_future: Option<super::units::PromDuration>,
    /// Largest Loki push / OTLP logs body as sent; larger → 413. Default 64MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_max_body_bytes: Option<ByteSize>,
    /// Largest log push body after decompression; larger → 413. Default 256MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_max_decoded_bytes: Option<ByteSize>,
    /// Longest log line; longer entries are refused (400). Default 256KB (Loki's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_max_line_size: Option<ByteSize>,
    /// Label names per log stream; more → 400. Default 15 (Loki's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_max_labels_per_stream: Option<usize>,
    /// Log streams in the store; a push creating more → 429. Default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_max_streams: Option<usize>,
    /// Sustained log ingestion rate in line bytes per second; over it → 429. Default 64MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_ingestion_rate: Option<ByteSize>,
    /// Log ingestion burst in bytes. Default 128MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_ingestion_burst: Option<ByteSize>,
    /// Log bytes pushed but not yet indexed above which pushes get 503 + Retry-After, so
    /// memory stays bounded when pushes outpace indexing. Default 256MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_max_unindexed_bytes: Option<ByteSize>,
}

impl LimitsConfig {
    /// Effective compressed body cap in bytes.
    pub fn remote_write_max_body(&self) -> usize {
        to_usize(
            self.remote_write_max_body_bytes
                .map_or(DEFAULT_REMOTE_WRITE_MAX_BODY, ByteSize::bytes),
        )
    }

    /// Effective decompressed body cap in bytes.
    pub fn remote_write_max_decoded(&self) -> usize {
        to_usize(
            self.remote_write_max_decoded_bytes
                .map_or(DEFAULT_REMOTE_WRITE_MAX_DECODED, ByteSize::bytes),
        )
    }

    /// Effective in-flight decoded bytes cap.
    pub fn remote_write_max_inflight_bytes(&self) -> usize {
        to_usize(
            self.remote_write_max_inflight_bytes
                .map_or(DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_BYTES, ByteSize::bytes),
        )
        .max(self.remote_write_max_decoded())
    }

    /// Effective in-flight request cap.
    pub fn remote_write_max_inflight_requests(&self) -> usize {
        self.remote_write_max_inflight_requests
            .unwrap_or(DEFAULT_REMOTE_WRITE_MAX_INFLIGHT_REQUESTS)
    }

    /// Effective log push body cap (as sent).
    pub fn logs_max_body(&self) -> usize {
        to_usize(self.logs_max_body_bytes.map_or(DEFAULT_LOGS_MAX_BODY, ByteSize::bytes))
    }

    /// Effective decompressed log push cap.
    pub fn logs_max_decoded(&self) -> usize {
        to_usize(
            self.logs_max_decoded_bytes
                .map_or(DEFAULT_LOGS_MAX_DECODED, ByteSize::bytes),
        )
    }

    /// Effective longest log line.
    pub fn logs_max_line(&self) -> usize {
        to_usize(self.logs_max_line_size.map_or(DEFAULT_LOGS_MAX_LINE, ByteSize::bytes))
    }

    /// Effective label names per log stream.
    pub fn logs_max_labels(&self) -> usize {
        self.logs_max_labels_per_stream.unwrap_or(DEFAULT_LOGS_MAX_LABELS)
    }

    /// Effective stream cap.
    pub fn logs_max_streams(&self) -> usize {
        self.logs_max_streams.unwrap_or(DEFAULT_LOGS_MAX_STREAMS)
    }

    /// Effective `(rate, burst)` of log ingestion in bytes.
    pub fn logs_rate(&self) -> (u64, u64) {
        let rate = self.logs_ingestion_rate.map_or(DEFAULT_LOGS_RATE, ByteSize::bytes);
        let burst = self.logs_ingestion_burst.map_or(DEFAULT_LOGS_BURST, ByteSize::bytes);
        (rate, burst.max(rate))
    }

    /// Effective remote-write `(rate, burst)` in samples per second; `None` when unlimited.
    pub fn remote_write_rate(&self) -> Option<(u64, u64)> {
        let rate = self.remote_write_ingestion_rate.unwrap_or(0);
        (rate > 0).then(|| (rate, self.remote_write_ingestion_burst.unwrap_or(rate * 2).max(rate)))
    }

    /// Effective query concurrency (at least 1).
    pub fn query_max_concurrency(&self) -> usize {
        self.query_max_concurrency.unwrap_or(20).max(1)
    }

    /// Effective query timeout.
    pub fn query_timeout(&self) -> std::time::Duration {
        self.query_timeout.map_or(std::time::Duration::from_secs(120), |d| d.0)
    }

    /// Effective per-query sample cap.
    pub fn query_max_samples(&self) -> usize {
        self.query_max_samples.unwrap_or(50_000_000)
    }

    /// Effective most series of a LogQL metric query's answer (0 = none).
    pub fn max_query_series(&self) -> usize {
        self.max_query_series.unwrap_or(DEFAULT_MAX_QUERY_SERIES)
    }

    /// Effective largest `limit` of a LogQL log query (0 = none).
    pub fn max_entries_limit_per_query(&self) -> usize {
        self.max_entries_limit_per_query
            .unwrap_or(DEFAULT_MAX_ENTRIES_LIMIT_PER_QUERY)
    }

    /// Effective most traces per search (at least 1).
    pub fn traces_max_search_limit(&self) -> usize {
        self.traces_max_search_limit
            .unwrap_or(DEFAULT_TRACES_MAX_SEARCH_LIMIT)
            .max(1)
    }

    /// Effective largest query answer in bytes (0 = none).
    pub fn query_max_response_bytes(&self) -> usize {
        to_usize(
            self.query_max_response_bytes
                .map_or(DEFAULT_QUERY_MAX_RESPONSE_BYTES, ByteSize::bytes),
        )
    }

    /// Effective spans-per-trace cap (0 = none).
    pub fn traces_max_spans_per_trace(&self) -> usize {
        self.traces_max_spans_per_trace.unwrap_or(50_000)
    }

    /// Effective bound on how far ahead of the wall clock a metric sample may be dated.
    pub fn max_future(&self) -> std::time::Duration {
        self.max_future.map_or(DEFAULT_MAX_FUTURE, |d| d.get())
    }

    /// Effective head series cap (0 = none).
    pub fn max_series(&self) -> u64 {
        self.max_series.unwrap_or(DEFAULT_MAX_SERIES)
    }

    /// Effective per-metric series cap (0 = none).
    pub fn max_series_per_metric(&self) -> u64 {
        self.max_series_per_metric.unwrap_or(DEFAULT_MAX_SERIES_PER_METRIC)
    }

    /// Effective memory bound in bytes (0 = none); `total_memory` is what the machine or
    /// cgroup has, when known.
    pub fn max_memory(&self, total_memory: Option<u64>) -> u64 {
        match self.max_memory {
            Some(b) => b.bytes(),
            None => total_memory.map_or(0, |t| t / 100 * DEFAULT_MAX_MEMORY_PERCENT),
        }
    }

    /// Effective cap on decompressed bytes in flight (0 = none).
    pub fn max_inflight_decompressed(&self) -> u64 {
        self.max_inflight_decompressed_bytes
            .map_or(DEFAULT_MAX_INFLIGHT_DECOMPRESSED, ByteSize::bytes)
    }

    /// Effective cap on unindexed log bytes.
    pub fn logs_max_unindexed(&self) -> usize {
        to_usize(
            self.logs_max_unindexed_bytes
                .map_or(DEFAULT_LOGS_MAX_HEAD, ByteSize::bytes),
        )
    }

    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), String> {
        if self.remote_write_max_body() == 0 || self.remote_write_max_decoded() == 0 {
            return Err(
                "limits.remote_write_max_body_bytes and remote_write_max_decoded_bytes must be greater than 0"
                    .to_owned(),
            );
        }
        if let Some(b) = self.remote_write_max_inflight_bytes
            && to_usize(b.bytes()) < self.remote_write_max_decoded()
        {
            return Err(format!(
                "limits.remote_write_max_inflight_bytes ({b}) must be at least limits.remote_write_max_decoded_bytes ({})",
                ByteSize(self.remote_write_max_decoded() as u64)
            ));
        }
        if self.logs_max_body() == 0 || self.logs_max_decoded() == 0 || self.logs_max_line() == 0 {
            return Err(
                "limits.logs_max_body_bytes, logs_max_decoded_bytes and logs_max_line_size must be greater than 0"
                    .to_owned(),
            );
        }
        if self.logs_rate().0 == 0 {
            return Err("limits.logs_ingestion_rate must be greater than 0".to_owned());
        }
        if self.remote_write_max_inflight_requests() == 0 {
            return Err("limits.remote_write_max_inflight_requests must be greater than 0".to_owned());
        }
        Ok(())
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
