use std::collections::BTreeMap;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn render(src: &str, value: f64) -> Result<String, String> {
    let l = labels(&[("instance", "host:9100"), ("job", "node")]);
    let ext = labels(&[("cluster", "eu1")]);
    let data = TemplateData::alert(&l, &ext, "http://nerve:9090", value);
    let q = |q: &str| -> Result<QuerySamples, String> {
        match q {
            "up" => Ok(vec![
                (labels(&[("instance", "b")]), 0.0),
                (labels(&[("instance", "a")]), 1.0),
            ]),
            "none" => Ok(vec![]),
            _ => Err(format!("bad query {q}")),
        }
    };
    Template::parse("__alert_Test", src)
        .map_err(|e| e.to_string())?
        .execute(&data, Some(&q))
        .map_err(|e| e.to_string())
}

#[test]
fn documented_humanize_outputs() {
    // Outputs from Prometheus' template reference and Grafana's examples of the same functions.
    assert_eq!(render("{{ humanize $value }}", 1234567.0).unwrap(), "1.235M");
    assert_eq!(render("{{ $value | humanize1024 }}", 1048576.0).unwrap(), "1Mi");
    assert_eq!(render("{{ humanizeDuration $value }}", 899.99).unwrap(), "14m 59s");
    assert_eq!(render("{{ humanizeDuration $value }}", 3600.5).unwrap(), "1h 0m 0s");
    assert_eq!(render("{{ humanizePercentage $value }}", 0.1234567).unwrap(), "12.35%");
    assert_eq!(render("{{ humanizePercentage $value }}", 0.1234).unwrap(), "12.34%");
    assert_eq!(
        render("{{ humanizeTimestamp $value }}", 1435065584.128).unwrap(),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        render("{{ humanizeTimestamp 1.0000019 }}", 0.0).unwrap(),
        "1970-01-01 00:00:01 +0000 UTC"
    );
    assert_eq!(render("{{ title \"o'neil is here\" }}", 0.0).unwrap(), "O'Neil Is Here");
}

#[test]
fn variables_fields_and_pipelines() {
    assert_eq!(
        render("{{ $labels.instance }} of {{ .Labels.job }} is {{ $value }}", 0.0).unwrap(),
        "host:9100 of node is 0"
    );
    assert_eq!(
        render("{{ $externalLabels.cluster }} {{ $externalURL }}", 1.0).unwrap(),
        "eu1 http://nerve:9090"
    );
    assert_eq!(render("{{ $labels.missing }}|", 1.0).unwrap(), "|");
    assert_eq!(
        render("{{ .Labels.job | toUpper }} {{ title \"hello world\" }}", 1.0).unwrap(),
        "NODE Hello World"
    );
    assert_eq!(
        render("{{ reReplaceAll \":.*\" \"\" $labels.instance }}", 1.0).unwrap(),
        "host"
    );
    assert_eq!(
        render("{{ reReplaceAll \"(.*):(.*)\" \"$2/$1\" $labels.instance }}", 1.0).unwrap(),
        "9100/host"
    );
    assert_eq!(render("{{ printf \"%.1f%%\" $value }}", 99.44).unwrap(), "99.4%");
    assert_eq!(render("{{ $labels.instance | stripPort }}", 1.0).unwrap(), "host");
    assert_eq!(render("{{ $x := 5 }}{{ $x }}", 1.0).unwrap(), "5");
    assert_eq!(render("a {{- \" b \" -}} c", 1.0).unwrap(), "a b c");
    assert_eq!(render("{{/* note */}}x", 1.0).unwrap(), "x");
}

#[test]
fn control_flow() {
    assert_eq!(
        render("{{ if gt $value 10.0 }}high{{ else }}low{{ end }}", 11.0).unwrap(),
        "high"
    );
    assert_eq!(
        render(
            "{{ if gt $value 10.0 }}high{{ else if gt $value 5.0 }}mid{{ end }}",
            6.0
        )
        .unwrap(),
        "mid"
    );
    assert_eq!(
        render("{{ if and $labels.job (eq $labels.job \"node\") }}y{{ end }}", 1.0).unwrap(),
        "y"
    );
    assert_eq!(
        render("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 1.0).unwrap(),
        "instance=host:9100;job=node;"
    );
    assert_eq!(
        render(
            "{{ range query \"up\" }}{{ .Labels.instance }}:{{ .Value }} {{ end }}",
            1.0
        )
        .unwrap(),
        "b:0 a:1 "
    );
    assert_eq!(
        render(
            "{{ range sortByLabel \"instance\" (query \"up\") }}{{ .Labels.instance }}{{ end }}",
            1.0
        )
        .unwrap(),
        "ab"
    );
    assert_eq!(
        render("{{ range query \"none\" }}x{{ else }}empty{{ end }}", 1.0).unwrap(),
        "empty"
    );
    assert_eq!(
        render("{{ query \"up\" | first | value | humanize }}", 1.0).unwrap(),
        "0"
    );
    assert_eq!(
        render(
            "{{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}",
            1.0
        )
        .unwrap(),
        "b"
    );
    assert_eq!(render("{{ (query \"up\" | first).Value }}", 1.0).unwrap(), "0");
}

#[test]
fn definitions_loops_and_builtins() {
    assert_eq!(
        render(
            "{{ define \"who\" }}[{{ .job }}]{{ end }}{{ template \"who\" $labels }}",
            1.0
        )
        .unwrap(),
        "[node]"
    );
    assert_eq!(
        render("{{ block \"b\" $labels.job }}<{{ . }}>{{ end }}", 1.0).unwrap(),
        "<node>"
    );
    assert!(
        render("{{ template \"missing\" }}", 1.0)
            .unwrap_err()
            .ends_with("template \"missing\" not defined")
    );
    assert!(
        render(
            "{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}",
            1.0
        )
        .unwrap_err()
        .contains("exceeded maximum template depth")
    );
    assert!(
        Template::parse("t", "{{ define \"d\" }}{{ $labels }}{{ end }}").is_err(),
        "only $ inside"
    );
    assert_eq!(
        render("{{ range $i := 10 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}", 1.0)
            .unwrap(),
        "02"
    );
    assert!(Template::parse("t", "{{ break }}").is_err());
    assert_eq!(render("{{ 'a' }} {{ '\\n' }}", 1.0).unwrap(), "97 10");
    assert_eq!(render("{{ slice \"abcdef\" 1 3 }}", 1.0).unwrap(), "bc");
    assert_eq!(
        render(
            "{{ stripDomain \"db1.example.com:5432\" }} {{ stripDomain \"10.0.0.1:80\" }}",
            1.0
        )
        .unwrap(),
        "db1:5432 10.0.0.1:80"
    );
    assert_eq!(render("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", 1.0).unwrap(), "2");
    assert!(
        render("{{ $y = 2 }}", 1.0)
            .unwrap_err()
            .contains("undefined variable: $y")
    );
    assert_eq!(render("{{ $labels.job | }}", 1.0).unwrap(), "node");
    assert!(
        render("{{ 1 2 }}", 1.0)
            .unwrap_err()
            .contains("can't give argument to non-function")
    );
    assert!(
        Template::parse("t", "{{ 1 | 2 }}")
            .unwrap_err()
            .to_string()
            .contains("non executable command in pipeline stage 2")
    );
    assert!(Template::parse("t", "{{ /* spaced */ }}").is_err());
    assert!(Template::parse("t", "{{- /* trimmed */ -}}").is_ok());
}

#[test]
fn errors_read_like_go() {
    assert_eq!(
        Template::parse("__alert_X", "{{ nope }}").unwrap_err().to_string(),
        "template: __alert_X:1: function \"nope\" not defined"
    );
    assert_eq!(
        Template::parse("__alert_X", "a\n{{ $foo }}").unwrap_err().to_string(),
        "template: __alert_X:2: undefined variable \"$foo\""
    );
    assert!(
        Template::parse("__alert_X", "{{ .Labels")
            .unwrap_err()
            .to_string()
            .ends_with("unclosed action")
    );
    assert!(
        Template::parse("__alert_X", "{{ if 1 }}x")
            .unwrap_err()
            .to_string()
            .contains("unexpected EOF")
    );
    assert!(Template::parse("__alert_X", "{{ end }}").is_err());
    assert!(Template::parse("__alert_X", &"{{ if 1 }}".repeat(500)).is_err());
    let e = render("{{ humanize \"abc\" }}", 1.0).unwrap_err();
    assert_eq!(
        e,
        "template: __alert_Test:1:115: executing \"__alert_Test\" at <humanize \"abc\">: error calling humanize: \
         strconv.ParseFloat: parsing \"abc\": invalid syntax"
    );
    let e = render("{{ query \"none\" | first }}", 1.0).unwrap_err();
    assert!(
        e.ends_with("error calling first: first() called on vector with no elements"),
        "{e}"
    );
    assert!(
        render("{{ gt $value 1 }}", 1.0)
            .unwrap_err()
            .contains("incompatible types for comparison")
    );
}

proptest::proptest! {
    /// Arbitrary text, and text made of template syntax, never panics the parser or executor.
    #[test]
    fn never_panics(src in "(\\PC|\\{\\{|\\}\\}|\\$|\\.|\\(|\\)|\\||-| |if|else|end|range|with|:=|,|\"|humanize|printf|query|first){0,40}") {
        if let Ok(t) = Template::parse("__alert_P", &src) {
            let data = TemplateData::alert(&labels(&[("a", "b")]), &BTreeMap::new(), "", 1.5);
            let _ = t.execute(&data, None);
        }
    }
}

#[test]
fn hostile_templates_are_bounded() {
    let e = render("{{ range $i := 100000000 }}{{ $i }}{{ end }}", 1.0).unwrap_err();
    assert!(e.contains("exceeded"), "{e}");
    let e = render("{{ range 100000000 }}{{ end }}", 1.0).unwrap_err();
    assert!(e.contains("exceeded"), "{e}");
}

/// Issue #21 item 1: deeply nested templates are parse errors, never a stack overflow, and
/// long flat ones stay iterative.
#[test]
fn deep_templates_are_refused_before_recursing() {
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    let ifs = format!("{}x{}", "{{ if 1 }}".repeat(10_000), "{{ end }}".repeat(10_000));
    let withs = format!("{}x{}", "{{ with 1 }}".repeat(10_000), "{{ end }}".repeat(10_000));
    for src in [parens, ifs, withs] {
        let e = render(&src, 1.0).unwrap_err();
        assert!(e.contains("depth") || e.contains("nest"), "{e}");
    }
    let flat = format!("{{{{ 1{} }}}}", " | printf \"%v\"".repeat(20_000));
    assert_eq!(render(&flat, 1.0).unwrap(), "1");
}
