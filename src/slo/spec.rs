//! SLO spec files in Sloth's `prometheus/v1` format, plus nerve's `sli.logql` SLI kind:
//! strict parsing (unknown keys are errors) and validation whose messages name the SLO and
//! the field.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use nerve_storage::labels::is_valid_label_name;
use serde::Deserialize;

use crate::config::null_default;
use crate::rules::file::{Language, check_expr};

/// Largest SLO spec file read (as for rule files).
const MAX_SLO_FILE_BYTES: u64 = 16 << 20;

/// The only spec version understood.
pub const SPEC_VERSION: &str = "prometheus/v1";

/// Labels the generated rules set themselves; a spec may not set them.
pub const RESERVED_LABELS: [&str; 4] = ["sloth_id", "sloth_service", "sloth_slo", "sloth_window"];

/// A whole spec file: one service and its SLOs.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    /// Must be `prometheus/v1`.
    #[serde(default)]
    pub version: String,
    /// The service the SLOs belong to.
    #[serde(default)]
    pub service: String,
    /// Labels added to every generated rule.
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// The SLOs.
    #[serde(default, deserialize_with = "null_default")]
    pub slos: Vec<SloSpec>,
}

/// One `slos[]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Unique within the file.
    #[serde(default)]
    pub name: String,
    /// Objective in percent, in (0, 100].
    #[serde(default)]
    pub objective: f64,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Labels of this SLO's rules (win over the file's labels).
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// How errors are measured.
    #[serde(default)]
    pub sli: SliSpec,
    /// The burn-rate alerts.
    #[serde(default)]
    pub alerting: AlertingSpec,
}

/// `sli:`, exactly one kind set.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SliSpec {
    /// Error and total PromQL queries.
    #[serde(default)]
    pub events: Option<EventsSli>,
    /// One PromQL query giving the error ratio.
    #[serde(default)]
    pub raw: Option<RawSli>,
    /// Error and total LogQL metric queries (nerve extension).
    #[serde(default)]
    pub logql: Option<EventsSli>,
}

/// Error and total queries, each with `{{.window}}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventsSli {
    /// Rate (or count) of bad events over `{{.window}}`.
    #[serde(default)]
    pub error_query: String,
    /// Rate (or count) of all events over `{{.window}}`.
    #[serde(default)]
    pub total_query: String,
}

/// An error-ratio query with `{{.window}}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawSli {
    /// The error ratio (0 to 1) over `{{.window}}`.
    #[serde(default)]
    pub error_ratio_query: String,
}

/// `alerting:`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertingSpec {
    /// Alert name of both the page and the ticket alert.
    #[serde(default)]
    pub name: String,
    /// Labels of both alerts.
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of both alerts.
    #[serde(default, deserialize_with = "null_default")]
    pub annotations: BTreeMap<String, String>,
    /// The fast-burn alert.
    #[serde(default)]
    pub page_alert: AlertSpec,
    /// The slow-burn alert.
    #[serde(default)]
    pub ticket_alert: AlertSpec,
}

/// `page_alert:` / `ticket_alert:`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// No such alert is generated.
    #[serde(default)]
    pub disable: bool,
    /// Labels (win over `alerting.labels`).
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Annotations (win over `alerting.annotations`).
    #[serde(default, deserialize_with = "null_default")]
    pub annotations: BTreeMap<String, String>,
}

/// The SLI of an SLO, resolved from [`SliSpec`] once validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SliKind<'a> {
    /// PromQL error / total.
    Events(&'a EventsSli),
    /// PromQL error ratio.
    Raw(&'a RawSli),
    /// LogQL error / total.
    Logql(&'a EventsSli),
}

impl SliSpec {
    /// The one kind set, if exactly one is.
    pub fn kind(&self) -> Option<SliKind<'_>> {
        match (&self.events, &self.raw, &self.logql) {
            (Some(e), None, None) => Some(SliKind::Events(e)),
            (None, Some(r), None) => Some(SliKind::Raw(r)),
            (None, None, Some(l)) => Some(SliKind::Logql(l)),
            _ => None,
        }
    }
}

/// Reads, parses and validates a spec file (one spec per YAML document, as Sloth reads
/// them); the error is one line per problem, each starting with the path.
pub fn load(path: &Path) -> Result<Vec<SpecFile>, Vec<String>> {
    let fail = |m: String| vec![format!("{}: {m}", path.display())];
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.len() > MAX_SLO_FILE_BYTES {
        return Err(fail(format!("larger than {MAX_SLO_FILE_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let specs = parse_all(&text).map_err(fail)?;
    let mut errs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let doc = if specs.len() > 1 {
            format!("document {}: ", i + 1)
        } else {
            String::new()
        };
        errs.extend(
            validate(spec)
                .into_iter()
                .map(|e| format!("{}: {doc}{e}", path.display())),
        );
    }
    if errs.is_empty() { Ok(specs) } else { Err(errs) }
}

/// Parses every non-empty YAML document of `text` as a spec (no validation).
pub fn parse_all(text: &str) -> Result<Vec<SpecFile>, String> {
    let docs = serde_saphyr::from_str_multiple::<Option<SpecFile>, Vec<_>>(text).map_err(|e| e.to_string())?;
    let specs: Vec<SpecFile> = docs.into_iter().flatten().collect();
    if specs.is_empty() {
        return Err("empty SLO spec".to_owned());
    }
    Ok(specs)
}

/// Parses spec YAML holding one spec (no validation); for tests.
#[cfg(test)]
pub fn parse(text: &str) -> Result<SpecFile, String> {
    let mut specs = parse_all(text)?;
    if specs.len() > 1 {
        return Err(format!("{} specs where one was expected", specs.len()));
    }
    Ok(specs.remove(0))
}

/// Whether `s` is a Sloth name: alphanumerics, `.`, `_` and `-`, starting and ending with an
/// alphanumeric.
fn is_valid_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Whether `q` holds the window variable (`{{.window}}`, spaces allowed inside the braces).
pub fn has_window_var(q: &str) -> bool {
    window_var().is_match(q)
}

/// `q` with every window variable replaced by `window`.
pub fn render_window(q: &str, window: &str) -> String {
    window_var().replace_all(q, regex::NoExpand(window)).into_owned()
}

fn window_var() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\{\{ *\.window *\}\}").expect("valid regex"))
}

const NAME_RULE: &str = "must start and end with an alphanumeric and contain only alphanumerics, '.', '_' and '-'";

/// Every problem in `spec`, each naming the SLO and the field.
pub fn validate(spec: &SpecFile) -> Vec<String> {
    let mut errs = Vec::new();
    if spec.version != SPEC_VERSION {
        errs.push(format!("version: must be {SPEC_VERSION:?}, not {:?}", spec.version));
    }
    if !is_valid_name(&spec.service) {
        errs.push(format!("service: {:?} {NAME_RULE}", spec.service));
    }
    check_labels("labels", &spec.labels, &mut errs);
    if spec.slos.is_empty() {
        errs.push("slos: at least one SLO is required".into());
    }
    let mut seen = HashSet::new();
    for slo in &spec.slos {
        let mut e = Vec::new();
        if !is_valid_name(&slo.name) {
            e.push(format!("name: {NAME_RULE}"));
        } else if !seen.insert(slo.name.as_str()) {
            e.push("name: repeated in the same file".into());
        }
        if !(slo.objective > 0.0 && slo.objective <= 100.0) {
            e.push(format!("objective: must be > 0 and <= 100, not {}", slo.objective));
        }
        check_labels("labels", &slo.labels, &mut e);
        validate_sli(&slo.sli, &mut e);
        validate_alerting(&slo.alerting, &mut e);
        errs.extend(e.into_iter().map(|m| format!("slo {:?}: {m}", slo.name)));
    }
    errs
}

fn check_labels(field: &str, labels: &BTreeMap<String, String>, errs: &mut Vec<String>) {
    for (k, v) in labels {
        if !is_valid_label_name(k) || k == "__name__" {
            errs.push(format!("{field}: invalid label name {k:?}"));
        } else if RESERVED_LABELS.contains(&k.as_str()) {
            errs.push(format!("{field}: label {k:?} is set by the generated rules"));
        }
        if v.is_empty() {
            errs.push(format!("{field}: label {k:?} has an empty value"));
        }
    }
}

fn check_query(field: &str, q: &str, lang: Language, errs: &mut Vec<String>) {
    if q.trim().is_empty() {
        errs.push(format!("{field}: required"));
        return;
    }
    if !has_window_var(q) {
        errs.push(format!("{field}: must contain the {{{{.window}}}} variable"));
        return;
    }
    if let Err(e) = check_expr(&render_window(q, "5m"), lang) {
        errs.push(format!("{field}: {e}"));
    }
}

fn validate_sli(sli: &SliSpec, errs: &mut Vec<String>) {
    let set = [sli.events.is_some(), sli.raw.is_some(), sli.logql.is_some()];
    match set.iter().filter(|s| **s).count() {
        0 => errs.push("sli: one of events, raw and logql is required".into()),
        1 => {}
        _ => errs.push("sli: only one of events, raw and logql may be set".into()),
    }
    let events = |kind: &str, ev: &EventsSli, lang, errs: &mut Vec<String>| {
        check_query(&format!("sli.{kind}.error_query"), &ev.error_query, lang, errs);
        check_query(&format!("sli.{kind}.total_query"), &ev.total_query, lang, errs);
        if !ev.error_query.is_empty() && ev.error_query == ev.total_query {
            errs.push(format!("sli.{kind}: error_query and total_query are the same"));
        }
    };
    if let Some(ev) = &sli.events {
        events("events", ev, Language::Promql, errs);
    }
    if let Some(r) = &sli.raw {
        check_query(
            "sli.raw.error_ratio_query",
            &r.error_ratio_query,
            Language::Promql,
            errs,
        );
    }
    if let Some(ev) = &sli.logql {
        events("logql", ev, Language::Logql, errs);
    }
}

fn validate_alerting(a: &AlertingSpec, errs: &mut Vec<String>) {
    let enabled = !a.page_alert.disable || !a.ticket_alert.disable;
    if enabled && a.name.is_empty() {
        errs.push("alerting.name: required unless page_alert and ticket_alert are disabled".into());
    }
    check_alert_labels("alerting", &a.labels, &a.annotations, errs);
    check_alert_labels(
        "alerting.page_alert",
        &a.page_alert.labels,
        &a.page_alert.annotations,
        errs,
    );
    check_alert_labels(
        "alerting.ticket_alert",
        &a.ticket_alert.labels,
        &a.ticket_alert.annotations,
        errs,
    );
}

fn check_alert_labels(
    field: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    errs: &mut Vec<String>,
) {
    for (k, v) in labels {
        if !is_valid_label_name(k) || k == "__name__" {
            errs.push(format!("{field}.labels: invalid label name {k:?}"));
        }
        if v.is_empty() {
            errs.push(format!("{field}.labels: label {k:?} has an empty value"));
        }
    }
    for (k, v) in annotations {
        if !is_valid_label_name(k) {
            errs.push(format!("{field}.annotations: invalid annotation name {k:?}"));
        }
        if v.is_empty() {
            errs.push(format!("{field}.annotations: annotation {k:?} has an empty value"));
        }
    }
}
