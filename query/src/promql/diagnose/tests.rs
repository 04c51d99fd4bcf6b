//! The table of malformed queries with the error text the real Prometheus 2.42 (Debian
//! `2.42.0+ds`) returned for each (`/api/v1/query`, the `invalid parameter "query": ` prefix
//! removed), captured on 2026-12-03.

use super::diagnose;
use crate::promql::plan::NOT_IN_PROMETHEUS_2_42;

/// `(query, Prometheus' error)`.
const CASES: &[(&str, &str)] = &[
    ("sum(", "1:5: parse error: unclosed left parenthesis"),
    ("foo * * bar", "1:7: parse error: unexpected <op:*>"),
    ("foo{", "1:5: parse error: unexpected end of input inside braces"),
    (
        "foo{a=\"b\"",
        "1:10: parse error: unexpected end of input inside braces",
    ),
    (
        "foo{a=\"b\",",
        "1:11: parse error: unexpected end of input inside braces",
    ),
    (
        "foo{a=}",
        "1:7: parse error: unexpected \"}\" in label matching, expected string",
    ),
    (
        "foo{a}",
        "1:6: parse error: unexpected \"}\" in label matching, expected label matching operator",
    ),
    ("foo{a=\"b\"}}", "1:11: parse error: unexpected character: '}'"),
    ("foo[5m", "1:7: parse error: unclosed left bracket"),
    ("foo[5x]", "1:5: parse error: bad duration syntax: \"5\""),
    ("foo[]", "1:5: parse error: missing unit character in duration"),
    ("foo[5m:", "1:8: parse error: unclosed left bracket"),
    ("foo[5m:1x]", "1:8: parse error: bad number or duration syntax: \"1\""),
    ("rate(foo[5m]", "1:13: parse error: unclosed left parenthesis"),
    ("rate(foo[5m]))", "1:15: parse error: unexpected right parenthesis ')'"),
    (
        "rate(foo)",
        "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
    ),
    (
        "rate()",
        "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 0",
    ),
    (
        "rate(foo[5m], 1)",
        "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2",
    ),
    (
        "abs(foo[5m])",
        "1:5: parse error: expected type instant vector in call to function \"abs\", got range vector",
    ),
    (
        "nonexistent(foo)",
        "1:1: parse error: unknown function with name \"nonexistent\"",
    ),
    ("foo(bar)", "1:1: parse error: unknown function with name \"foo\""),
    (
        "histogram_quantile(foo, bar)",
        "1:20: parse error: expected type scalar in call to function \"histogram_quantile\", got instant vector",
    ),
    (
        "histogram_quantile(0.9)",
        "1:1: parse error: expected 2 argument(s) in call to \"histogram_quantile\", got 1",
    ),
    (
        "round(foo, 1, 2)",
        "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3",
    ),
    (
        "label_replace(foo, \"a\", \"b\", \"c\")",
        "1:1: parse error: expected 5 argument(s) in call to \"label_replace\", got 4",
    ),
    ("\"unterminated", "1:1: parse error: unterminated quoted string"),
    ("'unterminated", "1:1: parse error: unterminated quoted string"),
    ("`unterminated", "1:1: parse error: unterminated raw string"),
    ("foo{a=\"unterminated}", "1:7: parse error: unterminated quoted string"),
    ("1 +", "1:4: parse error: unexpected end of input"),
    ("+", "1:2: parse error: unexpected end of input"),
    (")", "1:2: parse error: unexpected right parenthesis ')'"),
    ("(", "1:2: parse error: unclosed left parenthesis"),
    ("()", "1:2: parse error: unexpected \")\""),
    ("(foo", "1:5: parse error: unclosed left parenthesis"),
    ("foo)", "1:5: parse error: unexpected right parenthesis ')'"),
    ("foo bar", "1:5: parse error: unexpected identifier \"bar\""),
    (
        "sum by (job foo)",
        "1:13: parse error: unexpected identifier \"foo\" in grouping opts, expected \",\" or \")\"",
    ),
    (
        "sum by job (foo)",
        "1:8: parse error: unexpected identifier \"job\" in grouping opts, expected \"(\"",
    ),
    ("sum(foo) by (job", "1:17: parse error: unclosed left parenthesis"),
    ("sum without(job) (foo", "1:22: parse error: unclosed left parenthesis"),
    (
        "topk(foo)",
        "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
    ),
    (
        "topk(1)",
        "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
    ),
    (
        "count_values(1, foo)",
        "1:14: parse error: expected type string in aggregation parameter, got scalar",
    ),
    (
        "quantile(foo)",
        "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1",
    ),
    (
        "foo offset",
        "1:11: parse error: unexpected end of input in offset, expected duration",
    ),
    (
        "foo offset 5x",
        "1:12: parse error: bad number or duration syntax: \"5\"",
    ),
    (
        "foo @",
        "1:6: parse error: unexpected end of input in @, expected timestamp",
    ),
    (
        "foo @ bar",
        "1:7: parse error: unexpected identifier \"bar\" in @, expected timestamp",
    ),
    ("foo @ start(", "1:13: parse error: unclosed left parenthesis"),
    (
        "1 and 2",
        "1:1: parse error: set operator \"and\" not allowed in binary scalar expression",
    ),
    (
        "foo and 1",
        "1:1: parse error: set operator \"and\" not allowed in binary scalar expression",
    ),
    (
        "1 or foo",
        "1:1: parse error: set operator \"or\" not allowed in binary scalar expression",
    ),
    (
        "foo + on(job foo) bar",
        "1:14: parse error: unexpected identifier \"foo\" in grouping opts, expected \",\" or \")\"",
    ),
    (
        "foo + ignoring(job) group_right( bar",
        "1:37: parse error: unclosed left parenthesis",
    ),
    ("foo == bool", "1:12: parse error: unexpected end of input"),
    ("1 == bool 2 bool", "1:13: parse error: unexpected <bool>"),
    (
        "foo{__name__=\"bar\"}",
        "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\"",
    ),
    (
        "{}",
        "1:1: parse error: vector selector must contain at least one non-empty matcher",
    ),
    (
        "{a=~\"\"}",
        "1:1: parse error: vector selector must contain at least one non-empty matcher",
    ),
    (
        "foo{a=~\"(\"}",
        "1:5: parse error: error parsing regexp: missing closing ): `^(?:()$`",
    ),
    (
        "0x",
        "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": invalid syntax",
    ),
    (
        "1e",
        "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax",
    ),
    ("1.2.3", "1:4: parse error: unexpected number \".3\""),
    ("foo !~ bar", "1:5: parse error: unexpected character after '!': '~'"),
    ("foo $ bar", "1:5: parse error: unexpected character: '$'"),
    ("foo ` bar", "1:5: parse error: unterminated raw string"),
    (
        "foo{a=\"b\" c=\"d\"}",
        "1:11: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\"",
    ),
    (
        "foo{\"a\"=\"b\"}",
        "1:5: parse error: unexpected string \"\\\"a\\\"\" in label matching, expected identifier or \"}\"",
    ),
    (
        "foo[5m] offset",
        "1:15: parse error: unexpected end of input in offset, expected duration",
    ),
    (
        "foo[5m][5m]",
        "1:8: parse error: ranges only allowed for vector selectors",
    ),
    (
        "sum(foo)[5m]",
        "1:9: parse error: ranges only allowed for vector selectors",
    ),
    (
        "foo[5m:][1m]",
        "1:9: parse error: ranges only allowed for vector selectors",
    ),
    (
        "-foo[5m]",
        "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\"",
    ),
    (
        "rate(sum(foo))",
        "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
    ),
    (
        "sum(foo[5m])",
        "1:5: parse error: expected type instant vector in aggregation expression, got range vector",
    ),
    (
        "avg_over_time(foo)",
        "1:15: parse error: expected type range vector in call to function \"avg_over_time\", got instant vector",
    ),
    (
        "vector(foo)",
        "1:8: parse error: expected type scalar in call to function \"vector\", got instant vector",
    ),
    (
        "scalar(1)",
        "1:8: parse error: expected type instant vector in call to function \"scalar\", got scalar",
    ),
    (
        "time(1)",
        "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1",
    ),
    (
        "absent_over_time(foo)",
        "1:18: parse error: expected type range vector in call to function \"absent_over_time\", got instant vector",
    ),
    (
        "1 + \"a\"",
        "1:5: parse error: binary expression must contain only scalar and instant vector types",
    ),
    (
        "\"a\" + 1",
        "1:1: parse error: binary expression must contain only scalar and instant vector types",
    ),
    (
        "-\"a\"",
        "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\"",
    ),
    (
        "foo > \"a\"",
        "1:7: parse error: binary expression must contain only scalar and instant vector types",
    ),
    (
        "sum(\"a\")",
        "1:5: parse error: expected type instant vector in aggregation expression, got string",
    ),
    (
        "abs(\"a\")",
        "1:5: parse error: expected type instant vector in call to function \"abs\", got string",
    ),
    (
        "foo{a=\"b\"}[5m] + 1",
        "1:1: parse error: binary expression must contain only scalar and instant vector types",
    ),
    (
        "count(foo[5m])",
        "1:7: parse error: expected type instant vector in aggregation expression, got range vector",
    ),
    ("stddev by (a) (foo) by (b)", "1:21: parse error: unexpected <by>"),
    ("foo ^^ bar", "1:6: parse error: unexpected <op:^>"),
    ("foo += bar", "1:6: parse error: unexpected \"=\""),
    ("foo.bar{", "1:4: parse error: unexpected character: '.'"),
    ("foo:bar{", "1:9: parse error: unexpected end of input inside braces"),
    (
        "foo{a!!=\"b\"}",
        "1:6: parse error: unexpected character after '!' inside braces: '!'",
    ),
    (
        "foo{a==\"b\"}",
        "1:7: parse error: unexpected \"=\" in label matching, expected string",
    ),
    (
        "foo{,}",
        "1:5: parse error: unexpected \",\" in label matching, expected identifier or \"}\"",
    ),
    (
        "foo{a=\"b\",,c=\"d\"}",
        "1:11: parse error: unexpected \",\" in label matching, expected identifier or \"}\"",
    ),
    (
        "foo unless on",
        "1:14: parse error: unexpected end of input in grouping opts, expected \"(\"",
    ),
    (
        "sum(foo) without",
        "1:17: parse error: unexpected end of input in grouping opts, expected \"(\"",
    ),
    ("sum(foo) bar", "1:10: parse error: unexpected identifier \"bar\""),
    ("foo[5m:1m:1m]", "1:10: parse error: unexpected colon ':'"),
    (
        "foo offset -",
        "1:13: parse error: unexpected end of input in offset, expected duration",
    ),
    (
        "foo @ 1 @ 2",
        "1:1: parse error: @ <timestamp> may not be set multiple times",
    ),
    (
        "foo offset 1m offset 2m",
        "1:1: parse error: offset may not be set multiple times",
    ),
    (
        "foo[1m] @ 1 @ 2",
        "1:1: parse error: @ <timestamp> may not be set multiple times",
    ),
    (
        "min_over_time(foo[5m:1m)",
        "1:24: parse error: unexpected \")\" in subquery selector, expected \"]\"",
    ),
    (
        "clamp(foo, 1)",
        "1:1: parse error: expected 3 argument(s) in call to \"clamp\", got 2",
    ),
    (
        "clamp_max(foo)",
        "1:1: parse error: expected 2 argument(s) in call to \"clamp_max\", got 1",
    ),
    (
        "label_join(foo, \"a\", \"b\", 1)",
        "1:27: parse error: expected type string in call to function \"label_join\", got scalar",
    ),
    (
        "sort_desc(foo, bar)",
        "1:1: parse error: expected 1 argument(s) in call to \"sort_desc\", got 2",
    ),
    (
        "predict_linear(foo[5m])",
        "1:1: parse error: expected 2 argument(s) in call to \"predict_linear\", got 1",
    ),
    (
        "holt_winters(foo[5m], 1)",
        "1:1: parse error: expected 3 argument(s) in call to \"holt_winters\", got 2",
    ),
    (
        "quantile_over_time(foo[5m])",
        "1:1: parse error: expected 2 argument(s) in call to \"quantile_over_time\", got 1",
    ),
    (
        "day_of_week(foo, bar)",
        "1:1: parse error: expected at most 1 argument(s) in call to \"day_of_week\", got 2",
    ),
    (
        "increase(foo offset 1m)",
        "1:10: parse error: expected type range vector in call to function \"increase\", got instant vector",
    ),
    ("sum(\n  rate(foo[5m]\n", "3:1: parse error: unclosed left parenthesis"),
    ("foo\n  bar", "2:3: parse error: unexpected identifier \"bar\""),
    ("1 +\n  * 2", "2:3: parse error: unexpected <op:*>"),
    (
        "foo{\n a=\"b\",\n b=}",
        "3:4: parse error: unexpected \"}\" in label matching, expected string",
    ),
    ("rate(foo[5m])\n  by (job)", "2:3: parse error: unexpected <by>"),
    (
        "foo and\n\n  bar baz",
        "3:7: parse error: unexpected identifier \"baz\"",
    ),
];

/// Share of [`CASES`] that must match exactly (measured: see the test's output).
const MIN_EXACT: usize = 122;

#[test]
fn positions_and_messages_match_prometheus() {
    let mut exact = 0;
    let mut positioned = 0;
    for (q, want) in CASES {
        let got = crate::promql::plan::parse(q)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        if got == *want {
            exact += 1;
        } else {
            eprintln!("DIFF {q:?}\n  prometheus: {want}\n  nerve:      {got}");
        }
        if got.split(" parse error").next() == want.split(" parse error").next() {
            positioned += 1;
        }
    }
    eprintln!(
        "parse errors: {exact}/{} exact, {positioned}/{} same position",
        CASES.len(),
        CASES.len()
    );
    assert!(exact >= MIN_EXACT, "{exact}/{} exact", CASES.len());
}

#[test]
fn accepted_queries_have_no_diagnosis() {
    for q in [
        "foo",
        "sum by (job) (rate(x[5m] offset 1m))",
        "a + on(b) group_left c",
        "x[5m:] @ 10",
        "-1 ^ 2",
        "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
        "count_values without (room) (\"v\", ceil(temperature))",
        "histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
        "up{job=~\"a|b\", code!=\"500\"} > bool 1",
        "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:] @ end())",
    ] {
        assert_eq!(diagnose(q, NOT_IN_PROMETHEUS_2_42), None, "{q}");
    }
}
