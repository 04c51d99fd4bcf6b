//! Keys a config may set that nerve accepts (so a `prometheus.yml` loads unchanged) but does
//! not act on: [`ignored_keys`] names each one that is set, for the warning at startup and in
//! `nerve check config`. Every other accepted key takes effect.

use super::Config;
use super::http_client::HttpClientConfig;

/// `global:` keys without effect.
const GLOBAL: &[&str] = &[
    "rule_query_offset",
    "scrape_protocols",
    "query_log_file",
    "scrape_failure_log_file",
    "target_limit",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
];

/// `scrape_configs[]` keys without effect.
const SCRAPE: &[&str] = &[
    "scrape_protocols",
    "fallback_scrape_protocol",
    "scrape_classic_histograms",
    "always_scrape_classic_histograms",
    "target_limit",
    "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor",
    "convert_classic_histograms_to_nhcb",
    "scrape_failure_log_file",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
];

/// `remote_write[]` keys without effect (entries are forwarded by nerve's own queue).
const REMOTE_WRITE: &[&str] = &[
    "name",
    "remote_timeout",
    "send_exemplars",
    "send_native_histograms",
    "round_robin_dns",
    "queue_config",
    "metadata_config",
];

/// The set keys of `section` (serialized: unset keys are left out or `null`, `false`).
fn set_keys(section: &impl serde::Serialize) -> Vec<String> {
    match serde_json::to_value(section) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter(|(_, v)| !matches!(v, serde_json::Value::Null | serde_json::Value::Bool(false)))
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    }
}

/// Appends `prefix.key` for every key of `section` listed in `ignored` that is set, in the
/// order of `ignored`.
fn note(out: &mut Vec<String>, prefix: &str, section: &impl serde::Serialize, ignored: &[&str]) {
    let set = set_keys(section);
    for key in ignored {
        if set.iter().any(|k| k == key) {
            out.push(format!("{prefix}.{key}"));
        }
    }
}

/// `no_proxy` only applies to `proxy_url`'s proxy.
fn note_client(out: &mut Vec<String>, prefix: &str, client: &HttpClientConfig) {
    if client.no_proxy.is_some() && client.proxy_url.is_none() {
        out.push(format!("{prefix}.no_proxy (without proxy_url)"));
    }
}

/// Every key set in `cfg` that has no effect, as its path (e.g. `remote_write[0].queue_config`).
pub fn ignored_keys(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    note(&mut out, "global", &cfg.global, GLOBAL);
    if let Some(e) = &cfg.storage.exemplars {
        note(&mut out, "storage.exemplars", e, &["max_exemplars"]);
    }
    for (i, sc) in cfg.scrape_configs.iter().enumerate() {
        let prefix = format!("scrape_configs[{i}]");
        note(&mut out, &prefix, sc, SCRAPE);
        note_client(&mut out, &prefix, &sc.http_client());
    }
    for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
        let prefix = format!("alerting.alertmanagers[{i}]");
        if !am.http_headers.is_empty() {
            out.push(format!("{prefix}.http_headers"));
        }
        note_client(&mut out, &prefix, &am.http_client());
    }
    if cfg.remote_write.iter().any(|r| !r.write_relabel_configs.is_empty()) {
        out.push("remote_write[].write_relabel_configs (sent without relabeling)".to_owned());
    }
    for (i, rw) in cfg.remote_write.iter().enumerate() {
        let prefix = format!("remote_write[{i}]");
        note(&mut out, &prefix, rw, REMOTE_WRITE);
        note_client(&mut out, &prefix, &rw.http_client());
    }
    let forward = [
        ("remote_write", &cfg.forward.remote_write),
        ("otlp", &cfg.forward.otlp),
        ("loki", &cfg.forward.loki),
    ];
    for (kind, targets) in forward {
        for (i, t) in targets.iter().enumerate() {
            note_client(&mut out, &format!("forward.{kind}[{i}]"), &t.http_client());
        }
    }
    out
}
