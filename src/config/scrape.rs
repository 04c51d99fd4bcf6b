//! The Prometheus-compatible metrics part of the config: `global` and `scrape_configs`.
//!
//! These sections are parsed and validated so that an existing `prometheus.yml` loads
//! unchanged; `crate::scrape` runs them. Accepted but without effect: `scrape_protocols`,
//! `fallback_scrape_protocol`, native-histogram options, `target_limit`,
//! `scrape_failure_log_file` and the name validation/escaping schemes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::http_client::Secret;
use super::null_default;
use super::relabel::RelabelConfig;
use super::section::config_section;
use super::units::PromDuration;
use super::{InvalidConfig, invalid};

/// Prometheus' default scrape interval (`global.scrape_interval`).
pub const DEFAULT_SCRAPE_INTERVAL: PromDuration = PromDuration::from_secs(60);
/// Prometheus' default scrape timeout (`global.scrape_timeout`).
pub const DEFAULT_SCRAPE_TIMEOUT: PromDuration = PromDuration::from_secs(10);

config_section! {
[scrape_settings]
/// The `global:` section: defaults for every scrape config and rule group (the scrape
/// settings are defaults each job may override).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// How often to scrape targets by default (Prometheus default `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<PromDuration>,
    /// How long a scrape may take by default (Prometheus default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<PromDuration>,
    /// How often to evaluate rule groups without their own `interval` (default `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_interval: Option<PromDuration>,
    /// Offset applied to rule evaluation timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_query_offset: Option<PromDuration>,
    /// Labels added to series and alerts leaving nerve (forwarding, alerts).
    #[serde(default, deserialize_with = "null_default")]
    pub external_labels: BTreeMap<String, String>,
    /// File to log PromQL queries to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_log_file: Option<PathBuf>,
}
}

impl GlobalConfig {
    /// The scrape interval in effect (explicit or Prometheus' default).
    pub fn scrape_interval(&self) -> PromDuration {
        self.scrape_interval.unwrap_or(DEFAULT_SCRAPE_INTERVAL)
    }

    /// The scrape timeout in effect: explicit, else the default capped at the interval.
    pub fn scrape_timeout(&self) -> PromDuration {
        self.scrape_timeout
            .unwrap_or(DEFAULT_SCRAPE_TIMEOUT.min(self.scrape_interval()))
    }

    /// Checks the section (timeout not above interval, valid external label names).
    pub fn validate(&self) -> Result<(), String> {
        if self.scrape_timeout() > self.scrape_interval() {
            return Err("global scrape timeout greater than scrape interval".to_owned());
        }
        for name in self.external_labels.keys() {
            if !nerve_storage::labels::is_valid_label_name(name) {
                return Err(format!("{name:?} is not a valid label name in global.external_labels"));
            }
        }
        Ok(())
    }
}

/// A list of targets with shared labels (`static_configs[]`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    #[serde(default, deserialize_with = "null_default")]
    pub targets: Vec<String>,
    /// Labels attached to every target of the group.
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
}

/// File-based service discovery (`file_sd_configs[]`): JSON/YAML files of static configs.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// File paths; the last path element may be a glob such as `targets/*.json`.
    #[serde(default, deserialize_with = "null_default")]
    pub files: Vec<PathBuf>,
    /// How often to re-read the files (Prometheus default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<PromDuration>,
}

config_section! {
[http_client scrape_settings discovery]
/// One scrape job (`scrape_configs[]`). Fields follow Prometheus' `ScrapeConfig`; service
/// discovery other than `static_configs` and `file_sd_configs` is not supported (an unknown key
/// error names it).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The job name; becomes the `job` label. Must be unique.
    pub job_name: String,
    /// Overrides `global.scrape_interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<PromDuration>,
    /// Overrides `global.scrape_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<PromDuration>,
    /// Protocol to assume when a target sends no or an unknown Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<String>,
    /// Also ingest classic buckets of native histograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_classic_histograms: Option<bool>,
    /// Newer spelling of `scrape_classic_histograms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_scrape_classic_histograms: Option<bool>,
    /// HTTP path to scrape (default `/metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_path: Option<String>,
    /// `http` (default) or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Keep the target's labels on conflict instead of renaming them to `exported_*`.
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps the target exposes (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honor_timestamps: Option<bool>,
    /// Write staleness markers for series with explicit timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_timestamps_staleness: Option<bool>,
    /// URL query parameters sent with every scrape.
    #[serde(default, deserialize_with = "null_default")]
    pub params: BTreeMap<String, Vec<String>>,
    /// Legacy bearer token (Prometheus 2.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// Legacy bearer token file (Prometheus 2.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// Ask targets for gzip (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_compression: Option<bool>,
    /// Limit on native histogram buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_histogram_bucket_limit: Option<u64>,
    /// Minimum native histogram bucket growth factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_histogram_min_bucket_factor: Option<f64>,
    /// Convert classic histograms to native ones with custom buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    /// Rules applied to scraped series before storing.
    #[serde(default, deserialize_with = "null_default")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}
}

impl ScrapeConfig {
    /// The scrape interval in effect for this job.
    pub fn effective_interval(&self, global: &GlobalConfig) -> PromDuration {
        self.scrape_interval.unwrap_or(global.scrape_interval())
    }

    /// The scrape timeout in effect: explicit, else the global one capped at this interval.
    pub fn effective_timeout(&self, global: &GlobalConfig) -> PromDuration {
        self.scrape_timeout
            .unwrap_or_else(|| global.scrape_timeout().min(self.effective_interval(global)))
    }

    /// Checks one job the way Prometheus does when loading.
    pub fn validate(&self, global: &GlobalConfig) -> Result<(), InvalidConfig> {
        let ctx = format!("scrape config with job name {:?}", self.job_name);
        if self.job_name.is_empty() {
            return invalid("job_name is empty".to_owned());
        }
        if self.effective_timeout(global) > self.effective_interval(global) {
            return invalid(format!("scrape timeout greater than scrape interval for {ctx}"));
        }
        if let Some(scheme) = &self.scheme
            && scheme != "http"
            && scheme != "https"
        {
            return invalid(format!("{ctx}: invalid scheme {scheme:?}, want \"http\" or \"https\""));
        }
        if let Some(path) = &self.metrics_path
            && !path.starts_with('/')
        {
            return invalid(format!("{ctx}: metrics_path {path:?} must start with '/'"));
        }
        self.http_client()
            .validate()
            .map_err(InvalidConfig::http_client(&ctx))?;
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return invalid(format!(
                "{ctx}: at most one of bearer_token & bearer_token_file must be configured"
            ));
        }
        if (self.bearer_token.is_some() || self.bearer_token_file.is_some())
            && (self.basic_auth.is_some() || self.authorization.is_some())
        {
            return invalid(format!(
                "{ctx}: at most one of basic_auth, authorization and bearer_token must be configured"
            ));
        }
        for sc in &self.static_configs {
            for t in &sc.targets {
                validate_target(t).map_err(|e| format!("{ctx}: {e}"))?;
            }
            for name in sc.labels.keys() {
                if !nerve_storage::labels::is_valid_label_name(name) {
                    return invalid(format!("{ctx}: {name:?} is not a valid label name"));
                }
            }
        }
        for rc in self.relabel_configs.iter().chain(&self.metric_relabel_configs) {
            rc.validate(&ctx)?;
        }
        Ok(())
    }
}

/// A static target is `host:port` (or a bare host), without scheme or path, as Prometheus
/// requires.
fn validate_target(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("empty target".to_owned());
    }
    if t.contains("://") {
        return Err(format!(
            "target {t:?} must not contain a scheme; use the 'scheme' field"
        ));
    }
    if t.contains('/') {
        return Err(format!(
            "target {t:?} must not contain a path; use the 'metrics_path' field"
        ));
    }
    Ok(())
}
