//! Tests of OTLP logs decoding and translation.
//!
//! Expected labels and metadata follow Loki's documentation, "Ingesting logs to Loki using
//! OpenTelemetry Collector" → "Format considerations" (index labels from the default
//! resource attribute list with `.` replaced by `_`; everything else, including
//! `severity_text`, `severity_number`, `trace_id`, `span_id`, `observed_timestamp`, scope
//! name/version/attributes, as structured metadata; the line is the stringified body) and
//! the order of `pkg/loghttp/push/otlp.go`.

use std::io::Write;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message;

use super::*;

const NOW: i64 = 1_800_000_000_000_000_000;
const TRACE: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const SPAN: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn v(value: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn s(x: &str) -> Option<AnyValue> {
    v(Value::StringValue(x.into()))
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        ..Default::default()
    }
}

fn realistic_request() -> ExportLogsServiceRequest {
    let resource = Resource {
        attributes: vec![
            kv("service.name", s("checkout")),
            kv("service.namespace", s("shop")),
            kv("k8s.namespace.name", s("prod")),
            kv("k8s.pod.name", s("checkout-7d9f-abc")),
            kv("k8s.container.name", s("app")),
            kv("host.name", s("node-1")),
            kv("process.pid", v(Value::IntValue(4242))),
        ],
        ..Default::default()
    };
    let scope = InstrumentationScope {
        name: "io.opentelemetry.logback".into(),
        version: "2.1.0".into(),
        attributes: vec![kv("lib.kind", s("appender"))],
        ..Default::default()
    };
    let records = vec![
        LogRecord {
            time_unix_nano: 1_700_000_000_000_000_001,
            observed_time_unix_nano: 1_700_000_000_500_000_000,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: s("payment failed"),
            attributes: vec![
                kv("http.request.method", s("POST")),
                kv(
                    "http",
                    v(Value::KvlistValue(KeyValueList {
                        values: vec![
                            kv("status_code", v(Value::IntValue(502))),
                            kv("retry", v(Value::BoolValue(true))),
                        ],
                    })),
                ),
            ],
            flags: 1,
            trace_id: TRACE.to_vec(),
            span_id: SPAN.to_vec(),
            ..Default::default()
        },
        // No timestamps at all: "now"; a map body becomes JSON.
        LogRecord {
            body: v(Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("msg", s("a<b")),
                    kv("level", s("warn")),
                    kv("n", v(Value::DoubleValue(1.5))),
                ],
            })),
            ..Default::default()
        },
        // Only the observed time: it is the timestamp, and no observed_timestamp metadata.
        LogRecord {
            observed_time_unix_nano: 1_700_000_000_000_000_003,
            severity_number: 9,
            body: v(Value::IntValue(7)),
            ..Default::default()
        },
    ];
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn realistic_request_translates_like_loki() {
    let req = translate_logs(&realistic_request(), NOW);
    assert_eq!(req.streams.len(), 1);
    let stream = &req.streams[0];
    assert_eq!(
        stream.labels,
        pairs(&[
            ("k8s_container_name", "app"),
            ("k8s_namespace_name", "prod"),
            ("k8s_pod_name", "checkout-7d9f-abc"),
            ("service_name", "checkout"),
            ("service_namespace", "shop"),
        ])
    );
    let resource_and_scope = [
        ("host_name", "node-1"),
        ("process_pid", "4242"),
        ("lib_kind", "appender"),
        ("scope_name", "io.opentelemetry.logback"),
        ("scope_version", "2.1.0"),
    ];

    let e = &stream.entries[0];
    assert_eq!(e.ts_ns, 1_700_000_000_000_000_001);
    assert_eq!(e.line, "payment failed");
    let mut want = pairs(&[
        ("http_request_method", "POST"),
        ("http_status_code", "502"),
        ("http_retry", "true"),
        ("observed_timestamp", "1700000000500000000"),
        ("severity_number", "17"),
        ("severity_text", "ERROR"),
        ("flags", "1"),
        ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("span_id", "00f067aa0ba902b7"),
    ]);
    want.extend(pairs(&resource_and_scope));
    want.push(("detected_level".into(), "error".into()));
    assert_eq!(e.structured_metadata, want);
    assert_eq!(e.trace_id().as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(e.span_id().as_deref(), Some("00f067aa0ba902b7"));

    let e = &stream.entries[1];
    assert_eq!(e.ts_ns, NOW);
    assert_eq!(e.line, r#"{"level":"warn","msg":"a\u003cb","n":1.5}"#);
    let mut want = pairs(&resource_and_scope);
    want.push(("detected_level".into(), "warn".into()));
    assert_eq!(e.structured_metadata, want);

    let e = &stream.entries[2];
    assert_eq!(e.ts_ns, 1_700_000_000_000_000_003);
    assert_eq!(e.line, "7");
    let mut want = pairs(&[("severity_number", "9")]);
    want.extend(pairs(&resource_and_scope));
    want.push(("detected_level".into(), "info".into()));
    assert_eq!(e.structured_metadata, want);
}

#[test]
fn records_group_into_streams_by_label_set() {
    let resource = |attrs: Vec<KeyValue>| ResourceLogs {
        resource: Some(Resource {
            attributes: attrs,
            ..Default::default()
        }),
        scope_logs: vec![ScopeLogs {
            log_records: vec![LogRecord {
                time_unix_nano: 1,
                body: s("x"),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![
            resource(vec![kv("service.name", s("a")), kv("host.name", s("h1"))]),
            resource(vec![kv("container.name", s("c"))]),
            resource(vec![kv("host.name", s("h2")), kv("service.name", s("a"))]),
            resource(vec![kv("service.name", s("")), kv("k8s.container.name", s("k"))]),
            resource(vec![kv("deployment.environment.name", s("prod"))]),
            resource(vec![]),
        ],
    };
    let out = translate_logs(&req, NOW);
    let labels: Vec<_> = out
        .streams
        .iter()
        .map(|s| (s.labels.clone(), s.entries.len()))
        .collect();
    assert_eq!(
        labels,
        vec![
            (pairs(&[("service_name", "a")]), 2),
            (pairs(&[("container_name", "c"), ("service_name", "c")]), 1),
            (pairs(&[("k8s_container_name", "k"), ("service_name", "k")]), 1),
            (
                pairs(&[
                    ("deployment_environment_name", "prod"),
                    ("service_name", "unknown_service")
                ]),
                1
            ),
            (pairs(&[("service_name", "unknown_service")]), 1),
        ]
    );
    assert_eq!(
        out.streams[0].entries[1].structured_metadata[0],
        ("host_name".to_string(), "h2".to_string())
    );
}

#[test]
fn body_kinds_render_like_loki() {
    let render = |value: Option<AnyValue>| {
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        body: value,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        translate_logs(&req, NOW).streams[0].entries[0].line.clone()
    };
    let arr = |items: Vec<Option<AnyValue>>| {
        v(Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(|i| i.unwrap_or_default()).collect(),
        }))
    };
    let cases: Vec<(Option<AnyValue>, &str)> = vec![
        (None, ""),
        (Some(AnyValue { value: None }), ""),
        (s("plain \"text\""), "plain \"text\""),
        (v(Value::BoolValue(false)), "false"),
        (v(Value::IntValue(-42)), "-42"),
        (v(Value::DoubleValue(0.1)), "0.1"),
        (v(Value::DoubleValue(100.0)), "100"),
        (v(Value::DoubleValue(1e21)), "1e+21"),
        (v(Value::DoubleValue(1.5e-7)), "1.5e-7"),
        (v(Value::DoubleValue(f64::NAN)), "json: unsupported value: NaN"),
        (
            v(Value::DoubleValue(f64::NEG_INFINITY)),
            "json: unsupported value: -Inf",
        ),
        (v(Value::BytesValue(b"hello!?".to_vec())), "aGVsbG8hPw=="),
        (
            arr(vec![
                s("a&b"),
                v(Value::IntValue(1)),
                None,
                v(Value::BytesValue(vec![0xff])),
                s("\u{1}\n"),
            ]),
            r#"["a\u0026b",1,null,"/w==","\u0001\n"]"#,
        ),
        (
            v(Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("z", s("last")),
                    kv("a", arr(vec![v(Value::BoolValue(true))])),
                    kv("z", s("wins")),
                ],
            })),
            r#"{"a":[true],"z":"wins"}"#,
        ),
        (arr(vec![v(Value::DoubleValue(f64::INFINITY))]), ""),
    ];
    for (value, want) in cases {
        assert_eq!(render(value.clone()), want, "{value:?}");
    }
}

#[test]
fn attribute_edge_cases() {
    let record = LogRecord {
        time_unix_nano: u64::MAX,
        attributes: vec![
            kv("", s("dropped: no name")),
            kv("...", s("dropped too")),
            kv("1st.try", s("x")),
            kv("event_name", s("attr loses to the field")),
            kv(
                "tags",
                v(Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue("t".into())),
                    }],
                })),
            ),
        ],
        event_name: "checkout.done".into(),
        trace_id: vec![0; 16],
        dropped_attributes_count: 2,
        ..Default::default()
    };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = translate_logs(&req, NOW);
    let e = &out.streams[0].entries[0];
    assert_eq!(e.ts_ns, i64::MAX);
    assert_eq!(
        e.structured_metadata,
        pairs(&[
            ("key_1st_try", "x"),
            ("tags", r#"["t"]"#),
            ("dropped_attributes_count", "2"),
            ("event_name", "checkout.done"),
            ("detected_level", "unknown"),
        ])
    );
}

#[test]
fn decode_protobuf_json_gzip_and_zstd() {
    let req = realistic_request();
    let proto = req.encode_to_vec();
    assert_eq!(decode_logs_request(&proto, None, None, 1 << 20).unwrap(), req);
    assert_eq!(
        decode_logs_request(&proto, Some("application/x-protobuf"), None, 1 << 20).unwrap(),
        req
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&proto).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(decode_logs_request(&gz, None, Some("gzip"), 1 << 20).unwrap(), req);
    let zs = zstd::encode_all(&proto[..], 1).unwrap();
    assert_eq!(decode_logs_request(&zs, None, Some("zstd"), 1 << 20).unwrap(), req);

    // OTLP JSON: hex trace ids, int64 as strings, enums as integers.
    let json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":13,
        "body":{"stringValue":"slow"},"traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"00f067aa0ba902b7"}]}]}]}"#;
    let decoded = decode_logs_request(json.as_bytes(), Some("application/json"), None, 1 << 20).unwrap();
    let out = translate_logs(&decoded, NOW);
    assert_eq!(out.streams[0].labels, pairs(&[("service_name", "api")]));
    assert_eq!(
        out.streams[0].entries[0].structured_metadata,
        pairs(&[
            ("severity_number", "13"),
            ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"),
            ("span_id", "00f067aa0ba902b7"),
            ("detected_level", "warn"),
        ])
    );

    let err = decode_logs_request(b"{}", Some("text/plain"), None, 100).unwrap_err();
    assert_eq!(
        (err.http_status(), err.to_string().as_str()),
        (415, "unsupported content-type: text/plain")
    );
    let err = decode_logs_request(b"{}", None, Some("snappy"), 100).unwrap_err();
    assert_eq!(err.http_status(), 415);
    let err = decode_logs_request(&gz, None, Some("gzip"), 10).unwrap_err();
    assert_eq!(err.http_status(), 413);
    let err = decode_logs_request(b"\xff\xff", None, None, 100).unwrap_err();
    assert!(err.to_string().starts_with("protobuf: "), "{err}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        json in any::<bool>(),
        ce in prop::sample::select(vec![None, Some("gzip"), Some("deflate"), Some("zstd")]),
    ) {
        let ct = if json { Some("application/json") } else { Some("application/x-protobuf") };
        if let Ok(req) = decode_logs_request(&body, ct, ce, 4096) {
            let _ = translate_logs(&req, NOW);
        }
    }
}
