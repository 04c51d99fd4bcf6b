//! Alerting rules: the pending → firing → inactive lifecycle of each alert, `for` and
//! `keep_firing_for`, the `ALERTS` / `ALERTS_FOR_STATE` series, what to send to
//! Alertmanager and when, and restoring `for` state after a restart.
//!
//! Everything here is driven by the evaluation timestamp passed in (no clock is read), so
//! tests step through time explicitly (see `group_tests.rs`).

use std::collections::{BTreeMap, HashMap};

use nerve_storage::Labels;
use nerve_storage::metrics::Sample;

use super::template::{QueryFn, Template, TemplateData};

/// How long a resolved alert is kept (and re-sent as resolved) after it resolved.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// Resolved (kept for a while so the resolution is sent).
    Inactive,
    /// Active, waiting for `for` to pass.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl AlertState {
    /// The name used in `ALERTS{alertstate=...}` and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule: one label set of the expression's result.
#[derive(Clone, Debug)]
pub struct Alert {
    /// Full labels: the result's (without `__name__`), group and rule labels, `alertname`.
    pub labels: BTreeMap<String, String>,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// Current state.
    pub state: AlertState,
    /// The result value at the last evaluation.
    pub value: f64,
    /// When it became active (ms).
    pub active_at_ms: i64,
    /// When it started firing (ms).
    pub fired_at_ms: Option<i64>,
    /// When it resolved (ms).
    pub resolved_at_ms: Option<i64>,
    /// When it was last sent (ms).
    pub last_sent_ms: Option<i64>,
    /// The `endsAt` sent for an unresolved alert (ms).
    pub valid_until_ms: i64,
    /// Since when `keep_firing_for` keeps it firing (ms).
    pub keep_firing_since_ms: Option<i64>,
}

/// An alert as sent to Alertmanager.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Labels (external labels are added by the notifier).
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt` (ms).
    pub starts_at_ms: i64,
    /// `endsAt` (ms): the resolution time, or how long the alert is valid without a resend.
    pub ends_at_ms: i64,
    /// True when this notice resolves the alert.
    pub resolved: bool,
    /// Link back to the expression.
    pub generator_url: String,
}

/// `ALERTS_FOR_STATE` series read back at startup: labels without `__name__`, and samples.
pub type ForStateSeries = Vec<(BTreeMap<String, String>, Vec<Sample>)>;

/// What label and annotation templates need besides the sample.
#[derive(Clone, Copy)]
pub struct TemplateEnv<'a> {
    /// `$externalLabels`.
    pub external_labels: &'a BTreeMap<String, String>,
    /// `$externalURL`.
    pub external_url: &'a str,
    /// Answers `query` in templates.
    pub query: Option<&'a QueryFn<'a>>,
}

/// A compiled alerting rule and its alerts.
#[derive(Debug)]
pub struct AlertingRule {
    /// The alert name.
    pub name: String,
    /// `for`, ms.
    pub hold_ms: i64,
    /// `keep_firing_for`, ms.
    pub keep_firing_ms: i64,
    /// Label templates (group labels merged in, rule labels winning).
    pub labels: Vec<(String, Template)>,
    /// Annotation templates.
    pub annotations: Vec<(String, Template)>,
    /// Alerts by their label set.
    active: HashMap<Vec<(String, String)>, Alert>,
    /// Whether `ALERTS`/`ALERTS_FOR_STATE` are written (false until the startup restore ran).
    pub restored: bool,
}

fn key(labels: &BTreeMap<String, String>) -> Vec<(String, String)> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Expands one label or annotation template as Prometheus' template expander does; an error
/// becomes the value `<error expanding template: error executing template NAME: ...>`.
fn expand(t: &Template, data: &TemplateData, q: Option<&QueryFn<'_>>, errors: &mut Vec<String>) -> String {
    match t.execute(data, q) {
        Ok(s) => s,
        Err(e) => {
            let e = format!("error executing template {}: {e}", t.name());
            let out = format!("<error expanding template: {e}>");
            errors.push(e);
            out
        }
    }
}

impl AlertingRule {
    /// Compiles templates; `group_labels` are added to the rule's own labels.
    pub fn new(
        name: &str,
        hold_ms: i64,
        keep_firing_ms: i64,
        group_labels: &BTreeMap<String, String>,
        labels: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let tname = format!("__alert_{name}");
        let mut all = group_labels.clone();
        all.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let compile = |m: &BTreeMap<String, String>| -> Result<Vec<(String, Template)>, String> {
            m.iter()
                .map(|(k, v)| Ok((k.clone(), Template::parse(&tname, v).map_err(|e| e.to_string())?)))
                .collect()
        };
        Ok(AlertingRule {
            name: name.to_owned(),
            hold_ms,
            keep_firing_ms,
            labels: compile(&all)?,
            annotations: compile(annotations)?,
            active: HashMap::new(),
            restored: true,
        })
    }

    /// Alerts currently known (pending, firing, and recently resolved), sorted by labels.
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The rule's overall state: firing if any alert fires, else pending if any is pending.
    pub fn state(&self) -> AlertState {
        let mut s = AlertState::Inactive;
        for a in self.active.values() {
            match a.state {
                AlertState::Firing => return AlertState::Firing,
                AlertState::Pending => s = AlertState::Pending,
                AlertState::Inactive => {}
            }
        }
        s
    }

    /// Takes over the alerts of the same rule from before a reload.
    pub fn copy_state(&mut self, old: &mut AlertingRule) {
        self.active = std::mem::take(&mut old.active);
        self.restored = old.restored;
    }

    /// Advances every alert to `t_ms` given the expression's result, and returns the
    /// `ALERTS` and `ALERTS_FOR_STATE` samples to write. Template errors are returned in
    /// `template_errors` (the value rendered is Prometheus' `<error expanding template: ...>`).
    pub fn eval(
        &mut self,
        t_ms: i64,
        result: Vec<(Labels, f64)>,
        limit: usize,
        env: TemplateEnv<'_>,
        template_errors: &mut Vec<String>,
    ) -> Result<Vec<(Labels, f64)>, String> {
        // Labels, annotations and value of each alert in this result.
        type Found = (BTreeMap<String, String>, BTreeMap<String, String>, f64);
        let mut seen: HashMap<Vec<(String, String)>, Found> = HashMap::new();
        for (sample_labels, v) in result {
            let tl: BTreeMap<String, String> = sample_labels
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let data = TemplateData::alert(&tl, env.external_labels, env.external_url, v);
            let mut labels: BTreeMap<String, String> = tl.clone();
            labels.remove("__name__");
            for (k, t) in &self.labels {
                let val = expand(t, &data, env.query, template_errors);
                if val.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), val);
                }
            }
            labels.insert("alertname".into(), self.name.clone());
            let annotations = self
                .annotations
                .iter()
                .map(|(k, t)| (k.clone(), expand(t, &data, env.query, template_errors)))
                .collect();
            let k = key(&labels);
            if seen.contains_key(&k) {
                return Err("vector contains metrics with the same labelset after applying alert labels".into());
            }
            seen.insert(k, (labels, annotations, v));
        }
        for (k, (labels, annotations, v)) in &seen {
            match self.active.get_mut(k) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = *v;
                    a.annotations.clone_from(annotations);
                    a.keep_firing_since_ms = None;
                }
                _ => {
                    self.active.insert(
                        k.clone(),
                        Alert {
                            labels: labels.clone(),
                            annotations: annotations.clone(),
                            state: AlertState::Pending,
                            value: *v,
                            active_at_ms: t_ms,
                            fired_at_ms: None,
                            resolved_at_ms: None,
                            last_sent_ms: None,
                            valid_until_ms: 0,
                            keep_firing_since_ms: None,
                        },
                    );
                }
            }
        }
        let mut out = Vec::new();
        let mut active_count = 0usize;
        let mut drop_keys = Vec::new();
        for (k, a) in self.active.iter_mut() {
            if !seen.contains_key(k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_ms > 0 {
                    let since = *a.keep_firing_since_ms.get_or_insert(t_ms);
                    keep_firing = t_ms - since < self.keep_firing_ms;
                }
                if a.state == AlertState::Pending || a.resolved_at_ms.is_some_and(|r| t_ms - r > RESOLVED_RETENTION_MS)
                {
                    drop_keys.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = Some(t_ms);
                }
                if !keep_firing {
                    continue;
                }
            }
            active_count += 1;
            if a.state == AlertState::Pending && t_ms - a.active_at_ms >= self.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at_ms = Some(t_ms);
            }
            if self.restored {
                out.push((alerts_series(&a.labels, Some(a.state)), 1.0));
                // Whole seconds, as Prometheus writes it (`ActiveAt.Unix()`).
                out.push((alerts_series(&a.labels, None), a.active_at_ms.div_euclid(1000) as f64));
            }
        }
        for k in drop_keys {
            self.active.remove(&k);
        }
        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {active_count} alerts"));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The alerts due to be sent at `t_ms` (Prometheus' rule: firing alerts every
    /// `resend_ms`, resolutions once as soon as they happen), marking them sent.
    pub fn due_notifications(
        &mut self,
        t_ms: i64,
        resend_ms: i64,
        interval_ms: i64,
        generator_url: &str,
    ) -> Vec<Notification> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.state == AlertState::Pending {
                continue;
            }
            let last = a.last_sent_ms;
            let due = match (a.resolved_at_ms, last) {
                (Some(r), Some(l)) if r > l => true,
                (_, None) => true,
                (_, Some(l)) => l + resend_ms < t_ms,
            };
            if !due {
                continue;
            }
            a.last_sent_ms = Some(t_ms);
            a.valid_until_ms = t_ms + 4 * resend_ms.max(interval_ms);
            out.push(notification(a, generator_url));
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Resolutions for every firing alert, sent when the rule goes away (reload).
    pub fn resolve_all(&mut self, t_ms: i64, generator_url: &str) -> Vec<Notification> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.state == AlertState::Firing || (a.state == AlertState::Inactive && a.resolved_at_ms.is_some()) {
                if a.state == AlertState::Firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = Some(t_ms);
                }
                out.push(notification(a, generator_url));
            }
        }
        self.active.clear();
        out
    }

    /// Restores `active_at` of the pending alerts from `ALERTS_FOR_STATE` samples read back
    /// from storage (`series`: labels without `__name__`, samples within the outage
    /// tolerance), the way Prometheus does after a restart: time spent pending before the
    /// outage counts, the outage itself does not, and an alert gets at least `grace_ms` before
    /// it fires.
    pub fn restore(&mut self, t_ms: i64, series: &ForStateSeries, grace_ms: i64) {
        if self.hold_ms > 0 {
            for a in self.active.values_mut() {
                if a.state != AlertState::Pending {
                    continue;
                }
                let Some(last) = series
                    .iter()
                    .find(|(l, _)| *l == a.labels)
                    .and_then(|(_, s)| s.iter().rev().find(|x| !nerve_storage::metrics::is_stale_nan(x.v)))
                else {
                    continue;
                };
                let down_at = last.t;
                let restored_active_at = (last.v as i64).saturating_mul(1000);
                let spent_pending = down_at - restored_active_at;
                let remaining = self.hold_ms - spent_pending;
                a.active_at_ms = if remaining <= 0 {
                    // It was firing at shutdown: the next evaluation fires it again.
                    restored_active_at
                } else if remaining < grace_ms {
                    t_ms + grace_ms - self.hold_ms
                } else {
                    restored_active_at + (t_ms - down_at)
                };
            }
        }
        self.restored = true;
    }
}

fn notification(a: &Alert, generator_url: &str) -> Notification {
    let resolved = a.state == AlertState::Inactive;
    Notification {
        labels: a.labels.clone(),
        annotations: a.annotations.clone(),
        starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
        ends_at_ms: if resolved {
            a.resolved_at_ms.unwrap_or(a.valid_until_ms)
        } else {
            a.valid_until_ms
        },
        resolved,
        generator_url: generator_url.to_owned(),
    }
}

/// `ALERTS{alertstate=...,labels}` (state given) or `ALERTS_FOR_STATE{labels}` (None).
pub fn alerts_series(labels: &BTreeMap<String, String>, state: Option<AlertState>) -> Labels {
    let mut m: BTreeMap<&str, &str> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match state {
        Some(s) => {
            m.insert("__name__", "ALERTS");
            m.insert("alertstate", s.as_str());
        }
        None => {
            m.insert("__name__", "ALERTS_FOR_STATE");
        }
    }
    Labels::from_pairs(m).unwrap_or_else(|_| Labels::empty())
}
