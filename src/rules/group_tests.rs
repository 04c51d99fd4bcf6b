//! Group evaluation against a real TSDB in a temp dir, stepping a fake clock: recording rules
//! equal their expression, and the Prometheus docs' alerting examples go through the states
//! Prometheus would give them.

use std::sync::Arc;

use nerve_query::promql::{Engine, QueryValue};
use nerve_storage::Labels;
use nerve_storage::metrics::{SyncPolicy, Tsdb, TsdbOptions};

use super::*;
use crate::rules::alert::AlertState;
use crate::rules::file;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

struct Fixture {
    _dir: tempfile::TempDir,
    tsdb: Arc<Tsdb>,
    q: Querier,
    settings: EvalSettings,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(
        dir.path(),
        TsdbOptions {
            sync: SyncPolicy::Never,
            ..Default::default()
        },
    )
    .unwrap();
    let q = Querier::new(tsdb.clone(), None);
    Fixture {
        _dir: dir,
        tsdb,
        q,
        settings: EvalSettings {
            external_url: "http://nerve:9090".into(),
            resend_ms: MIN,
            ..Default::default()
        },
    }
}

impl Fixture {
    /// Appends one sample per series at `t`.
    fn put(&self, t: i64, series: &[(&[(&str, &str)], f64)]) {
        let mut app = self.tsdb.appender();
        for (pairs, v) in series {
            app.append(&Labels::from_pairs(pairs.iter().copied()).unwrap(), t, *v)
                .unwrap();
        }
        app.commit().unwrap();
    }

    fn instant(&self, q: &str, t: i64) -> Vec<(Labels, f64)> {
        match Engine::default().instant(&*self.tsdb, q, t, None).unwrap() {
            QueryValue::Vector { samples, .. } => {
                let mut v: Vec<_> = samples.into_iter().map(|s| (s.labels, s.v)).collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                v
            }
            other => panic!("{other:?}"),
        }
    }
}

fn group(yaml: &str) -> Group {
    let f = file::parse(yaml).unwrap();
    assert_eq!(file::validate(&f), Vec::<String>::new());
    Group::from_spec(&f.groups[0], "test.yml", MIN).unwrap()
}

fn alert_states(g: &Group, rule: usize) -> Vec<(String, AlertState)> {
    let RuleKind::Alerting(a) = &g.rules[rule].kind else {
        panic!("not an alert")
    };
    a.alerts()
        .into_iter()
        .map(|a| (a.labels.get("instance").cloned().unwrap_or_default(), a.state))
        .collect()
}

#[test]
fn recording_rule_equals_expression() {
    let f = fixture();
    for i in 0..10 {
        let t = T0 + i * 15_000;
        f.put(
            t,
            &[
                (
                    &[("__name__", "http_requests_total"), ("job", "api"), ("instance", "a")],
                    (i * 10) as f64,
                ),
                (
                    &[("__name__", "http_requests_total"), ("job", "api"), ("instance", "b")],
                    (i * 30) as f64,
                ),
                (
                    &[("__name__", "http_requests_total"), ("job", "web"), ("instance", "c")],
                    (i * 5) as f64,
                ),
            ],
        );
    }
    let mut g = group(
        "groups:\n- name: r\n  labels: {team: core}\n  rules:\n  - record: job:http_requests:rate1m\n    expr: sum by (job) (rate(http_requests_total[1m]))\n    labels: {source: rule}\n",
    );
    let t = T0 + 135_000;
    let (_, stats) = g.eval(t, &f.q, &f.settings);
    assert_eq!(stats.failures, 0, "{:?}", g.rules[0].last_error);
    let direct = f.instant("sum by (job) (rate(http_requests_total[1m]))", t);
    let recorded = f.instant("job:http_requests:rate1m", t);
    assert_eq!(direct.len(), 2);
    assert_eq!(recorded.len(), direct.len());
    for ((dl, dv), (rl, rv)) in direct.iter().zip(&recorded) {
        assert_eq!(dl.get("job"), rl.get("job"));
        assert_eq!(rl.get("source"), Some("rule"));
        assert_eq!(rl.get("team"), Some("core"));
        assert_eq!(rl.get("__name__"), Some("job:http_requests:rate1m"));
        assert_eq!(dv, rv);
    }
    assert_eq!(g.rules[0].health, Health::Ok);
    // A series that disappears from the result gets a stale marker.
    let mut g2 =
        group("groups:\n- name: r\n  rules:\n  - record: x:web\n    expr: http_requests_total{job=\"web\"} > 30\n");
    g2.eval(t, &f.q, &f.settings);
    assert_eq!(f.instant("x:web", t).len(), 1);
    f.put(
        t + 15_000,
        &[(
            &[("__name__", "http_requests_total"), ("job", "web"), ("instance", "c")],
            1.0,
        )],
    );
    g2.eval(t + 20_000, &f.q, &f.settings);
    assert!(
        f.instant("x:web", t + 20_000).is_empty(),
        "stale marker hides the old value"
    );
}

#[test]
fn error_ratio_alert_pending_then_firing_then_resolved() {
    let f = fixture();
    let mut g = group(
        r#"groups:
- name: errors
  interval: 1m
  rules:
  - alert: HighErrorRatio
    expr: sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05
    for: 2m
    labels: {severity: page}
    annotations:
      summary: "error ratio {{ $value | humanizePercentage }}"
"#,
    );
    // 10% errors for 10 minutes, then no more errors.
    let (mut ok, mut err) = (0.0, 0.0);
    let mut states = Vec::new();
    for step in 0..=20 {
        let t = T0 + step * MIN;
        ok += 540.0;
        if step < 10 {
            err += 60.0;
        }
        f.put(
            t,
            &[
                (&[("__name__", "http_requests_total"), ("code", "200")], ok),
                (&[("__name__", "http_requests_total"), ("code", "500")], err),
            ],
        );
        let (sent, _) = g.eval(t, &f.q, &f.settings);
        let RuleKind::Alerting(a) = &g.rules[0].kind else {
            unreachable!()
        };
        states.push((step, a.state(), sent.len()));
    }
    let RuleKind::Alerting(a) = &g.rules[0].kind else {
        unreachable!()
    };
    assert_eq!(g.rules[0].health, Health::Ok, "{:?}", g.rules[0].last_error);
    let state_at = |s: i64| states[s as usize].1;
    // Step 0 has no rate yet; 1 → pending; firing once 2m have passed.
    assert_eq!(state_at(0), AlertState::Inactive);
    assert_eq!(state_at(1), AlertState::Pending);
    assert_eq!(state_at(2), AlertState::Pending);
    assert_eq!(state_at(3), AlertState::Firing);
    assert_eq!(states[3].2, 1, "sent when it starts firing");
    assert_eq!(states[4].2, 0, "not re-sent before the resend delay");
    assert_eq!(states[5].2, 1, "re-sent after the resend delay");
    // The 5m window still sees errors after they stop (last increase at 9m): at 11m it holds
    // 120 errors of 2280 requests (5.3%), at 12m 60 of 2220 (2.7%).
    assert_eq!(state_at(11), AlertState::Firing);
    let resolved_at = (10..=20).find(|s| state_at(*s) == AlertState::Inactive).unwrap();
    assert_eq!(resolved_at, 12);
    assert_eq!(states[resolved_at as usize].2, 1, "the resolution is sent at once");
    assert!(a.alerts()[0].resolved_at_ms.is_some());
    // Annotation rendered from $value, and ALERTS series written while active.
    let alerts_series = f.instant("ALERTS{alertname=\"HighErrorRatio\"}", T0 + 3 * MIN);
    assert_eq!(alerts_series.len(), 1);
    assert_eq!(alerts_series[0].0.get("alertstate"), Some("firing"));
    assert_eq!(alerts_series[0].0.get("severity"), Some("page"));
    let for_state = f.instant("ALERTS_FOR_STATE{alertname=\"HighErrorRatio\"}", T0 + 3 * MIN);
    assert_eq!(for_state[0].1, ((T0 + MIN) / 1000) as f64);
    // Resolution writes stale markers: ALERTS is gone at once, not after the lookback window.
    let alerts_at = |t: i64| f.instant("ALERTS{alertname=\"HighErrorRatio\"}", t).len();
    assert_eq!(alerts_at(T0 + 12 * MIN - 1), 1);
    assert_eq!(alerts_at(T0 + 12 * MIN), 0);
}

#[test]
fn latency_quantile_alert() {
    let f = fixture();
    let mut g = group(
        r#"groups:
- name: latency
  rules:
  - alert: APIHighLatency
    expr: histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m]))) > 0.5
    annotations: {summary: "p90 of {{ $labels.job }} is {{ humanizeDuration $value }}"}
"#,
    );
    for step in 0..=6 {
        let t = T0 + step * MIN;
        let n = step as f64;
        // Per minute: 10 requests ≤ 0.1s, 10 ≤ 1s, 80 ≤ 2.5s → p90 well above 0.5s.
        f.put(
            t,
            &[
                (
                    &[
                        ("__name__", "http_request_duration_seconds_bucket"),
                        ("job", "api"),
                        ("le", "0.1"),
                    ],
                    10.0 * n,
                ),
                (
                    &[
                        ("__name__", "http_request_duration_seconds_bucket"),
                        ("job", "api"),
                        ("le", "1"),
                    ],
                    20.0 * n,
                ),
                (
                    &[
                        ("__name__", "http_request_duration_seconds_bucket"),
                        ("job", "api"),
                        ("le", "2.5"),
                    ],
                    100.0 * n,
                ),
                (
                    &[
                        ("__name__", "http_request_duration_seconds_bucket"),
                        ("job", "api"),
                        ("le", "+Inf"),
                    ],
                    100.0 * n,
                ),
            ],
        );
    }
    let t = T0 + 6 * MIN;
    let (sent, _) = g.eval(t, &f.q, &f.settings);
    assert_eq!(
        alert_states(&g, 0),
        vec![(String::new(), AlertState::Firing)],
        "no `for`: fires at once"
    );
    assert_eq!(sent.len(), 1);
    let p90 = f.instant(
        "histogram_quantile(0.9, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
        t,
    );
    let expected = format!("p90 of api is {}", crate::rules::gofmt::humanize_duration(p90[0].1));
    assert_eq!(sent[0].annotations["summary"], expected);
    assert_eq!(sent[0].labels["job"], "api");
    assert_eq!(
        sent[0].generator_url,
        "http://nerve:9090/graph?g0.expr=histogram_quantile%280.9%2C+sum+by+%28le%2C+job%29+%28rate%28http_request_duration_seconds_bucket%5B5m%5D%29%29%29+%3E+0.5&g0.tab=1"
    );
}

#[test]
fn stale_heartbeat_and_absent_alerts() {
    let f = fixture();
    let mut g = group(
        r#"groups:
- name: batch
  rules:
  - alert: BatchJobStale
    expr: time() - batch_last_success_timestamp_seconds > 300
    for: 1m
  - alert: TargetMissing
    expr: absent(up{job="myjob"})
    for: 2m
    labels: {severity: ticket}
"#,
    );
    let last_success = (T0 / 1000) as f64;
    for step in 0..=8 {
        let t = T0 + step * MIN;
        f.put(
            t,
            &[(&[("__name__", "batch_last_success_timestamp_seconds")], last_success)],
        );
        g.eval(t, &f.q, &f.settings);
        let stale = alert_states(&g, 0);
        let missing = alert_states(&g, 1);
        match step {
            // time() - last ≤ 300 s until step 5; > 300 from step 6 (pending), firing 1m later.
            0..=5 => assert!(stale.is_empty(), "step {step}: {stale:?}"),
            6 => assert_eq!(stale[0].1, AlertState::Pending),
            _ => assert_eq!(stale[0].1, AlertState::Firing),
        }
        match step {
            0 | 1 => assert_eq!(missing[0].1, AlertState::Pending, "step {step}"),
            _ => assert_eq!(missing[0].1, AlertState::Firing, "step {step}"),
        }
    }
    let RuleKind::Alerting(a) = &g.rules[1].kind else {
        unreachable!()
    };
    let al = a.alerts()[0];
    assert_eq!(
        al.labels["job"], "myjob",
        "absent() keeps the selector's equality labels"
    );
    assert_eq!(al.labels["severity"], "ticket");
    // The target appears: the absent() alert resolves.
    f.put(T0 + 9 * MIN, &[(&[("__name__", "up"), ("job", "myjob")], 1.0)]);
    g.eval(T0 + 9 * MIN, &f.q, &f.settings);
    assert_eq!(alert_states(&g, 1)[0].1, AlertState::Inactive);
}

#[test]
fn keep_firing_for_and_limit() {
    let f = fixture();
    let mut g = group(
        "groups:\n- name: k\n  limit: 1\n  rules:\n  - alert: Flappy\n    expr: flappy > 0\n    keep_firing_for: 2m\n",
    );
    f.put(T0, &[(&[("__name__", "flappy"), ("instance", "a")], 1.0)]);
    g.eval(T0, &f.q, &f.settings);
    assert_eq!(alert_states(&g, 0)[0].1, AlertState::Firing);
    f.put(T0 + MIN, &[(&[("__name__", "flappy"), ("instance", "a")], 0.0)]);
    g.eval(T0 + MIN, &f.q, &f.settings);
    assert_eq!(alert_states(&g, 0)[0].1, AlertState::Firing, "kept firing");
    g.eval(T0 + 3 * MIN, &f.q, &f.settings);
    assert_eq!(alert_states(&g, 0)[0].1, AlertState::Inactive, "keep_firing_for passed");
    // Two alerts over a limit of one: the rule fails and drops its alerts.
    f.put(
        T0 + 4 * MIN,
        &[
            (&[("__name__", "flappy"), ("instance", "a")], 1.0),
            (&[("__name__", "flappy"), ("instance", "b")], 1.0),
        ],
    );
    g.eval(T0 + 4 * MIN, &f.q, &f.settings);
    assert_eq!(g.rules[0].health, Health::Err);
    assert_eq!(
        g.rules[0].last_error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    assert!(alert_states(&g, 0).is_empty());
}

#[test]
fn template_error_is_rendered_and_reported() {
    let f = fixture();
    f.put(T0, &[(&[("__name__", "m")], 1.0)]);
    let mut g = group(
        "groups:\n- name: t\n  rules:\n  - alert: Bad\n    expr: m\n    annotations: {s: '{{ humanize \"x\" }}'}\n",
    );
    let (sent, _) = g.eval(T0, &f.q, &f.settings);
    assert_eq!(
        sent[0].annotations["s"],
        "<error expanding template: error executing template __alert_Bad: template: __alert_Bad:1:115: \
         executing \"__alert_Bad\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": \
         invalid syntax>"
    );
    assert_eq!(g.rules[0].health, Health::Err);
    assert!(
        g.rules[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("error calling humanize")
    );
}

#[test]
fn for_state_is_restored_after_restart() {
    let f = fixture();
    let yaml = "groups:\n- name: r\n  rules:\n  - alert: Slow\n    expr: m > 0\n    for: 30m\n";
    let mut before = group(yaml);
    for step in 0..=10 {
        let t = T0 + step * MIN;
        f.put(t, &[(&[("__name__", "m")], 1.0)]);
        before.eval(t, &f.q, &f.settings);
    }
    assert_eq!(alert_states(&before, 0)[0].1, AlertState::Pending);
    // "Restart" 5 minutes later: 10 of 30 minutes were spent pending; the outage is not counted.
    let restart = T0 + 15 * MIN;
    f.put(restart, &[(&[("__name__", "m")], 1.0)]);
    let mut after = group(yaml);
    after.await_restore();
    after.eval(restart, &f.q, &f.settings);
    assert!(
        f.instant("ALERTS_FOR_STATE", restart)
            .iter()
            .all(|(_, v)| *v == (T0 / 1000) as f64),
        "nothing written before the restore"
    );
    after.restore(restart, &f.q);
    let RuleKind::Alerting(a) = &after.rules[0].kind else {
        unreachable!()
    };
    assert_eq!(a.alerts()[0].active_at_ms, T0 + 5 * MIN, "activeAt moved by the outage");
    // 20 more minutes pending after the restart, then it fires.
    for step in 16..=35 {
        let t = T0 + step * MIN;
        f.put(t, &[(&[("__name__", "m")], 1.0)]);
        after.eval(t, &f.q, &f.settings);
        let want = if step < 35 {
            AlertState::Pending
        } else {
            AlertState::Firing
        };
        assert_eq!(alert_states(&after, 0)[0].1, want, "step {step}");
    }
}

#[test]
fn restore_gives_a_grace_period() {
    let f = fixture();
    let yaml = "groups:\n- name: r\n  rules:\n  - alert: Almost\n    expr: m > 0\n    for: 15m\n";
    let mut before = group(yaml);
    for step in 0..=13 {
        let t = T0 + step * MIN;
        f.put(t, &[(&[("__name__", "m")], 1.0)]);
        before.eval(t, &f.q, &f.settings);
    }
    let restart = T0 + 14 * MIN;
    f.put(restart, &[(&[("__name__", "m")], 1.0)]);
    let mut after = group(yaml);
    after.await_restore();
    after.eval(restart, &f.q, &f.settings);
    after.restore(restart, &f.q);
    let RuleKind::Alerting(a) = &after.rules[0].kind else {
        unreachable!()
    };
    // 2 minutes were left (< the 10 minute grace period): it fires 10 minutes after restart.
    assert_eq!(a.alerts()[0].active_at_ms, restart + FOR_GRACE_PERIOD_MS - 15 * MIN);
}

#[test]
fn removed_group_resolves_its_alerts() {
    let f = fixture();
    f.put(T0, &[(&[("__name__", "m"), ("instance", "x")], 1.0)]);
    let mut g = group("groups:\n- name: r\n  rules:\n  - alert: Gone\n    expr: m > 0\n");
    let (sent, _) = g.eval(T0, &f.q, &f.settings);
    assert!(!sent[0].resolved);
    let resolved = g.retire(T0 + 5_000, &f.q, &f.settings);
    assert_eq!(resolved.len(), 1);
    assert!(resolved[0].resolved);
    assert_eq!(resolved[0].ends_at_ms, T0 + 5_000);
    assert!(f.instant("ALERTS", T0 + 5_000).is_empty(), "stale markers written");
}

#[test]
fn state_survives_a_reload() {
    let f = fixture();
    f.put(T0, &[(&[("__name__", "m")], 1.0)]);
    let yaml = "groups:\n- name: r\n  rules:\n  - alert: A\n    expr: m > 0\n    for: 10m\n";
    let mut old = group(yaml);
    old.eval(T0, &f.q, &f.settings);
    let mut new = group(
        &yaml
            .replace("10m", "10m\n    labels: {x: y}")
            .replace("labels: {x: y}", ""),
    );
    new.copy_state(&mut old);
    let RuleKind::Alerting(a) = &new.rules[0].kind else {
        unreachable!()
    };
    assert_eq!(a.alerts()[0].active_at_ms, T0);
}

#[test]
fn reload_resolves_alerts_of_rules_that_went_away() {
    let f = fixture();
    f.put(T0, &[(&[("__name__", "m")], 1.0)]);
    let mut old =
        group("groups:\n- name: r\n  rules:\n  - alert: Kept\n    expr: m > 0\n  - alert: Dropped\n    expr: m > 0\n");
    let (sent, _) = old.eval(T0, &f.q, &f.settings);
    assert_eq!(sent.len(), 2);
    let mut new = group("groups:\n- name: r\n  rules:\n  - alert: Kept\n    expr: m >= 1\n");
    new.copy_state(&mut old);
    let RuleKind::Alerting(a) = &new.rules[0].kind else {
        unreachable!()
    };
    assert_eq!(
        a.alerts()[0].state,
        AlertState::Firing,
        "matched by name and labels, not expr"
    );
    let resolved = old.retire(T0 + 1_000, &f.q, &f.settings);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].labels["alertname"], "Dropped");
    assert!(resolved[0].resolved);
}
