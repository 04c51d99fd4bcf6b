//! The YAML config file.
//!
//! Its metrics part reads a Prometheus `prometheus.yml` unchanged where the features exist
//! (`global`, `scrape_configs`, `rule_files`, `alerting`, `remote_write`); nerve's own sections
//! are `server`, `storage`, `limits`, `auth`, `traces` and `forward`. Every struct denies
//! unknown fields, and serde-saphyr reports the key and its line and column, e.g.
//! `line 7 column 9: unknown field `lables`, expected one of targets, labels`.
//!
//! Loading is parse ([`Config::from_yaml`]) then [`Config::validate`], which checks what
//! Prometheus checks when it loads a config (unique job names, scrape timeout ≤ interval,
//! relabel rules, ...). `nerve check config FILE` runs exactly these two steps.

pub mod alerting;
pub mod auth;
pub mod forward;
pub mod http_client;
pub mod ignored;
pub mod limits;
pub mod relabel;
pub mod remote_write;
pub mod scrape;
pub mod section;
pub mod server;
pub mod storage;
pub mod traces;
pub mod units;

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Deserializer, Serialize};

use self::alerting::AlertingConfig;
use self::auth::AuthConfig;
use self::forward::ForwardConfig;
use self::http_client::HttpClientError;
use self::limits::LimitsConfig;
use self::remote_write::RemoteWriteConfig;
use self::scrape::{GlobalConfig, ScrapeConfig};
use self::server::ServerConfig;
use self::storage::StorageConfig;
use self::traces::TracesConfig;

/// Largest config file read; anything bigger is certainly a mistake.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// The whole config file. `Default` is the zero-config setup.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Prometheus `global:` defaults.
    #[serde(default, deserialize_with = "null_default")]
    pub global: GlobalConfig,
    /// Rule file globs, relative to the config file's directory (see `crate::rules`).
    #[serde(default, deserialize_with = "null_default")]
    pub rule_files: Vec<String>,
    /// SLO spec file globs (Sloth's `prometheus/v1` format), relative to the config file's
    /// directory; their generated rules run with the rule files (see `crate::slo`).
    #[serde(default, deserialize_with = "null_default")]
    pub slo_files: Vec<String>,
    /// Scrape jobs (see `crate::scrape`); none means nerve scrapes itself.
    #[serde(default, deserialize_with = "null_default")]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Alertmanagers and webhooks alerts are sent to.
    #[serde(default, deserialize_with = "null_default")]
    pub alerting: AlertingConfig,
    /// Prometheus remote-write destinations, accepted for compatibility (not sent to yet).
    #[serde(default, deserialize_with = "null_default")]
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Listen addresses.
    #[serde(default, deserialize_with = "null_default")]
    pub server: ServerConfig,
    /// Data directory, retention, WAL policy.
    #[serde(default, deserialize_with = "null_default")]
    pub storage: StorageConfig,
    /// Input bounds.
    #[serde(default, deserialize_with = "null_default")]
    pub limits: LimitsConfig,
    /// Credentials in front of reads and writes.
    #[serde(default, deserialize_with = "null_default")]
    pub auth: AuthConfig,
    /// Trace settings: tail sampling and span metrics.
    #[serde(default, deserialize_with = "null_default")]
    pub traces: TracesConfig,
    /// Forwarding to a distributed backend (a later issue).
    #[serde(default, deserialize_with = "null_default")]
    pub forward: ForwardConfig,
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse or does not fit the schema. The message names the line, the
    /// column and (for unknown keys) the key, followed by a snippet of the file.
    #[error("{0}")]
    Parse(String),
    /// The YAML fits the schema but a value is not acceptable.
    #[error("{0}")]
    Invalid(InvalidConfig),
}

/// A value of a parsed config that is not acceptable (what [`Config::validate`] reports).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidConfig {
    /// The HTTP client keys of a section contradict each other.
    #[error("{section}: {error}")]
    HttpClient {
        /// The section, e.g. `remote_write[0]` or `scrape config with job name "node"`.
        section: String,
        /// What contradicts what.
        error: HttpClientError,
    },
    /// Any other unacceptable value; the message names the key and the section.
    #[error("{0}")]
    Value(String),
}

impl From<String> for InvalidConfig {
    fn from(msg: String) -> Self {
        InvalidConfig::Value(msg)
    }
}

impl InvalidConfig {
    /// The [`InvalidConfig::HttpClient`] error of `section`.
    pub fn http_client(section: &str) -> impl FnOnce(HttpClientError) -> Self + '_ {
        move |error| InvalidConfig::HttpClient {
            section: section.to_owned(),
            error,
        }
    }
}

/// `Err` with an [`InvalidConfig::Value`] saying `msg`.
fn invalid<T>(msg: String) -> Result<T, InvalidConfig> {
    Err(InvalidConfig::Value(msg))
}

impl Config {
    /// Parses YAML text (without validating values; see [`Config::validate`]).
    /// An empty document gives the default config.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Parses and validates YAML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg = Config::from_yaml(text)?;
        cfg.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
    }

    /// Reads, parses and validates a config file; errors name the file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let meta = std::fs::metadata(path).with_context(|| format!("reading config file {}", path.display()))?;
        if meta.len() > MAX_CONFIG_BYTES {
            anyhow::bail!("config file {} is larger than {MAX_CONFIG_BYTES} bytes", path.display());
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("loading config file {}", path.display()))
    }

    /// Checks values across the whole file, the way Prometheus does on load.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.global.validate()?;
        let mut jobs = HashSet::new();
        for sc in &self.scrape_configs {
            if !jobs.insert(sc.job_name.as_str()) {
                return invalid(format!("found multiple scrape configs with job name {:?}", sc.job_name));
            }
            sc.validate(&self.global)?;
        }
        for (i, f) in self.rule_files.iter().enumerate() {
            if f.is_empty() {
                return invalid(format!("rule_files[{i}] is empty"));
            }
        }
        for (i, f) in self.slo_files.iter().enumerate() {
            if f.is_empty() {
                return invalid(format!("slo_files[{i}] is empty"));
            }
        }
        self.alerting.validate()?;
        for (i, rw) in self.remote_write.iter().enumerate() {
            rw.validate(i)?;
        }
        self.server.validate()?;
        self.storage.validate()?;
        self.limits.validate()?;
        self.auth.validate()?;
        self.traces.validate()?;
        self.forward.validate()?;
        Ok(())
    }

    /// Keys that are set but have no effect in nerve (see [`ignored::ignored_keys`]), for
    /// the warning at startup and in `nerve check config`.
    pub fn unimplemented_sections(&self) -> Vec<String> {
        ignored::ignored_keys(self)
    }
}

/// Deserializes YAML `null` (a key with nothing after it) as the type's default, as
/// Prometheus' YAML library does, so `scrape_configs:` alone means "none".
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests;
