//! nerve's `traces:` section. Parsed and validated now; the OTLP trace ingest that uses it
//! comes with a later issue.

use serde::{Deserialize, Serialize};

/// The `traces:` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// Which traces are kept.
    #[serde(default)]
    pub sampling: SamplingConfig,
}

/// `traces.sampling`: head sampling by trace id, so all spans of a trace share the decision.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// Fraction of traces kept, in `[0, 1]` (default 1: keep everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl TracesConfig {
    /// Checks that the probability is within `[0, 1]`.
    pub fn validate(&self) -> Result<(), String> {
        match self.sampling.probability {
            Some(p) if !(0.0..=1.0).contains(&p) => {
                Err(format!("traces.sampling.probability {p} must be between 0 and 1"))
            }
            _ => Ok(()),
        }
    }
}
