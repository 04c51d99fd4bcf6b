//! nerve's own evaluation of the generated SLO rules against the promtool unit-test file
//! `tests/slo/burn.test.yml`: its input series go into a real TSDB, every generated group is
//! evaluated at each evaluation interval (as `promtool test rules` does), and the firing
//! alerts at each `eval_time` must be the ones the file expects. `tests/slo_promtool.rs` runs
//! the same file through promtool, so both evaluators agree on the same input. The burn
//! rates recorded are also checked against a hand calculation.

use std::collections::BTreeMap;

use nerve_query::promql::{Engine, QueryValue};
use nerve_storage::Labels;
use nerve_storage::metrics::{SyncPolicy, Tsdb, TsdbOptions};
use serde::Deserialize;

use super::generate::{Info, generate};
use super::spec;
use crate::config::units::PromDuration;
use crate::rules::alert::AlertState;
use crate::rules::group::{EvalSettings, Group, RuleKind};
use crate::rules::querier::Querier;

/// Where the test's time 0 is (promtool starts at the epoch; only differences matter).
const T0: i64 = 1_700_000_000_000;

/// The part of promtool's unit-test format the burn test uses.
#[derive(Deserialize)]
struct PromtoolFile {
    evaluation_interval: PromDuration,
    tests: Vec<PromtoolTest>,
}

#[derive(Deserialize)]
struct PromtoolTest {
    interval: PromDuration,
    input_series: Vec<InputSeries>,
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Deserialize)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Deserialize)]
struct AlertTest {
    eval_time: PromDuration,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

fn ms(d: PromDuration) -> i64 {
    i64::try_from(d.0.as_millis()).unwrap()
}

/// promtool's expanding notation (`a+bxn`, `a-bxn`, plain numbers, `_`, `_xn`); `None` is
/// a missing sample.
fn expand(values: &str) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for tok in values.split_whitespace() {
        if tok == "_" {
            out.push(None);
        } else if let Some(n) = tok.strip_prefix("_x") {
            out.extend(std::iter::repeat_n(None, n.parse().unwrap()));
        } else if let Some((start_step, n)) = tok.split_once('x') {
            let n: usize = n.parse().unwrap();
            let split = start_step[1..].find(['+', '-']).map(|i| i + 1).unwrap();
            let (a, b) = start_step.split_at(split);
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            out.extend((0..=n).map(|i| Some(a + b * i as f64)));
        } else {
            out.push(Some(tok.parse().unwrap()));
        }
    }
    out
}

/// `name{k="v", ...}` (no escapes in values).
fn series_labels(s: &str) -> Labels {
    let (name, rest) = s.split_once('{').unwrap_or((s, "}"));
    let mut pairs = vec![("__name__".to_owned(), name.trim().to_owned())];
    for kv in rest.trim_end_matches('}').split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = kv.split_once('=').unwrap();
        pairs.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
    }
    Labels::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap()
}

struct Run {
    _dir: tempfile::TempDir,
    /// The input series and their samples, one per `step`.
    input: Vec<(Labels, Vec<Option<f64>>)>,
    step: i64,
    /// How many samples of each series are in the TSDB.
    appended: usize,
    tsdb: std::sync::Arc<Tsdb>,
    q: Querier,
    groups: Vec<Group>,
    settings: EvalSettings,
}

impl Run {
    fn new(test: &PromtoolTest, spec_yaml: &str, eval_ms: i64) -> Run {
        let dir = tempfile::tempdir().unwrap();
        // No fsync: the data dir is thrown away.
        let opts = TsdbOptions {
            sync: SyncPolicy::Never,
            ..TsdbOptions::default()
        };
        let tsdb = Tsdb::open(dir.path(), opts).unwrap();
        let input = test
            .input_series
            .iter()
            .map(|s| (series_labels(&s.series), expand(&s.values)))
            .collect();
        let spec = spec::parse(spec_yaml).unwrap();
        assert_eq!(spec::validate(&spec), Vec::<String>::new());
        let rf = generate(&spec, &Info::default());
        let groups = rf
            .groups
            .iter()
            .map(|g| Group::from_spec(g, "burn.yml", eval_ms).unwrap())
            .collect();
        Run {
            input,
            step: ms(test.interval),
            appended: 0,
            q: Querier::new(tsdb.clone(), None),
            _dir: dir,
            tsdb,
            groups,
            settings: EvalSettings::default(),
        }
    }

    /// Appends the input samples up to `t` (as they would arrive live: the TSDB refuses
    /// rule output older than its head), then evaluates every group at `t`.
    fn eval(&mut self, t: i64) {
        let mut app = self.tsdb.appender();
        let upto = usize::try_from(t / self.step).unwrap() + 1;
        for (labels, values) in &self.input {
            for (i, v) in values.iter().enumerate().take(upto).skip(self.appended) {
                if let Some(v) = v {
                    app.append(labels, T0 + i as i64 * self.step, *v).unwrap();
                }
            }
        }
        app.commit().unwrap();
        self.appended = self.appended.max(upto);
        for g in &mut self.groups {
            let (_, stats) = g.eval(T0 + t, &self.q, &self.settings);
            assert_eq!(
                stats.failures,
                0,
                "{}: {:?}",
                g.name,
                g.rules.iter().map(|r| &r.last_error).collect::<Vec<_>>()
            );
        }
    }

    /// Firing alerts named `name`, as promtool lists them (labels without `alertname`).
    fn firing(&self, name: &str) -> Vec<ExpAlert> {
        let mut out = Vec::new();
        for g in &self.groups {
            for r in &g.rules {
                let RuleKind::Alerting(a) = &r.kind else { continue };
                if r.name != name {
                    continue;
                }
                for al in a.alerts().into_iter().filter(|al| al.state == AlertState::Firing) {
                    let mut labels = al.labels.clone();
                    labels.remove("alertname");
                    out.push(ExpAlert {
                        exp_labels: labels,
                        exp_annotations: al.annotations.clone(),
                    });
                }
            }
        }
        out.sort();
        out
    }

    fn value(&self, q: &str, t: i64) -> f64 {
        match Engine::default().instant(&*self.tsdb, q, T0 + t, None).unwrap() {
            QueryValue::Vector { samples, .. } => {
                assert_eq!(samples.len(), 1, "{q}: {samples:?}");
                samples[0].v
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn burn_scenarios_alert_as_in_the_promtool_test() {
    let file: PromtoolFile = serde_saphyr::from_str(include_str!("../../tests/slo/burn.test.yml")).unwrap();
    let spec_yaml = include_str!("../../tests/slo/burn.yml");
    let eval_ms = ms(file.evaluation_interval);
    for test in &file.tests {
        let mut run = Run::new(test, spec_yaml, eval_ms);
        let mut checks: Vec<&AlertTest> = test.alert_rule_test.iter().collect();
        checks.sort_by_key(|c| ms(c.eval_time));
        let end = checks.last().map_or(0, |c| ms(c.eval_time));
        let mut next = checks.into_iter().peekable();
        let mut t = 0;
        while t <= end {
            run.eval(t);
            while let Some(c) = next.next_if(|c| ms(c.eval_time) == t) {
                let mut want: Vec<&ExpAlert> = c.exp_alerts.iter().collect();
                want.sort();
                let got = run.firing(&c.alertname);
                assert_eq!(got.iter().collect::<Vec<_>>(), want, "at {}", c.eval_time);
            }
            t += eval_ms;
        }
        assert!(next.peek().is_none(), "an eval_time is not a multiple of the interval");
        // Hand calculation at 20h: 1000 requests/min; steady 4 errors/min is a 0.4% error
        // ratio, 4x the 0.1% budget, over every window; the fast burn is 16 errors/min over
        // its last 65 minutes, 16x over 5m and 1h and 1040/1.2M over the whole 20 hours.
        let sel = |slo: &str| format!("{{sloth_slo={slo:?}}}");
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
        let v = run.value(&format!("slo:current_burn_rate:ratio{}", sel("steady-4x")), end);
        assert!(close(v, 4.0), "{v}");
        let v = run.value(&format!("slo:sli_error:ratio_rate1h{}", sel("fast")), end);
        assert!(close(v, 0.016), "{v}");
        let v = run.value(&format!("slo:sli_error:ratio_rate1d{}", sel("fast")), end);
        assert!((v - 1040.0 / 1_200_000.0).abs() < 2e-6, "{v}");
        let v = run.value(
            &format!("slo:period_error_budget_remaining:ratio{}", sel("steady-0.5x")),
            end,
        );
        assert!(close(v, 0.5), "{v}");
    }
}
