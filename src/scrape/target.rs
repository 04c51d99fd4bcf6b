//! From a discovered target to what is scraped: Prometheus' target label rules
//! (`scrape/target.go` `PopulateLabels`, as in 2.42).
//!
//! 1. The discovered labels are the group's labels plus `__address__`; defaults are added
//!    when absent: `job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
//!    `__scrape_timeout__`, and `__param_<name>` for each configured URL parameter.
//! 2. `relabel_configs` run; a drop makes it a dropped target.
//! 3. `__address__` must be non-empty and path-free; without a port, `:80`/`:443` is added
//!    for http/https (Prometheus 2.x).
//! 4. `__meta_*` labels are removed, `instance` defaults to `__address__`.
//! 5. The series labels are all labels not starting with `__`; the URL is built from
//!    `__scheme__`, `__address__`, `__metrics_path__` and the `__param_*` labels.

use std::collections::BTreeMap;
use std::time::Duration;

use nerve_storage::Labels;

use super::relabel::{self, LabelMap, Rule};
use crate::config::units::PromDuration;

/// Everything of a scrape config that shapes its targets.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// `job_name`.
    pub job: String,
    /// `http` or `https`.
    pub scheme: String,
    /// `metrics_path`.
    pub metrics_path: String,
    /// URL parameters.
    pub params: BTreeMap<String, Vec<String>>,
    /// Scrape interval.
    pub interval: Duration,
    /// Scrape timeout.
    pub timeout: Duration,
    /// Compiled `relabel_configs`.
    pub relabel: Vec<Rule>,
}

/// A target ready to be scraped.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSpec {
    /// Labels attached to every series of this target (no `__` names).
    pub labels: Labels,
    /// The labels as discovered, before relabeling (for the targets API).
    pub discovered: LabelMap,
    /// The URL to scrape.
    pub url: String,
    /// Scrape interval (may be changed per target via `__scrape_interval__`).
    pub interval: Duration,
    /// Scrape timeout (may be changed per target via `__scrape_timeout__`).
    pub timeout: Duration,
    /// Identity of the target: a stable hash of its labels and URL. Also seeds its offset.
    pub key: u64,
}

/// The outcome of [`populate`].
#[derive(Clone, Debug)]
pub enum Populated {
    /// Scrape it.
    Active(TargetSpec),
    /// Relabeling dropped it; these are its discovered labels.
    Dropped(LabelMap),
}

/// Applies the target label rules to one discovered target. An `Err` names why the target
/// cannot be scraped (Prometheus logs it and skips the target).
pub fn populate(discovered: LabelMap, s: &PoolSettings) -> Result<Populated, String> {
    let mut lb = discovered;
    let defaults = [
        ("job", s.job.clone()),
        ("__scrape_interval__", PromDuration(s.interval).to_string()),
        ("__scrape_timeout__", PromDuration(s.timeout).to_string()),
        ("__metrics_path__", s.metrics_path.clone()),
        ("__scheme__", s.scheme.clone()),
    ];
    for (k, v) in defaults {
        if lb.get(k).is_none_or(String::is_empty) && !v.is_empty() {
            lb.insert(k.to_owned(), v);
        }
    }
    for (k, v) in &s.params {
        let name = format!("__param_{k}");
        if let Some(first) = v.first()
            && lb.get(&name).is_none_or(String::is_empty)
            && !first.is_empty()
        {
            lb.insert(name, first.clone());
        }
    }
    let discovered = lb.clone();
    if !relabel::process(&mut lb, &s.relabel) {
        return Ok(Populated::Dropped(discovered));
    }
    let mut addr = lb.get("__address__").cloned().unwrap_or_default();
    if addr.is_empty() {
        return Err("no address".to_owned());
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let scheme = lb.get("__scheme__").cloned().unwrap_or_default();
    if !has_port(&addr) {
        match scheme.as_str() {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            other => return Err(format!("invalid scheme: {other:?}")),
        }
        lb.insert("__address__".to_owned(), addr.clone());
    }
    let interval = duration_label(&lb, "__scrape_interval__", s.interval)?;
    let timeout = duration_label(&lb, "__scrape_timeout__", s.timeout)?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".to_owned());
    }
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".to_owned());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({} > {})",
            PromDuration(timeout),
            PromDuration(interval)
        ));
    }
    lb.retain(|k, _| !k.starts_with("__meta_"));
    if lb.get("instance").is_none_or(String::is_empty) {
        lb.insert("instance".to_owned(), addr.clone());
    }
    let url = build_url(&lb, &s.params)?;
    let labels = Labels::from_pairs(
        lb.iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(|e| e.to_string())?;
    for (name, _) in labels.iter() {
        if !nerve_storage::labels::is_valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
    }
    let key = stable_hash(&labels, &url);
    Ok(Populated::Active(TargetSpec {
        labels,
        discovered,
        url,
        interval,
        timeout,
        key,
    }))
}

/// True when `addr` already has a port (`host:port` or `[v6]:port`).
fn has_port(addr: &str) -> bool {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split_once(']').is_some_and(|(_, after)| after.starts_with(':'));
    }
    // More than one colon without brackets is a bare IPv6 address.
    addr.matches(':').count() == 1
}

fn duration_label(lb: &LabelMap, name: &str, default: Duration) -> Result<Duration, String> {
    match lb.get(name) {
        None => Ok(default),
        Some(v) => PromDuration::parse(v)
            .map(PromDuration::get)
            .map_err(|e| format!("error parsing {name} label: {e}")),
    }
}

/// `scheme://address/path?params`: the configured parameters, with `__param_*` labels
/// overriding the first value of their parameter (sorted by name, form-encoded, as Go's
/// `url.Values.Encode`).
fn build_url(lb: &LabelMap, configured: &BTreeMap<String, Vec<String>>) -> Result<String, String> {
    let scheme = lb.get("__scheme__").map_or("http", String::as_str);
    let addr = lb.get("__address__").map_or("", String::as_str);
    let path = lb.get("__metrics_path__").map_or("/metrics", String::as_str);
    let mut url = reqwest::Url::parse(&format!("{scheme}://{addr}")).map_err(|e| format!("invalid target URL: {e}"))?;
    url.set_path(path);
    let mut params: BTreeMap<&str, Vec<&str>> = configured
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    for (k, v) in lb {
        if let Some(p) = k.strip_prefix("__param_") {
            let values = params.entry(p).or_default();
            match values.first_mut() {
                Some(first) => *first = v.as_str(),
                None => values.push(v.as_str()),
            }
        }
    }
    if params.values().any(|v| !v.is_empty()) {
        let mut q = url.query_pairs_mut();
        for (k, values) in &params {
            for v in values {
                q.append_pair(k, v);
            }
        }
    }
    Ok(url.to_string())
}

/// FNV-1a over the labels and URL: stable across processes and versions, so a target keeps
/// its scrape offset over restarts.
pub fn stable_hash(labels: &Labels, url: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for (k, v) in labels.iter() {
        feed(k.as_bytes());
        feed(v.as_bytes());
    }
    feed(url.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(relabel: &str) -> PoolSettings {
        let cfgs: Vec<crate::config::relabel::RelabelConfig> = serde_saphyr::from_str(relabel).unwrap();
        PoolSettings {
            job: "node".into(),
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            params: BTreeMap::from([("module".to_owned(), vec!["http_2xx".to_owned(), "x".to_owned()])]),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            relabel: Rule::compile_all(&cfgs).unwrap(),
        }
    }

    fn group(pairs: &[(&str, &str)]) -> LabelMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_job_instance_and_url() {
        let p = populate(
            group(&[("__address__", "h:9100"), ("__meta_filepath", "/x.json"), ("env", "p")]),
            &settings("[]"),
        )
        .unwrap();
        let Populated::Active(t) = p else { panic!("dropped") };
        let got: Vec<(&str, &str)> = t.labels.iter().collect();
        assert_eq!(got, vec![("env", "p"), ("instance", "h:9100"), ("job", "node")]);
        assert_eq!(t.url, "http://h:9100/metrics?module=http_2xx&module=x");
        assert_eq!(t.discovered.get("__scheme__").map(String::as_str), Some("http"));
        assert_eq!(t.discovered.get("__param_module").map(String::as_str), Some("http_2xx"));
        assert!(t.discovered.contains_key("__meta_filepath"));
    }

    #[test]
    fn relabeling_shapes_url_interval_and_instance() {
        let rules = "- source_labels: [__address__]\n  target_label: __param_target\n\
                     - target_label: __address__\n  replacement: 'exporter:9115'\n\
                     - source_labels: [__param_target]\n  target_label: instance\n\
                     - target_label: __metrics_path__\n  replacement: /probe\n\
                     - target_label: __scrape_interval__\n  replacement: 30s\n";
        let Populated::Active(t) = populate(group(&[("__address__", "example.com")]), &settings(rules)).unwrap() else {
            panic!()
        };
        assert_eq!(
            t.url,
            "http://exporter:9115/probe?module=http_2xx&module=x&target=example.com"
        );
        assert_eq!(t.labels.get("instance"), Some("example.com"));
        assert_eq!(t.interval, Duration::from_secs(30));
    }

    #[test]
    fn default_port_added_and_dropped_targets() {
        let Populated::Active(t) = populate(group(&[("__address__", "localhost")]), &settings("[]")).unwrap() else {
            panic!()
        };
        assert_eq!(t.labels.get("instance"), Some("localhost:80"));
        let p = populate(
            group(&[("__address__", "a:1")]),
            &settings("- source_labels: [__address__]\n  regex: 'a:.*'\n  action: drop\n"),
        )
        .unwrap();
        assert!(matches!(p, Populated::Dropped(d) if d.get("job").map(String::as_str) == Some("node")));
        assert!(populate(group(&[("x", "y")]), &settings("[]")).is_err());
        let bad = "- target_label: __scrape_timeout__\n  replacement: 1m\n";
        let e = populate(group(&[("__address__", "a:1")]), &settings(bad)).unwrap_err();
        assert!(e.contains("greater than"), "{e}");
    }

    #[test]
    fn ipv6_ports() {
        assert!(has_port("[::1]:9100"));
        assert!(!has_port("[::1]"));
        assert!(!has_port("::1"));
        assert!(has_port("h:1"));
    }
}
