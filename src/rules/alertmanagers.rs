//! Where alerts go: `alerting.alertmanagers[]` (static and `file_sd_configs` targets,
//! rewritten by `relabel_configs` with Prometheus' `__address__`, `__scheme__` and
//! `__alerts_path__` labels) and `alerting.webhook_configs[]`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::config::alerting::{AlertingConfig, AlertmanagerConfig};
use crate::config::http_client::HttpClientConfig;
use crate::scrape::discovery::{FileSd, static_targets};
use crate::scrape::relabel::{self, LabelMap, Rule as RelabelRule};

/// Per-request timeout when the config sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One place alerts are POSTed to.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// The full URL.
    pub url: String,
    /// Webhook payload (true) or Alertmanager API v2 (false).
    pub webhook: bool,
    /// Most alerts per webhook message (0: all).
    pub max_alerts: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra headers (credentials).
    pub headers: HeaderMap,
    /// This target's `alert_relabel_configs`.
    pub relabel: Vec<RelabelRule>,
    /// The HTTP client (its `tls_config`).
    pub client: reqwest::Client,
}

/// One `alertmanagers[]` entry.
#[derive(Debug)]
struct AmGroup {
    scheme: String,
    alerts_path: String,
    timeout: Duration,
    headers: HeaderMap,
    relabel: Vec<RelabelRule>,
    alert_relabel: Vec<RelabelRule>,
    client: reqwest::Client,
    statics: Vec<LabelMap>,
    file_sd: FileSd,
}

/// The configured targets, with file discovery state. Not thread-safe on its own; the
/// notifier keeps it behind a lock.
#[derive(Debug, Default)]
pub(super) struct Discovery {
    groups: Vec<AmGroup>,
    webhooks: Vec<Target>,
}

/// A secret given inline or in a file (read now; a trailing newline is dropped). A file that
/// cannot be read is logged and the credential left out.
fn secret(inline: Option<&str>, file: Option<&std::path::Path>) -> Option<String> {
    if let Some(s) = inline {
        return Some(s.to_owned());
    }
    let path = file?;
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s.trim_end_matches(['\r', '\n']).to_owned()),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "alertmanager credentials file unreadable");
            None
        }
    }
}

/// An HTTP client trusting what `tls` says (system roots without it).
fn http_client(cfg: &HttpClientConfig) -> Result<reqwest::Client, String> {
    crate::tls::client_builder(cfg)?
        .build()
        .map_err(|e| format!("alertmanager HTTP client: {e}"))
}

fn auth_headers(am: &AlertmanagerConfig) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(b) = &am.basic_auth {
        let user = secret(
            Some(b.username.as_str()).filter(|u| !u.is_empty()),
            b.username_file.as_deref(),
        )
        .unwrap_or_default();
        let pass = secret(b.password.as_ref().map(|p| p.expose()), b.password_file.as_deref()).unwrap_or_default();
        let token = STANDARD.encode(format!("{user}:{pass}"));
        if let Ok(v) = HeaderValue::from_str(&format!("Basic {token}")) {
            headers.insert(AUTHORIZATION, v);
        }
    }
    if let Some(a) = &am.authorization
        && let Some(c) = secret(
            a.credentials.as_ref().map(|c| c.expose()),
            a.credentials_file.as_deref(),
        )
    {
        let kind = a.kind.as_deref().unwrap_or("Bearer");
        if let Ok(v) = HeaderValue::from_str(&format!("{kind} {c}")) {
            headers.insert(AUTHORIZATION, v);
        }
    }
    headers
}

impl Discovery {
    /// Compiles the `alerting` section (files are read by [`Discovery::refresh`]).
    pub fn new(cfg: &AlertingConfig) -> Result<Self, String> {
        let mut groups = Vec::new();
        for am in &cfg.alertmanagers {
            let prefix = am.path_prefix.as_deref().unwrap_or("").trim_end_matches('/');
            groups.push(AmGroup {
                scheme: am.scheme.clone().unwrap_or_else(|| "http".into()),
                alerts_path: format!("{prefix}/api/v2/alerts"),
                timeout: am.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
                headers: auth_headers(am),
                relabel: RelabelRule::compile_all(&am.relabel_configs)?,
                alert_relabel: RelabelRule::compile_all(&am.alert_relabel_configs)?,
                client: http_client(&am.http_client())?,
                statics: static_targets(&am.static_configs),
                file_sd: FileSd::new(&am.file_sd_configs),
            });
        }
        let webhook_client = http_client(&HttpClientConfig::default())?;
        let webhooks = cfg
            .webhook_configs
            .iter()
            .map(|w| Target {
                url: w.url.clone(),
                webhook: true,
                max_alerts: w.max_alerts,
                timeout: w.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
                headers: HeaderMap::new(),
                relabel: Vec::new(),
                client: webhook_client.clone(),
            })
            .collect();
        Ok(Discovery { groups, webhooks })
    }

    /// How often discovery files should be re-read; None without file discovery.
    pub fn poll_interval(&self) -> Option<Duration> {
        self.groups.iter().filter_map(|g| g.file_sd.poll_interval()).min()
    }

    /// Re-reads discovery files; true if the targets may have changed.
    pub fn refresh(&mut self) -> bool {
        let mut changed = false;
        for g in &mut self.groups {
            changed |= g.file_sd.refresh();
        }
        changed
    }

    /// Every target now: Alertmanagers (after relabeling, de-duplicated) then webhooks.
    pub fn targets(&self) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for g in &self.groups {
            for found in g.statics.iter().chain(g.file_sd.targets()) {
                let mut lb = found.clone();
                lb.entry("__scheme__".into()).or_insert_with(|| g.scheme.clone());
                lb.entry("__alerts_path__".into())
                    .or_insert_with(|| g.alerts_path.clone());
                if !relabel::process(&mut lb, &g.relabel) {
                    continue;
                }
                let get = |k: &str| lb.get(k).map_or("", String::as_str);
                if get("__address__").is_empty() {
                    continue;
                }
                let url = format!(
                    "{}://{}{}",
                    get("__scheme__"),
                    get("__address__"),
                    get("__alerts_path__")
                );
                if out.iter().any(|t| t.url == url) {
                    continue;
                }
                out.push(Target {
                    url,
                    webhook: false,
                    max_alerts: 0,
                    timeout: g.timeout,
                    headers: g.headers.clone(),
                    relabel: g.alert_relabel.clone(),
                    client: g.client.clone(),
                });
            }
        }
        out.extend(self.webhooks.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn urls(yaml: &str) -> Vec<String> {
        let cfg = Config::parse(yaml).unwrap();
        let mut d = Discovery::new(&cfg.alerting).unwrap();
        d.refresh();
        d.targets().into_iter().map(|t| t.url).collect()
    }

    #[test]
    fn basic_auth_is_sent_in_base64() {
        let cfg = Config::parse(
            "alerting:\n  alertmanagers:\n  - basic_auth: {username: user, password: pass}\n    static_configs: [{targets: ['am:9093']}]\n",
        )
        .unwrap();
        let h = auth_headers(&cfg.alerting.alertmanagers[0]);
        assert_eq!(h.get(AUTHORIZATION).unwrap(), "Basic dXNlcjpwYXNz");
    }

    #[test]
    fn static_file_and_relabeled_targets() {
        let dir0 = tempfile::tempdir().unwrap();
        let tok = dir0.path().join("token");
        std::fs::write(&tok, "s3cret\n").unwrap();
        let cfg = Config::parse(&format!(
            "alerting:\n  alertmanagers:\n    - authorization: {{credentials_file: '{}'}}\n      static_configs: [{{targets: ['am:9093']}}]\n",
            tok.display()
        ))
        .unwrap();
        let mut d = Discovery::new(&cfg.alerting).unwrap();
        d.refresh();
        assert_eq!(d.targets()[0].headers[AUTHORIZATION], "Bearer s3cret");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("am.json");
        std::fs::write(
            &f,
            r#"[{"targets": ["am2:9093", "drop-me:9093"], "labels": {"env": "prod"}}]"#,
        )
        .unwrap();
        let yaml = format!(
            "alerting:\n  alertmanagers:\n    - path_prefix: /am/\n      static_configs: [{{targets: ['am1:9093']}}]\n      file_sd_configs: [{{files: ['{}']}}]\n      relabel_configs:\n        - source_labels: [__address__]\n          regex: drop-me.*\n          action: drop\n        - source_labels: [env]\n          regex: prod\n          target_label: __scheme__\n          replacement: https\n  webhook_configs:\n    - url: http://hook/x\n",
            f.display()
        );
        assert_eq!(
            urls(&yaml),
            [
                "http://am1:9093/am/api/v2/alerts",
                "https://am2:9093/am/api/v2/alerts",
                "http://hook/x"
            ]
        );
    }
}
