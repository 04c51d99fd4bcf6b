//! Rule generation: per SLO, Sloth's three groups (SLI recordings, meta recordings, alerts)
//! with Sloth's group names, rule names, labels and expression shapes, so dashboards made for
//! Sloth's output work against nerve.
//!
//! - SLI error ratios `slo:sli_error:ratio_rate<w>` for the alert windows 5m, 30m, 1h, 2h,
//!   6h, 1d, 3d, and for the 30-day period computed from the 5m ratios
//!   (`sum_over_time / count_over_time`), never from a 30-day raw range query.
//! - Meta recordings: objective, error budget, period, current and period burn rates, budget
//!   remaining, `sloth_slo_info`.
//! - The multi-window multi-burn-rate alerts of the Google SRE workbook: page (2% of the
//!   budget in 1h, 5% in 6h) and ticket (10% in 1d, 10% in 3d).
//!
//! Numbers print as Go prints them (`%v` of a float64), as in Sloth's output.
//!
//! For an `sli.logql` SLO the window recordings form a `language: logql` group; the 30-day
//! ratio, which reads the recorded 5m series, opens the meta group (PromQL) instead.

use std::collections::BTreeMap;

use super::spec::{EventsSli, SliKind, SloSpec, SpecFile, render_window};
use crate::rules::file::{GroupSpec, Language, RuleFile, RuleSpec};
use crate::rules::gofmt::go_float;

/// The SLO period, in days.
pub const PERIOD_DAYS: u32 = 30;

/// One alert condition: the burn factor that spends `budget_percent` of the period's error
/// budget within the long window; both windows must burn faster than it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnWindow {
    /// Percent of the period's error budget spent within `long`.
    pub budget_percent: f64,
    /// The short window (stops the alert soon after the burn stops).
    pub short: &'static str,
    /// The long window.
    pub long: &'static str,
    /// Hours of `long`.
    pub long_hours: f64,
}

impl BurnWindow {
    /// The burn rate factor: how many times the budget-neutral error rate.
    pub fn factor(&self) -> f64 {
        self.budget_percent * f64::from(PERIOD_DAYS * 24) / 100.0 / self.long_hours
    }
}

const fn pair(budget_percent: f64, short: &'static str, long: &'static str, long_hours: f64) -> BurnWindow {
    BurnWindow {
        budget_percent,
        short,
        long,
        long_hours,
    }
}

/// Page alert, fast pair (14.4×).
pub const PAGE_QUICK: BurnWindow = pair(2.0, "5m", "1h", 1.0);
/// Page alert, slow pair (6×).
pub const PAGE_SLOW: BurnWindow = pair(5.0, "30m", "6h", 6.0);
/// Ticket alert, fast pair (3×).
pub const TICKET_QUICK: BurnWindow = pair(10.0, "2h", "1d", 24.0);
/// Ticket alert, slow pair (1×).
pub const TICKET_SLOW: BurnWindow = pair(10.0, "6h", "3d", 72.0);

/// The windows SLI ratios are recorded for (besides the period), shortest first.
pub const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The period window, as a Prometheus duration.
const PERIOD: &str = "30d";

/// Metric name of the SLI error ratio over `window`.
pub fn sli_metric(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// Who generated the rules, for `sloth_slo_info`.
#[derive(Clone, Debug)]
pub struct Info {
    /// `sloth_mode`.
    pub mode: String,
    /// `sloth_version`.
    pub version: String,
}

impl Default for Info {
    fn default() -> Self {
        Info {
            mode: "nerve".into(),
            version: format!("nerve-{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The rule file for a validated spec: three groups per SLO (two when no alert is enabled).
pub fn generate(spec: &SpecFile, info: &Info) -> RuleFile {
    let mut groups = Vec::new();
    for slo in &spec.slos {
        let ids = Ids::new(spec, slo);
        let mut labels = ids.labels();
        labels.extend(spec.labels.clone());
        labels.extend(slo.labels.clone());
        let mut sli = sli_rules(slo, &ids, &labels);
        let period = sli.pop().expect("the period rule is last");
        let mut meta = meta_rules(slo, &ids, &labels, info);
        let language = if matches!(slo.sli.kind(), Some(SliKind::Logql(_))) {
            meta.insert(0, period);
            Language::Logql
        } else {
            sli.push(period);
            Language::Promql
        };
        groups.push(GroupSpec {
            name: format!("sloth-slo-sli-recordings-{}", ids.id),
            language,
            rules: sli,
            ..Default::default()
        });
        groups.push(GroupSpec {
            name: format!("sloth-slo-meta-recordings-{}", ids.id),
            rules: meta,
            ..Default::default()
        });
        let alerts = alert_rules(slo, &ids);
        if !alerts.is_empty() {
            groups.push(GroupSpec {
                name: format!("sloth-slo-alerts-{}", ids.id),
                rules: alerts,
                ..Default::default()
            });
        }
    }
    RuleFile { groups }
}

/// The identifying labels of one SLO and their selector.
struct Ids {
    id: String,
    service: String,
    slo: String,
    /// `{sloth_id="…", sloth_service="…", sloth_slo="…"}`.
    filter: String,
}

impl Ids {
    fn new(spec: &SpecFile, slo: &SloSpec) -> Ids {
        let id = format!("{}-{}", spec.service, slo.name);
        let filter = format!(
            "{{sloth_id={id:?}, sloth_service={:?}, sloth_slo={:?}}}",
            spec.service, slo.name
        );
        Ids {
            id,
            service: spec.service.clone(),
            slo: slo.name.clone(),
            filter,
        }
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("sloth_id".to_owned(), self.id.clone()),
            ("sloth_service".to_owned(), self.service.clone()),
            ("sloth_slo".to_owned(), self.slo.clone()),
        ])
    }
}

fn record(name: String, expr: String, labels: BTreeMap<String, String>) -> RuleSpec {
    RuleSpec {
        record: Some(name),
        expr,
        labels,
        ..Default::default()
    }
}

/// The window recordings, then the period recording (last).
fn sli_rules(slo: &SloSpec, ids: &Ids, labels: &BTreeMap<String, String>) -> Vec<RuleSpec> {
    let with_window = |w: &str| {
        let mut l = labels.clone();
        l.insert("sloth_window".into(), w.into());
        l
    };
    let events = |ev: &EventsSli, w: &str| {
        let q = format!("({})\n/\n({})\n", ev.error_query, ev.total_query);
        render_window(&q, w)
    };
    let mut rules: Vec<RuleSpec> = WINDOWS
        .iter()
        .map(|w| {
            let expr = match slo.sli.kind() {
                Some(SliKind::Events(ev) | SliKind::Logql(ev)) => events(ev, w),
                Some(SliKind::Raw(r)) => render_window(&format!("({})", r.error_ratio_query), w),
                None => String::new(),
            };
            record(sli_metric(w), expr, with_window(w))
        })
        .collect();
    let base = format!("{}{}", sli_metric(WINDOWS[0]), ids.filter);
    let period =
        format!("sum_over_time({base}[{PERIOD}])\n/ ignoring (sloth_window)\ncount_over_time({base}[{PERIOD}])\n");
    rules.push(record(sli_metric(PERIOD), period, with_window(PERIOD)));
    rules
}

fn meta_rules(slo: &SloSpec, ids: &Ids, labels: &BTreeMap<String, String>, info: &Info) -> Vec<RuleSpec> {
    let ratio = go_float(slo.objective / 100.0);
    let f = &ids.filter;
    let burn = |window: &str| {
        format!(
            "{}{f}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{f}\n",
            sli_metric(window)
        )
    };
    let mut info_labels = labels.clone();
    info_labels.extend([
        ("sloth_mode".to_owned(), info.mode.clone()),
        ("sloth_objective".to_owned(), format!("{}", slo.objective)),
        ("sloth_spec".to_owned(), super::spec::SPEC_VERSION.to_owned()),
        ("sloth_version".to_owned(), info.version.clone()),
    ]);
    vec![
        record("slo:objective:ratio".into(), format!("vector({ratio})"), labels.clone()),
        record(
            "slo:error_budget:ratio".into(),
            format!("vector(1-{ratio})"),
            labels.clone(),
        ),
        record(
            "slo:time_period:days".into(),
            format!("vector({PERIOD_DAYS})"),
            labels.clone(),
        ),
        record("slo:current_burn_rate:ratio".into(), burn(WINDOWS[0]), labels.clone()),
        record("slo:period_burn_rate:ratio".into(), burn(PERIOD), labels.clone()),
        record(
            "slo:period_error_budget_remaining:ratio".into(),
            format!("1 - slo:period_burn_rate:ratio{f}"),
            labels.clone(),
        ),
        record("sloth_slo_info".into(), "vector(1)".into(), info_labels),
    ]
}

fn alert_rules(slo: &SloSpec, ids: &Ids) -> Vec<RuleSpec> {
    let a = &slo.alerting;
    let budget = (100.0 - slo.objective) / 100.0;
    let mut out = Vec::new();
    for (severity, spec, quick, slow) in [
        ("page", &a.page_alert, PAGE_QUICK, PAGE_SLOW),
        ("ticket", &a.ticket_alert, TICKET_QUICK, TICKET_SLOW),
    ] {
        if spec.disable {
            continue;
        }
        let cond = |w: &str, factor: f64| {
            format!(
                "max({}{} > ({} * {})) without (sloth_window)",
                sli_metric(w),
                ids.filter,
                go_float(factor),
                go_float(budget)
            )
        };
        let pair = |b: BurnWindow| {
            format!(
                "    {}\n    and\n    {}",
                cond(b.short, b.factor()),
                cond(b.long, b.factor())
            )
        };
        let expr = format!("(\n{}\n)\nor\n(\n{}\n)\n", pair(quick), pair(slow));
        let mut labels = BTreeMap::from([("sloth_severity".to_owned(), severity.to_owned())]);
        labels.extend(a.labels.clone());
        labels.extend(spec.labels.clone());
        let mut annotations = BTreeMap::from([
            (
                "title".to_owned(),
                format!(
                    "({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."
                ),
            ),
            (
                "summary".to_owned(),
                "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected."
                    .to_owned(),
            ),
        ]);
        annotations.extend(a.annotations.clone());
        annotations.extend(spec.annotations.clone());
        out.push(RuleSpec {
            alert: Some(a.name.clone()),
            expr,
            labels,
            annotations,
            ..Default::default()
        });
    }
    out
}
