//! TraceQL parsing and evaluation: what parses, what each condition matches on real spans,
//! the exact error for each kind of bad query, and no panic on arbitrary input.

use std::sync::Arc;

use nerve_storage::traces::{AttrValue, Event, KeyValue, Link, Resource, Scope, Span, SpanKind, StatusCode};
use proptest::prelude::*;

use super::*;

fn span() -> Span {
    Span {
        trace_id: [0xab; 16],
        span_id: [1, 2, 3, 4, 5, 6, 7, 8],
        parent_span_id: [9; 8],
        trace_state: String::new(),
        flags: 1,
        name: "GET /api/cart".into(),
        kind: SpanKind::Server,
        start_ns: 1_000_000_000,
        end_ns: 1_250_000_000,
        attributes: vec![
            KeyValue {
                key: "http.status_code".into(),
                value: AttrValue::Int(503),
            },
            KeyValue {
                key: "ratio".into(),
                value: AttrValue::Double(0.25),
            },
            KeyValue {
                key: "cached".into(),
                value: AttrValue::Bool(false),
            },
            KeyValue::str("http.method", "GET"),
            KeyValue::str("with space", "yes"),
            KeyValue {
                key: "tags".into(),
                value: AttrValue::Array(vec![AttrValue::Str("a".into()), AttrValue::Str("b".into())]),
            },
        ],
        dropped_attributes_count: 0,
        events: vec![Event {
            time_ns: 1_100_000_000,
            name: "exception".into(),
            attributes: vec![KeyValue::str("exception.type", "Timeout")],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![Link {
            trace_id: [0xcd; 16],
            span_id: [0xef; 8],
            attributes: vec![KeyValue::str("link.kind", "follows")],
            ..Default::default()
        }],
        dropped_links_count: 0,
        status_code: StatusCode::Error,
        status_message: "upstream timed out".into(),
        resource: Arc::new(Resource {
            attributes: vec![
                KeyValue::str("service.name", "cart"),
                KeyValue::str("deployment.environment", "prod"),
                KeyValue::str("http.method", "POST"),
            ],
            ..Default::default()
        }),
        scope: Arc::new(Scope {
            name: "io.opentelemetry.http".into(),
            version: "1.2.0".into(),
            attributes: vec![KeyValue::str("lib.lang", "rust")],
            ..Default::default()
        }),
    }
}

fn facts() -> TraceFacts {
    TraceFacts {
        root_name: Some("GET /".into()),
        root_service: Some("frontend".into()),
        duration_ns: 2_000_000_000,
    }
}

/// Whether the single-filter query `q` matches [`span`] (with [`facts`]).
fn m(q: &str) -> bool {
    let parsed = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(parsed.filters().len(), 1, "{q}");
    parsed.filters()[0].matches(&span(), Some(&facts()))
}

#[test]
fn intrinsics_compare_typed() {
    for q in [
        "{}",
        "{ true }",
        r#"{name = "GET /api/cart"}"#,
        r#"{span:name != "x"}"#,
        r#"{name =~ "GET .*"}"#,
        r#"{name !~ "POST.*"}"#,
        r#"{name > "GET"}"#,
        "{status = error}",
        "{span:status != ok}",
        "{kind = server}",
        "{span:kind != client}",
        "{duration = 250ms}",
        "{duration >= 250000000ns && duration < 1s}",
        "{span:duration > 0.2s}",
        "{duration <= 1m}",
        r#"{statusMessage = "upstream timed out"}"#,
        r#"{span:id = "0102030405060708"}"#,
        r#"{span:parentID = "0909090909090909"}"#,
        r#"{trace:id = "abababababababababababababababab"}"#,
        r#"{rootName = "GET /" && trace:rootName =~ "GET.*"}"#,
        r#"{rootServiceName = "frontend" && trace:rootService != "cart"}"#,
        "{traceDuration > 1s && trace:duration < 1h30m}",
        r#"{event:name = "exception"}"#,
        r#"{link:traceID = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd" && link:spanID =~ "ef.*"}"#,
        r#"{instrumentation:name = "io.opentelemetry.http" && instrumentation:version = "1.2.0"}"#,
        "{span:parentID != nil}",
    ] {
        assert!(m(q), "{q} should match");
    }
    for q in [
        "{ false }",
        r#"{name = "GET"}"#,
        r#"{name =~ "GET"}"#,
        "{status = ok}",
        "{status != error}",
        "{kind = client}",
        "{duration > 250ms}",
        "{duration < 250ms}",
        "{traceDuration < 1s}",
        r#"{rootServiceName = "cart"}"#,
        r#"{event:name = "log"}"#,
        "{span:parentID = nil}",
        "{trace:rootName = nil}",
    ] {
        assert!(!m(q), "{q} should not match");
    }
}

#[test]
fn attributes_follow_scope_type_and_presence() {
    for q in [
        "{span.http.status_code = 503}",
        "{.http.status_code >= 500 && .http.status_code < 600}",
        "{span.http.status_code > 502.5}",
        "{500 <= span.http.status_code}",
        "{span.ratio < 1}",
        "{span.ratio = 0.25}",
        "{span.cached = false}",
        "{span.cached != true}",
        r#"{resource.service.name = "cart"}"#,
        r#"{.service.name = "cart"}"#,
        r#"{.deployment.environment =~ "pr.*"}"#,
        // Unscoped matches the span's or the resource's value.
        r#"{.http.method = "GET" && .http.method = "POST"}"#,
        r#"{span.http.method = "GET" && resource.http.method = "POST"}"#,
        r#"{span."with space" = "yes"}"#,
        r#"{span.tags = "b"}"#,
        r#"{span.tags != "c"}"#,
        r#"{event.exception.type = "Timeout"}"#,
        r#"{link.link.kind = "follows"}"#,
        r#"{instrumentation.lib.lang = "rust"}"#,
        "{span.missing = nil}",
        "{resource.service.name != nil}",
        "{ !(span.http.status_code = 200) }",
        "{ !(span.missing = 1) }",
        r#"{ (span.http.status_code = 200 || span.http.status_code = 503) && status = error }"#,
        "{ .http.status_code = 1 || true }",
    ] {
        assert!(m(q), "{q} should match");
    }
    for q in [
        // A missing attribute matches no comparison, not even `!=`.
        r#"{span.missing != "x"}"#,
        "{span.missing > 0}",
        // Types must agree.
        r#"{span.http.status_code = "503"}"#,
        r#"{span.http.method = 1}"#,
        "{span.cached = 0}",
        r#"{resource.http.method = "GET"}"#,
        r#"{span.service.name = "cart"}"#,
        "{span.http.status_code = nil}",
        r#"{span.tags = "c"}"#,
        r#"{span.tags != "a"}"#,
        r#"{event.exception.type = "Other"}"#,
        // Regexes are anchored.
        r#"{.deployment.environment =~ "ro"}"#,
        "{ !(span.http.status_code = 503) }",
        r#"{ span.http.status_code = 503 && status = ok }"#,
    ] {
        assert!(!m(q), "{q} should not match");
    }
}

#[test]
fn set_expressions_pick_contributing_filters() {
    let q = parse(r#"{.a = 1} && {.b = 2} || {.c = 3}"#).unwrap();
    assert_eq!(q.filters().len(), 3);
    let set = |bits: u64| move |i: usize| bits & (1 << i) != 0;
    assert_eq!(q.contributing(&set(0b011)), 0b011);
    assert_eq!(q.contributing(&set(0b001)), 0);
    assert_eq!(q.contributing(&set(0b101)), 0b100);
    assert_eq!(q.contributing(&set(0b111)), 0b111);
    let q = parse(r#"{.a = 1} && ({.b = 2} || {.c = 3})"#).unwrap();
    assert_eq!(q.contributing(&set(0b101)), 0b101);
    assert_eq!(q.contributing(&set(0b110)), 0);
    assert_eq!(parse("{}").unwrap().contributing(&set(1)), 1);
}

#[test]
fn hints_are_what_every_match_needs() {
    let h = |q: &str| parse(q).unwrap().hint();
    assert_eq!(h("{}"), (None, 0));
    assert_eq!(
        h(r#"{resource.service.name = "cart" && duration > 100ms}"#),
        (Some("cart".into()), 100_000_000)
    );
    assert_eq!(
        h(r#"{.service.name = "cart"}"#),
        (None, 0),
        "unscoped may be a span attribute"
    );
    assert_eq!(h(r#"{resource.service.name = "cart" || duration > 1s}"#), (None, 0));
    assert_eq!(h(r#"{ !(resource.service.name = "cart") }"#), (None, 0));
    assert_eq!(
        h(r#"{resource.service.name = "a" && duration > 2s} && {resource.service.name = "a" && duration >= 1s}"#),
        (Some("a".into()), 1_000_000_000)
    );
    assert_eq!(
        h(r#"{resource.service.name = "a"} || {resource.service.name = "b"}"#),
        (None, 0)
    );
}

#[test]
fn needs_trace_and_matched_attributes() {
    assert!(!parse(r#"{name = "x" && .a = 1}"#).unwrap().needs_trace());
    assert!(parse(r#"{name = "x"} && {traceDuration > 1s}"#).unwrap().needs_trace());
    assert!(parse(r#"{rootServiceName = "x"}"#).unwrap().needs_trace());
    let q =
        parse(r#"{span.http.status_code >= 500 && status = error} && {resource.service.name = "cart" && .nope = 1}"#)
            .unwrap();
    assert_eq!(
        q.matched_attributes(&span()),
        vec![
            ("http.status_code".to_owned(), AttrValue::Int(503)),
            ("status".to_owned(), AttrValue::Str("error".into())),
            ("service.name".to_owned(), AttrValue::Str("cart".into())),
        ]
    );
    // Without trace facts trace intrinsics are unknown: only `= nil` matches.
    let q = parse("{traceDuration > 0ns}").unwrap();
    assert!(!q.filters()[0].matches(&span(), None));
    assert!(parse("{rootName = nil}").unwrap().filters()[0].matches(&span(), None));
}

#[test]
fn literals_parse_like_tempo() {
    for q in [
        r#"{ name = "a\"b\\c\n\u00e9" }"#,
        "{ name = `raw \\ string` }",
        "{ duration > 1h30m }",
        "{ duration > 1.5s }",
        "{ duration > 10us && duration > 10µs }",
        "{ span.x = -3 }",
        "{ span.x = -2.5 }",
        "{ span.x = 1e3 }",
        "{\n  span.http.status_code >= 500\n}",
        "(({ .a = 1 }))",
    ] {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    assert!(m(r#"{ span.x = nil && "a" < "b" && 2 > 1.5 && 1s = 1000ms }"#));
    assert!(!m("{ 1 = 2 }"));
}

/// The exact message for each kind of bad query.
#[test]
fn errors_say_what_and_where() {
    let cases: &[(&str, &str)] = &[
        ("", "parse error at line 1, col 1: empty query"),
        ("   ", "parse error at line 1, col 1: empty query"),
        (
            "{",
            "parse error at line 1, col 2: unexpected end of query, expected a field or a value",
        ),
        (
            "{ name = \"x\"",
            "parse error at line 1, col 13: unexpected end of query, expected &&, || or \"}\"",
        ),
        (
            "}",
            "parse error at line 1, col 1: unexpected \"}\", expected \"{\" starting a spanset filter",
        ),
        (
            ".a = 1",
            "parse error at line 1, col 1: unexpected attribute \"a\", expected \"{\" starting a spanset filter",
        ),
        (
            "{ name = }",
            "parse error at line 1, col 10: unexpected \"}\", expected a field or a value",
        ),
        (
            "{ name }",
            "parse error at line 1, col 8: unexpected \"}\", expected a comparison operator (=, !=, >, >=, <, <=, =~, !~)",
        ),
        (
            "{ foo = 1 }",
            "parse error at line 1, col 3: unknown identifier \"foo\" (write attributes as .foo, span.foo or resource.foo)",
        ),
        (
            "{ span:nope = 1 }",
            "parse error at line 1, col 3: unknown intrinsic \"span:nope\"",
        ),
        ("{ name = \"x }", "parse error at line 1, col 10: unterminated string"),
        (
            "{ name = \"\\q\" }",
            "parse error at line 1, col 11: invalid escape \\q",
        ),
        (
            "{ . = 1 }",
            "parse error at line 1, col 3: attribute name expected after \".\"",
        ),
        (
            "{ span.\"\" = 1 }",
            "parse error at line 1, col 8: empty attribute name",
        ),
        (
            "{ duration > 5x }",
            "parse error at line 1, col 14: invalid number \"5x\"",
        ),
        (
            "{ name = \"x\" } | count() > 2",
            "parse error at line 1, col 16: pipelines (|) are not supported",
        ),
        (
            "count() > 1",
            "parse error at line 1, col 1: count() is not supported (pipelines and aggregates are not supported)",
        ),
        (
            "{ .a = 1 } >> { .b = 2 }",
            "parse error at line 1, col 12: structural operator >> is not supported",
        ),
        (
            "{ .a = 1 } > { .b = 2 }",
            "parse error at line 1, col 12: structural operator > is not supported",
        ),
        (
            "{ .a = 1 } ~ { .b = 2 }",
            "parse error at line 1, col 12: structural operator ~ is not supported",
        ),
        (
            "{ .a = 1 } !< { .b = 2 }",
            "parse error at line 1, col 12: structural operator !< is not supported",
        ),
        (
            "{ .a + 1 > 2 }",
            "parse error at line 1, col 6: arithmetic is not supported",
        ),
        (
            "{ .a > 1 * 2 }",
            "parse error at line 1, col 10: arithmetic is not supported",
        ),
        (
            "{ parent.name = \"x\" }",
            "parse error at line 1, col 3: the parent scope is not supported",
        ),
        (
            "{ status = \"error\" }",
            "parse error at line 1, col 12: status cannot be compared with string \"error\"",
        ),
        (
            "{ duration > 5 }",
            "parse error at line 1, col 14: duration cannot be compared with number 5",
        ),
        (
            "{ name = 3 }",
            "parse error at line 1, col 10: name cannot be compared with number 3",
        ),
        (
            "{ kind > server }",
            "parse error at line 1, col 10: kind can only be compared with = or !=",
        ),
        (
            "{ .level = error }",
            "parse error at line 1, col 12: error is a status value and .level an attribute; quote it to compare with a string",
        ),
        (
            "{ .a > nil }",
            "parse error at line 1, col 8: nil can only be compared with = or !=",
        ),
        (
            "{ .a < true }",
            "parse error at line 1, col 8: booleans can only be compared with = or !=",
        ),
        (
            "{ .a =~ 5 }",
            "parse error at line 1, col 9: =~ and !~ need a string regex",
        ),
        (
            "{ \"x\" =~ .a }",
            "parse error at line 1, col 3: the regex of =~ and !~ goes on the right",
        ),
        (
            "{ .a = .b }",
            "parse error at line 1, col 8: comparing two fields is not supported (compare a field with a value)",
        ),
        (
            "{ \"a\" = 1 }",
            "parse error at line 1, col 3: these values cannot be compared",
        ),
        (
            "{ duration > -5s }",
            "parse error at line 1, col 14: negative durations are not supported",
        ),
        (
            "{ .a = 1 } { .b = 2 }",
            "parse error at line 1, col 12: unexpected \"{\", expected && or || between spansets",
        ),
        (
            "{ .a = 1 | .b = 2 }",
            "parse error at line 1, col 10: unexpected \"|\", expected \"}\" (write || for or)",
        ),
        (
            "{ .a = 1 & .b = 2 }",
            "parse error at line 1, col 10: unexpected \"&\", expected \"}\" (write && for and)",
        ),
        (
            "{ .a = 1 }\n&& { name = @ }",
            "parse error at line 2, col 13: unexpected character '@'",
        ),
        (
            "{ (.a = 1) = 2 }",
            "parse error at line 1, col 12: comparing expressions is not supported (compare a field with a value)",
        ),
        (
            "({ .a = 1 }",
            "parse error at line 1, col 12: unexpected end of query, expected &&, || or \")\"",
        ),
    ];
    for (q, want) in cases {
        match parse(q) {
            Ok(_) => panic!("{q:?} parsed"),
            Err(e) => assert_eq!(e.to_string(), *want, "{q:?}"),
        }
    }
    let e = parse(r#"{ name =~ "(" }"#).unwrap_err().to_string();
    assert!(
        e.starts_with("parse error at line 1, col 11: invalid regex \"(\": "),
        "{e}"
    );
}

#[test]
fn limits_on_filters_and_depth() {
    let many = vec!["{}"; MAX_FILTERS].join(" && ");
    assert_eq!(parse(&many).unwrap().filters().len(), MAX_FILTERS);
    let too_many = vec!["{}"; MAX_FILTERS + 1].join(" && ");
    let e = parse(&too_many).unwrap_err().to_string();
    assert!(e.ends_with("too many spanset filters (at most 64)"), "{e}");
    let deep = format!("{{ {}.a = 1{} }}", "(".repeat(100), ")".repeat(100));
    let e = parse(&deep).unwrap_err().to_string();
    assert!(e.ends_with("query nests too deeply (more than 64 levels)"), "{e}");
    let nots = format!("{{ {}.a = 1 }}", "!".repeat(10_000));
    assert!(parse(&nots).is_err());
    let sets = format!("{}{{}}{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&sets).is_err());
}

proptest! {
    /// Arbitrary text never panics the parser, and whatever parses evaluates.
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
        if let Ok(q) = parse(&s) {
            for f in q.filters() {
                let _ = f.matches(&span(), Some(&facts()));
            }
        }
    }

    /// Text built from TraceQL's own tokens (far likelier to parse) never panics either.
    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("{"), Just("}"), Just("("), Just(")"), Just("&&"), Just("||"), Just("!"), Just("="),
        Just("!="), Just("=~"), Just(">"), Just(">="), Just("<"), Just("nil"), Just("\"a.*\""),
        Just("5"), Just("1.5"), Just("300ms"), Just("-"), Just("name"), Just("status"), Just("error"),
        Just("kind"), Just("client"), Just("duration"), Just(".http.status_code"), Just("resource.service.name"),
        Just("span.\"x y\""), Just("traceDuration"), Just("true"), Just("|"), Just(">>"), Just("+"),
    ], 0..24)) {
        let s = parts.join(" ");
        if let Ok(q) = parse(&s) {
            for f in q.filters() {
                let _ = f.matches(&span(), Some(&facts()));
                let _ = f.matches(&span(), None);
            }
            let _ = q.contributing(&|i| i % 2 == 0);
            let _ = q.hint();
            let _ = q.matched_attributes(&span());
        }
    }
}
