//! The Prometheus `remote_write:` section: each entry becomes a forwarding destination (see
//! `crate::forward`) sent with its URL, headers, credentials and TLS settings; queue tuning and
//! `write_relabel_configs` are accepted but not applied (startup warns about the latter).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::null_default;
use super::relabel::RelabelConfig;
use super::section::config_section;
use super::units::PromDuration;
use super::{InvalidConfig, invalid};

config_section! {
[http_client]
/// One remote-write destination (`remote_write[]`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// Endpoint URL.
    pub url: String,
    /// Name used in metrics and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Per-request timeout (Prometheus default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_timeout: Option<PromDuration>,
    /// Extra HTTP headers.
    #[serde(default, deserialize_with = "null_default")]
    pub headers: BTreeMap<String, String>,
    /// `prometheus.WriteRequest` (1.0) or `io.prometheus.write.v2.Request` (2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protobuf_message: Option<String>,
    /// Relabeling applied before sending.
    #[serde(default, deserialize_with = "null_default")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// Send exemplars.
    #[serde(default)]
    pub send_exemplars: bool,
    /// Send native histograms.
    #[serde(default)]
    pub send_native_histograms: bool,
    /// Spread requests over all A records of the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_robin_dns: Option<bool>,
    /// Sending queue tuning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_config: Option<QueueConfig>,
    /// Metadata sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_config: Option<MetadataConfig>,
}
}

/// `remote_write[].queue_config`: Prometheus' sharded sending queue.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples buffered per shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u64>,
    /// Maximum shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_shards: Option<u64>,
    /// Minimum shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_shards: Option<u64>,
    /// Samples per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_samples_per_send: Option<u64>,
    /// Longest wait before sending a partial batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_send_deadline: Option<PromDuration>,
    /// Initial retry backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_backoff: Option<PromDuration>,
    /// Maximum retry backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<PromDuration>,
    /// Retry on HTTP 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on_http_429: Option<bool>,
    /// Drop samples older than this instead of sending them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_age_limit: Option<PromDuration>,
}

/// `remote_write[].metadata_config`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataConfig {
    /// Send metric metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<bool>,
    /// How often to send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_interval: Option<PromDuration>,
    /// Entries per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_samples_per_send: Option<u64>,
}

impl RemoteWriteConfig {
    /// Checks the URL shape, protobuf message name, client options and relabel rules.
    pub fn validate(&self, index: usize) -> Result<(), InvalidConfig> {
        let ctx = format!("remote_write[{index}]");
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return invalid(format!("{ctx}: url {:?} must start with http:// or https://", self.url));
        }
        if let Some(m) = &self.protobuf_message
            && m != "prometheus.WriteRequest"
            && m != "io.prometheus.write.v2.Request"
        {
            return invalid(format!("{ctx}: unknown protobuf_message {m:?}"));
        }
        self.http_client()
            .validate()
            .map_err(InvalidConfig::http_client(&ctx))?;
        for rc in &self.write_relabel_configs {
            rc.validate(&ctx)?;
        }
        Ok(())
    }
}
