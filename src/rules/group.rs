//! A rule group: its rules in order, one evaluation at a given timestamp (each rule's output
//! is committed before the next rule runs, so later rules see it), stale markers for series a
//! rule stopped producing, per-rule health, and state carried over a reload.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use nerve_storage::Labels;
use nerve_storage::metrics::STALE_NAN;

use super::alert::{AlertingRule, Notification, TemplateEnv};
use super::file::{GroupSpec, Language};
use super::querier::Querier;
use super::recording::RecordingRule;
use super::template_funcs::query_escape;

/// How far back `ALERTS_FOR_STATE` is read at startup (Prometheus' outage tolerance).
pub const OUTAGE_TOLERANCE_MS: i64 = 3600 * 1000;
/// Least time an alert restored at startup stays pending (Prometheus' `for` grace period).
pub const FOR_GRACE_PERIOD_MS: i64 = 10 * 60 * 1000;

/// Health of a rule after its last evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation succeeded.
    Ok,
    /// Last evaluation failed.
    Err,
}

impl Health {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// The two kinds of rule.
#[derive(Debug)]
pub enum RuleKind {
    /// `record:`.
    Recording(RecordingRule),
    /// `alert:`.
    Alerting(AlertingRule),
}

/// A rule with its source text and evaluation status.
#[derive(Debug)]
pub struct Rule {
    /// Recording or alerting.
    pub kind: RuleKind,
    /// The rule's name.
    pub name: String,
    /// Expression text.
    pub expr: String,
    /// Labels as written (API).
    pub labels: BTreeMap<String, String>,
    /// Annotations as written (API).
    pub annotations: BTreeMap<String, String>,
    /// Health after the last evaluation.
    pub health: Health,
    /// Error of the last evaluation.
    pub last_error: Option<String>,
    /// When it was last evaluated (ms).
    pub last_eval_ms: Option<i64>,
    /// How long its last evaluation took (s).
    pub eval_seconds: f64,
    /// Series written at the previous evaluation (for stale markers).
    prev_series: HashSet<Labels>,
}

/// A group of rules evaluated together.
#[derive(Debug)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Evaluation interval (ms).
    pub interval_ms: i64,
    /// Output limit per rule (0: none).
    pub limit: usize,
    /// Expression language.
    pub language: Language,
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// When the group was last evaluated (ms).
    pub last_eval_ms: Option<i64>,
    /// How long its last evaluation took (s).
    pub eval_seconds: f64,
}

/// Settings every evaluation uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalSettings {
    /// `global.external_labels` (templates' `$externalLabels`).
    pub external_labels: BTreeMap<String, String>,
    /// nerve's URL (templates' `$externalURL`, alerts' `generatorURL`).
    pub external_url: String,
    /// How often a firing alert is re-sent (ms).
    pub resend_ms: i64,
}

/// What one evaluation did, for self-metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvalStats {
    /// Rules evaluated.
    pub rules: usize,
    /// Rules that failed.
    pub failures: usize,
}

impl Group {
    /// Compiles a group; `default_interval_ms` applies when the group sets none.
    pub fn from_spec(spec: &GroupSpec, file: &str, default_interval_ms: i64) -> Result<Group, String> {
        let mut rules = Vec::with_capacity(spec.rules.len());
        for r in &spec.rules {
            let kind = match (r.record(), r.alert()) {
                (Some(name), None) => RuleKind::Recording(RecordingRule::new(name, &spec.labels, &r.labels)),
                (None, Some(name)) => RuleKind::Alerting(AlertingRule::new(
                    name,
                    ms(r.for_.map(|d| d.0)),
                    ms(r.keep_firing_for.map(|d| d.0)),
                    &spec.labels,
                    &r.labels,
                    &r.annotations,
                )?),
                _ => {
                    return Err(format!(
                        "group {:?}: a rule needs exactly one of record and alert",
                        spec.name
                    ));
                }
            };
            rules.push(Rule {
                kind,
                name: r.name().to_owned(),
                expr: r.expr.clone(),
                labels: r.labels.clone(),
                annotations: r.annotations.clone(),
                health: Health::Unknown,
                last_error: None,
                last_eval_ms: None,
                eval_seconds: 0.0,
                prev_series: HashSet::new(),
            });
        }
        let interval_ms = match spec.interval {
            Some(d) if !d.0.is_zero() => ms(Some(d.0)),
            _ => default_interval_ms,
        };
        Ok(Group {
            name: spec.name.clone(),
            file: file.to_owned(),
            interval_ms: interval_ms.max(1),
            limit: usize::try_from(spec.limit.unwrap_or(0).max(0)).unwrap_or(usize::MAX),
            language: spec.language,
            rules,
            last_eval_ms: None,
            eval_seconds: 0.0,
        })
    }

    /// Marks alerting rules as waiting for [`Group::restore`] (startup): until then they
    /// write no `ALERTS`/`ALERTS_FOR_STATE` samples.
    pub fn await_restore(&mut self) {
        for r in &mut self.rules {
            if let RuleKind::Alerting(a) = &mut r.kind {
                a.restored = false;
            }
        }
    }

    /// Evaluates every rule at `t_ms`, writing output (and stale markers) through `q`, and
    /// returns the alerts due to be sent.
    pub fn eval(&mut self, t_ms: i64, q: &Querier, s: &EvalSettings) -> (Vec<Notification>, EvalStats) {
        let started = Instant::now();
        let mut stats = EvalStats::default();
        let query_fn = |text: &str| q.template_query(text, t_ms);
        let env = TemplateEnv {
            external_labels: &s.external_labels,
            external_url: &s.external_url,
            query: Some(&query_fn),
        };
        for rule in &mut self.rules {
            let rule_started = Instant::now();
            stats.rules += 1;
            let mut template_errors = Vec::new();
            let result = q
                .instant(self.language, &rule.expr, t_ms)
                .and_then(|v| match &mut rule.kind {
                    RuleKind::Recording(r) => r.eval(v, self.limit),
                    RuleKind::Alerting(a) => a.eval(t_ms, v, self.limit, env, &mut template_errors),
                });
            match result {
                Ok(samples) => {
                    let now: HashSet<Labels> = samples.iter().map(|(l, _)| l.clone()).collect();
                    let mut out = samples;
                    out.extend(rule.prev_series.difference(&now).map(|l| (l.clone(), STALE_NAN)));
                    rule.prev_series = now;
                    let written = q.append(&out, t_ms);
                    rule.last_error = match written {
                        Err(e) => Some(format!("writing rule output: {e}")),
                        Ok(_) => template_errors.into_iter().next(),
                    };
                }
                Err(e) => rule.last_error = Some(e),
            }
            rule.health = if rule.last_error.is_some() {
                stats.failures += 1;
                Health::Err
            } else {
                Health::Ok
            };
            rule.last_eval_ms = Some(t_ms);
            rule.eval_seconds = rule_started.elapsed().as_secs_f64();
        }
        let mut notes = Vec::new();
        for rule in &mut self.rules {
            if let RuleKind::Alerting(a) = &mut rule.kind {
                let url = generator_url(&s.external_url, &rule.expr);
                notes.extend(a.due_notifications(t_ms, s.resend_ms, self.interval_ms, &url));
            }
        }
        self.last_eval_ms = Some(t_ms);
        self.eval_seconds = started.elapsed().as_secs_f64();
        (notes, stats)
    }

    /// Restores the `for` state of pending alerts from `ALERTS_FOR_STATE` (after the first
    /// evaluation since startup).
    pub fn restore(&mut self, t_ms: i64, q: &Querier) {
        for rule in &mut self.rules {
            if let RuleKind::Alerting(a) = &mut rule.kind {
                if a.restored {
                    continue;
                }
                match q.for_state(&a.name, t_ms, OUTAGE_TOLERANCE_MS) {
                    Ok(series) => a.restore(t_ms, &series, FOR_GRACE_PERIOD_MS),
                    Err(e) => {
                        tracing::warn!(rule = a.name, error = %e, "reading ALERTS_FOR_STATE failed; not restoring");
                        a.restored = true;
                    }
                }
            }
        }
    }

    /// Takes over the state of matching rules (same name and labels, as Prometheus matches
    /// them) of the group this one replaces. What is left in `old` belongs to rules that are
    /// gone: [`Group::retire`] it.
    pub fn copy_state(&mut self, old: &mut Group) {
        let mut used = vec![false; old.rules.len()];
        for r in &mut self.rules {
            let Some(i) = (0..old.rules.len())
                .find(|&i| !used[i] && old.rules[i].name == r.name && old.rules[i].labels == r.labels)
            else {
                continue;
            };
            used[i] = true;
            let o = &mut old.rules[i];
            r.prev_series = std::mem::take(&mut o.prev_series);
            r.health = o.health;
            r.last_error = o.last_error.take();
            r.last_eval_ms = o.last_eval_ms;
            if let (RuleKind::Alerting(new), RuleKind::Alerting(prev)) = (&mut r.kind, &mut o.kind) {
                new.copy_state(prev);
            }
        }
        self.last_eval_ms = old.last_eval_ms;
    }

    /// The group is going away: stale markers for everything it wrote, resolutions for
    /// every firing alert.
    pub fn retire(&mut self, t_ms: i64, q: &Querier, s: &EvalSettings) -> Vec<Notification> {
        let mut stale = Vec::new();
        let mut notes = Vec::new();
        for r in &mut self.rules {
            stale.extend(r.prev_series.drain().map(|l| (l, STALE_NAN)));
            if let RuleKind::Alerting(a) = &mut r.kind {
                notes.extend(a.resolve_all(t_ms, &generator_url(&s.external_url, &r.expr)));
            }
        }
        if let Err(e) = q.append(&stale, t_ms) {
            tracing::warn!(group = self.name, error = %e, "writing stale markers failed");
        }
        notes
    }
}

/// `generatorURL`: the expression in nerve's graph page.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        query_escape(expr)
    )
}

fn ms(d: Option<std::time::Duration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
