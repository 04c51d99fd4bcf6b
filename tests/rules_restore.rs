//! Restoring `for` state across a restart, as Prometheus does it: an alert pending before a
//! restart stays pending afterwards, and its activeAt (read back from `ALERTS_FOR_STATE`)
//! moves forward by the downtime instead of starting over.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Nerve, eventually, free_port};

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// `(sample timestamp, value)` of `ALERTS_FOR_STATE{alertname="Slow"}` now.
fn for_state(n: &Nerve) -> Option<(f64, f64)> {
    let q = |expr: &str| -> Option<f64> {
        let v = n.get_json(&format!("/api/v1/query?query={expr}"));
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    let sel = "ALERTS_FOR_STATE%7Balertname%3D%22Slow%22%7D";
    Some((q(&format!("timestamp({sel})"))?, q(sel)?))
}

#[test]
fn pending_alert_keeps_its_progress_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let target = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Slow\n        expr: up == 0\n        for: 1h\n",
    )
    .unwrap();
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: down\n    static_configs:\n      - targets: ['{target}']\nrule_files: [rules.yml]\n"
        ),
    )
    .unwrap();
    let cfg_arg = cfg.to_string_lossy().into_owned();
    let data = dir.path().join("data");

    let n = Nerve::start(&data, &["--config", &cfg_arg]);
    let (_, active_at) = eventually(Duration::from_secs(20), || for_state(&n))
        .unwrap_or_else(|| panic!("alert never pending; log:\n{}", n.logs()));
    // Let it be pending for a few seconds, then restart.
    std::thread::sleep(Duration::from_secs(4));
    let (last_before, _) = for_state(&n).unwrap();
    let pending_before = last_before - active_at;
    assert!(pending_before >= 3.0, "{pending_before}");
    assert!(n.stop().success());
    std::thread::sleep(Duration::from_secs(3));
    let restarted = now_s();

    let n = Nerve::start(&data, &["--config", &cfg_arg]);
    let (ts, restored) = eventually(Duration::from_secs(20), || {
        for_state(&n).filter(|(ts, _)| *ts > restarted)
    })
    .unwrap_or_else(|| panic!("no ALERTS_FOR_STATE after the restart; log:\n{}", n.logs()));
    // Restored: the time spent pending before the restart still counts, so activeAt is about
    // `pending_before` seconds before the first evaluation after the restart. Without the
    // restore it would be that evaluation's time itself.
    let downtime = ts - last_before;
    let expect = active_at + downtime;
    assert!(
        (restored - expect).abs() <= 2.5,
        "activeAt {restored}, expected about {expect} (before: {active_at}, downtime {downtime}s)"
    );
    assert!(
        restored < ts - 2.0,
        "activeAt {restored} was not restored (first eval at {ts})"
    );
    let alerts = n.get_json("/api/v1/alerts");
    assert_eq!(alerts["data"]["alerts"][0]["state"], "pending", "{alerts}");
}
