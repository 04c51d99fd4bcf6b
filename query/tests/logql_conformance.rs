//! LogQL conformance table: for each construct, input lines, a query, and the output Loki's
//! documentation (and, where the docs are silent, Loki's `pkg/logql` source) defines. Each case
//! names its docs section.

use nerve_query::logql::{Direction, Limits, LogValue, MemEntry, MemSource, eval_instant, eval_range, parse};
use nerve_storage::Labels;

const S: i64 = 1_000_000_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// One stream `{app="a"}` holding `lines` at 1 s, 2 s, ...
fn src1(lines: &[&str]) -> MemSource {
    let mut m = MemSource::new();
    m.push_lines(
        labels(&[("app", "a")]),
        lines.iter().enumerate().map(|(i, l)| ((i as i64 + 1) * S, *l)),
    );
    m
}

/// A log query over [0, 100 s), forward; lines rendered as `{full labels} line`.
fn logs(src: &MemSource, q: &str) -> Vec<String> {
    match eval_range(src, q, 0, 100 * S, S, None, 0, Direction::Forward, &Limits::default()) {
        Ok(LogValue::Streams(v)) => v.iter().map(|l| format!("{} {}", l.full_labels(), l.line)).collect(),
        other => panic!("{q}: {other:?}"),
    }
}

/// An instant metric query at `t` seconds; samples rendered as `{labels} value`.
fn instant(src: &MemSource, q: &str, t: i64) -> Vec<String> {
    match eval_instant(src, q, t * S, 100, Direction::Backward, &Limits::default()) {
        Ok(LogValue::Vector(v)) => v.iter().map(|s| format!("{} {}", s.labels, s.value)).collect(),
        Ok(LogValue::Scalar(_, v)) => vec![format!("scalar {v}")],
        other => panic!("{q}: {other:?}"),
    }
}

fn instant_err(src: &MemSource, q: &str, t: i64) -> String {
    match eval_instant(src, q, t * S, 100, Direction::Backward, &Limits::default()) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{q}: expected an error, got {v:?}"),
    }
}

// docs: LogQL › Log queries › Log stream selector
#[test]
fn stream_selector() {
    let mut m = MemSource::new();
    m.push_lines(labels(&[("app", "a"), ("env", "prod")]), [(S, "one")]);
    m.push_lines(labels(&[("app", "b"), ("env", "dev")]), [(2 * S, "two")]);
    m.push_lines(labels(&[("app", "c")]), [(3 * S, "three")]);
    assert_eq!(
        logs(&m, r#"{app=~"a|b", env!="dev"}"#),
        vec![r#"{app="a", env="prod"} one"#]
    );
    assert_eq!(logs(&m, r#"{app=~".+", env!~"d.*"}"#).len(), 2);
    assert_eq!(logs(&m, r#"{app=`c`}"#), vec![r#"{app="c"} three"#]);
}

// docs: LogQL › Log queries › Line filter expression
#[test]
fn line_filters() {
    let m = src1(&["GET /a 200", "POST /b 500", "get /c 404", "PUT /d 200"]);
    assert_eq!(logs(&m, r#"{app="a"} |= "200""#).len(), 2);
    assert_eq!(
        logs(&m, r#"{app="a"} != "200" |~ "(?i)get""#),
        vec![r#"{app="a"} get /c 404"#]
    );
    assert_eq!(logs(&m, r#"{app="a"} !~ "^(GET|PUT)""#).len(), 2);
    // `or` alternatives; a negative filter with `or` excludes every alternative.
    assert_eq!(logs(&m, r#"{app="a"} |= "POST" or "PUT""#).len(), 2);
    assert_eq!(logs(&m, r#"{app="a"} != "POST" or "PUT""#).len(), 2);
    // Pattern line filter (`|>`), with `<_>` wildcards.
    assert_eq!(logs(&m, r#"{app="a"} |> "<_> /<_> 200""#).len(), 2);
    assert_eq!(logs(&m, r#"{app="a"} !> "<_> /<_> 200""#).len(), 2);
}

// docs: LogQL › Log queries › Parser expressions › JSON (nested keys flattened with `_`, arrays skipped)
#[test]
fn json_parser() {
    let line = r#"{"protocol":"HTTP/2.0","servers":["129.0.1.1","10.2.1.3"],"request":{"time":"6.032","method":"GET","host":"foo.grafana.net","size":"55","headers":{"Accept":"*/*","User-Agent":"curl/7.68.0"}},"response":{"status":401,"size":"228","latency_seconds":"6.031"}}"#;
    let m = src1(&[line]);
    let out = logs(&m, r#"{app="a"} | json | line_format "x""#);
    assert_eq!(
        out,
        vec![
            r#"{app="a", protocol="HTTP/2.0", request_headers_Accept="*/*", request_headers_User_Agent="curl/7.68.0", request_host="foo.grafana.net", request_method="GET", request_size="55", request_time="6.032", response_latency_seconds="6.031", response_size="228", response_status="401"} x"#
        ]
    );
    // docs: … › JSON › Using parameters (array index, quoted keys, raw objects/arrays)
    let out = logs(
        &m,
        r#"{app="a"} | json first_server="servers[0]", ua="request.headers[\"User-Agent\"]", servers, headers="request.headers" | line_format "x""#,
    );
    assert_eq!(
        out,
        vec![
            r#"{app="a", first_server="129.0.1.1", headers="{\"Accept\":\"*/*\",\"User-Agent\":\"curl/7.68.0\"}", servers="[\"129.0.1.1\",\"10.2.1.3\"]", ua="curl/7.68.0"} x"#
        ]
    );
}

// docs: LogQL › Log queries › Parser expressions (a name colliding with a stream label gets `_extracted`)
#[test]
fn extracted_suffix() {
    let m = src1(&[r#"{"app":"other","n":1}"#]);
    assert_eq!(
        logs(&m, r#"{app="a"} | json | line_format "{{.app}}/{{.app_extracted}}""#),
        vec![r#"{app="a", app_extracted="other", n="1"} a/other"#]
    );
}

// docs: LogQL › Log queries › Parser expressions › JSON (invalid JSON → __error__=JSONParserErr)
#[test]
fn json_errors() {
    let m = src1(&["not json", r#"{"a":"b"}"#]);
    let out = logs(&m, r#"{app="a"} | json | drop __error_details__"#);
    assert_eq!(
        out,
        vec![
            r#"{__error__="JSONParserErr", app="a"} not json"#,
            r#"{a="b", app="a"} {"a":"b"}"#
        ]
    );
    assert_eq!(logs(&m, r#"{app="a"} | json | __error__="""#).len(), 1);
    assert_eq!(logs(&m, r#"{app="a"} | json | __error__!="""#).len(), 1);
    assert_eq!(
        logs(&m, r#"{app="a"} | json | drop __error__, __error_details__"#)[0],
        r#"{app="a"} not json"#
    );
}

// docs: LogQL › Log queries › Parser expressions › logfmt (last duplicate wins, empty values dropped)
#[test]
fn logfmt_parser() {
    let m = src1(&[
        r#"at=info method=GET path=/ host=grafana.net fwd="124.133.124.161" service=8ms status=200 dup=1 dup=2 empty="#,
    ]);
    assert_eq!(
        logs(&m, r#"{app="a"} | logfmt | line_format "{{.fwd}} {{.dup}}""#),
        vec![
            r#"{app="a", at="info", dup="2", fwd="124.133.124.161", host="grafana.net", method="GET", path="/", service="8ms", status="200"} 124.133.124.161 2"#
        ]
    );
    // docs: … › logfmt › --keep-empty retains standalone keys; parameters extract and rename.
    let m = src1(&["a=1 standalone b= c"]);
    assert_eq!(
        logs(
            &m,
            r#"{app="a"} | logfmt --keep-empty | line_format "{{.standalone}}|{{.a}}""#
        ),
        vec![r#"{a="1", app="a"} |1"#]
    );
    assert_eq!(
        logs(&m, r#"{app="a"} | logfmt x="a" | line_format "{{.x}}""#),
        vec![r#"{app="a", x="1"} 1"#]
    );
    // docs: … › logfmt › --strict stops at the first malformed pair and flags LogfmtParserErr.
    let m = src1(&[r#"a=1 ="x" b=2"#]);
    assert_eq!(
        logs(&m, r#"{app="a"} | logfmt | line_format "ok""#),
        vec![r#"{a="1", app="a", b="2"} ok"#]
    );
    let strict = logs(
        &m,
        r#"{app="a"} | logfmt --strict | drop __error_details__ | line_format "ok""#,
    );
    assert_eq!(strict, vec![r#"{__error__="LogfmtParserErr", a="1", app="a"} ok"#]);
}

// docs: LogQL › Log queries › Parser expressions › Pattern
#[test]
fn pattern_parser() {
    let m = src1(&[
        r#"0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] "GET /api/plugins/versioncheck HTTP/1.1" 200 2 "-" "Go-http-client/2.0" "13.76.247.102, 34.120.177.193" "TLSv1.2" "US" """#,
    ]);
    let q = r#"{app="a"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size> <_> \"<agent>\" <_>" | line_format "{{.method}} {{.status}}""#;
    assert_eq!(
        logs(&m, q),
        vec![
            r#"{agent="Go-http-client/2.0", app="a", ip="0.191.12.2", method="GET", size="2", status="200", uri="/api/plugins/versioncheck"} GET 200"#
        ]
    );
}

// docs: LogQL › Log queries › Parser expressions › Regular expression
#[test]
fn regexp_parser() {
    let m = src1(&["POST /api/prom/api/v1/query_range (200) 1.062922ms", "nothing here"]);
    let q = r#"{app="a"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\) (?P<duration>.*)""#;
    assert_eq!(
        logs(&m, q),
        vec![
            r#"{app="a", duration="1.062922ms", method="POST", path="/api/prom/api/v1/query_range", status="200"} POST /api/prom/api/v1/query_range (200) 1.062922ms"#,
            r#"{app="a"} nothing here"#
        ]
    );
}

// docs: LogQL › Log queries › Parser expressions › unpack (`_entry` replaces the line)
#[test]
fn unpack_parser() {
    let m = src1(&[r#"{"container":"myapp","pod":"pod-3223f","_entry":"original log message"}"#]);
    assert_eq!(
        logs(&m, r#"{app="a"} | unpack"#),
        vec![r#"{app="a", container="myapp", pod="pod-3223f"} original log message"#]
    );
}

// docs: LogQL › Log queries › Label filter expression (and binds tighter than or; units)
#[test]
fn label_filters() {
    let m = src1(&[
        "duration=30ms size=10kb method=GET status=200",
        "duration=5ms size=20kb method=POST status=500",
        "duration=1s size=30kb method=GET status=404",
    ]);
    let q = |f: &str| {
        logs(
            &m,
            &format!(r#"{{app="a"}} | logfmt | {f} | line_format "{{{{.status}}}}""#),
        )
    };
    let status = |v: Vec<String>| {
        v.iter()
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        status(q(r#"duration >= 20ms or size == 20kb and method!~"2..""#)),
        vec!["200", "500", "404"]
    );
    assert_eq!(status(q(r#"duration > 20ms and size < 25KB"#)), vec!["200"]);
    assert_eq!(
        status(q(r#"(status >= 400, method="GET") or status == 200"#)),
        vec!["200", "404"]
    );
    assert_eq!(status(q(r#"status != 200 method="POST""#)), vec!["500"]);
    assert_eq!(status(q(r#"method=~"G.*" | status < 300"#)), vec!["200"]);
}

// docs: LogQL › Log queries › Label filter expression (failed conversion keeps the line with
// __error__=LabelFilterErr; a missing label drops it)
#[test]
fn label_filter_conversion_errors() {
    let m = src1(&["status=abc", "status=500", "other=1"]);
    let out = logs(&m, r#"{app="a"} | logfmt | status > 400 | drop __error_details__"#);
    assert_eq!(
        out,
        vec![
            r#"{__error__="LabelFilterErr", app="a", status="abc"} status=abc"#,
            r#"{app="a", status="500"} status=500"#
        ]
    );
}

// docs: LogQL › Log queries › Line format expression (template functions, `__line__`, escaping)
#[test]
fn line_format() {
    let m = src1(&[r#"query="sum(rate(x))" duration=2.5s level=warn"#]);
    let q = r#"{app="a"} | logfmt | line_format "{{.query}}\t{{ .level | ToUpper }} {{ if eq .level \"warn\" }}W{{ else }}-{{ end }} {{ printf \"%.1f\" 1.25 }}""#;
    assert_eq!(logs(&m, q)[0].split_once("} ").unwrap().1, "sum(rate(x))\tWARN W 1.2");
    let raw = r#"{app="a"} | logfmt | line_format `{{.level}}\t{{ __line__ | len }}`"#;
    assert_eq!(logs(&m, raw)[0].split_once("} ").unwrap().1, r"warn\t45");
    let m = src1(&["a=hello"]);
    let q = r#"{app="a"} | logfmt | line_format "{{ .a | title }} {{ substr 1 3 .a }} {{ replace \"l\" \"L\" .a }} {{ .missing | default \"-\" }} {{ regexReplaceAll \"l+\" .a \"_\" }}""#;
    assert_eq!(logs(&m, q)[0].split_once("} ").unwrap().1, "Hello el heLLo - he_o");
}

// docs: LogQL › Log queries › Labels format expression (rename keeps the category; templates
// see the labels before the stage)
#[test]
fn label_format() {
    let m = src1(&["level=warn msg=hi"]);
    assert_eq!(
        logs(
            &m,
            r#"{app="a"} | logfmt | label_format full="{{.app}}-{{.level}}", lvl=level"#
        ),
        vec![r#"{app="a", full="a-warn", lvl="warn", msg="hi"} level=warn msg=hi"#]
    );
    assert_eq!(
        logs(&m, r#"{app="a"} | label_format service=app"#),
        vec![r#"{service="a"} level=warn msg=hi"#]
    );
    match eval_range(
        &m,
        r#"{app="a"} | label_format service=app"#,
        0,
        100 * S,
        S,
        None,
        0,
        Direction::Forward,
        &Limits::default(),
    ) {
        Ok(LogValue::Streams(v)) => assert_eq!(v[0].stream, labels(&[("service", "a")])),
        other => panic!("{other:?}"),
    }
}

// docs: LogQL › Log queries › Drop labels expression / Keep labels expression
#[test]
fn drop_and_keep() {
    let m = src1(&["level=warn method=GET path=/x"]);
    assert_eq!(
        logs(&m, r#"{app="a"} | logfmt | drop level, method="POST", path=~"/.*""#),
        vec![r#"{app="a", method="GET"} level=warn method=GET path=/x"#]
    );
    assert_eq!(
        logs(&m, r#"{app="a"} | logfmt | keep level, method="POST""#),
        vec![r#"{level="warn"} level=warn method=GET path=/x"#]
    );
}

// docs: LogQL › Log queries › Decolorize
#[test]
fn decolorize() {
    let m = src1(&["\x1b[31mred\x1b[0m text"]);
    assert_eq!(logs(&m, r#"{app="a"} | decolorize"#), vec![r#"{app="a"} red text"#]);
}

// docs: LogQL › Log queries (structured metadata is a label category of its own)
#[test]
fn structured_metadata_categories() {
    let mut m = MemSource::new();
    m.push(
        labels(&[("app", "a")]),
        [MemEntry {
            ts_ns: S,
            line: "level=info".into(),
            metadata: vec![("trace_id".into(), "abc".into())],
        }],
    );
    let v = eval_range(
        &m,
        r#"{app="a"} | logfmt | trace_id="abc""#,
        0,
        10 * S,
        S,
        None,
        0,
        Direction::Forward,
        &Limits::default(),
    )
    .unwrap();
    let LogValue::Streams(v) = v else { panic!() };
    assert_eq!(v[0].stream, labels(&[("app", "a")]));
    assert_eq!(
        v[0].structured_metadata,
        vec![("trace_id".to_string(), "abc".to_string())]
    );
    assert_eq!(v[0].parsed, vec![("level".to_string(), "info".to_string())]);
    assert_eq!(
        v[0].full_labels(),
        labels(&[("app", "a"), ("level", "info"), ("trace_id", "abc")])
    );
}

// docs: HTTP API › Query logs within a range of time (limit, direction, [start, end))
#[test]
fn range_log_query_limit_direction() {
    let m = src1(&["l1", "l2", "l3", "l4"]);
    let run = |dir, limit, start, end| match eval_range(
        &m,
        r#"{app="a"}"#,
        start * S,
        end * S,
        S,
        None,
        limit,
        dir,
        &Limits::default(),
    ) {
        Ok(LogValue::Streams(v)) => v.into_iter().map(|l| l.line).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(run(Direction::Backward, 2, 0, 100), vec!["l4", "l3"]);
    assert_eq!(run(Direction::Forward, 2, 0, 100), vec!["l1", "l2"]);
    assert_eq!(run(Direction::Forward, 0, 2, 4), vec!["l2", "l3"]);
}

// docs: HTTP API › Query logs at a single point in time (log queries refused in Loki 3)
#[test]
fn instant_log_query_refused() {
    let m = src1(&["x"]);
    assert_eq!(
        instant_err(&m, r#"{app="a"}"#, 10),
        "log queries are not supported as an instant query type, please change your query to a range query type"
    );
}

// docs: LogQL › Metric queries › Log range aggregations (rate = count / range seconds)
#[test]
fn rate_and_counts() {
    let m = src1(&["a", "bb", "ccc"]); // at 1 s, 2 s, 3 s
    assert_eq!(
        instant(&m, r#"count_over_time({app="a"}[1m])"#, 3),
        vec![r#"{app="a"} 3"#]
    );
    assert_eq!(instant(&m, r#"rate({app="a"}[1m])"#, 3), vec![r#"{app="a"} 0.05"#]);
    assert_eq!(
        instant(&m, r#"bytes_over_time({app="a"}[1m])"#, 3),
        vec![r#"{app="a"} 6"#]
    );
    assert_eq!(instant(&m, r#"bytes_rate({app="a"}[2s])"#, 3), vec![r#"{app="a"} 2.5"#]);
    // Window (t - range, t]: the entry exactly at t - range is out, the one at t is in.
    assert_eq!(
        instant(&m, r#"count_over_time({app="a"}[2s])"#, 3),
        vec![r#"{app="a"} 2"#]
    );
    // offset shifts the window back.
    assert_eq!(
        instant(&m, r#"count_over_time({app="a"}[2s] offset 1s)"#, 3),
        vec![r#"{app="a"} 2"#]
    );
    assert_eq!(
        instant(&m, r#"count_over_time({app="a"}[1s] offset 2s)"#, 3),
        vec![r#"{app="a"} 1"#]
    );
    // The pipeline runs before counting; parsed labels split series.
    let m = src1(&["level=info", "level=warn", "level=info"]);
    assert_eq!(
        instant(&m, r#"count_over_time({app="a"} | logfmt [1m])"#, 5),
        vec![r#"{app="a", level="info"} 2"#, r#"{app="a", level="warn"} 1"#]
    );
    assert_eq!(
        instant(&m, r#"count_over_time({app="a"} |= "warn" [1m])"#, 5),
        vec![r#"{app="a"} 1"#]
    );
    assert_eq!(
        instant(&m, r#"count_over_time({app="a"}[1m] |= "info")"#, 5),
        vec![r#"{app="a"} 2"#]
    );
}

// docs: LogQL › Metric queries › Log range aggregations › absent_over_time (labels from the
// selector's equality matchers)
#[test]
fn absent_over_time() {
    let m = src1(&["x"]);
    assert_eq!(
        instant(&m, r#"absent_over_time({app="nope", env="prod", job=~"j.*"}[1m])"#, 5),
        vec![r#"{app="nope", env="prod"} 1"#]
    );
    assert!(instant(&m, r#"absent_over_time({app="a"}[1m])"#, 5).is_empty());
}

// docs: LogQL › Metric queries › Unwrapped range aggregations
#[test]
fn unwrapped() {
    let m = src1(&["v=1 d=250ms b=1KB", "v=2 d=1s b=2KiB", "v=3 d=1.5s b=3", "v=4 d=2s b=4"]);
    let q = |f: &str| instant(&m, &format!(r#"{f}({{app="a"}} | logfmt | unwrap v [1m])"#), 10);
    assert_eq!(
        q("sum_over_time"),
        vec![
            r#"{app="a", b="1KB", d="250ms"} 1"#,
            r#"{app="a", b="2KiB", d="1s"} 2"#,
            r#"{app="a", b="3", d="1.5s"} 3"#,
            r#"{app="a", b="4", d="2s"} 4"#
        ]
    );
    let g = |f: &str| {
        instant(
            &m,
            &format!(r#"{f}({{app="a"}} | logfmt | unwrap v [1m]) by (app)"#),
            10,
        )
    };
    assert_eq!(g("sum_over_time"), vec![r#"{app="a"} 10"#]);
    assert_eq!(g("avg_over_time"), vec![r#"{app="a"} 2.5"#]);
    assert_eq!(g("min_over_time"), vec![r#"{app="a"} 1"#]);
    assert_eq!(g("max_over_time"), vec![r#"{app="a"} 4"#]);
    assert_eq!(g("first_over_time"), vec![r#"{app="a"} 1"#]);
    assert_eq!(g("last_over_time"), vec![r#"{app="a"} 4"#]);
    assert_eq!(g("stdvar_over_time"), vec![r#"{app="a"} 1.25"#]);
    assert_eq!(g("rate"), vec![r#"{app="a"} 0.16666666666666666"#]);
    // docs: … › quantile_over_time (Prometheus interpolation)
    assert_eq!(
        instant(
            &m,
            r#"quantile_over_time(0.5, {app="a"} | logfmt | unwrap v [1m]) by (app)"#,
            10
        ),
        vec![r#"{app="a"} 2.5"#]
    );
    // docs: … › Unwrapped range aggregations (duration() and bytes() conversions)
    assert_eq!(
        instant(
            &m,
            r#"sum_over_time({app="a"} | logfmt | unwrap duration(d) [1m]) by (app)"#,
            10
        ),
        vec![r#"{app="a"} 4.75"#]
    );
    assert_eq!(
        instant(
            &m,
            r#"sum_over_time({app="a"} | logfmt | unwrap bytes(b) [1m]) without (d, v)"#,
            10
        ),
        vec![r#"{app="a"} 3055"#]
    );
}

// docs: LogQL › Metric queries › Unwrapped range aggregations (conversion errors become
// SampleExtractionErr; unhandled errors fail the query)
#[test]
fn unwrap_errors() {
    let m = src1(&["v=1", "v=oops", "other=1"]);
    let err = instant_err(&m, r#"sum_over_time({app="a"} | logfmt | unwrap v [1m])"#, 10);
    assert!(err.starts_with("pipeline error: 'SampleExtractionErr' for series: '{__error__=\"SampleExtractionErr\", __error_details__=\"strconv.ParseFloat: parsing \\\"oops\\\": invalid syntax\", app=\"a\"}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"SampleExtractionErr\")."), "{err}");
    assert_eq!(
        instant(
            &m,
            r#"sum_over_time({app="a"} | logfmt | unwrap v | __error__="" [1m])"#,
            10
        ),
        vec![r#"{app="a"} 1"#]
    );
    // docs: LogQL › Log queries › Parser expressions › JSON (errors in metric queries)
    let m = src1(&["{bad"]);
    let err = instant_err(&m, r#"count_over_time({app="a"} | json [1m])"#, 10);
    assert!(err.starts_with("pipeline error: 'JSONParserErr'"), "{err}");
    assert_eq!(
        instant(
            &m,
            r#"count_over_time({app="a"} | json | __error__!="JSONParserErr" [1m])"#,
            10
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        instant(
            &m,
            r#"sum by (app) (count_over_time({app="a"} | json | drop __error__, __error_details__ [1m]))"#,
            10
        ),
        vec![r#"{app="a"} 1"#]
    );
}

// Loki's engine (`canInjectVectorGrouping`): a `sum` straight over count/rate/bytes/sum range
// aggregations extracts only the labels the sum keeps. The results must not change (here
// checked against the same query with the injection blocked by `* 1`), and a pipeline error
// must still fail the query instead of being grouped away.
#[test]
fn sum_grouping_is_pushed_into_range_aggregations() {
    let lines: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "level={} id={i} n={} b={}",
                ["info", "warn", "error"][i % 3],
                i % 7,
                i * 10
            )
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let m = src1(&refs);
    for inner in [
        r#"count_over_time({app="a"} | logfmt [1m])"#,
        r#"rate({app="a"} | logfmt [1m])"#,
        r#"bytes_over_time({app="a"} | logfmt [1m])"#,
        r#"bytes_rate({app="a"} | logfmt [1m])"#,
        r#"sum_over_time({app="a"} | logfmt | unwrap n [1m])"#,
        r#"rate({app="a"} | logfmt | unwrap b [1m])"#,
    ] {
        for outer in ["sum by (level)", "sum without (id, n, b)", "sum"] {
            let pushed = instant(&m, &format!("{outer} ({inner})"), 50);
            let plain = instant(&m, &format!("{outer} ({inner} * 1)"), 50);
            // Same series; values equal up to float summation order.
            let split = |v: &[String]| -> Vec<(String, f64)> {
                v.iter()
                    .map(|x| {
                        let (l, n) = x.rsplit_once(' ').unwrap();
                        (l.to_owned(), n.parse().unwrap())
                    })
                    .collect()
            };
            let (a, b) = (split(&pushed), split(&plain));
            assert_eq!(a.len(), b.len(), "{outer} ({inner}): {pushed:?} vs {plain:?}");
            assert!(!a.is_empty());
            for ((la, va), (lb, vb)) in a.iter().zip(&b) {
                assert_eq!(la, lb, "{outer} ({inner})");
                assert!(
                    (va - vb).abs() <= 1e-12 * vb.abs().max(1.0),
                    "{outer} ({inner}): {va} vs {vb}"
                );
            }
        }
    }
    let bad = src1(&["{bad", r#"{"level":"info"}"#]);
    let err = instant_err(&bad, r#"sum by (level) (count_over_time({app="a"} | json [1m]))"#, 10);
    assert!(err.starts_with("pipeline error: 'JSONParserErr'"), "{err}");
}

// docs: LogQL › Metric queries › rate_counter (extrapolated counter rate)
#[test]
fn rate_counter() {
    let m = src1(&["c=10", "c=20", "c=30"]);
    let v = instant(&m, r#"rate_counter({app="a"} | logfmt | unwrap c [1m]) by (app)"#, 3);
    assert_eq!(v.len(), 1);
    let x: f64 = v[0].split(' ').nth(1).unwrap().parse().unwrap();
    assert!((x - 20.0 * (2e6 + 60.0) / 2e6 / 60.0).abs() < 1e-9, "{x}");
}

// docs: LogQL › Metric queries › Built-in aggregation operators
#[test]
fn vector_aggregations() {
    let mut m = MemSource::new();
    for (app, n) in [("a", 1), ("b", 3), ("c", 3), ("d", 2)] {
        let lines: Vec<(i64, &str)> = (0..n).map(|i| ((i + 1) * S, "x")).collect();
        m.push_lines(
            labels(&[("app", app), ("env", if app < "c" { "prod" } else { "dev" })]),
            lines,
        );
    }
    let c = r#"count_over_time({env=~".+"}[1m])"#;
    assert_eq!(instant(&m, &format!("sum({c})"), 10), vec!["{} 9"]);
    assert_eq!(
        instant(&m, &format!("sum by (env) ({c})"), 10),
        vec![r#"{env="dev"} 5"#, r#"{env="prod"} 4"#]
    );
    assert_eq!(
        instant(&m, &format!("sum({c}) by (env)"), 10),
        vec![r#"{env="dev"} 5"#, r#"{env="prod"} 4"#]
    );
    assert_eq!(
        instant(&m, &format!("max without (app) ({c})"), 10),
        vec![r#"{env="dev"} 3"#, r#"{env="prod"} 3"#]
    );
    assert_eq!(instant(&m, &format!("count({c})"), 10), vec!["{} 4"]);
    assert_eq!(instant(&m, &format!("avg({c})"), 10), vec!["{} 2.25"]);
    assert_eq!(instant(&m, &format!("stdvar({c})"), 10), vec!["{} 0.6875"]);
    // topk: ties resolved towards the smaller label set; instant results sorted by labels.
    assert_eq!(
        instant(&m, &format!("topk(1, {c})"), 10),
        vec![r#"{app="b", env="prod"} 3"#]
    );
    assert_eq!(
        instant(&m, &format!("bottomk(1, {c}) by (env)"), 10),
        vec![r#"{app="a", env="prod"} 1"#, r#"{app="d", env="dev"} 2"#]
    );
    // docs: … › sort / sort_desc (instant results keep the sorted order)
    assert_eq!(
        instant(&m, &format!("sort_desc({c})"), 10),
        vec![
            r#"{app="b", env="prod"} 3"#,
            r#"{app="c", env="dev"} 3"#,
            r#"{app="d", env="dev"} 2"#,
            r#"{app="a", env="prod"} 1"#
        ]
    );
    assert_eq!(instant(&m, &format!("sort({c})"), 10)[0], r#"{app="a", env="prod"} 1"#);
}

// docs: LogQL › Query reference › Binary operators (arithmetic, comparison, bool, set, matching)
#[test]
fn binary_operators() {
    let mut m = MemSource::new();
    m.push_lines(labels(&[("app", "a"), ("env", "prod")]), [(S, "x"), (2 * S, "x")]);
    m.push_lines(labels(&[("app", "b"), ("env", "prod")]), [(S, "x")]);
    let c = |app: &str| format!(r#"count_over_time({{app="{app}"}}[1m])"#);
    assert_eq!(instant(&m, "vector(1)+vector(1)", 5), vec!["{} 2"]);
    assert_eq!(instant(&m, "1 + 2 * 3 ^ 2", 5), vec!["scalar 19"]);
    assert_eq!(instant(&m, "2 ^ 3 ^ 2", 5), vec!["scalar 512"]);
    assert_eq!(
        instant(&m, &format!("{} * 10", c("a")), 5),
        vec![r#"{app="a", env="prod"} 20"#]
    );
    let both = r#"count_over_time({app=~"a|b"}[1m])"#;
    assert_eq!(
        instant(&m, &format!("{both} > 1"), 5),
        vec![r#"{app="a", env="prod"} 2"#]
    );
    assert_eq!(
        instant(&m, &format!("{both} > bool 1"), 5),
        vec![r#"{app="a", env="prod"} 1"#, r#"{app="b", env="prod"} 0"#]
    );
    assert_eq!(
        instant(&m, &format!("{} / ignoring(app) {}", c("a"), c("b")), 5),
        vec![r#"{env="prod"} 2"#]
    );
    assert_eq!(
        instant(&m, &format!("{both} / on(env) group_left sum by (env) ({both})"), 5),
        vec![
            r#"{app="a", env="prod"} 0.6666666666666666"#,
            r#"{app="b", env="prod"} 0.3333333333333333"#
        ]
    );
    assert_eq!(
        instant(&m, &format!("{both} and {}", c("a")), 5),
        vec![r#"{app="a", env="prod"} 2"#]
    );
    assert_eq!(
        instant(&m, &format!("{both} unless {}", c("a")), 5),
        vec![r#"{app="b", env="prod"} 1"#]
    );
    assert_eq!(instant(&m, &format!("{} or {}", c("a"), c("b")), 5).len(), 2);
    assert_eq!(instant(&m, &format!("sum({both}) or vector(0)"), 5), vec!["{} 3"]);
}

// docs: LogQL › Query reference › label_replace
#[test]
fn label_replace() {
    let m = src1(&["x"]);
    assert_eq!(
        instant(
            &m,
            r#"label_replace(count_over_time({app="a"}[1m]), "dst", "$1-x", "app", "(.*)")"#,
            5
        ),
        vec![r#"{app="a", dst="a-x"} 1"#]
    );
    assert_eq!(
        instant(
            &m,
            r#"label_replace(count_over_time({app="a"}[1m]), "dst", "$1", "app", "zzz")"#,
            5
        ),
        vec![r#"{app="a"} 1"#]
    );
}

// docs: HTTP API › Query logs within a range of time (metric range queries: steps inclusive)
#[test]
fn metric_range_query() {
    let m = src1(&["a", "b", "c", "d"]); // 1..4 s
    let v = eval_range(
        &m,
        r#"count_over_time({app="a"}[2s])"#,
        2 * S,
        6 * S,
        2 * S,
        None,
        0,
        Direction::Backward,
        &Limits::default(),
    )
    .unwrap();
    let LogValue::Matrix(series) = v else { panic!("{v:?}") };
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].points, vec![(2 * S, 2.0), (4 * S, 2.0)]);
    let v = eval_range(
        &m,
        "vector(1)",
        0,
        2 * S,
        S,
        None,
        0,
        Direction::Backward,
        &Limits::default(),
    )
    .unwrap();
    let LogValue::Matrix(series) = v else { panic!("{v:?}") };
    assert_eq!(series[0].points, vec![(0, 1.0), (S, 1.0), (2 * S, 1.0)]);
}

// docs: Operations › Limits (max_query_series, max_entries_limit_per_query, timeouts)
#[test]
fn limits() {
    let mut m = MemSource::new();
    for i in 0..5 {
        m.push_lines(labels(&[("app", "a"), ("i", &i.to_string())]), [(S, "x")]);
    }
    let l = Limits {
        max_series: 3,
        ..Limits::default()
    };
    let e = eval_instant(
        &m,
        r#"count_over_time({app="a"}[1m])"#,
        5 * S,
        100,
        Direction::Backward,
        &l,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("maximum number of series (3) reached for a single query"),
        "{e}"
    );
    assert!(
        eval_instant(
            &m,
            r#"sum(count_over_time({app="a"}[1m]))"#,
            5 * S,
            100,
            Direction::Backward,
            &l
        )
        .is_ok()
    );
    // Samples extracted for a range aggregation are bounded before stepping (memory).
    let l = Limits {
        max_samples: 4,
        ..Limits::default()
    };
    let q = r#"sum(count_over_time({app="a"}[1m]))"#;
    let e = eval_instant(&m, q, 5 * S, 100, Direction::Backward, &l).unwrap_err();
    assert_eq!(e.error_type(), "execution");
    assert!(e.to_string().contains("too many samples"), "{e}");
    let l = Limits {
        max_samples: 5,
        ..Limits::default()
    };
    assert!(eval_instant(&m, q, 5 * S, 100, Direction::Backward, &l).is_ok());
    let l = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let e = eval_range(&m, r#"{app="a"}"#, 0, 10 * S, S, None, 20, Direction::Backward, &l).unwrap_err();
    assert_eq!(
        e.to_string(),
        "max entries limit per query exceeded, limit > max_entries_limit_per_query (20 > 10)"
    );
    let l = Limits {
        deadline: Some(std::time::Instant::now() - std::time::Duration::from_secs(1)),
        ..Limits::default()
    };
    let e = eval_instant(
        &m,
        r#"count_over_time({app="a"}[1m])"#,
        5 * S,
        100,
        Direction::Backward,
        &l,
    )
    .unwrap_err();
    assert_eq!(e.error_type(), "timeout");
}

// Grafana's data source health check.
#[test]
fn grafana_health_check() {
    let m = MemSource::new();
    match eval_instant(
        &m,
        "vector(1)+vector(1)",
        5 * S,
        100,
        Direction::Backward,
        &Limits::default(),
    )
    .unwrap()
    {
        LogValue::Vector(v) => {
            assert_eq!(v.len(), 1);
            assert!(v[0].labels.is_empty());
            assert_eq!(v[0].value, 2.0);
        }
        other => panic!("{other:?}"),
    }
}

// docs: LogQL › Metric queries (queries that parse in Loki parse here)
#[test]
fn parses_documented_queries() {
    for q in [
        r#"sum by (host) (rate({job="mysql"} |= "error" != "timeout" | json | duration > 10s [1m]))"#,
        r#"topk(10,sum(rate({region="us-east1"}[5m])) by (name))"#,
        r#"avg_over_time({container="ingress-nginx",service="hosted-grafana"} | json | unwrap response_latency_seconds | __error__="" [1m]) by (cluster)"#,
        r#"sum by (org_id) (sum_over_time({cluster="ops-tools1",container="loki-dev"} |= "metrics.go" | logfmt | unwrap bytes_processed [1m]))"#,
        r#"quantile_over_time(0.99, {cluster="ops-tools1",container="ingress-nginx"} | json | __error__ = "" | unwrap request_time [1m]) by (path)"#,
        r#"{app="foo"} | json | line_format "{{.message}}" | label_format level=`{{ .lvl | ToLower }}`"#,
        r#"sum(count_over_time({foo="bar"}[5m] offset 1h)) / ignoring(x) group_right(y) sum(count_over_time({foo="baz"}[5m]))"#,
        "{app=\"foo\"} # a comment\n |= \"x\"",
    ] {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}
