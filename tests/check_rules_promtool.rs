//! `nerve check rules` against Debian's `promtool check rules`: both must accept and reject
//! the same files (messages may differ in wording and line numbers). Skipped, with a note,
//! when promtool is not installed.

use std::path::Path;
use std::process::Command;

/// (name, file body). Only Prometheus 2.42 syntax: nerve's extensions (group `labels`,
/// `language`) are rejected by that promtool.
const CASES: &[(&str, &str)] = &[
    (
        "good_basic",
        r#"groups:
- name: a
  interval: 30s
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels: {x: y}
  - alert: InstanceDown
    expr: up == 0
    for: 5m
    labels: {severity: page}
    annotations:
      summary: "{{ $labels.instance }} down"
      description: "{{ $labels.instance }} of {{ $labels.job }} has been down; value {{ $value | humanize }}"
"#,
    ),
    ("good_empty", ""),
    ("good_no_groups", "groups: []\n"),
    (
        "good_limit_keep_firing",
        r#"groups:
- name: a
  limit: 10
  rules:
  - alert: X
    expr: rate(errors_total[5m]) > 1
    for: 0s
    keep_firing_for: 10m
"#,
    ),
    (
        "good_templates",
        r#"groups:
- name: t
  rules:
  - alert: "name with spaces"
    expr: vector(1)
    annotations:
      a: '{{ range query "up" }}{{ .Labels.instance }} {{ .Value | printf "%.2f" }}{{ end }}'
      b: '{{ with query "up" }}{{ . | first | value | humanizeDuration }}{{ else }}none{{ end }}'
      c: '{{ if gt $value 1.0 }}big{{ else if eq $value 1.0 }}one{{ else }}small{{ end }}'
      d: '{{ $x := "v" }}{{ $x | toUpper }} {{ reReplaceAll "a(.)" "$1" "abc" }} {{ $externalLabels.region }}'
      e: '{{- /* comment */ -}} {{ humanizeTimestamp $value }} {{ title "x" }} {{ humanizePercentage 0.5 }}'
"#,
    ),
    (
        "good_number_expr",
        "groups:\n- name: n\n  rules:\n  - record: one\n    expr: 1\n",
    ),
    (
        "bad_unknown_rule_field",
        "groups:\n- name: a\n  rules:\n  - record: x\n    exp: up\n",
    ),
    ("bad_unknown_group_field", "groups:\n- name: a\n  foo: 1\n  rules: []\n"),
    ("bad_unknown_top_field", "foo: 1\n"),
    (
        "bad_both_kinds",
        "groups:\n- name: a\n  rules:\n  - record: x\n    alert: y\n    expr: up\n",
    ),
    ("bad_no_kind", "groups:\n- name: a\n  rules:\n  - expr: up\n"),
    ("bad_no_expr", "groups:\n- name: a\n  rules:\n  - alert: y\n"),
    (
        "bad_promql",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(rate(up[5m])\n",
    ),
    (
        "bad_promql_function",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: no_such_function(up)\n",
    ),
    (
        "bad_record_name",
        "groups:\n- name: a\n  rules:\n  - record: 'bad name'\n    expr: up\n",
    ),
    (
        "bad_record_for",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 1m\n",
    ),
    (
        "bad_record_annotations",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    annotations: {a: b}\n",
    ),
    (
        "bad_record_keep_firing",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    keep_firing_for: 1m\n",
    ),
    (
        "bad_label_name",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {'bad-name': v}\n",
    ),
    (
        "bad_metric_name_label",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {__name__: v}\n",
    ),
    (
        "bad_annotation_name",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {'a.b': v}\n",
    ),
    (
        "bad_template_function",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {s: '{{ nope }}'}\n",
    ),
    (
        "bad_template_variable",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {s: '{{ $nope }}'}\n",
    ),
    (
        "bad_template_unclosed",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {s: '{{ .Labels'}\n",
    ),
    (
        "bad_template_if",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {s: '{{ if 1 }}x'}\n",
    ),
    (
        "bad_duplicate_group",
        "groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n",
    ),
    ("bad_empty_group_name", "groups:\n- name: ''\n  rules: []\n"),
    (
        "bad_duration",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: 5x\n",
    ),
    ("bad_yaml", "groups: [\n"),
    ("bad_rules_type", "groups:\n- name: a\n  rules: 5\n"),
];

fn accepts(cmd: &mut Command, file: &Path) -> (bool, String) {
    let out = cmd.arg(file).output().expect("run checker");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn check_rules_agrees_with_promtool() {
    let promtool = Command::new("sh")
        .args(["-c", "command -v promtool"])
        .output()
        .expect("sh");
    if !promtool.status.success() {
        eprintln!("SKIPPED: promtool is not installed (scripts/test.sh installs Debian's prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut disagreements = Vec::new();
    for (name, body) in CASES {
        let f = dir.path().join(format!("{name}.yml"));
        std::fs::write(&f, body).unwrap();
        let (prom_ok, prom_out) = accepts(Command::new("promtool").args(["check", "rules"]), &f);
        let (nerve_ok, nerve_out) = accepts(Command::new(env!("CARGO_BIN_EXE_nerve")).args(["check", "rules"]), &f);
        assert_eq!(
            prom_ok,
            name.starts_with("good"),
            "case {name} is mislabelled: promtool says\n{prom_out}"
        );
        if prom_ok != nerve_ok {
            disagreements.push(format!(
                "{name}: promtool {prom_ok}, nerve {nerve_ok}\n{prom_out}\n{nerve_out}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n---\n"));
    // Several files in one run: exit 1 if any fails, every file reported.
    let out = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(["check", "rules"])
        .arg(dir.path().join("good_basic.yml"))
        .arg(dir.path().join("bad_no_expr.yml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SUCCESS: 2 rules found"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("field 'expr' must be set in rule"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_checks_the_rule_files_it_names() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/good.yml"), CASES[0].1).unwrap();
    std::fs::write(dir.path().join("nerve.yml"), "rule_files: ['rules/*.yml']\n").unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_nerve"))
            .args(["check", "config"])
            .arg(dir.path().join("nerve.yml"))
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(
        dir.path().join("rules/bad.yml"),
        "groups:\n- name: a\n  rules:\n  - alert: x\n",
    )
    .unwrap();
    let out = run();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("field 'expr' must be set in rule"));
}
