//! nerve's `traces:` section: the tail-sampling policy applied at trace ingest
//! (see [`crate::ingest::otlp_traces::sampling`]) and the metrics generated from spans
//! (see [`crate::spanmetrics`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::units::PromDuration;

/// The `traces:` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// Which traces are kept.
    #[serde(default)]
    pub sampling: SamplingConfig,
    /// Span metrics and service-graph series (on by default).
    #[serde(default)]
    pub span_metrics: SpanMetricsConfig,
}

/// `traces.span_metrics`: Tempo-style RED and service-graph series generated at ingest.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// Generate them (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How often values are written to the TSDB (default `15s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<PromDuration>,
    /// Latency buckets in seconds (default Tempo's, 0.002 … 16.384).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram_buckets: Option<Vec<f64>>,
    /// Service-graph latency buckets in seconds (default Tempo's, 0.1 … 12.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_graph_buckets: Option<Vec<f64>>,
    /// How long a client or server span waits for its other half (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_wait: Option<PromDuration>,
    /// A series without spans for this long ends with a stale marker (default `15m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<PromDuration>,
    /// Most label sets kept; spans of new ones beyond it are not counted (default 20000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_series: Option<usize>,
}

/// The span-metrics settings with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanMetricsPolicy {
    /// Flush interval.
    pub interval: Duration,
    /// Latency bucket bounds, ascending.
    pub latency_buckets: Vec<f64>,
    /// Service-graph bucket bounds, ascending.
    pub graph_buckets: Vec<f64>,
    /// Pairing wait.
    pub pairing_wait: Duration,
    /// Idle time before a series ends.
    pub stale_after: Duration,
    /// Bound on label sets.
    pub max_series: usize,
}

impl SpanMetricsConfig {
    /// The policy, `None` when disabled.
    pub fn policy(&self) -> Option<SpanMetricsPolicy> {
        if self.enabled == Some(false) {
            return None;
        }
        let d = |v: Option<PromDuration>, default: u64| v.map_or(Duration::from_secs(default), PromDuration::get);
        Some(SpanMetricsPolicy {
            interval: d(self.interval, 15),
            latency_buckets: self
                .histogram_buckets
                .clone()
                .unwrap_or_else(|| crate::spanmetrics::DEFAULT_LATENCY_BUCKETS.to_vec()),
            graph_buckets: self
                .service_graph_buckets
                .clone()
                .unwrap_or_else(|| crate::spanmetrics::DEFAULT_GRAPH_BUCKETS.to_vec()),
            pairing_wait: d(self.pairing_wait, 10),
            stale_after: d(self.stale_after, 900),
            max_series: self.max_series.unwrap_or(20_000),
        })
    }

    fn validate(&self) -> Result<(), String> {
        for (name, b) in [
            ("histogram_buckets", &self.histogram_buckets),
            ("service_graph_buckets", &self.service_graph_buckets),
        ] {
            if let Some(b) = b
                && (b.is_empty() || b.iter().any(|x| !x.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]))
            {
                return Err(format!(
                    "traces.span_metrics.{name} must be finite numbers in increasing order"
                ));
            }
        }
        if self.interval.is_some_and(|d| d.get().is_zero()) {
            return Err("traces.span_metrics.interval must be more than 0".to_owned());
        }
        Ok(())
    }
}

/// `traces.sampling`: tail sampling, off unless `enabled`. A trace is decided once no span of
/// it has arrived for `decision_wait`: it is kept when one of its spans has an error status
/// (`keep_errors`), when it lasts at least `slow_threshold`, or else with probability
/// `probability` (by trace id, so every nerve decides a trace alike).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// Turns sampling on (default false: every span is stored).
    #[serde(default)]
    pub enabled: bool,
    /// Keep every trace with an error span (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_errors: Option<bool>,
    /// Keep every trace at least this long (default `1s`; `0` keeps none for being slow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_threshold: Option<PromDuration>,
    /// Fraction of the other traces kept, in `[0, 1]` (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// How long after its last span a trace counts as complete (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_wait: Option<PromDuration>,
    /// Most spans waiting for a decision; exports beyond it get 503 + Retry-After
    /// (default 1000000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_spans: Option<usize>,
}

/// The sampling policy with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingPolicy {
    /// Keep traces with an error span.
    pub keep_errors: bool,
    /// Keep traces at least this long (`None`: no such rule).
    pub slow_threshold: Option<Duration>,
    /// Fraction of the rest kept.
    pub probability: f64,
    /// Idle time after which a trace is decided.
    pub decision_wait: Duration,
    /// Bound on buffered spans.
    pub max_pending_spans: usize,
}

impl SamplingConfig {
    /// The policy when sampling is enabled, `None` when it is off.
    pub fn policy(&self) -> Option<SamplingPolicy> {
        if !self.enabled {
            return None;
        }
        let slow = self.slow_threshold.map_or(Duration::from_secs(1), PromDuration::get);
        Some(SamplingPolicy {
            keep_errors: self.keep_errors.unwrap_or(true),
            slow_threshold: (!slow.is_zero()).then_some(slow),
            probability: self.probability.unwrap_or(0.1),
            decision_wait: self.decision_wait.map_or(Duration::from_secs(30), PromDuration::get),
            max_pending_spans: self.max_pending_spans.unwrap_or(1_000_000),
        })
    }
}

impl TracesConfig {
    /// Checks the probability is within `[0, 1]` and the other values are usable.
    pub fn validate(&self) -> Result<(), String> {
        self.span_metrics.validate()?;
        let s = &self.sampling;
        if let Some(p) = s.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("traces.sampling.probability {p} must be between 0 and 1"));
        }
        if s.decision_wait.is_some_and(|d| d.get().is_zero()) {
            return Err("traces.sampling.decision_wait must be more than 0".to_owned());
        }
        if s.max_pending_spans == Some(0) {
            return Err("traces.sampling.max_pending_spans must be more than 0".to_owned());
        }
        Ok(())
    }
}
