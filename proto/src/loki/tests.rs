//! Tests of the Loki push decoders, label parsing and ingest-time enrichment.

use std::io::Write;

use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::logproto;

const MAX: usize = 1 << 20;

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn json(body: &str) -> Result<PushRequest, Error> {
    decode_push(body.as_bytes(), Some("application/json"), None, MAX)
}

fn err_msg(r: Result<PushRequest, Error>) -> String {
    match r {
        Ok(req) => panic!("expected an error, decoded {req:?}"),
        Err(e) => e.to_string(),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn snappy_message(msg: &logproto::PushRequest) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&msg.encode_to_vec()).unwrap()
}

const SAMPLE_JSON: &str = r#"{"streams":[
    {"stream":{"job":"api","env":"prod"},
     "values":[["1700000000000000001","GET /x 200"],
               ["1700000000000000002","boom",{"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","user":"ann"}]]},
    {"stream":{"job":"db"},"values":[]}
]}"#;

fn sample_request() -> PushRequest {
    PushRequest {
        streams: vec![
            PushStream {
                labels: pairs(&[("env", "prod"), ("job", "api")]),
                entries: vec![
                    PushEntry {
                        ts_ns: 1_700_000_000_000_000_001,
                        line: "GET /x 200".into(),
                        structured_metadata: vec![],
                    },
                    PushEntry {
                        ts_ns: 1_700_000_000_000_000_002,
                        line: "boom".into(),
                        structured_metadata: pairs(&[
                            ("trace_id", "4BF92F3577B34DA6A3CE929D0E0E4736"),
                            ("user", "ann"),
                        ]),
                    },
                ],
            },
            PushStream {
                labels: pairs(&[("job", "db")]),
                entries: vec![],
            },
        ],
    }
}

#[test]
fn json_push_with_structured_metadata() {
    assert_eq!(json(SAMPLE_JSON).unwrap(), sample_request());
    // Media type parameters and case do not matter.
    let req = decode_push(
        SAMPLE_JSON.as_bytes(),
        Some("Application/JSON; charset=utf-8"),
        None,
        MAX,
    )
    .unwrap();
    assert_eq!(req, sample_request());
    assert_eq!(req.entry_count(), 2);
}

#[test]
fn json_gzip_deflate_and_zstd() {
    let raw = SAMPLE_JSON.as_bytes();
    let ct = Some("application/json");
    assert_eq!(
        decode_push(&gzip(raw), ct, Some("gzip"), MAX).unwrap(),
        sample_request()
    );

    // Loki reads raw DEFLATE (Go's compress/flate) ...
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(raw).unwrap();
    let deflated = enc.finish().unwrap();
    assert_eq!(
        decode_push(&deflated, ct, Some("deflate"), MAX).unwrap(),
        sample_request()
    );
    // ... and the zlib-wrapped form is accepted too.
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(raw).unwrap();
    let zlib = enc.finish().unwrap();
    assert_eq!(
        decode_push(&zlib, ct, Some(" Deflate "), MAX).unwrap(),
        sample_request()
    );

    let zstd = zstd::encode_all(raw, 3).unwrap();
    assert_eq!(decode_push(&zstd, ct, Some("zstd"), MAX).unwrap(), sample_request());
}

#[test]
fn snappy_protobuf_round_trip() {
    let body = encode_push_protobuf(&sample_request());
    for ct in [None, Some("application/x-protobuf"), Some("text/plain")] {
        for ce in [None, Some("snappy"), Some("identity")] {
            assert_eq!(
                decode_push(&body, ct, ce, MAX).unwrap(),
                sample_request(),
                "{ct:?} {ce:?}"
            );
        }
    }
    // gzip around the snappy block works too.
    assert_eq!(
        decode_push(&gzip(&body), None, Some("gzip"), MAX).unwrap(),
        sample_request()
    );
}

#[test]
fn protobuf_labels_are_parsed_sorted_and_validated() {
    let msg = logproto::PushRequest {
        streams: vec![logproto::StreamAdapter {
            labels: r#"{job="x", app="a\"b", empty=""}"#.into(),
            entries: vec![logproto::EntryAdapter {
                timestamp: Some(prost_types::Timestamp { seconds: -1, nanos: 5 }),
                line: "l".into(),
                structured_metadata: vec![logproto::LabelPairAdapter {
                    name: "http.method".into(),
                    value: "GET".into(),
                }],
            }],
            hash: 42,
        }],
    };
    let req = decode_push(&snappy_message(&msg), None, None, MAX).unwrap();
    assert_eq!(req.streams[0].labels, pairs(&[("app", "a\"b"), ("job", "x")]));
    assert_eq!(req.streams[0].entries[0].ts_ns, -999_999_995);
    // Invalid metadata names are sanitized as Loki does.
    assert_eq!(
        req.streams[0].entries[0].structured_metadata,
        pairs(&[("http_method", "GET")])
    );
}

#[test]
fn protobuf_errors_name_the_stream_and_entry() {
    let entry = |ts: Option<prost_types::Timestamp>| logproto::EntryAdapter {
        timestamp: ts,
        line: "l".into(),
        structured_metadata: vec![],
    };
    let stream = |labels: &str, entries| logproto::StreamAdapter {
        labels: labels.into(),
        entries,
        hash: 0,
    };
    let ok = stream(r#"{a="b"}"#, vec![entry(Some(Default::default()))]);
    let cases = [
        (
            stream("{a=b}", vec![]),
            "streams[1].labels: invalid labels \"{a=b}\": expected a quoted label value",
        ),
        (stream(r#"{a="1", a="2"}"#, vec![]), "duplicate label name \"a\""),
        (stream(r#"{a.b="1"}"#, vec![]), "expected '=', found '.'"),
        (stream("{}", vec![]), "at least one label"),
        (stream("", vec![]), "expected '{', found end of input"),
        (
            stream(r#"{a="b"}"#, vec![entry(None)]),
            "streams[1].entries[0]: missing timestamp",
        ),
        (
            stream(
                r#"{a="b"}"#,
                vec![entry(Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }))],
            ),
            "streams[1].entries[0]: timestamp 9223372036854775807s 0ns is out of range",
        ),
    ];
    for (bad, want) in cases {
        let msg = logproto::PushRequest {
            streams: vec![ok.clone(), bad],
        };
        let err = decode_push(&snappy_message(&msg), None, None, MAX).unwrap_err();
        assert!(err.to_string().contains(want), "{err} does not contain {want}");
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn protobuf_rejects_bad_snappy_and_invalid_utf8() {
    let err = decode_push(b"not snappy at all", None, None, MAX).unwrap_err();
    assert!(err.to_string().starts_with("snappy: "), "{err}");
    // Field 1 (streams) holding field 1 (labels) with the bytes ff fe.
    let raw = [0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let err = decode_push(&body, None, None, MAX).unwrap_err();
    assert!(err.to_string().starts_with("protobuf: "), "{err}");
}

#[test]
fn json_errors_are_precise() {
    let cases = [
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[[1700000000000000000,"x"]]}]}"#,
            "streams[0].values[0][0]: timestamp must be a string of Unix nanoseconds, got a number",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"],["17e9","y"]]}]}"#,
            "streams[0].values[1][0]: timestamp \"17e9\" is not an integer number of nanoseconds",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1",2]]}]}"#,
            "streams[0].values[0][1]: line must be a string, got a number",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":1}]]}]}"#,
            "streams[0].values[0][2].\"k\": expected a string, got a number",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",["k"]]]}]}"#,
            "streams[0].values[0][2]: structured metadata must be an object of string values, got an array",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{},"extra"]]}]}"#,
            "streams[0].values[0]: expected 2 or 3 elements (timestamp, line, optional metadata), got 4",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#,
            "streams[0].values[0]: expected 2 or 3 elements",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":["1","x"]}]}"#,
            "streams[0].values[0]: expected an array",
        ),
        (
            r#"{"streams":[{"values":[]}]}"#,
            "streams[0].stream: a stream needs at least one label",
        ),
        (
            r#"{"streams":[{"stream":{"a-b":"c"}}]}"#,
            "streams[0].stream: invalid label name \"a-b\"",
        ),
        (
            r#"{"streams":[{"stream":{"a":3}}]}"#,
            "streams[0].stream.\"a\": expected a string, got a number",
        ),
        (
            r#"{"streams":[{"stream":{"a":"b"},"values":{}}]}"#,
            "streams[0].values: expected an array, got an object",
        ),
        (r#"{"streams":{}}"#, "streams: expected an array, got an object"),
        (r#"[]"#, "body: expected an object, got an array"),
        (r#"{"streams":["#, "json: EOF while parsing"),
    ];
    for (body, want) in cases {
        let msg = err_msg(json(body));
        assert!(msg.contains(want), "{body}: {msg:?} does not contain {want:?}");
    }
    // Invalid UTF-8 in a JSON body is a JSON error.
    let err = decode_push(
        b"{\"streams\":[{\"stream\":{\"a\":\"\xff\"}}]}",
        Some("application/json"),
        None,
        MAX,
    );
    assert!(err_msg(err).starts_with("json: "));
}

#[test]
fn limits_and_unsupported_encodings() {
    let big = format!(
        r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[["1","{}"]]}}]}}"#,
        "x".repeat(10_000)
    );
    let ct = Some("application/json");
    for (body, ce) in [
        (gzip(big.as_bytes()), Some("gzip")),
        (zstd::encode_all(big.as_bytes(), 1).unwrap(), Some("zstd")),
        (big.clone().into_bytes(), None),
    ] {
        let err = decode_push(&body, ct, ce, 1000).unwrap_err();
        assert_eq!(err.to_string(), "decompressed body exceeds the limit of 1000 bytes");
        assert_eq!(err.http_status(), 413);
        decode_push(&body, ct, ce, big.len()).unwrap();
    }
    let proto = encode_push_protobuf(&sample_request());
    let err = decode_push(&proto, None, None, 10).unwrap_err();
    assert!(matches!(err, Error::DecodedTooLarge { limit: 10 }), "{err}");

    let err = decode_push(b"{}", ct, Some("br"), MAX).unwrap_err();
    assert_eq!(err.to_string(), "unsupported content-encoding: br");
    assert_eq!(err.http_status(), 415);
    let err = decode_push(b"garbage", ct, Some("gzip"), MAX).unwrap_err();
    assert!(err.to_string().starts_with("gzip: "), "{err}");
    assert_eq!(err.http_status(), 400);
}

#[test]
fn parse_labels_syntax() {
    assert_eq!(
        parse_labels(r#"{job="x", a="b\"q"}"#).unwrap(),
        pairs(&[("a", "b\"q"), ("job", "x")])
    );
    assert_eq!(
        parse_labels(" { z = `raw\\n` ,a=\"\\u00e9\\x41\\101\\n\\t\\\\\", } ").unwrap(),
        pairs(&[("a", "éAA\n\t\\"), ("z", "raw\\n")])
    );
    assert_eq!(parse_labels(r#"{_a="日本"}"#).unwrap(), pairs(&[("_a", "日本")]));
    let bad = [
        (r#"{job="x""#, "expected ',' or '}', found end of input at offset 8"),
        (r#"{job!="x"}"#, "only `=` is allowed"),
        (r#"{job=~"x"}"#, "only `=` is allowed"),
        (r#"{1job="x"}"#, "invalid label name \"1job\""),
        (r#"{job="x"} extra"#, "unexpected 'e' after '}'"),
        (r#"{job="x\q"}"#, "unknown escape sequence \\q"),
        (r#"{job="\xff"}"#, "label value is not valid UTF-8"),
        (r#"{job="\ud800"}"#, "not a Unicode scalar value"),
        (r#"{job="\u12"}"#, "invalid escape sequence"),
        (r#"{job="unterminated}"#, "unterminated string at offset 5"),
        (r#"{a="1",a="1"}"#, "duplicate label name \"a\""),
        (r#"{a=""}"#, "at least one label"),
        (r#"job="x""#, "expected '{'"),
    ];
    for (input, want) in bad {
        let err = parse_labels(input).unwrap_err();
        assert!(matches!(err, Error::InvalidLabels(_)));
        assert!(err.to_string().contains(want), "{input}: {err} does not contain {want}");
    }
}

#[test]
fn format_labels_escapes() {
    let labels = pairs(&[("a", "q\"b\\s\n\t\u{1}é"), ("b", "")]);
    let text = format_labels(&labels);
    assert_eq!(text, "{a=\"q\\\"b\\\\s\\n\\t\\u0001é\", b=\"\"}");
    assert_eq!(parse_labels(&text).unwrap(), labels[..1].to_vec());
}

#[test]
fn label_name_sanitizing() {
    assert_eq!(sanitize_label_name("http.method").as_deref(), Some("http_method"));
    assert_eq!(sanitize_label_name("a..b/c").as_deref(), Some("a_b_c"));
    assert_eq!(sanitize_label_name("a__b").as_deref(), Some("a__b"));
    assert_eq!(sanitize_label_name("1st").as_deref(), Some("key_1st"));
    assert_eq!(sanitize_label_name("_x").as_deref(), Some("_x"));
    assert_eq!(sanitize_label_name("..."), None);
    assert_eq!(sanitize_label_name(""), None);
    assert!(is_valid_label_name("_a1") && !is_valid_label_name("") && !is_valid_label_name("a-b"));
}

#[test]
fn service_name_defaulting() {
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("app", "a"), ("service_name", "given")], "given"),
        (&[("app", "a"), ("job", "j")], "a"),
        (&[("container", "c"), ("job", "j"), ("name", "n")], "n"),
        (&[("app", ""), ("job", "j")], "j"),
        (&[("foo", "bar")], "unknown_service"),
        (&[("k8s_container_name", "k"), ("service_name", "")], "k"),
    ];
    for (input, want) in cases {
        let mut labels = pairs(input);
        ensure_service_name(&mut labels);
        let got: Vec<_> = labels.iter().filter(|(n, _)| n == "service_name").collect();
        assert_eq!(got.len(), 1, "{labels:?}");
        assert_eq!(got[0].1, want);
        assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "not sorted: {labels:?}");
    }
}

#[test]
fn level_from_labels_metadata_and_severity_number() {
    let none: &[(String, String)] = &[];
    assert_eq!(detect_level(&pairs(&[("level", "WARNING")]), none, "error: x"), "warn");
    assert_eq!(
        detect_level(&pairs(&[("lvl", "dbg"), ("severity", "Error")]), none, ""),
        "error"
    );
    assert_eq!(detect_level(&pairs(&[("level", "notice")]), none, "info"), "unknown");
    assert_eq!(
        detect_level(none, &pairs(&[("severity_text", "Information")]), ""),
        "info"
    );
    assert_eq!(
        detect_level(none, &pairs(&[("log.level", "crit"), ("LEVEL", "fatal")]), ""),
        "fatal"
    );
    // Labels win over metadata.
    assert_eq!(
        detect_level(&pairs(&[("level", "trc")]), &pairs(&[("level", "error")]), ""),
        "trace"
    );
    for (n, want) in [
        ("0", "unknown"),
        ("1", "trace"),
        ("8", "debug"),
        ("9", "info"),
        ("13", "warn"),
        ("20", "error"),
        ("24", "fatal"),
        ("25", "unknown"),
        ("x", "info"),
    ] {
        assert_eq!(
            detect_level(none, &pairs(&[("severity_number", n)]), "ERROR"),
            want,
            "{n}"
        );
    }
}

#[test]
fn level_from_the_line() {
    let none: &[(String, String)] = &[];
    let cases = [
        (r#"{"level":"ERR","msg":"x"}"#, "error"),
        (r#"  {"msg":"info please","severity":"warning"} "#, "warn"),
        (r#"{"log":{"level":"debug"}}"#, "debug"),
        // Two levels deep is past Loki's default search depth.
        (r#"{"a":{"b":{"level":"fatal"}}}"#, "unknown"),
        (r#"{"level":5,"msg":"x"}"#, "unknown"),
        (r#"{"level":"weird","msg":"[ERROR] x"}"#, "error"),
        (r#"{"msg":"Level"}"#, "unknown"),
        ("ts=1 msg=\"hello world\" level=warn", "warn"),
        ("ts=1 LVL=info Level=error", "error"),
        ("ts=1 severity=critical", "critical"),
        ("a=b c=d", "unknown"),
        ("2024 [INFO] started", "info"),
        ("something err: failed", "error"),
        ("disk ERROR while writing", "unknown"),
        ("WARNING: low disk", "warn"),
        ("CRITICAL: db down", "critical"),
        ("DEBUG something", "debug"),
        ("plain line", "unknown"),
        ("", "unknown"),
    ];
    for (line, want) in cases {
        assert_eq!(detect_level(none, none, line), want, "{line}");
    }
}

#[test]
fn enrich_adds_service_name_and_detected_level() {
    let mut req = sample_request();
    req.streams[0].entries[1]
        .structured_metadata
        .push(("detected_level".into(), "WARNING".into()));
    req.enrich();
    let s = &req.streams[0];
    assert_eq!(
        s.labels,
        pairs(&[("env", "prod"), ("job", "api"), ("service_name", "api")])
    );
    assert_eq!(
        s.entries[0].structured_metadata,
        pairs(&[("detected_level", "unknown")])
    );
    assert_eq!(
        s.entries[1].structured_metadata.last(),
        Some(&("detected_level".to_string(), "warn".to_string()))
    );
    assert_eq!(req.streams[1].labels, pairs(&[("job", "db"), ("service_name", "db")]));
}

#[test]
fn trace_and_span_ids() {
    let none: &[(String, String)] = &[];
    let tid = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(
        extract_trace_id("x", &pairs(&[("trace_id", &tid.to_uppercase())])).as_deref(),
        Some(tid)
    );
    assert_eq!(
        extract_trace_id("x", &pairs(&[("traceID", "abc")])).as_deref(),
        Some("00000000000000000000000000000abc")
    );
    // A bad metadata value does not hide a good line field.
    assert_eq!(
        extract_trace_id(&format!(r#"{{"traceId":"{tid}"}}"#), &pairs(&[("trace_id", "zz")])).as_deref(),
        Some(tid)
    );
    assert_eq!(
        extract_trace_id(&format!(r#"{{"x":{{"trace_id":"{tid}"}}}}"#), none),
        None
    );
    assert_eq!(
        extract_trace_id(&format!("level=info trace_id={tid} msg=x"), none).as_deref(),
        Some(tid)
    );
    assert_eq!(
        extract_trace_id(&format!("level=info traceID=\"{tid}\""), none).as_deref(),
        Some(tid)
    );
    assert_eq!(
        extract_trace_id("trace_id=00000000000000000000000000000000", none),
        None
    );
    assert_eq!(extract_trace_id(&format!("trace_id={tid}0"), none), None);
    assert_eq!(extract_trace_id(&format!("no fields {tid}"), none), None);
    // A key spelled with a JSON escape is still found (the fast path only skips lines that
    // can hold no key).
    assert_eq!(
        extract_trace_id(&format!(r#"{{"trace\u005fid":"{tid}"}}"#), none).as_deref(),
        Some(tid)
    );
    assert_eq!(
        extract_span_id("span_id=00F067AA0BA902B7", none).as_deref(),
        Some("00f067aa0ba902b7")
    );
    assert_eq!(
        extract_span_id(r#"{"spanID":"f067aa0ba902b7"}"#, none).as_deref(),
        Some("00f067aa0ba902b7")
    );
    let entry = PushEntry {
        ts_ns: 0,
        line: format!("trace_id={tid} span_id=1"),
        structured_metadata: vec![],
    };
    assert_eq!(entry.trace_id().as_deref(), Some(tid));
    assert_eq!(entry.span_id().as_deref(), Some("0000000000000001"));
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        "[\"\\\\`'{}=, ]{1,6}",
        "\\PC{1,12}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn push_request() -> impl Strategy<Value = PushRequest> {
    let labels = prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", label_value(), 1..5)
        .prop_map(|m| m.into_iter().collect::<Vec<_>>());
    let metadata = prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", any::<String>()), 0..3);
    let entry = (any::<i64>(), any::<String>(), metadata).prop_map(|(ts_ns, line, structured_metadata)| PushEntry {
        ts_ns,
        line,
        structured_metadata,
    });
    let stream =
        (labels, prop::collection::vec(entry, 0..4)).prop_map(|(labels, entries)| PushStream { labels, entries });
    prop::collection::vec(stream, 0..4).prop_map(|streams| PushRequest { streams })
}

proptest! {
    #[test]
    fn encode_decode_round_trip(req in push_request()) {
        let body = encode_push_protobuf(&req);
        prop_assert_eq!(decode_push(&body, None, None, MAX).unwrap(), req.clone());
        let labels_text: Vec<String> = req.streams.iter().map(|s| format_labels(&s.labels)).collect();
        for (s, text) in req.streams.iter().zip(&labels_text) {
            prop_assert_eq!(&parse_labels(text).unwrap(), &s.labels);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        ct in prop::sample::select(vec![None, Some("application/json"), Some("application/x-protobuf")]),
        ce in prop::sample::select(vec![None, Some("gzip"), Some("deflate"), Some("zstd"), Some("snappy")]),
    ) {
        let _ = decode_push(&body, ct, ce, 4096);
    }

    #[test]
    fn arbitrary_snappy_payloads_never_panic(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
        let _ = decode_push(&body, None, None, 4096);
    }

    #[test]
    fn arbitrary_label_text_never_panics(s in "\\PC{0,40}|[{}\"\\\\=,a-z`ux0-9 ]{0,40}") {
        let _ = parse_labels(&s);
    }

    #[test]
    fn arbitrary_lines_never_panic(line in "\\PC{0,80}|[{}\":=a-z ,\\[\\]\\\\]{0,80}") {
        let none: &[(String, String)] = &[];
        let _ = detect_level(none, none, &line);
        let _ = extract_trace_id(&line, none);
        let _ = extract_span_id(&line, none);
    }
}
