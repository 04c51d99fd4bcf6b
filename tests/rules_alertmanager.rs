//! Alerting end to end with Debian's real `prometheus-alertmanager`: nerve scrapes a target
//! that is down, the rule `up{job="down-target"} == 0` with `for: 5s` goes pending, then
//! firing, and Alertmanager's `/api/v2/alerts` shows the alert with nerve's rendered
//! annotations, external labels and generator URL. The resolution reaches Alertmanager both
//! when the target comes back and when the rule is removed by a reload.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Nerve, Peer, client, eventually, free_port, require};

/// Starts Alertmanager on a free port, clustering off, with its own storage dir.
fn alertmanager(dir: &Path) -> (Peer, String) {
    let bin = require("prometheus-alertmanager");
    let cfg = dir.join("am.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let storage = dir.join("am-data");
    std::fs::create_dir_all(&storage).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let p = Peer(child);
    let url = format!("http://{addr}/-/ready");
    eventually(Duration::from_secs(30), || {
        client().get(&url).send().ok().filter(|r| r.status().is_success())
    })
    .expect("alertmanager did not become ready");
    (p, addr)
}

/// Serves a tiny `/metrics` on `addr` from a background thread (the target "comes back").
fn serve_target(addr: &str) {
    let l = TcpListener::bind(addr).expect("bind target port");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = "target_info 1\n";
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

const RULES: &str = r#"groups:
  - name: availability
    interval: 1s
    rules:
      - alert: TargetDown
        expr: up{job="down-target"} == 0
        for: 5s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of job {{ $labels.job }} is down"
          description: "up is {{ $value }} in {{ $externalLabels.cluster }}"
"#;

struct Setup {
    _dir: tempfile::TempDir,
    _am: Peer,
    am_addr: String,
    target: String,
    rules_file: std::path::PathBuf,
    nerve: Nerve,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (am, am_addr) = alertmanager(dir.path());
    let target = format!("127.0.0.1:{}", free_port());
    let rules_file = dir.path().join("rules.yml");
    std::fs::write(&rules_file, RULES).unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    cluster: test-cluster\n\
             scrape_configs:\n  - job_name: down-target\n    static_configs:\n      - targets: ['{target}']\n\
             rule_files:\n  - rules.yml\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\n"
        ),
    )
    .unwrap();
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let nerve = Nerve::start(&dir.path().join("data"), &["--config", &cfg_arg]);
    Setup {
        _dir: dir,
        _am: am,
        am_addr,
        target,
        rules_file,
        nerve,
    }
}

fn nerve_alert_state(n: &Nerve) -> Option<String> {
    let v = n.get_json("/api/v1/alerts");
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == "TargetDown")
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

fn am_alerts(am: &str) -> Vec<serde_json::Value> {
    client()
        .get(format!("http://{am}/api/v2/alerts"))
        .send()
        .ok()
        .and_then(|r| r.text().ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// Waits for pending, then firing, then the alert in Alertmanager; returns it.
fn fires_and_reaches_alertmanager(s: &Setup) -> serde_json::Value {
    let n = &s.nerve;
    eventually(Duration::from_secs(20), || {
        (nerve_alert_state(n).as_deref() == Some("pending")).then_some(())
    })
    .unwrap_or_else(|| panic!("alert never pending; log:\n{}", n.logs()));
    // Not firing before `for` has passed.
    assert_eq!(nerve_alert_state(n).as_deref(), Some("pending"));
    eventually(Duration::from_secs(20), || {
        (nerve_alert_state(n).as_deref() == Some("firing")).then_some(())
    })
    .unwrap_or_else(|| panic!("alert never firing; log:\n{}", n.logs()));
    let rules = n.get_json("/api/v1/rules?type=alert");
    let rule = &rules["data"]["groups"][0]["rules"][0];
    assert_eq!(rule["type"], "alerting");
    assert_eq!(rule["state"], "firing");
    assert_eq!(rule["health"], "ok");
    assert_eq!(rule["duration"], 5.0);
    assert_eq!(rule["alerts"][0]["value"], "0e+00");
    let recording = n.get_json("/api/v1/rules?type=record");
    assert_eq!(
        recording["data"]["groups"][0]["rules"].as_array().map(Vec::len),
        Some(0)
    );
    eventually(Duration::from_secs(30), || {
        am_alerts(&s.am_addr)
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "TargetDown")
    })
    .unwrap_or_else(|| panic!("alertmanager never got the alert; nerve log:\n{}", n.logs()))
}

fn check_alert(s: &Setup, a: &serde_json::Value) {
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["labels"]["job"], "down-target");
    assert_eq!(a["labels"]["instance"], s.target.as_str());
    assert_eq!(a["labels"]["cluster"], "test-cluster", "external labels are applied");
    assert_eq!(
        a["annotations"]["summary"],
        format!("{} of job down-target is down", s.target).as_str()
    );
    assert_eq!(a["annotations"]["description"], "up is 0 in test-cluster");
    assert_eq!(a["status"]["state"], "active");
    let gen_url = a["generatorURL"].as_str().unwrap_or("");
    assert!(
        gen_url.starts_with(&format!(
            "http://{}/graph?g0.expr=up%7Bjob%3D%22down-target%22%7D",
            s.nerve.addr
        )),
        "{gen_url}"
    );
}

fn resolution_reaches_alertmanager(s: &Setup) {
    // The alert was sent with an endsAt minutes ahead; it leaves Alertmanager's active list
    // within seconds only if the resolution arrived.
    eventually(Duration::from_secs(30), || {
        (!am_alerts(&s.am_addr)
            .iter()
            .any(|a| a["labels"]["alertname"] == "TargetDown"))
        .then_some(())
    })
    .unwrap_or_else(|| panic!("alertmanager never got the resolution; nerve log:\n{}", s.nerve.logs()));
    let m = client().get(s.nerve.url("/metrics")).send().unwrap().text().unwrap();
    let sent = m
        .lines()
        .filter(|l| l.starts_with("nerve_notifications_sent_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    assert!(sent >= 2.0, "firing + resolved notices counted:\n{m}");
    for family in [
        "nerve_rule_evaluations_total{rule_group=",
        "nerve_rule_group_last_duration_seconds{rule_group=",
        "nerve_notifications_queue_length ",
    ] {
        assert!(m.contains(family), "{family} missing from /metrics:\n{m}");
    }
}

#[test]
fn alert_fires_and_resolves_when_the_target_comes_back() {
    let s = setup();
    let a = fires_and_reaches_alertmanager(&s);
    check_alert(&s, &a);
    serve_target(&s.target);
    resolution_reaches_alertmanager(&s);
    eventually(Duration::from_secs(10), || {
        nerve_alert_state(&s.nerve).is_none().then_some(())
    })
    .expect("alert still active in nerve");
}

#[test]
fn alert_resolves_when_its_rule_is_removed_by_reload() {
    let s = setup();
    let a = fires_and_reaches_alertmanager(&s);
    check_alert(&s, &a);
    let reload = || client().post(s.nerve.url("/-/reload")).send().unwrap();
    // An invalid rule file: the reload fails and the running rules stay.
    std::fs::write(&s.rules_file, "groups:\n  - name: x\n    rules:\n      - alert: Y\n").unwrap();
    let r = reload();
    assert_eq!(r.status().as_u16(), 500);
    assert!(r.text().unwrap_or_default().contains("field 'expr' must be set"));
    assert_eq!(nerve_alert_state(&s.nerve).as_deref(), Some("firing"));
    // A changed group restarts with its alerts: still firing, new annotation.
    std::fs::write(&s.rules_file, RULES.replace("is down", "is unreachable")).unwrap();
    assert_eq!(reload().status().as_u16(), 200);
    assert_eq!(
        nerve_alert_state(&s.nerve).as_deref(),
        Some("firing"),
        "state carried over"
    );
    let v = s.nerve.get_json("/api/v1/rules");
    assert_eq!(v["data"]["groups"][0]["rules"][0]["state"], "firing", "{v}");
    eventually(Duration::from_secs(10), || {
        let v = s.nerve.get_json("/api/v1/alerts");
        let summary = v["data"]["alerts"][0]["annotations"]["summary"].as_str()?.to_owned();
        summary.ends_with("is unreachable").then_some(())
    })
    .expect("annotation not updated after the reload");
    std::fs::write(&s.rules_file, "groups: []\n").unwrap();
    let r = reload();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    resolution_reaches_alertmanager(&s);
    let rules = s.nerve.get_json("/api/v1/rules");
    assert_eq!(rules["data"]["groups"].as_array().map(Vec::len), Some(0));
}
