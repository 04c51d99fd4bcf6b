use proptest::prelude::*;

use super::*;

/// An owned exemplar: labels, value, timestamp.
type OwnedExemplar = (Vec<(String, String)>, f64, Option<i64>);

/// An owned copy of an entry, for comparisons.
#[derive(Debug, PartialEq)]
enum Owned {
    Sample {
        name: String,
        labels: Vec<(String, String)>,
        value: u64,
        ts: Option<i64>,
        exemplar: Option<OwnedExemplar>,
    },
    Help(String, String),
    Type(String, MetricType),
    Unit(String, String),
}

fn pairs(l: &[Label<'_>]) -> Vec<(String, String)> {
    l.iter().map(|l| (l.name.to_owned(), l.value.to_string())).collect()
}

fn parse(body: &str, format: Format) -> Result<Vec<Owned>, ParseError> {
    let mut p = Parser::new(body.as_bytes(), format)?;
    let mut out = Vec::new();
    while let Some(e) = p.next_entry()? {
        out.push(match e {
            Entry::Sample(s) => Owned::Sample {
                name: s.name.to_owned(),
                labels: pairs(s.labels),
                value: s.value.to_bits(),
                ts: s.timestamp_ms,
                exemplar: s.exemplar.map(|e| (pairs(e.labels), e.value, e.timestamp_ms)),
            },
            Entry::Help { name, help } => Owned::Help(name.to_owned(), help.into_owned()),
            Entry::Type { name, kind } => Owned::Type(name.to_owned(), kind),
            Entry::Unit { name, unit } => Owned::Unit(name.to_owned(), unit.to_owned()),
        });
    }
    Ok(out)
}

fn sample(name: &str, labels: &[(&str, &str)], v: f64, ts: Option<i64>) -> Owned {
    Owned::Sample {
        name: name.to_owned(),
        labels: labels.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        value: v.to_bits(),
        ts,
        exemplar: None,
    }
}

#[test]
fn text_format_full_example() {
    let body = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045
# HELP help_escapes a \\ b \n c \" d
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5",} 4773
rpc_duration_seconds_sum 1.7560473e+07
trailing_ws 1	
nan_value NaN
"#;
    let got = parse(body, Format::PrometheusText).unwrap();
    let want = vec![
        Owned::Help(
            "http_requests_total".into(),
            "The total number of HTTP requests.".into(),
        ),
        Owned::Type("http_requests_total".into(), MetricType::Counter),
        sample(
            "http_requests_total",
            &[("method", "post"), ("code", "200")],
            1027.0,
            Some(1395066363000),
        ),
        sample(
            "http_requests_total",
            &[("method", "post"), ("code", "400")],
            3.0,
            Some(1395066363000),
        ),
        sample(
            "msdos_file_access_time_seconds",
            &[
                ("path", r"C:\DIR\FILE.TXT"),
                ("error", "Cannot find file:\n\"FILE.TXT\""),
            ],
            1.458255915e9,
            None,
        ),
        sample("metric_without_timestamp_and_labels", &[], 12.47, None),
        sample(
            "something_weird",
            &[("problem", "division by zero")],
            f64::INFINITY,
            Some(-3982045),
        ),
        // Text HELP unescapes only \\ and \n.
        Owned::Help("help_escapes".into(), "a \\ b \n c \\\" d".into()),
        Owned::Type("rpc_duration_seconds".into(), MetricType::Summary),
        sample("rpc_duration_seconds", &[("quantile", "0.5")], 4773.0, None),
        sample("rpc_duration_seconds_sum", &[], 1.7560473e7, None),
        sample("trailing_ws", &[], 1.0, None),
    ];
    assert_eq!(got[..want.len()], want[..]);
    let Owned::Sample { value, .. } = &got[want.len()] else {
        panic!("NaN sample")
    };
    assert!(f64::from_bits(*value).is_nan());
}

#[test]
fn series_text_is_the_raw_name_and_labels() {
    let body = "a{x=\"1\"} 1\nb 2\n";
    let mut p = Parser::new(body.as_bytes(), Format::PrometheusText).unwrap();
    let Some(Entry::Sample(s)) = p.next_entry().unwrap() else {
        panic!()
    };
    assert_eq!(s.series, "a{x=\"1\"}");
    let Some(Entry::Sample(s)) = p.next_entry().unwrap() else {
        panic!()
    };
    assert_eq!(s.series, "b");
    assert!(p.next_entry().unwrap().is_none());
}

#[test]
fn openmetrics_full_example() {
    let body = r#"# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo counter
foo_total 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67
# TYPE hist histogram
hist_bucket{le="0.01"} 0 # {trace_id="abc",span_id="def"} 0.005 1700000000.123
hist_bucket{le="+Inf"} 17
# TYPE st stateset
st{st="a"} 1
# TYPE i info
i_info{version="1.0"} 1
# EOF
"#;
    let got = parse(body, Format::OpenMetrics).unwrap();
    assert_eq!(got.len(), 15, "{got:#?}");
    assert_eq!(
        got[1],
        Owned::Unit("acme_http_router_request_seconds".into(), "seconds".into())
    );
    assert_eq!(
        got[5],
        sample(
            "acme_http_router_request_seconds_created",
            &[("path", "/api/v1"), ("method", "GET")],
            1605281325.0,
            None
        )
    );
    assert_eq!(
        got[7],
        Owned::Sample {
            name: "foo_total".into(),
            labels: vec![],
            value: 17f64.to_bits(),
            ts: Some(1520879607789),
            exemplar: Some((vec![("trace_id".into(), "KOO5S4vxi0o".into())], 0.67, None)),
        }
    );
    let Owned::Sample { exemplar, .. } = &got[9] else {
        panic!()
    };
    let (l, v, t) = exemplar.as_ref().unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!((*v, t.map(|t| t / 1000)), (0.005, Some(1_700_000_000)));
    assert_eq!(got[11], Owned::Type("st".into(), MetricType::StateSet));
}

#[test]
fn openmetrics_requires_eof_and_nothing_after() {
    let e = parse("a 1\n", Format::OpenMetrics).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("# EOF"), "{e}");
    let e = parse("a 1\n# EOF\nb 2\n", Format::OpenMetrics).unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    assert!(parse("a 1\n# EOF", Format::OpenMetrics).is_ok());
    assert!(parse("# EOF\n", Format::OpenMetrics).unwrap().is_empty());
    // Text format has no EOF marker: "# EOF" is a comment.
    assert!(parse("a 1\n# EOF\n", Format::PrometheusText).is_ok());
}

#[test]
fn openmetrics_strictness() {
    // Blank lines and free comments are errors.
    let e = parse("a 1\n\n# EOF\n", Format::OpenMetrics).unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse("# hello\n# EOF\n", Format::OpenMetrics).unwrap_err();
    assert_eq!(e.line, 1);
    // Text format skips both.
    assert_eq!(parse("a 1\n\n# hello\n", Format::PrometheusText).unwrap().len(), 1);
    // Float-second timestamps vs integer milliseconds.
    assert!(parse("a 1 1.5\n", Format::PrometheusText).is_err());
    let om = parse("a 1 1.5\n# EOF\n", Format::OpenMetrics).unwrap();
    assert_eq!(om[0], sample("a", &[], 1.0, Some(1500)));
    // Exemplar labels are limited to 128 characters.
    let long = "x".repeat(130);
    let body = format!("a_total 1 # {{t=\"{long}\"}} 1\n# EOF\n");
    let e = parse(&body, Format::OpenMetrics).unwrap_err();
    assert!(e.message.contains("128"), "{e}");
    // Exemplars are not part of the text format.
    assert!(parse("a 1 # {t=\"x\"} 1\n", Format::PrometheusText).is_err());
    // Types only OpenMetrics knows.
    assert!(parse("# TYPE a info\n", Format::PrometheusText).is_err());
    assert!(parse("# TYPE a untyped\n# EOF\n", Format::OpenMetrics).is_err());
}

#[test]
fn errors_name_the_line_and_problem() {
    let cases: &[(&str, usize, &str)] = &[
        ("ok 1\nbad{ 1\n", 2, "label"),
        ("ok 1\nok 2\n{a=\"b\"} 1\n", 3, "metric name"),
        ("a{b=\"c\" d=\"e\"} 1\n", 1, "','"),
        ("a{b=\"c} 1\n", 1, "unterminated"),
        ("a{b=c} 1\n", 1, "'\"'"),
        ("a{0b=\"c\"} 1\n", 1, "label name"),
        ("a\n", 1, "value"),
        ("a abc\n", 1, "invalid value"),
        ("a 1 2 3\n", 1, "unexpected text"),
        ("a 1 1e3\n", 1, "timestamp"),
        ("# TYPE a bogus\n", 1, "metric type"),
        ("# TYPE 0a counter\n", 1, "metric name"),
        ("x 1\ny-z 1\n", 2, "unexpected '-'"),
    ];
    for (body, line, what) in cases {
        let e = parse(body, Format::PrometheusText).unwrap_err();
        assert_eq!(e.line, *line, "{body:?}: {e}");
        assert!(e.message.contains(what), "{body:?}: {e} (want {what:?})");
    }
}

#[test]
fn invalid_utf8_names_the_line() {
    let e = Parser::new(b"a 1\nb{x=\"\xff\"} 1\n", Format::PrometheusText).unwrap_err();
    assert_eq!(e.line, 2);
}

#[test]
fn content_type_picks_the_parser() {
    let f = Format::from_content_type;
    assert_eq!(
        f(Some("application/openmetrics-text; version=1.0.0; charset=utf-8")),
        Some(Format::OpenMetrics)
    );
    assert_eq!(f(Some("text/plain; version=0.0.4")), Some(Format::PrometheusText));
    assert_eq!(f(None), Some(Format::PrometheusText));
    assert_eq!(f(Some("")), Some(Format::PrometheusText));
    assert_eq!(
        f(Some(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"
        )),
        None
    );
}

#[test]
fn after_an_error_the_parser_stops() {
    let mut p = Parser::new(b"a{ 1\nb 2\n", Format::PrometheusText).unwrap();
    assert!(p.next_entry().is_err());
    assert!(p.next_entry().unwrap().is_none());
}

proptest! {
    #[test]
    fn any_bytes_parse_or_fail_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            if let Ok(mut p) = Parser::new(&body, format) {
                let mut n = 0;
                while let Ok(Some(_)) = p.next_entry() {
                    n += 1;
                    prop_assert!(n <= body.len() + 1);
                }
            }
        }
    }

    #[test]
    fn exposition_like_text_never_panics(body in "([a-z_{}=\",# \\\\.0-9eEINaf+\\-\t]|\n){0,300}") {
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            if let Ok(mut p) = Parser::new(body.as_bytes(), format) {
                while let Ok(Some(_)) = p.next_entry() {}
            }
        }
    }

    #[test]
    fn written_samples_round_trip(
        name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
        labels in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,10}", "[ -~\n]{0,12}"), 0..5),
        value in any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
        ts in proptest::option::of(-1_000_000_000_000i64..4_000_000_000_000),
    ) {
        let mut line = name.clone();
        if !labels.is_empty() {
            line.push('{');
            for (i, (n, v)) in labels.iter().enumerate() {
                if i > 0 { line.push(','); }
                let esc = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                line.push_str(&format!("{n}=\"{esc}\""));
            }
            line.push('}');
        }
        line.push_str(&format!(" {value:e}"));
        if let Some(t) = ts { line.push_str(&format!(" {t}")); }
        line.push('\n');
        let got = parse(&line, Format::PrometheusText).unwrap();
        let want = Owned::Sample {
            name,
            labels: labels.clone(),
            value: value.to_bits(),
            ts,
            exemplar: None,
        };
        prop_assert_eq!(&got[..], &[want][..]);
    }
}
