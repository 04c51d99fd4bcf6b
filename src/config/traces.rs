//! nerve's `traces:` section: the tail-sampling policy applied at trace ingest
//! (see [`crate::ingest::otlp_traces::sampling`]).

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
