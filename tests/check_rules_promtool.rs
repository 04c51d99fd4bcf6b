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
    // Edge cases of the YAML and of empty or odd values.
    (
        "bad_edge_anchors",
        "x: &r\n  - record: x\n    expr: up\ngroups:\n- name: a\n  rules: *r\n",
    ),
    (
        "good_edge_bool_expr",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: true\n",
    ),
    ("bad_edge_dup_keys", "groups:\n- name: a\n  name: b\n  rules: []\n"),
    (
        "good_edge_dup_rules",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n  - record: x\n    expr: up\n",
    ),
    (
        "bad_edge_empty_alert",
        "groups:\n- name: a\n  rules:\n  - alert: ''\n    expr: up\n",
    ),
    (
        "good_edge_empty_annotation",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations: {a: ''}\n",
    ),
    (
        "bad_edge_empty_expr",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: ''\n",
    ),
    (
        "good_edge_empty_label_value",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {a: ''}\n",
    ),
    (
        "bad_edge_empty_record",
        "groups:\n- name: a\n  rules:\n  - record: ''\n    expr: up\n",
    ),
    (
        "bad_edge_for_number",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: 5\n",
    ),
    ("good_edge_groups_null", "groups:\n"),
    (
        "good_edge_interval0",
        "groups:\n- name: a\n  interval: 0s\n  rules: []\n",
    ),
    (
        "bad_edge_interval_bad",
        "groups:\n- name: a\n  interval: 1x\n  rules: []\n",
    ),
    (
        "good_edge_keep_firing_alert",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    keep_firing_for: 1h\n",
    ),
    (
        "bad_edge_label_utf8_name",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels: {'\u{e4}': v}\n",
    ),
    (
        "good_edge_label_value_template_in_record",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    labels: {a: '{{ nope }}'}\n",
    ),
    (
        "bad_edge_list_expr",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: [1]\n",
    ),
    (
        "good_edge_matrix_expr",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up[5m]\n",
    ),
    ("good_edge_multi_doc", "groups: []\n---\ngroups: []\n"),
    (
        "bad_edge_neg_for",
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: -1m\n",
    ),
    ("good_edge_neg_limit", "groups:\n- name: a\n  limit: -1\n  rules: []\n"),
    ("good_edge_no_rules_key", "groups:\n- name: a\n"),
    (
        "good_edge_record_colon",
        "groups:\n- name: a\n  rules:\n  - record: 'a:b:c'\n    expr: up\n",
    ),
    ("good_edge_rules_null", "groups:\n- name: a\n  rules:\n"),
    ("good_edge_space_group", "groups:\n- name: 'a b'\n  rules: []\n"),
    (
        "good_edge_string_expr",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: '\"foo\"'\n",
    ),
    (
        "good_edge_string_expr_quoted_number",
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: '1'\n",
    ),
    ("bad_edge_tabs", "groups:\n\t- name: a\n"),
    (
        "good_edge_unicode_alert",
        "groups:\n- name: a\n  rules:\n  - alert: 'Gr\u{f6}\u{df}e'\n    expr: up\n",
    ),
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

/// `check config` also loads what startup loads from other files: a missing server
/// certificate, an unreadable credential file or a bad scrape `tls_config` fail the check.
#[test]
fn check_config_loads_tls_and_credential_files() {
    let dir = tempfile::tempdir().unwrap();
    let check = |yaml: &str| {
        std::fs::write(dir.path().join("nerve.yml"), yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_nerve"))
            .args(["check", "config"])
            .arg(dir.path().join("nerve.yml"))
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) =
        check("server:\n  tls_server_config: {cert_file: /nonexistent/c.pem, key_file: /nonexistent/k.pem}\n");
    assert!(
        !ok && err.contains("unable to read cert_file /nonexistent/c.pem"),
        "{err}"
    );
    let (ok, err) = check("auth:\n  write:\n    bearer_token_file: /nonexistent/token\n");
    assert!(!ok && err.contains("/nonexistent/token"), "{err}");
    let (ok, err) = check(
        "scrape_configs:\n  - job_name: j\n    scheme: https\n    tls_config: {min_version: TLS14}\n    static_configs: [{targets: ['a:1']}]\n",
    );
    assert!(
        !ok && err.contains("scrape job \"j\"") && err.contains("unknown TLS version: TLS14"),
        "{err}"
    );
    let (ok, err) = check("scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['a:1']}]\n");
    assert!(ok, "{err}");
}

/// Template snippets (annotation values) from ordinary to malformed; promtool decides which
/// parse, and nerve must agree on each.
const TEMPLATES: &[&str] = &[
    r#"{{ $labels.instance }}"#,
    r#"{{ .Labels.instance }}"#,
    r#"{{ $value | humanize }}"#,
    r#"{{ humanize }}"#,
    r#"{{ if }}{{ end }}"#,
    r#"{{ range }}{{ end }}"#,
    r#"{{ else }}"#,
    r#"{{ end }}"#,
    r#"{{ if 1 }}{{ else }}{{ else }}{{ end }}"#,
    r#"{{ $x := 1 }}{{ $x }}"#,
    r#"{{ $x = 1 }}"#,
    r#"{{ $x := 1 }}{{ $x = 2 }}{{ $x }}"#,
    r#"{{ $y }}"#,
    r#"{{ range $i, $v := $labels }}{{ $i }}{{ end }}"#,
    r#"{{ range $i, $v, $w := $labels }}{{ end }}"#,
    r#"{{ with $labels.x }}{{ . }}{{ end }}"#,
    r#"{{ with $labels.x }}{{ . }}{{ else with $labels.y }}y{{ end }}"#,
    r#"{{ if 1 }}a{{ else if 2 }}b{{ else }}c{{ end }}"#,
    r#"{{ 1 | 2 }}"#,
    r#"{{ (1) }}"#,
    r#"{{ ( }}"#,
    r#"{{ ) }}"#,
    r#"{{ "unterminated }}"#,
    r#"{{ `raw` }}"#,
    r#"{{ 'c' }}"#,
    r#"{{ 1.5e3 }}"#,
    r#"{{ 0x1F }}"#,
    r#"{{ -1 }}"#,
    r#"{{ +1 }}"#,
    r#"{{ 1e }}"#,
    r#"{{ nil }}"#,
    r#"{{ true | not }}"#,
    r#"{{ .Foo.Bar.Baz }}"#,
    r#"{{ $.Labels.x }}"#,
    r#"{{ $ }}"#,
    r#"{{/* c */}}"#,
    r#"{{/* c }}"#,
    r#"{{- 1 -}}"#,
    r#"{{-1}}"#,
    r#"{{ 1 -}}"#,
    r#"{{ printf }}"#,
    r#"{{ template "x" }}"#,
    r#"{{ define "x" }}{{ end }}"#,
    r#"{{ block "x" . }}{{ end }}"#,
    r#"{{ break }}"#,
    r#"{{ range 3 }}{{ break }}{{ end }}"#,
    r#"{{ range 3 }}{{ continue }}{{ end }}"#,
    r#"{{ $labels.instance | reReplaceAll "a" "b" }}"#,
    r#"{{ query "up" | first | value }}"#,
    r#"{{ index $labels "x" }}"#,
    r#"{{ .Labels.x.y }}"#,
    r#"a {{ b"#,
    r#"{{ 1 }} }}"#,
    r#"}} {{ 1 }}"#,
    r#"{{ and 1 2 }}"#,
    r#"{{ or }}"#,
    r#"{{ slice "abc" 1 }}"#,
    r#"{{ call 1 }}"#,
    r#"{{ $value.x }}"#,
    r#"{{ 1 2 }}"#,
    r#"{{ "a" "b" }}"#,
    r#"{{ .x | }}"#,
    r#"{{ | .x }}"#,
    r#"{{ . . }}"#,
    r#"{{ $x := }}"#,
    r#"{{ := 1 }}"#,
    r#"{{ range $x := 3 }}{{ $x }}{{ end }}{{ $x }}"#,
    r#"{{ if $x := 1 }}{{ $x }}{{ end }}"#,
    r#"{{ with $x := 1 }}{{ end }}{{ $x }}"#,
    r#"{{ humanize1024 1 }}"#,
    r#"{{ toTime 1 }}"#,
    r#"{{ parseDuration "1m" }}"#,
    r#"{{ stripDomain "a.b" }}"#,
    r#"{{ urlquery "a b" }}"#,
    r#"{{ html "<" }}"#,
    r#"{{ js "'" }}"#,
    r#"{{ print 1 2 }}"#,
    r#"{{ len "abc" }}"#,
    r#"{{ eq 1 1 1 }}"#,
    r#"{{ externalURL }}"#,
    r#"{{ pathPrefix }}"#,
    r#"{{ tableLink "up" }}"#,
    r#"{{ strvalue (query "up" | first) }}"#,
    r#"{{ sortByLabel "a" (query "up") }}"#,
    r#"{{ args 1 2 }}"#,
    r#"{{ safeHtml "x" }}"#,
    r#"{{ match "a" "b" }}"#,
    r#"{{ title "a" }}"#,
    r#"{{ toUpper "a" }}"#,
    r#"{{ toLower "A" }}"#,
    r#"{{ graphLink "up" }}"#,
    r#"{{ humanizeTimestamp 1 }}"#,
    r#"{{ humanizePercentage 1 }}"#,
    r#"{{ humanizeDuration 1 }}"#,
    r#"{{ label "a" (query "up" | first) }}"#,
    r#"{{ else if 1 }}"#,
    r#"{{ if 1 }}{{ else if }}{{ end }}"#,
    r#"{{ range $k, $v := 3 }}{{ end }}"#,
    r#"{{ $k, $v := 3 }}"#,
    r#"{{ 1 }}{{"#,
    r#"{{"#,
    r#"}}"#,
    r#"{{}}"#,
    r#"{{ }}"#,
    r#"{{ /* x */ }}"#,
    r#"{{ .x
}}"#,
    r#"{{ $x.y := 1 }}"#,
    r#"{{ .Labels.x | printf "%s" }}"#,
    r#"{{ (query "up" | first).Value }}"#,
    r#"{{ (1).x }}"#,
    r#"{{ .x.y | .z }}"#,
    r#"{{ ..x }}"#,
    r#"{{ .x. }}"#,
    r#"{{ $x.}}"#,
    r#"{{ define "x" }}a{{ end }}{{ template "x" . }}"#,
    r#"{{ range 3 }}{{ break 1 }}{{ end }}"#,
    r#"{{ break }}"#,
    r#"{{ $x := 1 }}{{ $x = 2 }}"#,
    r#"{{ '\n' }}"#,
    r#"{{ 'ab' }}"#,
    r#"{{ .x | printf "%d" | toUpper }}"#,
    r#"{{ $labels.x | $labels.y }}"#,
    r#"{{ (printf "a").x }}"#,
    r#"{{ range $i, $v := query "up" }}{{ $v.Value }}{{ end }}"#,
    r#"{{- /* c */ -}}"#,
    r#"{{-/* c */-}}"#,
    r#"{{ with $x := 1 }}{{ $x }}{{ end }}"#,
];

#[test]
fn template_syntax_agrees_with_promtool() {
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
    for (i, t) in TEMPLATES.iter().enumerate() {
        let f = dir.path().join(format!("t{i}.yml"));
        let quoted = serde_json::to_string(t).unwrap();
        std::fs::write(
            &f,
            format!("groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations:\n      s: {quoted}\n"),
        )
        .unwrap();
        let (prom_ok, prom_out) = accepts(Command::new("promtool").args(["check", "rules"]), &f);
        let (nerve_ok, nerve_out) = accepts(Command::new(env!("CARGO_BIN_EXE_nerve")).args(["check", "rules"]), &f);
        if prom_ok != nerve_ok {
            disagreements.push(format!(
                "{t:?}: promtool {prom_ok}, nerve {nerve_ok}\n{prom_out}\n{nerve_out}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n---\n"));
}
