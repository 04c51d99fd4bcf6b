//! [`config_section!`]: declares a config section struct from its own fields plus groups of
//! keys several sections share, so each shared key is declared once:
//!
//! - `http_client`: the HTTP client keys of Prometheus' `common/config` (`basic_auth`,
//!   `authorization`, `tls_config`, `proxy_url`, `no_proxy`, `proxy_from_environment`,
//!   `follow_redirects`, `enable_http2`); the section gets an `http_client()` method returning
//!   them as one [`HttpClientConfig`](super::http_client::HttpClientConfig).
//! - `scrape_settings`: the scrape keys `global` sets defaults for and each scrape job may
//!   override (limits, protocols, name validation, failure log).
//! - `discovery`: the targets of a job or an Alertmanager group (`static_configs`,
//!   `file_sd_configs`) and their `relabel_configs`.
//!
//! The keys are written into each section rather than `#[serde(flatten)]`ed: flattening keeps
//! `deny_unknown_fields` but loses the line and column of errors and the list of expected keys
//! (serde buffers the flattened part). Group keys follow the section's own keys.

/// See the [module docs](self). `config_section! { [groups] #[attrs] pub struct Name { fields } }`;
/// the group `http_client_value` declares the HTTP client keys without the `http_client()`
/// method (for `HttpClientConfig` itself).
macro_rules! config_section {
    ([$($group:ident)*] $(#[$attr:meta])* pub struct $name:ident { $($own:tt)* }) => {
        $crate::config::section::config_section!(@munch [$($group)*] [$(#[$attr])* pub struct $name] { $($own)* });
        $($crate::config::section::config_section!(@impl $group $name);)*
    };
    (@munch [http_client $($rest:ident)*] [$($head:tt)*] { $($fields:tt)* }) => {
        $crate::config::section::config_section!(@munch [$($rest)*] [$($head)*] {
            $($fields)*
            /// HTTP basic auth.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub basic_auth: Option<$crate::config::http_client::BasicAuth>,
            /// The `Authorization` header (e.g. a bearer token).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub authorization: Option<$crate::config::http_client::Authorization>,
            /// TLS settings.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tls_config: Option<$crate::config::http_client::TlsConfig>,
            /// HTTP proxy URL.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_url: Option<String>,
            /// Hosts that bypass `proxy_url` (comma-separated).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub no_proxy: Option<String>,
            /// Take the proxy from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub proxy_from_environment: Option<bool>,
            /// Follow HTTP redirects (default true).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub follow_redirects: Option<bool>,
            /// Allow HTTP/2 (default true).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub enable_http2: Option<bool>,
        });
    };
    (@munch [http_client_value $($rest:ident)*] [$($head:tt)*] { $($fields:tt)* }) => {
        $crate::config::section::config_section!(@munch [http_client $($rest)*] [$($head)*] { $($fields)* });
    };
    (@munch [scrape_settings $($rest:ident)*] [$($head:tt)*] { $($fields:tt)* }) => {
        $crate::config::section::config_section!(@munch [$($rest)*] [$($head)*] {
            $($fields)*
            /// Accepted protocols in preference order (`OpenMetricsText1.0.0`,
            /// `PrometheusText0.0.4`, ...).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub scrape_protocols: Option<Vec<String>>,
            /// File to log failed scrapes to.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub scrape_failure_log_file: Option<std::path::PathBuf>,
            /// Per-scrape body size limit.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub body_size_limit: Option<$crate::config::units::ByteSize>,
            /// Per-scrape sample limit; exceeding it fails the scrape (0 = none).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub sample_limit: Option<u64>,
            /// Per-series label count limit.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub label_limit: Option<u64>,
            /// Label name length limit.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub label_name_length_limit: Option<u64>,
            /// Label value length limit.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub label_value_length_limit: Option<u64>,
            /// Limit on targets after relabeling.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub target_limit: Option<u64>,
            /// Number of dropped targets kept for the targets API.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub keep_dropped_targets: Option<u64>,
            /// `legacy` or `utf8`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub metric_name_validation_scheme: Option<String>,
            /// `underscores`, `dots`, `values` or `allow-utf-8`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub metric_name_escaping_scheme: Option<String>,
        });
    };
    (@munch [discovery $($rest:ident)*] [$($head:tt)*] { $($fields:tt)* }) => {
        $crate::config::section::config_section!(@munch [$($rest)*] [$($head)*] {
            $($fields)*
            /// Targets listed in the config.
            #[serde(default, deserialize_with = "crate::config::null_default")]
            pub static_configs: Vec<$crate::config::scrape::StaticConfig>,
            /// Targets read from files.
            #[serde(default, deserialize_with = "crate::config::null_default")]
            pub file_sd_configs: Vec<$crate::config::scrape::FileSdConfig>,
            /// Relabeling of the discovered targets.
            #[serde(default, deserialize_with = "crate::config::null_default")]
            pub relabel_configs: Vec<$crate::config::relabel::RelabelConfig>,
        });
    };
    (@munch [] [$($head:tt)*] { $($fields:tt)* }) => {
        $($head)* { $($fields)* }
    };
    (@impl http_client $name:ident) => {
        impl $name {
            /// The section's HTTP client keys.
            pub fn http_client(&self) -> $crate::config::http_client::HttpClientConfig {
                $crate::config::http_client::HttpClientConfig {
                    basic_auth: self.basic_auth.clone(),
                    authorization: self.authorization.clone(),
                    tls_config: self.tls_config.clone(),
                    proxy_url: self.proxy_url.clone(),
                    no_proxy: self.no_proxy.clone(),
                    proxy_from_environment: self.proxy_from_environment,
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                }
            }
        }
    };
    (@impl $group:ident $name:ident) => {};
}

pub(crate) use config_section;
