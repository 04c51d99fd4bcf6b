//! SLOs in a running nerve (issue #26).
//!
//! - Alerting end to end: nerve loads an SLO spec through `slo_files`, two hours of request
//!   counters with a steady 2% error ratio are remote-written against a 99.9% objective, and
//!   the page alert (2% is a 20x burn, above 14.4x over 5m and 1h) reaches Debian's real
//!   Alertmanager within two evaluation intervals (plus delivery). The recorded burn rate
//!   equals the hand calculation 0.02 / (1 - 0.999) = 20.
//! - An SLO whose SLI is counted from logs (`sli.logql`, nerve's extension), added by a
//!   config reload: JSON access logs with 5% 5xx lines pushed through the Loki API give a
//!   0.05 error ratio, a 5x burn rate against 99%, and the ticket alert (5x > 3x over 2h and
//!   1d) but not the page alert. An invalid spec is refused by the next reload and the
//!   running SLO rules stay.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Nerve, client, eventually, free_port, require};
use nerve_proto::prompb::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::{Value, json};

/// nerve's rule evaluation interval in this test.
const EVAL: Duration = Duration::from_secs(5);

const SPEC_EVENTS: &str = r#"version: "prometheus/v1"
service: "api"
labels:
  owner: "platform"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="api",code="500"}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="api"}[{{.window}}]))
    alerting:
      name: ApiErrorBudgetBurn
      page_alert:
        labels: {severity: critical}
      ticket_alert:
        labels: {severity: warning}
"#;

/// Alertmanager, killed by its PID when dropped.
struct Alertmanager {
    child: Child,
    addr: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Starts one on a free loopback port, clustering off, routing to nowhere.
    fn start(dir: &Path) -> Alertmanager {
        let cfg = dir.join("alertmanager.yml");
        let route = "route: {receiver: none, group_wait: 1s, group_interval: 1s, repeat_interval: 1h}";
        std::fs::write(&cfg, format!("{route}\nreceivers: [{{name: none}}]\n")).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(require("prometheus-alertmanager"))
            .args([
                format!("--config.file={}", cfg.display()),
                format!("--storage.path={}", dir.join("am").display()),
                format!("--web.listen-address={addr}"),
                "--cluster.listen-address=".to_owned(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = Alertmanager { child, addr };
        let ready = format!("http://{}/-/ready", am.addr);
        let up = eventually(Duration::from_secs(30), || {
            client().get(&ready).send().ok().filter(|r| r.status().is_success())
        });
        assert!(up.is_some(), "alertmanager did not become ready");
        am
    }

    /// Its alerts named `name`.
    fn alerts(&self, name: &str) -> Vec<serde_json::Value> {
        let url = format!("http://{}/api/v2/alerts", self.addr);
        let body = client().get(url).send().and_then(|r| r.text()).unwrap_or_default();
        let all: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let list = all.as_array().cloned().unwrap_or_default();
        list.into_iter().filter(|a| a["labels"]["alertname"] == name).collect()
    }
}

/// Two hours of `http_requests_total{job="api",code=...}` ending at `end_ms`, one sample every
/// 15 s: 1470 successful and 30 failed requests per step, a 2% error ratio throughout.
fn two_hours(end_ms: i64) -> Vec<u8> {
    let step = 15_000;
    let steps = 2 * 3600 * 1000 / step;
    let series = |code: &str, per_step: f64| TimeSeries {
        labels: [("__name__", "http_requests_total"), ("code", code), ("job", "api")]
            .into_iter()
            .map(|(name, value)| Label {
                name: name.into(),
                value: value.into(),
            })
            .collect(),
        samples: (0..=steps)
            .map(|i| Sample {
                value: 1000.0 + per_step * i as f64,
                timestamp: end_ms - (steps - i) * step,
            })
            .collect(),
        ..Default::default()
    };
    let req = WriteRequest {
        timeseries: vec![series("200", 1470.0), series("500", 30.0)],
        ..Default::default()
    };
    nerve_proto::encode_v1(&req)
}

fn instant(n: &Nerve, q: &str) -> Option<f64> {
    let v = n.get_json(&format!("/api/v1/query?query={}", common::encode(q)));
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// The names of the rule groups `path` lists.
fn group_names(n: &Nerve, path: &str) -> Vec<String> {
    let v = n.get_json(path);
    let groups = v["data"]["groups"].as_array().cloned().unwrap_or_default();
    groups
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_owned))
        .collect()
}

/// POSTs `body` to `path` with `headers`; the answer must be 204.
fn post_204(n: &Nerve, path: &str, headers: &[(&str, &str)], body: Vec<u8>) {
    let mut req = client().post(n.url(path)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 204, "{path}: {}", r.text().unwrap_or_default());
}

#[test]
fn steady_two_percent_errors_page_through_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let am = Alertmanager::start(dir.path());
    std::fs::create_dir(dir.path().join("slos")).unwrap();
    std::fs::write(dir.path().join("slos/api.yml"), SPEC_EVENTS).unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{evaluation_interval: {}s}}\nslo_files: ['slos/*.yml']\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n",
            EVAL.as_secs(),
            am.addr
        ),
    )
    .unwrap();
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let n = Nerve::start(&dir.path().join("data"), &["--config", &cfg_arg]);

    // The generated groups run and are listed like rule-file groups.
    let groups = eventually(Duration::from_secs(10), || {
        let g = n.get_json("/api/v1/rules")["data"]["groups"].clone();
        (g.as_array().map(Vec::len) == Some(3)).then_some(g)
    })
    .unwrap_or_else(|| panic!("the SLO groups are not listed; log:\n{}", n.logs()));
    let names = group_names(&n, "/api/v1/rules");
    assert_eq!(
        names,
        [
            "sloth-slo-sli-recordings-api-requests-availability",
            "sloth-slo-meta-recordings-api-requests-availability",
            "sloth-slo-alerts-api-requests-availability",
        ]
    );
    assert!(groups[0]["file"].as_str().unwrap().ends_with("api.yml"), "{groups}");
    assert!(am.alerts("ApiErrorBudgetBurn").is_empty());

    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let rw = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ];
    post_204(&n, "/api/v1/write", &rw, two_hours(now));
    let written = Instant::now();
    let written_s = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();

    let page = eventually(12 * EVAL, || {
        am.alerts("ApiErrorBudgetBurn")
            .into_iter()
            .find(|a| a["labels"]["sloth_severity"] == "page")
    })
    .unwrap_or_else(|| panic!("no page alert in Alertmanager; nerve log:\n{}", n.logs()));
    let took = written.elapsed();
    eprintln!("page alert in Alertmanager {took:?} after the write (evaluation interval {EVAL:?})");
    // The SLI group and the alert group each evaluate at their own offset in the interval:
    // the alert can need one interval for the SLI recordings and one for itself. Measured on
    // nerve's own clock (the alert's `activeAt`: the evaluation that first fired it), so a
    // slow delivery or a busy machine polling late does not count.
    let alerts = n.get_json("/api/v1/alerts");
    let active_at = alerts["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["labels"]["alertname"] == "ApiErrorBudgetBurn" && a["labels"]["sloth_severity"] == "page")
        .and_then(|a| a["activeAt"].as_str())
        .map(unix_seconds)
        .unwrap_or_else(|| panic!("no page alert in /api/v1/alerts: {alerts}"));
    let after = active_at - written_s;
    eprintln!("first firing evaluation {after:.1}s after the write");
    assert!(
        after <= 2.0 * EVAL.as_secs_f64() + 1.0,
        "fired {after:.1}s after the write"
    );
    assert_eq!(page["labels"]["severity"], "critical");
    assert_eq!(page["labels"]["sloth_service"], "api");
    assert_eq!(page["labels"]["sloth_slo"], "requests-availability");
    assert_eq!(page["labels"]["owner"], "platform");
    assert_eq!(
        page["annotations"]["title"],
        "(page) api requests-availability SLO error budget burn rate is too fast."
    );
    // 2% errors in every window: the 2h and 1d windows burn at 20x > 3x too.
    let ticket = eventually(2 * EVAL, || {
        am.alerts("ApiErrorBudgetBurn")
            .into_iter()
            .find(|a| a["labels"]["sloth_severity"] == "ticket")
    });
    assert!(ticket.is_some(), "no ticket alert");

    // Hand calculation: error ratio 30 / 1500 = 0.02 in every window; budget 1 - 0.999;
    // burn rate 0.02 / 0.001 = 20.
    let sel = r#"{sloth_id="api-requests-availability"}"#;
    for w in ["5m", "30m", "1h", "2h"] {
        let v = instant(&n, &format!("slo:sli_error:ratio_rate{w}{sel}")).unwrap();
        assert!((v - 0.02).abs() < 1e-9, "{w}: {v}");
    }
    // The meta group evaluates at its own offset, after the SLI group has recorded.
    let burn = eventually(2 * EVAL, || instant(&n, &format!("slo:current_burn_rate:ratio{sel}"))).unwrap();
    assert!((burn - 20.0).abs() < 1e-6, "burn rate {burn}");
    // The period ratio averages the recorded 5m ratios (all 0.02 so far): the period burn
    // rate is 20 too and the budget remaining 1 - 20 = -19.
    let remaining = eventually(2 * EVAL, || {
        instant(&n, &format!("slo:period_error_budget_remaining:ratio{sel}"))
    })
    .unwrap();
    assert!((remaining + 19.0).abs() < 1e-6, "remaining {remaining}");
}

const SPEC_LOGQL: &str = r#"version: "prometheus/v1"
service: "api"
slos:
  - name: "requests"
    objective: 99
    sli:
      logql:
        error_query: sum(count_over_time({app="api"} | json | status >= 500 [{{.window}}]))
        total_query: sum(count_over_time({app="api"} | json [{{.window}}]))
    alerting:
      name: ApiLogErrorBudgetBurn
"#;

fn firing(n: &Nerve, severity: &str) -> bool {
    let v = n.get_json("/api/v1/alerts");
    v["data"]["alerts"].as_array().into_iter().flatten().any(|a| {
        a["labels"]["alertname"] == "ApiLogErrorBudgetBurn"
            && a["labels"]["sloth_severity"] == severity
            && a["state"] == "firing"
    })
}

#[test]
fn logql_slo_loaded_by_reload_records_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let slos = dir.path().join("slos");
    std::fs::create_dir(&slos).unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "global: {evaluation_interval: 1s}\nslo_files: ['slos/*.yml']\n").unwrap();
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let n = Nerve::start(&dir.path().join("data"), &["--config", &cfg_arg]);
    let reload = || client().post(n.url("/-/reload")).send().unwrap().status().as_u16();
    assert!(group_names(&n, "/api/v1/rules").is_empty());

    std::fs::write(slos.join("api.yml"), SPEC_LOGQL).unwrap();
    assert_eq!(reload(), 200, "{}", n.logs());
    // The LogQL group shows at Loki's ruler path, the PromQL ones at Prometheus'.
    assert_eq!(
        group_names(&n, "/prometheus/api/v1/rules"),
        ["sloth-slo-sli-recordings-api-requests"]
    );
    assert_eq!(
        group_names(&n, "/api/v1/rules"),
        [
            "sloth-slo-meta-recordings-api-requests",
            "sloth-slo-alerts-api-requests"
        ]
    );

    // 200 requests, 10 of them (5%) answered 500.
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
    let values: Vec<Value> = (0..200)
        .map(|i| {
            let status = if i % 20 == 0 { 500 } else { 200 };
            json!([
                (t + i).to_string(),
                json!({"path": "/orders", "status": status}).to_string()
            ])
        })
        .collect();
    let body = json!({"streams": [{"stream": {"app": "api"}, "values": values}]});
    let json_type = [("Content-Type", "application/json")];
    post_204(&n, "/loki/api/v1/push", &json_type, body.to_string().into_bytes());

    let sel = r#"{sloth_id="api-requests"}"#;
    let ratio = eventually(Duration::from_secs(10), || {
        instant(&n, &format!("slo:sli_error:ratio_rate5m{sel}"))
    })
    .unwrap_or_else(|| panic!("no 5m ratio recorded; log:\n{}", n.logs()));
    assert!((ratio - 0.05).abs() < 1e-12, "{ratio}");
    for w in ["30m", "1h", "2h", "6h", "1d", "3d"] {
        let v = eventually(Duration::from_secs(5), || {
            instant(&n, &format!("slo:sli_error:ratio_rate{w}{sel}"))
        });
        assert_eq!(v, Some(0.05), "{w}");
    }
    // 0.05 / (1 - 0.99) = 5.
    let burn = eventually(Duration::from_secs(10), || {
        instant(&n, &format!("slo:current_burn_rate:ratio{sel}"))
    })
    .unwrap();
    assert!((burn - 5.0).abs() < 1e-9, "{burn}");
    assert!(
        eventually(Duration::from_secs(10), || firing(&n, "ticket").then_some(())).is_some(),
        "no ticket alert; log:\n{}",
        n.logs()
    );
    assert!(!firing(&n, "page"));

    // A broken spec is refused; the running SLO rules stay.
    std::fs::write(
        slos.join("api.yml"),
        SPEC_LOGQL.replace("objective: 99", "objective: 0"),
    )
    .unwrap();
    assert_eq!(reload(), 500);
    assert_eq!(group_names(&n, "/api/v1/rules").len(), 2);
}

/// Seconds since the epoch of an RFC 3339 UTC time as the API prints it
/// (`2026-12-08T02:20:13.123456789Z`).
fn unix_seconds(t: &str) -> f64 {
    let num = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from 1970-01-01 to y-m-d (proleptic Gregorian), counting years from March.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d - 719_469;
    let secs = days * 86_400 + num(11..13) * 3600 + num(14..16) * 60 + num(17..19);
    let frac = t[19..].trim_end_matches('Z');
    secs as f64
        + if frac.is_empty() {
            0.0
        } else {
            frac.parse::<f64>().unwrap()
        }
}
