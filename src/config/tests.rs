//! Config parsing tests: a real-looking `prometheus.yml`, nerve's own sections, unknown keys
//! with their line numbers, and the load-time checks.

use std::time::Duration;

use nerve_storage::metrics::SyncPolicy;

use super::relabel::RelabelAction;
use super::storage::FsyncPolicy;
use super::units::PromDuration;
use super::*;

/// A prometheus.yml as people write them (Prometheus docs example, node exporter, relabeling,
/// Alertmanager, remote write).
const PROMETHEUS_YML: &str = r#"
# my global config
global:
  scrape_interval: 15s # Set the scrape interval to every 15 seconds. Default is every 1 minute.
  evaluation_interval: 15s # Evaluate rules every 15 seconds. The default is every 1 minute.
  # scrape_timeout is set to the global default (10s).
  external_labels:
    monitor: 'codelab-monitor'
    region: eu-west-1

# Alertmanager configuration
alerting:
  alertmanagers:
    - static_configs:
        - targets:
          - alertmanager:9093
      timeout: 10s
      api_version: v2
      http_headers:
        X-Tenant:
          values: [ops]

# Load rules once and periodically evaluate them according to the global 'evaluation_interval'.
rule_files:
  - "first_rules.yml"
  - "rules/*.yml"

scrape_configs:
  # The job name is added as a label `job=<job_name>` to any timeseries scraped from this config.
  - job_name: "prometheus"
    # metrics_path defaults to '/metrics'
    # scheme defaults to 'http'.
    static_configs:
      - targets: ["localhost:9090"]

  - job_name: node
    scrape_interval: 30s
    scrape_timeout: 20s
    honor_labels: true
    honor_timestamps: false
    sample_limit: 50000
    static_configs:
      - targets: ['node1:9100', 'node2:9100']
        labels:
          env: prod
    file_sd_configs:
      - files: ['targets/*.json']
        refresh_interval: 5m
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):9100'
        target_label: instance
        replacement: '${1}'
      - action: labeldrop
        regex: tmp_.*
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_gc_.*'
        action: drop

  - job_name: blackbox
    metrics_path: /probe
    scheme: https
    params:
      module: [http_2xx]
    basic_auth:
      username: admin
      password: hunter2
    tls_config:
      ca_file: /etc/ssl/ca.pem
      insecure_skip_verify: false
    static_configs:
      - targets:

  - job_name: api
    authorization:
      type: Bearer
      credentials_file: /run/secrets/token
    static_configs:
      - targets: [api:8080]

remote_write:
  - url: http://mimir:9009/api/v1/push
    remote_timeout: 30s
    headers:
      X-Scope-OrgID: demo
    queue_config:
      max_samples_per_send: 2000
      batch_send_deadline: 5s
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'expensive_.*'
        action: drop

storage:
  tsdb:
    out_of_order_time_window: 10m
"#;

#[test]
fn loads_a_real_prometheus_yml() {
    let cfg = Config::parse(PROMETHEUS_YML).unwrap();
    assert_eq!(cfg.global.scrape_interval(), PromDuration::from_secs(15));
    assert_eq!(cfg.global.scrape_timeout(), PromDuration::from_secs(10));
    assert_eq!(cfg.global.external_labels["monitor"], "codelab-monitor");
    assert_eq!(cfg.rule_files, vec!["first_rules.yml", "rules/*.yml"]);
    assert_eq!(
        cfg.alerting.alertmanagers[0].static_configs[0].targets,
        vec!["alertmanager:9093"]
    );
    assert_eq!(
        cfg.alerting.alertmanagers[0].http_headers["X-Tenant"]["values"][0],
        "ops"
    );
    assert_eq!(cfg.scrape_configs.len(), 4);

    let node = &cfg.scrape_configs[1];
    assert_eq!(node.job_name, "node");
    assert_eq!(node.effective_interval(&cfg.global), PromDuration::from_secs(30));
    assert_eq!(node.effective_timeout(&cfg.global), PromDuration::from_secs(20));
    assert!(node.honor_labels);
    assert_eq!(node.honor_timestamps, Some(false));
    assert_eq!(node.static_configs[0].labels["env"], "prod");
    assert_eq!(node.relabel_configs[1].action, RelabelAction::LabelDrop);
    assert_eq!(node.metric_relabel_configs[0].action, RelabelAction::Drop);
    assert_eq!(
        node.file_sd_configs[0].refresh_interval,
        Some(PromDuration::from_secs(300))
    );

    let bb = &cfg.scrape_configs[2];
    assert_eq!(bb.params["module"], vec!["http_2xx"]);
    assert!(
        bb.static_configs[0].targets.is_empty(),
        "`targets:` with nothing is an empty list"
    );
    assert_eq!(
        bb.basic_auth.as_ref().unwrap().password.as_ref().unwrap().expose(),
        "hunter2"
    );

    assert_eq!(cfg.remote_write[0].headers["X-Scope-OrgID"], "demo");
    // Prometheus' storage.tsdb.out_of_order_time_window reaches the TSDB options.
    assert_eq!(cfg.storage.tsdb_options().out_of_order_window, Duration::from_secs(600));
    // remote_write entries are forwarding destinations now.
    assert_eq!(
        cfg.forward.remote_write_targets(&cfg.remote_write)[0].url,
        cfg.remote_write[0].url
    );
    assert_eq!(
        cfg.unimplemented_sections(),
        [
            "alerting.alertmanagers[0].http_headers",
            "remote_write[].write_relabel_configs (sent without relabeling)",
            "remote_write[0].remote_timeout",
            "remote_write[0].queue_config",
        ]
    );
}

/// Keys accepted without effect are named (for the startup warning); keys that work are not.
#[test]
fn ignored_keys_are_named() {
    let cfg = Config::parse(
        "global:\n  query_log_file: /tmp/q.log\nscrape_configs:\n  - job_name: a\n    target_limit: 5\n    sample_limit: 5\n    no_proxy: localhost\n    proxy_url: http://proxy:3128\n  - job_name: b\n    no_proxy: localhost\nforward:\n  otlp:\n    - url: http://tempo:4318\n      no_proxy: example.com\nstorage:\n  exemplars:\n    max_exemplars: 100000\n",
    )
    .unwrap();
    assert_eq!(
        cfg.unimplemented_sections(),
        [
            "global.query_log_file",
            "storage.exemplars.max_exemplars",
            "scrape_configs[0].target_limit",
            "scrape_configs[1].no_proxy (without proxy_url)",
            "forward.otlp[0].no_proxy (without proxy_url)",
        ]
    );
}

#[test]
fn secrets_are_not_printed() {
    let cfg = Config::parse(PROMETHEUS_YML).unwrap();
    assert!(!format!("{cfg:?}").contains("hunter2"));
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(!json.contains("hunter2"));
    assert!(json.contains("<secret>"));
    assert!(json.contains("\"scrape_interval\":\"15s\""));
}

#[test]
fn nerve_sections() {
    let yaml = r#"
server:
  http_listen: ":9091"
storage:
  path: /var/lib/nerve
  metrics:
    retention: 30d
    retention_size: 10GB
    out_of_order_window: 5m
    block_duration: 2h
    max_exemplars_per_series: 8
  wal:
    fsync: always
    segment_size: 64MB
  logs:
    retention: 7d
  traces:
    retention: 3d
    retention_size: 1GB
limits:
  remote_write_max_body_bytes: 16MB
  remote_write_max_decoded_bytes: 128MB
  remote_write_max_inflight_requests: 8
  max_label_value_length: 2048
auth:
  write:
    bearer_token: abc
  read:
    basic_auth:
      username: grafana
      password: pw
traces:
  sampling:
    probability: 0.25
forward:
  remote_write:
    - url: https://mimir.example/api/v1/push
"#;
    let cfg = Config::parse(yaml).unwrap();
    let o = cfg.storage.tsdb_options();
    assert_eq!(o.retention, Duration::from_secs(30 * 86400));
    assert_eq!(o.max_bytes, Some(10 << 30));
    assert_eq!(o.out_of_order_window, Duration::from_secs(300));
    assert_eq!(o.block_duration, Duration::from_secs(7200));
    assert_eq!(o.max_exemplars_per_series, 8);
    assert_eq!(o.wal_segment_size, 64 << 20);
    assert!(matches!(o.sync, SyncPolicy::Always));
    assert_eq!(cfg.limits.remote_write_max_body(), 16 << 20);
    assert_eq!(cfg.limits.remote_write_max_decoded(), 128 << 20);
    assert_eq!(cfg.limits.remote_write_max_inflight_bytes(), 256 << 20);
    assert_eq!(cfg.limits.remote_write_max_inflight_requests(), 8);
    assert_eq!(cfg.traces.sampling.probability, Some(0.25));
    assert!(cfg.unimplemented_sections().is_empty());
}

#[test]
fn defaults_and_fsync_policies() {
    let cfg = Config::parse("").unwrap();
    let o = cfg.storage.tsdb_options();
    let d = nerve_storage::metrics::TsdbOptions::default();
    assert_eq!(
        (o.retention, o.max_bytes, o.block_duration),
        (d.retention, d.max_bytes, d.block_duration)
    );
    assert_eq!(cfg.limits.remote_write_max_body(), 32 << 20);
    assert_eq!(cfg.limits.remote_write_max_decoded(), 256 << 20);
    assert!(cfg.unimplemented_sections().is_empty());

    // Comments only, and sections with nothing after them.
    let cfg = Config::parse("# nothing\nglobal:\nscrape_configs:\nstorage:\n").unwrap();
    assert!(cfg.scrape_configs.is_empty());

    let fsync = |v: &str| Config::parse(&format!("storage:\n  wal:\n    fsync: {v}\n")).map(|c| c.storage.wal.fsync);
    assert_eq!(fsync("never").unwrap(), Some(FsyncPolicy::Never));
    assert_eq!(
        fsync("1s").unwrap(),
        Some(FsyncPolicy::Interval(PromDuration::from_secs(1)))
    );
    assert_eq!(
        fsync("250ms").unwrap(),
        Some(FsyncPolicy::Interval(PromDuration(Duration::from_millis(250))))
    );
    let e = fsync("sometimes").unwrap_err().to_string();
    assert!(
        e.contains("invalid fsync policy \"sometimes\"") && e.contains("line 3"),
        "{e}"
    );
}

/// The message of a config that fails to parse or validate.
fn error_of(yaml: &str) -> String {
    Config::parse(yaml).unwrap_err().to_string()
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let e = error_of("global:\n  scrape_interval: 15s\n  scrape_intervall: 1m\n");
    assert!(
        e.contains("unknown field `scrape_intervall`") && e.contains("line 3"),
        "{e}"
    );

    let e = error_of(
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['x:1']\n        lables: {a: b}\n",
    );
    assert!(
        e.contains("unknown field `lables`") && e.contains("line 5 column 9"),
        "{e}"
    );

    let e = error_of("storage:\n  metrics:\n    retention: 15d\n    retention_sise: 1GB\n");
    assert!(
        e.contains("unknown field `retention_sise`") && e.contains("line 4"),
        "{e}"
    );

    let e = error_of("# top\n\nremote_read:\n  - url: http://x\n");
    assert!(e.contains("unknown field `remote_read`") && e.contains("line 3"), "{e}");

    let e = error_of("scrape_configs:\n  - job_name: k8s\n    kubernetes_sd_configs:\n      - role: pod\n");
    assert!(
        e.contains("unknown field `kubernetes_sd_configs`") && e.contains("line 3"),
        "{e}"
    );

    let e = error_of("global:\n  scrape_interval: 15s\n  scrape_interval: 30s\n");
    assert!(e.contains("duplicate") && e.contains("line 3"), "{e}");
}

#[test]
fn bad_values_name_the_line() {
    let e = error_of("global:\n  scrape_interval: 15 seconds\n");
    assert!(
        e.contains("not a valid duration string: \"15 seconds\"") && e.contains("line 2"),
        "{e}"
    );
    let e = error_of("storage:\n  metrics:\n    retention_size: lots\n");
    assert!(e.contains("not a valid size") && e.contains("line 3"), "{e}");
    let e = error_of("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: explode\n");
    assert!(e.contains("explode") && e.contains("line 4"), "{e}");
}

#[test]
fn load_time_checks() {
    let cases = [
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            "found multiple scrape configs with job name \"a\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
            "scrape timeout greater than scrape interval",
        ),
        (
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
            "global scrape timeout greater than scrape interval",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://x:1']\n",
            "must not contain a scheme",
        ),
        ("scrape_configs:\n  - job_name: a\n    scheme: ftp\n", "invalid scheme"),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: '('\n        target_label: x\n",
            "invalid relabel regex",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n",
            "requires 'target_label'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: {credentials: t}\n",
            "at most one of basic_auth and authorization",
        ),
        ("remote_write:\n  - url: mimir:9009\n", "must start with http"),
        (
            "alerting:\n  alertmanagers:\n    - api_version: v1\n",
            "unsupported api_version",
        ),
        ("server:\n  http_listen: nowhere\n", "server.http_listen"),
        ("storage:\n  metrics:\n    block_duration: 10s\n", "block_duration"),
        ("storage:\n  wal:\n    segment_size: 1KB\n", "segment_size"),
        (
            "limits:\n  remote_write_max_inflight_bytes: 1MB\n",
            "remote_write_max_inflight_bytes",
        ),
        ("auth:\n  read: {}\n", "auth.read"),
        (
            "auth:\n  write:\n    basic_auth: {username: u}\n",
            "exactly one of password and password_file",
        ),
        ("traces:\n  sampling:\n    probability: 2\n", "probability"),
        ("forward:\n  otlp:\n    - url: tempo:4317\n", "forward.otlp[0]"),
    ];
    for (yaml, want) in cases {
        let e = error_of(yaml);
        assert!(e.contains(want), "{yaml:?}: got {e:?}, want it to contain {want:?}");
    }
}

/// HTTP client key conflicts are typed errors naming their section, in every section that
/// has the keys.
#[test]
fn http_client_conflicts_are_typed() {
    use super::http_client::HttpClientError;
    let cases = [
        (
            "remote_write:\n  - url: http://a\n    basic_auth: {username: u}\n    authorization: {credentials: t}\n",
            "remote_write[0]",
            HttpClientError::BasicAuthAndAuthorization,
        ),
        (
            "forward:\n  loki:\n    - url: http://a\n      authorization: {type: basic}\n",
            "forward.loki[0]",
            HttpClientError::BasicAuthorizationType,
        ),
        (
            "alerting:\n  alertmanagers:\n    - basic_auth: {password: p, password_file: /f}\n",
            "alerting.alertmanagers[0]",
            HttpClientError::PasswordAndFile,
        ),
    ];
    for (yaml, section, want) in cases {
        match Config::parse(yaml) {
            Err(ConfigError::Invalid(e @ InvalidConfig::HttpClient { .. })) => {
                assert_eq!(
                    e,
                    InvalidConfig::HttpClient {
                        section: section.to_owned(),
                        error: want
                    }
                );
                assert_eq!(e.to_string(), format!("{section}: {want}"));
            }
            other => panic!("{yaml}: {other:?}"),
        }
    }
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nerve.yml");
    std::fs::write(&path, "global:\n  bogus: 1\n").unwrap();
    let e = format!("{:#}", Config::load(&path).unwrap_err());
    assert!(
        e.contains("nerve.yml") && e.contains("unknown field `bogus`") && e.contains("line 2"),
        "{e}"
    );
    let e = format!("{:#}", Config::load(&dir.path().join("missing.yml")).unwrap_err());
    assert!(e.contains("missing.yml"), "{e}");
    std::fs::write(&path, PROMETHEUS_YML).unwrap();
    assert!(Config::load(&path).is_ok());
}

#[test]
fn alerting_extensions_and_external_url() {
    let cfg = Config::parse(
        "server:\n  external_url: https://nerve.example.com\nalerting:\n  resend_delay: 30s\n  webhook_configs:\n    - url: http://hooks.local/x\n      max_alerts: 5\n",
    )
    .unwrap();
    assert_eq!(cfg.server.external_url.as_deref(), Some("https://nerve.example.com"));
    assert_eq!(cfg.alerting.resend_delay.unwrap().0, Duration::from_secs(30));
    assert_eq!(cfg.alerting.webhook_configs[0].max_alerts, 5);
    assert!(Config::parse("server:\n  external_url: nerve:9090\n").is_err());
    assert!(Config::parse("alerting:\n  webhook_configs:\n    - url: hooks.local\n").is_err());
    assert!(Config::parse("alerting:\n  webhook_configs:\n    - url: http://x\n      bogus: 1\n").is_err());
}

/// Deeply nested or huge YAML (config files, rule files, file discovery) is an error, never
/// a stack overflow: serde-saphyr's default budget caps nesting at 64 levels.
#[test]
fn deeply_nested_yaml_is_an_error() {
    for text in [
        format!("global: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("global: {}", "{a: ".repeat(20_000)),
        (0..5_000).fold(String::from("global:\n"), |mut s, i| {
            s.push_str(&" ".repeat(i + 2));
            s.push_str("a:\n");
            s
        }),
    ] {
        let e = Config::parse(&text).unwrap_err().to_string();
        assert!(!e.is_empty());
    }
    let rules = format!("groups: {}", "[".repeat(100_000));
    assert!(crate::rules::file::parse(&rules).is_err());
}
