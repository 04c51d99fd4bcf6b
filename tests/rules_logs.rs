//! Log rules (Loki's ruler model): a `language: logql` group counts error lines pushed
//! through the Loki push API; a burst of errors fires the alert, which nerve's built-in
//! webhook notifier delivers as Alertmanager's webhook JSON, and a recording rule writes the
//! count as a metric readable with PromQL. The group shows at Loki's ruler API paths
//! (`/prometheus/api/v1/rules|alerts`), not in the Prometheus API.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, eventually, loki_push_json};
use serde_json::{Value, json};

/// Collects the bodies POSTed to a local webhook.
fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let got2 = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(c) = conn else { continue };
            let mut r = BufReader::new(c);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                got2.lock().unwrap().push(v);
            }
            let _ = r
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (format!("http://{addr}/hook"), got)
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

const RULES: &str = r#"groups:
  - name: checkout-logs
    interval: 1s
    language: logql
    rules:
      - record: app:log_errors:count1m
        expr: sum by (app) (count_over_time({app="checkout"} |= "error" [1m]))
      - alert: ErrorBurst
        expr: sum by (app) (count_over_time({app="checkout"} |= "error" [1m])) > 5
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.app }} logged {{ $value }} errors in a minute"
"#;

#[test]
fn log_rule_fires_on_an_error_burst() {
    let dir = tempfile::tempdir().unwrap();
    let (hook_url, hook) = webhook();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
             alerting:\n  webhook_configs:\n    - url: {hook_url}\n"
        ),
    )
    .unwrap();
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let n = Nerve::start(&dir.path().join("data"), &["--config", &cfg_arg]);

    // A few ordinary lines: no alert.
    let push = |lines: Vec<String>| {
        let t = now_ns();
        let values: Vec<Value> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| json!([(t + i as i64).to_string(), l]))
            .collect();
        loki_push_json(
            &n,
            &json!({"streams": [{"stream": {"app": "checkout", "env": "prod"}, "values": values}]}),
        );
    };
    push((0..3).map(|i| format!("level=info msg=\"order {i} ok\"")).collect());
    push(vec!["level=error msg=\"one error\"".into()]);
    std::thread::sleep(Duration::from_secs(2));
    let v = n.get_json("/prometheus/api/v1/alerts");
    assert_eq!(v["data"]["alerts"].as_array().map(Vec::len), Some(0), "{v}");

    // The burst.
    push(
        (0..9)
            .map(|i| format!("level=error msg=\"payment {i} failed\""))
            .collect(),
    );
    let alert = eventually(Duration::from_secs(20), || {
        let v = n.get_json("/prometheus/api/v1/alerts");
        v["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "ErrorBurst" && a["state"] == "firing")
            .cloned()
    })
    .unwrap_or_else(|| panic!("log alert never fired; log:\n{}", n.logs()));
    assert_eq!(alert["labels"]["app"], "checkout");
    assert_eq!(alert["annotations"]["summary"], "checkout logged 10 errors in a minute");

    // The recording rule's output is a metric.
    let rec = n.get_json("/api/v1/query?query=app%3Alog_errors%3Acount1m");
    assert_eq!(rec["data"]["result"][0]["metric"]["app"], "checkout", "{rec}");
    assert_eq!(rec["data"]["result"][0]["value"][1], "10");

    // The built-in webhook got Alertmanager's webhook payload.
    let msg = eventually(Duration::from_secs(20), || hook.lock().unwrap().first().cloned())
        .unwrap_or_else(|| panic!("webhook got nothing; log:\n{}", n.logs()));
    assert_eq!(msg["version"], "4");
    assert_eq!(msg["status"], "firing");
    assert_eq!(msg["alerts"][0]["status"], "firing");
    assert_eq!(msg["alerts"][0]["labels"]["alertname"], "ErrorBurst");
    assert_eq!(msg["alerts"][0]["labels"]["severity"], "warning");
    assert_eq!(msg["commonLabels"]["app"], "checkout");
    assert!(
        msg["alerts"][0]["generatorURL"]
            .as_str()
            .unwrap_or("")
            .contains("/graph?g0.expr=")
    );

    let rules = n.get_json("/prometheus/api/v1/rules");
    let g = &rules["data"]["groups"][0];
    assert_eq!(g["name"], "checkout-logs");
    assert_eq!(g["interval"], 1.0);
    assert_eq!(g["rules"][0]["type"], "recording");
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][1]["state"], "firing");
    let only = n.get_json("/prometheus/api/v1/rules?rule_name%5B%5D=ErrorBurst");
    let rules = &only["data"]["groups"][0]["rules"];
    assert_eq!(rules.as_array().map(Vec::len), Some(1), "{only}");
    assert_eq!(rules[0]["name"], "ErrorBurst");
    let none = n.get_json("/prometheus/api/v1/rules?rule_group%5B%5D=other");
    assert_eq!(none["data"]["groups"].as_array().map(Vec::len), Some(0), "{none}");
    // Not in the Prometheus API.
    let prom = n.get_json("/api/v1/rules");
    assert_eq!(prom["data"]["groups"].as_array().map(Vec::len), Some(0), "{prom}");
    let prom = n.get_json("/api/v1/alerts");
    assert_eq!(prom["data"]["alerts"].as_array().map(Vec::len), Some(0), "{prom}");
}
