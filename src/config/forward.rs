//! nerve's `forward:` section: where to send a copy of everything ingested once nerve is
//! outgrown (Mimir/Thanos/VictoriaMetrics via remote write, Tempo or a collector via
//! OTLP/HTTP, Loki via its push API); see `crate::forward`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::null_default;
use super::section::config_section;
use super::{InvalidConfig, invalid};

/// Remote write 1.0's message name.
pub const V1_MESSAGE: &str = "prometheus.WriteRequest";
/// Remote write 2.0's message name.
pub const V2_MESSAGE: &str = "io.prometheus.write.v2.Request";

/// The `forward:` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Metrics destinations (remote write).
    #[serde(default, deserialize_with = "null_default")]
    pub remote_write: Vec<ForwardTarget>,
    /// Trace/log/metric destinations speaking OTLP.
    #[serde(default, deserialize_with = "null_default")]
    pub otlp: Vec<ForwardTarget>,
    /// Log destinations speaking Loki push.
    #[serde(default, deserialize_with = "null_default")]
    pub loki: Vec<ForwardTarget>,
}

config_section! {
[http_client]
/// One forwarding destination.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardTarget {
    /// Endpoint URL (`http://` or `https://`).
    pub url: String,
    /// Extra HTTP headers (e.g. `X-Scope-OrgID`).
    #[serde(default, deserialize_with = "null_default")]
    pub headers: BTreeMap<String, String>,
    /// Remote write only: `prometheus.WriteRequest` (1.0, the default) or
    /// `io.prometheus.write.v2.Request` (2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protobuf_message: Option<String>,
    /// Bound on this destination's on-disk queue; when full the oldest data is dropped (and
    /// counted). Default 1GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queue_size: Option<super::units::ByteSize>,
}
}

impl ForwardConfig {
    /// The remote-write destinations: `forward.remote_write` plus Prometheus' top-level
    /// `remote_write:` entries (URL, headers, credentials and TLS are used).
    pub fn remote_write_targets(&self, prometheus: &[super::remote_write::RemoteWriteConfig]) -> Vec<ForwardTarget> {
        let mut v = self.remote_write.clone();
        v.extend(prometheus.iter().map(|r| {
            let c = r.http_client();
            ForwardTarget {
                url: r.url.clone(),
                headers: r.headers.clone(),
                protobuf_message: r.protobuf_message.clone(),
                max_queue_size: None,
                basic_auth: c.basic_auth,
                authorization: c.authorization,
                tls_config: c.tls_config,
                proxy_url: c.proxy_url,
                no_proxy: c.no_proxy,
                proxy_from_environment: c.proxy_from_environment,
                follow_redirects: c.follow_redirects,
                enable_http2: c.enable_http2,
            }
        }));
        v
    }

    /// Checks URLs and client options.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let all = [
            ("remote_write", &self.remote_write),
            ("otlp", &self.otlp),
            ("loki", &self.loki),
        ];
        for (kind, targets) in all {
            for (i, t) in targets.iter().enumerate() {
                let ctx = format!("forward.{kind}[{i}]");
                if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
                    return invalid(format!("{ctx}: url {:?} must start with http:// or https://", t.url));
                }
                if let Some(m) = &t.protobuf_message
                    && !(kind == "remote_write" && (m == V1_MESSAGE || m == V2_MESSAGE))
                {
                    return invalid(format!(
                        "{ctx}: protobuf_message {m:?}: want {V1_MESSAGE:?} or {V2_MESSAGE:?}, on remote_write targets only"
                    ));
                }
                t.http_client().validate().map_err(InvalidConfig::http_client(&ctx))?;
            }
        }
        Ok(())
    }
}
