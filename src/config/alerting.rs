//! `rule_files`' companion: the `alerting:` section naming the Alertmanagers alerts go to
//! (see `crate::rules::notifier`). nerve extensions: `webhook_configs` (Alertmanager's
//! webhook JSON sent straight to a URL, for users without an Alertmanager) and
//! `resend_delay` (Prometheus' `--rules.alert.resend-delay` flag).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::null_default;
use super::relabel::RelabelConfig;
use super::section::config_section;
use super::units::PromDuration;
use super::{InvalidConfig, invalid};

/// The `alerting:` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Relabeling applied to alerts before sending.
    #[serde(default, deserialize_with = "null_default")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// The Alertmanagers to notify.
    #[serde(default, deserialize_with = "null_default")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
    /// Webhooks receiving Alertmanager's webhook payload directly (nerve extension).
    #[serde(default, deserialize_with = "null_default")]
    pub webhook_configs: Vec<WebhookConfig>,
    /// How often a still-firing alert is re-sent (default 1m; nerve extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend_delay: Option<PromDuration>,
}

/// One `alerting.webhook_configs[]` entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL POSTed to.
    pub url: String,
    /// Per-request timeout (default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<PromDuration>,
    /// Most alerts per message (0: all).
    #[serde(default)]
    pub max_alerts: usize,
}

config_section! {
[http_client discovery]
/// One group of Alertmanagers (`alerting.alertmanagers[]`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// `http` (default) or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Path prefix of the Alertmanager API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Per-request timeout (Prometheus default `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<PromDuration>,
    /// Alertmanager API version; only `v2` exists in current Alertmanagers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Extra HTTP headers.
    #[serde(default, deserialize_with = "null_default")]
    pub http_headers: BTreeMap<String, serde_json::Value>,
    /// Relabeling of alerts sent to this group.
    #[serde(default, deserialize_with = "null_default")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
}
}

impl AlertingConfig {
    /// Checks relabel rules, API versions and client options.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        for rc in &self.alert_relabel_configs {
            rc.validate("alerting")?;
        }
        for (i, w) in self.webhook_configs.iter().enumerate() {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return invalid(format!(
                    "alerting.webhook_configs[{i}]: url {:?} must be http:// or https://",
                    w.url
                ));
            }
        }
        for (i, am) in self.alertmanagers.iter().enumerate() {
            let ctx = format!("alerting.alertmanagers[{i}]");
            if let Some(v) = &am.api_version
                && v != "v2"
            {
                return invalid(format!(
                    "{ctx}: unsupported api_version {v:?}, only \"v2\" is supported"
                ));
            }
            am.http_client().validate().map_err(InvalidConfig::http_client(&ctx))?;
            for rc in am.relabel_configs.iter().chain(&am.alert_relabel_configs) {
                rc.validate(&ctx)?;
            }
        }
        Ok(())
    }
}
