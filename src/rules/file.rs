//! Rule files in Prometheus' format (`groups:` of `record`/`alert` rules), parsed strictly
//! (unknown keys are errors) and validated the way `promtool check rules` validates them.
//!
//! nerve extensions: a group's `labels` (added to every rule's output, as in Prometheus 3)
//! and `language: logql`, which makes a group's expressions LogQL metric queries evaluated
//! over the log store (Loki's ruler model).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use nerve_storage::labels::{is_valid_label_name, is_valid_metric_name};
use serde::Deserialize;

use super::template::Template;
use crate::config::null_default;
use crate::config::units::PromDuration;

/// Largest rule file read.
const MAX_RULE_FILE_BYTES: u64 = 16 << 20;

/// A whole rule file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rule groups.
    #[serde(default, deserialize_with = "null_default")]
    pub groups: Vec<GroupSpec>,
}

/// The query language of a group's expressions.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// PromQL over the metrics TSDB (the default).
    #[default]
    Promql,
    /// LogQL metric queries over the log store.
    Logql,
}

/// One `groups[]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Unique within the file.
    #[serde(default)]
    pub name: String,
    /// Evaluation interval; the global `evaluation_interval` when absent.
    #[serde(default)]
    pub interval: Option<PromDuration>,
    /// Most series a recording rule, or alerts an alerting rule, may produce (0 or less: no
    /// limit, as in Prometheus).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Labels added to every rule's output (rule labels win).
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Expression language of the group (nerve extension).
    #[serde(default)]
    pub language: Language,
    /// The rules, evaluated in order.
    #[serde(default, deserialize_with = "null_default")]
    pub rules: Vec<RuleSpec>,
}

/// One `rules[]` entry: exactly one of `record` and `alert`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Name of the series a recording rule writes.
    #[serde(default)]
    pub record: Option<String>,
    /// Name of an alerting rule's alerts.
    #[serde(default)]
    pub alert: Option<String>,
    /// The expression.
    #[serde(default)]
    pub expr: String,
    /// How long an alert stays pending before it fires.
    #[serde(default, rename = "for")]
    pub for_: Option<PromDuration>,
    /// How long an alert keeps firing after its condition cleared.
    #[serde(default)]
    pub keep_firing_for: Option<PromDuration>,
    /// Labels added (templates, for alerts).
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations (templates).
    #[serde(default, deserialize_with = "null_default")]
    pub annotations: BTreeMap<String, String>,
}

impl RuleSpec {
    /// The rule's name (record or alert).
    pub fn name(&self) -> &str {
        self.record().or(self.alert()).unwrap_or("")
    }

    /// `record`, unless absent or empty (Prometheus treats both alike).
    pub fn record(&self) -> Option<&str> {
        self.record.as_deref().filter(|s| !s.is_empty())
    }

    /// `alert`, unless absent or empty.
    pub fn alert(&self) -> Option<&str> {
        self.alert.as_deref().filter(|s| !s.is_empty())
    }
}

/// Reads and parses a rule file; the error is one line per problem, as promtool prints them.
pub fn load(path: &Path) -> Result<RuleFile, Vec<String>> {
    let fail = |m: String| vec![format!("{}: {m}", path.display())];
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.len() > MAX_RULE_FILE_BYTES {
        return Err(fail(format!("larger than {MAX_RULE_FILE_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let file = parse(&text).map_err(fail)?;
    let errs = validate(&file);
    if errs.is_empty() {
        Ok(file)
    } else {
        Err(errs.into_iter().map(|e| format!("{}: {e}", path.display())).collect())
    }
}

/// Parses rule-file YAML (no validation); an empty document has no groups. Like Prometheus,
/// only the first YAML document counts.
pub fn parse(text: &str) -> Result<RuleFile, String> {
    if text.trim().is_empty() {
        return Ok(RuleFile::default());
    }
    serde_saphyr::from_str_multiple::<Option<RuleFile>, Vec<_>>(text)
        .map(|docs| docs.into_iter().next().flatten().unwrap_or_default())
        .map_err(|e| e.to_string())
}

/// Every problem in `file`, as promtool words them.
pub fn validate(file: &RuleFile) -> Vec<String> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for g in &file.groups {
        if g.name.is_empty() {
            errs.push("Groupname must not be empty".to_owned());
            continue;
        }
        if !seen.insert(g.name.as_str()) {
            errs.push(format!("groupname: {:?} is repeated in the same file", g.name));
        }
        for (k, v) in &g.labels {
            if !is_valid_label_name(k) || k == "__name__" {
                errs.push(format!("group {:?}: invalid label name: {k}", g.name));
            }
            if v.is_empty() {
                errs.push(format!("group {:?}: label {k:?} has an empty value", g.name));
            }
        }
        for (i, r) in g.rules.iter().enumerate() {
            for e in validate_rule(r, g.language) {
                errs.push(format!("group {:?}, rule {}, {:?}: {e}", g.name, i + 1, r.name()));
            }
        }
    }
    errs
}

/// Parses an expression in `lang`; the error is the parser's message.
pub fn check_expr(expr: &str, lang: Language) -> Result<(), String> {
    match lang {
        Language::Promql => nerve_query::promql::plan::parse(expr)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Language::Logql => {
            let e = nerve_query::logql::parse(expr).map_err(|e| e.to_string())?;
            if e.is_log() {
                return Err("a log rule needs a LogQL metric query, not a log query".into());
            }
            Ok(())
        }
    }
}

fn validate_rule(r: &RuleSpec, lang: Language) -> Vec<String> {
    let mut errs = Vec::new();
    match (r.record(), r.alert()) {
        (Some(_), Some(_)) => errs.push("only one of 'record' and 'alert' must be set".into()),
        (None, None) => errs.push("one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    if r.expr.is_empty() {
        errs.push("field 'expr' must be set in rule".into());
    } else if let Err(e) = check_expr(&r.expr, lang) {
        errs.push(format!("could not parse expression: {e}"));
    }
    if let Some(name) = r.record() {
        if !r.annotations.is_empty() {
            errs.push("invalid field 'annotations' in recording rule".into());
        }
        if r.for_.is_some() {
            errs.push("invalid field 'for' in recording rule".into());
        }
        if r.keep_firing_for.is_some() {
            errs.push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !is_valid_metric_name(name) {
            errs.push(format!("invalid recording rule name: {name}"));
        }
    }
    for k in r.labels.keys() {
        if !is_valid_label_name(k) || k == "__name__" {
            errs.push(format!("invalid label name: {k}"));
        }
    }
    for k in r.annotations.keys() {
        if !is_valid_label_name(k) {
            errs.push(format!("invalid annotation name: {k}"));
        }
    }
    if let Some(alert) = r.alert() {
        let tname = format!("__alert_{alert}");
        for (k, v) in &r.labels {
            if let Err(e) = Template::parse(&tname, v) {
                errs.push(format!("label {k:?}: {e}"));
            }
        }
        for (k, v) in &r.annotations {
            if let Err(e) = Template::parse(&tname, v) {
                errs.push(format!("annotation {k:?}: {e}"));
            }
        }
    }
    errs
}

/// `nerve check rules FILE...`: promtool's output (`Checking F`, `SUCCESS: n rules found` or
/// `FAILED:` and the problems); returns whether every file passed.
pub fn check_files(files: &[std::path::PathBuf], out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> bool {
    let mut ok = true;
    for f in files {
        let _ = writeln!(out, "Checking {}", f.display());
        match load(f) {
            Ok(rf) => {
                let n: usize = rf.groups.iter().map(|g| g.rules.len()).sum();
                let _ = writeln!(out, "  SUCCESS: {n} rules found\n");
            }
            Err(problems) => {
                ok = false;
                let _ = writeln!(err, "  FAILED:");
                for p in problems {
                    let _ = writeln!(err, "{p}");
                }
                let _ = writeln!(err);
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(yaml: &str) -> Vec<String> {
        match parse(yaml) {
            Ok(f) => validate(&f),
            Err(e) => vec![e],
        }
    }

    #[test]
    fn good_file() {
        let y = r#"
groups:
- name: a
  interval: 30s
  limit: 10
  labels: {team: x}
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels: {x: y}
  - alert: Down
    expr: up == 0
    for: 5m
    keep_firing_for: 1m
    labels: {severity: page}
    annotations: {summary: "{{ $labels.instance }} down {{ $value | humanize }}"}
- name: logs
  language: logql
  rules:
  - alert: Errors
    expr: sum(count_over_time({app="x"} |= "error" [1m])) > 5
"#;
        assert_eq!(errs(y), Vec::<String>::new());
        let f = parse(y).unwrap();
        assert_eq!(f.groups[0].rules[1].for_.unwrap().0.as_secs(), 300);
        assert_eq!(f.groups[1].language, Language::Logql);
    }

    #[test]
    fn bad_files() {
        let e = errs("groups:\n- name: a\n  rules:\n  - record: 'bad name'\n    expr: sum(\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("group \"a\", rule 1, \"bad name\": could not parse expression"),
            "{e:?}"
        );
        assert_eq!(
            e[1],
            "group \"a\", rule 1, \"bad name\": invalid recording rule name: bad name"
        );
        let e = errs("groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {s: '{{ nope }}'}\n");
        assert_eq!(
            e,
            ["group \"a\", rule 1, \"x\": annotation \"s\": template: __alert_x:1: function \"nope\" not defined"]
        );
        assert_eq!(
            errs("groups:\n- name: ''\n  rules: []\n"),
            ["Groupname must not be empty"]
        );
        assert_eq!(
            errs("groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n"),
            ["groupname: \"a\" is repeated in the same file"]
        );
        assert!(errs("foo: 1\n")[0].contains("foo"));
        assert!(
            errs("groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 5m\n")[0]
                .ends_with("invalid field 'for' in recording rule")
        );
        assert!(
            errs("groups:\n- name: a\n  rules:\n  - expr: up\n")[0].ends_with("one of 'record' or 'alert' must be set")
        );
        assert!(
            errs("groups:\n- name: a\n  language: logql\n  rules:\n  - alert: x\n    expr: '{a=\"b\"}'\n")[0]
                .contains("metric query")
        );
        assert!(errs("").is_empty());
    }
}
