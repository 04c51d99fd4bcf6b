//! Parse errors: messages and positions as Loki reports them (`parse error at line L, col C:
//! ...`, or `parse error : ...` without a position). Expected strings come from Loki's parser
//! tests (`pkg/logql/syntax/parser_test.go`) and docs (Query › Troubleshooting).

use nerve_query::logql::parse;

fn err(q: &str) -> String {
    match parse(q) {
        Err(e) => {
            assert_eq!(e.error_type(), "bad_data", "{q}");
            e.to_string()
        }
        Ok(e) => panic!("{q}: expected a parse error, got {e:?}"),
    }
}

#[test]
fn positions_match_loki() {
    let cases = [
        (
            r#"unk({ foo = "bar" }[5m])"#,
            "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER",
        ),
        (
            r#"label_replace(rate({ foo = "bar" }[5m]),"")"#,
            "parse error at line 1, col 43: syntax error: unexpected ), expecting ,",
        ),
        (
            r#"rate({ foo = "bar" }[5minutes])"#,
            r#"parse error at line 0, col 21: unknown unit "minutes" in duration "5minutes""#,
        ),
        (
            r#"rate({ foo = "bar" }[5)"#,
            "parse error at line 0, col 21: missing closing ']' in duration",
        ),
        (
            r#"min({ foo = "bar" }[5m])"#,
            "parse error at line 0, col 20: syntax error: unexpected RANGE",
        ),
        (
            r#"stddev({ foo = "bar" })"#,
            "parse error at line 1, col 23: syntax error: unexpected )",
        ),
        (
            r#"bottomk(he,count_over_time({ foo = "bar" }[5h]))"#,
            "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER",
        ),
        (
            r#"{ foo = "bar" }|logfmt|addr>=ip("1.2.3.4")"#,
            "parse error at line 1, col 30: syntax error: unexpected ip",
        ),
        (
            r#"{ foo = "bar" }|logfmt|addr>ip("1.2.3.4")"#,
            "parse error at line 1, col 29: syntax error: unexpected ip",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(err(q), want, "{q}");
    }
}

#[test]
fn semantic_errors_without_position() {
    let cases = [
        (
            r#"topk(count_over_time({ foo = "bar" }[5h]))"#,
            "parse error : parameter required for operation topk",
        ),
        (
            r#"sum(3 ,count_over_time({ foo = "bar" }[5h]))"#,
            "parse error : unsupported parameter for operation sum(3,",
        ),
        (
            r#"bottomk(1.2,count_over_time({ foo = "bar" }[5h]))"#,
            "parse error : invalid parameter bottomk(1.2,",
        ),
        (
            r#"absent_over_time({ foo = "bar" }[5h]) by (foo)"#,
            "parse error : grouping not allowed for absent_over_time aggregation",
        ),
        (
            r#"sum_over_time({app="foo"} | json [5m])"#,
            "parse error : invalid aggregation sum_over_time without unwrap",
        ),
        (
            r#"count_over_time({app="foo"} | json | unwrap duration [5m])"#,
            "parse error : invalid aggregation count_over_time with unwrap",
        ),
        (
            r#"{foo!="bar"}"#,
            r#"parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will"#,
        ),
        (
            r#"{app=~".*"}"#,
            "parse error : queries require at least one regexp or equality matcher",
        ),
        (
            r#"{app="a"} | label_format a=b, a="{{.c}}""#,
            "parse error : multiple label name 'a' appears in the format",
        ),
        (r#"{app="a"} | regexp "(\\w+)""#, "parse error : stage '| regexp"),
        (
            r#"{app="a"} | line_format "{{ range .x }}{{ end }}""#,
            "parse error : stage '| line_format",
        ),
        (
            r#"{app="a"} | line_format "{{ .x | nope }}""#,
            "parse error : stage '| line_format",
        ),
        (r#"{app="a"} | pattern "<a><b>""#, "parse error : stage '| pattern"),
        (
            r#"label_replace(rate({ foo = "bar" }[5m]),"foo","$1","bar","^^^^x43\\q")"#,
            "parse error : invalid regex in label_replace:",
        ),
    ];
    for (q, want) in cases {
        let got = err(q);
        assert!(got.starts_with(want), "{q}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn other_syntax_errors() {
    assert_eq!(
        err(r#"{app="foo""#),
        "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
    );
    assert_eq!(
        err(r#"{app="foo"} |= test"#),
        "parse error at line 1, col 16: syntax error: unexpected IDENTIFIER, expecting STRING"
    );
    assert_eq!(
        err("{app=\"foo\"}\n  | json |"),
        "parse error at line 2, col 11: syntax error: unexpected $end"
    );
    assert_eq!(
        err(r#"{app="foo"} | json | x > "y""#),
        "parse error at line 1, col 26: syntax error: unexpected STRING"
    );
    assert_eq!(
        err(r#"rate({app="foo"})"#),
        "parse error at line 1, col 17: syntax error: unexpected ), expecting RANGE"
    );
    assert_eq!(
        err(r#"{app="foo"} + 1"#),
        "parse error at line 1, col 13: syntax error: unexpected +"
    );
    assert_eq!(
        err("{app=\"x\"} |= \"unterminated"),
        "parse error at line 1, col 14: literal not terminated"
    );
    assert!(err("1 > 2").contains("comparisons between scalars must use BOOL modifier"));
    assert!(err(&format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000))).contains("nested too deeply"));
    assert!(err(&format!("{{a=\"b\"}} | {}x=\"1\"", "(".repeat(10_000))).contains("nested too deeply"));
    assert!(err("").starts_with("parse error at line 1, col 1: syntax error: unexpected $end"));
}
