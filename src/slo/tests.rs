//! Spec parsing and validation, and the shape of the generated rules.

use super::generate::{Info, generate};
use super::spec::{parse, validate};
use super::yaml::to_yaml;
use crate::rules::file::{self, Language};

const SPEC: &str = r#"
version: "prometheus/v1"
service: "shop"
labels:
  team: "payments"
  tier: "1"
slos:
  - name: "checkout-availability"
    objective: 99.9
    description: "Checkouts that do not fail."
    labels:
      tier: "0"
    sli:
      events:
        error_query: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{job="checkout"}[{{ .window }}]))
    alerting:
      name: CheckoutErrorBudgetBurn
      labels:
        category: availability
      annotations:
        runbook: "https://runbooks/checkout"
      page_alert:
        labels:
          severity: critical
      ticket_alert:
        disable: true
  - name: "search-quality"
    objective: 95
    sli:
      raw:
        error_ratio_query: |
          1 - avg_over_time(search_quality_ratio[{{.window}}])
    alerting:
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"#;

fn errs(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(s) => validate(&s),
        Err(e) => vec![e],
    }
}

#[test]
fn good_spec_generates_sloth_groups() {
    let spec = parse(SPEC).unwrap();
    assert_eq!(validate(&spec), Vec::<String>::new());
    let rf = generate(&spec, &Info::default());
    assert_eq!(file::validate(&rf), Vec::<String>::new());
    let names: Vec<_> = rf.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sloth-slo-sli-recordings-shop-checkout-availability",
            "sloth-slo-meta-recordings-shop-checkout-availability",
            "sloth-slo-alerts-shop-checkout-availability",
            "sloth-slo-sli-recordings-shop-search-quality",
            "sloth-slo-meta-recordings-shop-search-quality",
        ]
    );
    let sli = &rf.groups[0];
    let records: Vec<_> = sli.rules.iter().map(|r| r.name()).collect();
    assert_eq!(
        records,
        ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"].map(|w| format!("slo:sli_error:ratio_rate{w}"))
    );
    let r1h = &sli.rules[2];
    assert_eq!(
        r1h.expr,
        "(sum(rate(http_requests_total{job=\"checkout\",code=~\"5..\"}[1h])))\n/\n(sum(rate(http_requests_total{job=\"checkout\"}[1h])))\n"
    );
    let l = &r1h.labels;
    assert_eq!(l["sloth_id"], "shop-checkout-availability");
    assert_eq!(l["sloth_service"], "shop");
    assert_eq!(l["sloth_slo"], "checkout-availability");
    assert_eq!(l["sloth_window"], "1h");
    assert_eq!(l["team"], "payments");
    assert_eq!(l["tier"], "0", "the SLO's labels win over the file's");
    let filter = r#"{sloth_id="shop-checkout-availability", sloth_service="shop", sloth_slo="checkout-availability"}"#;
    assert_eq!(
        sli.rules[7].expr,
        format!(
            "sum_over_time(slo:sli_error:ratio_rate5m{filter}[30d])\n/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{filter}[30d])\n"
        )
    );
    let meta = &rf.groups[1];
    let exprs: Vec<_> = meta.rules.iter().map(|r| (r.name(), r.expr.as_str())).collect();
    // Go's shortest float formatting of 99.9/100, as Sloth prints it.
    assert_eq!(exprs[0], ("slo:objective:ratio", "vector(0.9990000000000001)"));
    assert_eq!(exprs[1], ("slo:error_budget:ratio", "vector(1-0.9990000000000001)"));
    assert_eq!(exprs[2], ("slo:time_period:days", "vector(30)"));
    assert_eq!(
        exprs[3].1,
        format!(
            "slo:sli_error:ratio_rate5m{filter}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{filter}\n"
        )
    );
    assert!(exprs[4].1.starts_with("slo:sli_error:ratio_rate30d{"));
    assert_eq!(exprs[5].1, format!("1 - slo:period_burn_rate:ratio{filter}"));
    assert_eq!(meta.rules[6].labels["sloth_objective"], "99.9");
    assert_eq!(meta.rules[6].labels["sloth_spec"], "prometheus/v1");
    assert!(!meta.rules[0].labels.contains_key("sloth_window"));
    let alerts = &rf.groups[2];
    assert_eq!(alerts.rules.len(), 1, "the ticket alert is disabled");
    let page = &alerts.rules[0];
    assert_eq!(page.alert(), Some("CheckoutErrorBudgetBurn"));
    // (100 - 99.9) / 100 in float64, as Sloth computes the budget.
    assert!(page.expr.starts_with(&format!(
        "(\n    max(slo:sli_error:ratio_rate5m{filter} > (14.4 * 0.0009999999999999432)) without (sloth_window)\n    and\n    max(slo:sli_error:ratio_rate1h{filter} > (14.4 * 0.0009999999999999432)) without (sloth_window)\n)\nor\n(\n    max(slo:sli_error:ratio_rate30m{filter} > (6 * 0.0009999999999999432))"
    )));
    assert_eq!(page.labels["sloth_severity"], "page");
    assert_eq!(page.labels["severity"], "critical");
    assert_eq!(page.labels["category"], "availability");
    assert_eq!(page.annotations["runbook"], "https://runbooks/checkout");
    assert_eq!(
        page.annotations["title"],
        "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast."
    );
    // Raw SLI: the query in parentheses, the window substituted.
    assert_eq!(
        rf.groups[3].rules[1].expr,
        "(1 - avg_over_time(search_quality_ratio[30m])\n)"
    );
    assert_eq!(rf.groups[4].rules[0].expr, "vector(0.95)");
}

#[test]
fn printed_yaml_reads_back_equal() {
    let rf = generate(&parse(SPEC).unwrap(), &Info::default());
    let text = to_yaml(&rf);
    let back = file::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.groups, rf.groups, "{text}");
    assert!(text.contains("    expr: |\n      (sum(rate("), "{text}");
}

#[test]
fn logql_sli() {
    let y = r#"
version: prometheus/v1
service: api
slos:
- name: requests
  objective: 99.5
  sli:
    logql:
      error_query: sum(count_over_time({app="api"} | json | status >= 500 [{{.window}}]))
      total_query: sum(count_over_time({app="api"} | json [{{.window}}]))
  alerting:
    name: ApiErrors
"#;
    let spec = parse(y).unwrap();
    assert_eq!(validate(&spec), Vec::<String>::new());
    let rf = generate(&spec, &Info::default());
    assert_eq!(file::validate(&rf), Vec::<String>::new());
    assert_eq!(rf.groups[0].language, Language::Logql);
    assert_eq!(rf.groups[0].rules.len(), 7);
    assert_eq!(rf.groups[1].language, Language::Promql);
    assert_eq!(rf.groups[1].rules[0].name(), "slo:sli_error:ratio_rate30d");
    assert_eq!(rf.groups[2].rules.len(), 2);
    assert_eq!(rf.groups[2].rules[1].labels["sloth_severity"], "ticket");
    let back = file::parse(&to_yaml(&rf)).unwrap();
    assert_eq!(back.groups, rf.groups);
}

#[test]
fn bad_specs_name_the_slo_and_field() {
    let base = |slo: &str| format!("version: prometheus/v1\nservice: svc\nslos:\n{slo}");
    let ev = "  sli:\n    events:\n      error_query: sum(rate(e[{{.window}}]))\n      total_query: sum(rate(t[{{.window}}]))\n  alerting: {name: A}\n";
    assert_eq!(
        errs(&base(&format!("- name: api\n  objective: 99\n{ev}"))),
        Vec::<String>::new()
    );
    assert_eq!(
        errs(&base(&format!("- name: api\n  objective: 0\n{ev}"))),
        ["slo \"api\": objective: must be > 0 and <= 100, not 0"]
    );
    assert_eq!(
        errs(&base(&format!("- name: api\n  objective: 100.5\n{ev}"))),
        ["slo \"api\": objective: must be > 0 and <= 100, not 100.5"]
    );
    assert_eq!(
        errs(&base(
            "- name: api\n  objective: 99\n  sli:\n    raw:\n      error_ratio_query: x\n  alerting: {name: A}\n"
        )),
        ["slo \"api\": sli.raw.error_ratio_query: must contain the {{.window}} variable"]
    );
    assert_eq!(
        errs(&base(
            "- name: api\n  objective: 99\n  sli: {}\n  alerting: {name: A}\n"
        )),
        ["slo \"api\": sli: one of events, raw and logql is required"]
    );
    let both = "  sli:\n    raw: {error_ratio_query: 'x[{{.window}}]'}\n    events: {error_query: 'e[{{.window}}]', total_query: 't[{{.window}}]'}\n  alerting: {name: A}\n";
    assert_eq!(
        errs(&base(&format!("- name: api\n  objective: 99\n{both}"))),
        ["slo \"api\": sli: only one of events, raw and logql may be set"]
    );
    let e = errs(&base(
        "- name: api\n  objective: 99\n  sli:\n    events: {error_query: 'sum(rate(e[{{.window}}])', total_query: 't[{{.window}}]'}\n",
    ));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("slo \"api\": sli.events.error_query: "), "{e:?}");
    assert_eq!(
        e[1],
        "slo \"api\": alerting.name: required unless page_alert and ticket_alert are disabled"
    );
    let e = errs(&base(
        "- name: api\n  objective: 99\n  sli:\n    logql: {error_query: '{a=\"b\"} |= \"{{.window}}\"', total_query: 'count_over_time({a=\"b\"}[{{.window}}])'}\n  alerting: {name: A}\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("slo \"api\": sli.logql.error_query: ") && e[0].contains("metric query"),
        "{e:?}"
    );
    assert_eq!(
        errs(&base(&format!(
            "- name: -a\n  objective: 99\n{ev}- name: web\n  objective: 99\n  labels: {{sloth_window: x, 'bad-name': y}}\n{ev}- name: web\n  objective: 99\n{ev}"
        ))),
        [
            "slo \"-a\": name: must start and end with an alphanumeric and contain only alphanumerics, '.', '_' and '-'",
            "slo \"web\": labels: invalid label name \"bad-name\"",
            "slo \"web\": labels: label \"sloth_window\" is set by the generated rules",
            "slo \"web\": name: repeated in the same file",
        ]
    );
    let e = errs("version: prometheus/v2\nservice: s\nslos: []\n");
    assert_eq!(
        e,
        [
            "version: must be \"prometheus/v1\", not \"prometheus/v2\"",
            "service: \"s\" must start and end with an alphanumeric and contain only alphanumerics, '.', '_' and '-'",
            "slos: at least one SLO is required",
        ]
    );
    // Strict parsing: unknown keys are errors, naming the key.
    let e = errs(&base(&format!("- name: api\n  objective: 99\n  objectve: 9\n{ev}")));
    assert!(e[0].contains("objectve"), "{e:?}");
    let ev2 = ev.replace(
        "  alerting: {name: A}\n",
        "  alerting:\n    name: A\n    page_alert: {disabled: true}\n",
    );
    let e = errs(&base(&format!("- name: api\n  objective: 99\n{ev2}")));
    assert!(e[0].contains("disabled"), "{e:?}");
    assert_eq!(errs(""), ["empty SLO spec"]);
}

#[test]
fn load_limits_size_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.yml");
    std::fs::write(&p, vec![b'#'; (16 << 20) + 1]).unwrap();
    let e = super::load(&p).unwrap_err();
    assert_eq!(e, [format!("{}: larger than 16777216 bytes", p.display())]);
    let p = dir.path().join("ok.yml");
    std::fs::write(&p, SPEC).unwrap();
    assert_eq!(super::load(&p).unwrap().groups.len(), 5);
    let mut out = Vec::new();
    let mut err = Vec::new();
    assert!(super::check_files(std::slice::from_ref(&p), true, &mut out, &mut err));
    let printed = String::from_utf8(out).unwrap();
    assert_eq!(file::parse(&printed).unwrap().groups.len(), 5);
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("SUCCESS: 2 SLOs, 31 rules generated")
    );
    // Several specs in one file, one per YAML document, as Sloth reads them.
    let p = dir.path().join("multi.yml");
    let other = SPEC.replace("service: \"shop\"", "service: \"shop2\"");
    std::fs::write(&p, format!("{SPEC}---\n{other}")).unwrap();
    let rf = super::load(&p).unwrap();
    assert_eq!(rf.groups.len(), 10);
    assert_eq!(
        rf.groups[5].name,
        "sloth-slo-sli-recordings-shop2-checkout-availability"
    );
    std::fs::write(&p, format!("{SPEC}---\n{}", other.replace("99.9", "101"))).unwrap();
    assert_eq!(
        super::load(&p).unwrap_err(),
        [format!(
            "{}: document 2: slo \"checkout-availability\": objective: must be > 0 and <= 100, not 101",
            p.display()
        )]
    );
}

#[test]
fn printed_yaml_round_trips_awkward_strings() {
    let awkward = [
        "plain",
        "yes",
        "No",
        "null",
        "~",
        "1",
        "-1.5e3",
        " leading space",
        "trailing space ",
        "a: b",
        "a #b",
        "#comment",
        "- item",
        "'single' and \"double\" quotes",
        "{{ $labels.x }}",
        "tab\there",
        "ünïcödé ✓",
        "line one\nline two",
        "line one\nline two\n",
        "  indented first\nsecond\n",
        "ends with two newlines\n\n",
        "\nstarts with a newline",
        "back\\slash",
        "",
    ];
    let mut rf = crate::rules::file::RuleFile::default();
    let mut g = crate::rules::file::GroupSpec {
        name: "g: with colon".into(),
        ..Default::default()
    };
    for (i, s) in awkward.iter().enumerate() {
        g.rules.push(crate::rules::file::RuleSpec {
            alert: Some(format!("A{i}")),
            expr: (*s).to_owned(),
            labels: [("l".to_owned(), (*s).to_owned())].into(),
            annotations: [("a".to_owned(), (*s).to_owned())].into(),
            ..Default::default()
        });
    }
    rf.groups.push(g);
    let text = to_yaml(&rf);
    let back = file::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.groups, rf.groups, "{text}");
    assert_eq!(to_yaml(&Default::default()), "groups: []\n");
}
