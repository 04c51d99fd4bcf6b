//! What the API shows of a rule group: an immutable snapshot published after every
//! evaluation, so `/api/v1/rules` and `/api/v1/alerts` never wait for a running evaluation.

use std::collections::BTreeMap;

use super::alert::{Alert, AlertState};
use super::file::Language;
use super::group::{Group, Health, RuleKind};

/// A group as of its last evaluation.
#[derive(Clone, Debug)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// Rule file.
    pub file: String,
    /// Evaluation interval (ms).
    pub interval_ms: i64,
    /// Output limit per rule (0: none).
    pub limit: usize,
    /// PromQL (the Prometheus API shows it) or LogQL (the Loki ruler API shows it).
    pub language: Language,
    /// Last evaluation (ms).
    pub last_eval_ms: Option<i64>,
    /// Duration of the last evaluation (s).
    pub eval_seconds: f64,
    /// The rules, in file order.
    pub rules: Vec<RuleStatus>,
}

/// A rule as of its last evaluation.
#[derive(Clone, Debug)]
pub struct RuleStatus {
    /// Rule name.
    pub name: String,
    /// Expression text.
    pub expr: String,
    /// Labels as written.
    pub labels: BTreeMap<String, String>,
    /// Annotations as written.
    pub annotations: BTreeMap<String, String>,
    /// Health.
    pub health: Health,
    /// Last error.
    pub last_error: Option<String>,
    /// Last evaluation (ms).
    pub last_eval_ms: Option<i64>,
    /// Duration of the last evaluation (s).
    pub eval_seconds: f64,
    /// Alerting-rule details; None for recording rules.
    pub alerting: Option<AlertingStatus>,
}

/// The alert side of an alerting rule.
#[derive(Clone, Debug)]
pub struct AlertingStatus {
    /// `for` (ms).
    pub hold_ms: i64,
    /// `keep_firing_for` (ms).
    pub keep_firing_ms: i64,
    /// The rule's state (its most severe alert's).
    pub state: AlertState,
    /// Pending and firing alerts, sorted by labels.
    pub alerts: Vec<Alert>,
}

impl GroupStatus {
    /// Snapshots `g`.
    pub fn of(g: &Group) -> Self {
        GroupStatus {
            name: g.name.clone(),
            file: g.file.clone(),
            interval_ms: g.interval_ms,
            limit: g.limit,
            language: g.language,
            last_eval_ms: g.last_eval_ms,
            eval_seconds: g.eval_seconds,
            rules: g
                .rules
                .iter()
                .map(|r| RuleStatus {
                    name: r.name.clone(),
                    expr: r.expr.clone(),
                    labels: r.labels.clone(),
                    annotations: r.annotations.clone(),
                    health: r.health,
                    last_error: r.last_error.clone(),
                    last_eval_ms: r.last_eval_ms,
                    eval_seconds: r.eval_seconds,
                    alerting: match &r.kind {
                        RuleKind::Alerting(a) => Some(AlertingStatus {
                            hold_ms: a.hold_ms,
                            keep_firing_ms: a.keep_firing_ms,
                            state: a.state(),
                            alerts: a
                                .alerts()
                                .into_iter()
                                .filter(|x| x.state != AlertState::Inactive)
                                .cloned()
                                .collect(),
                        }),
                        RuleKind::Recording(_) => None,
                    },
                })
                .collect(),
        }
    }
}
