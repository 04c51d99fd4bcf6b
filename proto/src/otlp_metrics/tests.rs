use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    exemplar, metric::Data, number_data_point, summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::OtlpEncoding;

const T_NS: u64 = 1_700_000_000_123_456_789;
const T_MS: i64 = 1_700_000_000_123;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        description: format!("help of {name}"),
        data: Some(data),
        ..Default::default()
    }
}

fn number(v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: T_NS,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn sum(points: Vec<NumberDataPoint>, monotonic: bool, temporality: AggregationTemporality) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality as i32,
        is_monotonic: monotonic,
    })
}

/// `name{labels}` of every series with its first sample value, sorted.
fn rendered(b: &MetricsBatch) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = b
        .series
        .iter()
        .map(|s| {
            let name = s
                .labels
                .iter()
                .find(|(n, _)| n == "__name__")
                .map_or("", |(_, v)| v.as_str());
            let rest: Vec<String> = s
                .labels
                .iter()
                .filter(|(n, _)| n != "__name__")
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect();
            (format!("{name}{{{}}}", rest.join(",")), s.samples[0].1)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn metric_names_follow_prometheus() {
    let cases = [
        (
            "http.server.request.duration",
            "s",
            NameKind::Distribution,
            "http_server_request_duration_seconds",
        ),
        ("requests", "1", NameKind::Counter, "requests_total"),
        ("requests", "{request}", NameKind::Counter, "requests_total"),
        ("requests_total", "", NameKind::Counter, "requests_total"),
        ("total.requests", "", NameKind::Counter, "requests_total"),
        (
            "system.memory.usage",
            "By",
            NameKind::Gauge,
            "system_memory_usage_bytes",
        ),
        ("cpu.utilization", "1", NameKind::Gauge, "cpu_utilization_ratio"),
        ("queue.items", "1", NameKind::UpDownSum, "queue_items"),
        ("network.io", "By/s", NameKind::Gauge, "network_io_bytes_per_second"),
        ("latency_seconds", "s", NameKind::Distribution, "latency_seconds"),
        ("foo__bar..baz", "ms", NameKind::Gauge, "foo_bar_baz_milliseconds"),
        ("2xx.responses", "", NameKind::Counter, "_2xx_responses_total"),
        ("temp", "Cel", NameKind::Gauge, "temp_celsius"),
        ("disk.free", "%", NameKind::Gauge, "disk_free_percent"),
        ("custom", "widgets", NameKind::Gauge, "custom_widgets"),
        ("a:b", "", NameKind::Gauge, "a:b"),
    ];
    for (name, unit, kind, want) in cases {
        assert_eq!(metric_name(name, unit, kind), want, "{name} [{unit}] {kind:?}");
    }
    assert_eq!(prometheus_unit("s"), "seconds");
    assert_eq!(prometheus_unit("By/s"), "bytes_per_second");
    assert_eq!(prometheus_unit("{request}"), "");
}

#[test]
fn label_names_are_sanitized() {
    assert_eq!(label_name("http.method"), "http_method");
    assert_eq!(label_name("k8s-pod/name"), "k8s_pod_name");
    assert_eq!(label_name("0abc"), "key_0abc");
    assert_eq!(label_name("_private"), "key_private");
    assert_eq!(label_name("__reserved"), "__reserved");
    assert_eq!(label_name("ünïcode"), "key_n_code");
}

#[test]
fn counter_gauge_and_resource_mapping() {
    let req = request(
        vec![
            kv("service.name", "shop"),
            kv("service.namespace", "prod"),
            kv("service.instance.id", "pod-1"),
            kv("host.name", "h1"),
        ],
        vec![
            metric(
                "requests",
                "{request}",
                sum(
                    vec![number(7.0, vec![kv("http.method", "GET"), kv("job", "overridden")])],
                    true,
                    AggregationTemporality::Cumulative,
                ),
            ),
            metric(
                "queue.depth",
                "",
                sum(vec![number(-3.0, vec![])], false, AggregationTemporality::Cumulative),
            ),
            metric(
                "cpu.utilization",
                "1",
                Data::Gauge(Gauge {
                    data_points: vec![number(0.25, vec![])],
                }),
            ),
        ],
    );
    let b = translate_metrics(&req);
    assert_eq!(b.accepted_points, 3);
    assert_eq!(b.rejected_points, 0);
    assert_eq!(
        rendered(&b),
        vec![
            (
                "cpu_utilization_ratio{instance=\"pod-1\",job=\"prod/shop\"}".to_owned(),
                0.25
            ),
            ("queue_depth{instance=\"pod-1\",job=\"prod/shop\"}".to_owned(), -3.0),
            (
                "requests_total{http_method=\"GET\",instance=\"pod-1\",job=\"prod/shop\"}".to_owned(),
                7.0
            ),
            (
                "target_info{host_name=\"h1\",instance=\"pod-1\",job=\"prod/shop\"}".to_owned(),
                1.0
            ),
        ]
    );
    assert!(b.series.iter().all(|s| s.samples == vec![(T_MS, s.samples[0].1)]));
    let kinds: Vec<_> = b.metadata.iter().map(|m| (m.metric_family.as_str(), m.kind)).collect();
    assert!(kinds.contains(&("requests_total", MetricKind::Counter)));
    assert!(kinds.contains(&("queue_depth", MetricKind::Gauge)));
    assert!(kinds.contains(&("target_info", MetricKind::Gauge)));
    // Labels are sorted and unique.
    for s in &b.series {
        assert!(s.labels.windows(2).all(|w| w[0].0 < w[1].0), "{:?}", s.labels);
    }
}

#[test]
fn no_target_info_without_extra_resource_attributes() {
    let req = request(
        vec![kv("service.name", "svc")],
        vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![number(1.0, vec![])],
            }),
        )],
    );
    assert_eq!(
        rendered(&translate_metrics(&req)),
        vec![("g{job=\"svc\"}".to_owned(), 1.0)]
    );
}

#[test]
fn colliding_attributes_are_joined() {
    let req = request(
        vec![],
        vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![number(1.0, vec![kv("a.b", "2"), kv("a_b", "1"), kv("empty", "")])],
            }),
        )],
    );
    assert_eq!(
        rendered(&translate_metrics(&req)),
        vec![("g{a_b=\"2;1\"}".to_owned(), 1.0)]
    );
}

#[test]
fn histogram_becomes_classic_buckets() {
    let ex = Exemplar {
        time_unix_nano: T_NS,
        trace_id: vec![0xab; 16],
        span_id: vec![0x01; 8],
        value: Some(exemplar::Value::AsDouble(0.3)),
        filtered_attributes: vec![kv("user.id", "u1")],
    };
    let req = request(
        vec![kv("service.name", "api")],
        vec![metric(
            "latency",
            "s",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: T_NS,
                    count: 6,
                    sum: Some(2.5),
                    bucket_counts: vec![1, 2, 3],
                    explicit_bounds: vec![0.1, 0.5],
                    exemplars: vec![ex],
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    let b = translate_metrics(&req);
    assert_eq!(
        rendered(&b),
        vec![
            ("latency_seconds_bucket{job=\"api\",le=\"+Inf\"}".to_owned(), 6.0),
            ("latency_seconds_bucket{job=\"api\",le=\"0.1\"}".to_owned(), 1.0),
            ("latency_seconds_bucket{job=\"api\",le=\"0.5\"}".to_owned(), 3.0),
            ("latency_seconds_count{job=\"api\"}".to_owned(), 6.0),
            ("latency_seconds_sum{job=\"api\"}".to_owned(), 2.5),
        ]
    );
    let with_ex: Vec<_> = b.series.iter().filter(|s| !s.exemplars.is_empty()).collect();
    assert_eq!(with_ex.len(), 1);
    assert!(with_ex[0].labels.contains(&("le".to_owned(), "0.5".to_owned())));
    let e = &with_ex[0].exemplars[0];
    assert_eq!(e.value, 0.3);
    assert_eq!(e.timestamp, Some(T_MS));
    assert_eq!(
        e.labels,
        vec![
            ("span_id".to_owned(), "0101010101010101".to_owned()),
            ("trace_id".to_owned(), "ab".repeat(16)),
            ("user_id".to_owned(), "u1".to_owned()),
        ]
    );
    assert_eq!(b.metadata[0].metric_family, "latency_seconds");
    assert_eq!(b.metadata[0].kind, MetricKind::Histogram);
    assert_eq!(b.metadata[0].unit, "seconds");
}

#[test]
fn summary_becomes_quantiles() {
    let req = request(
        vec![],
        vec![metric(
            "rpc.duration",
            "ms",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: T_NS,
                    count: 4,
                    sum: 10.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 2.0,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 5.0,
                        },
                    ],
                    ..Default::default()
                }],
            }),
        )],
    );
    assert_eq!(
        rendered(&translate_metrics(&req)),
        vec![
            ("rpc_duration_milliseconds_count{}".to_owned(), 4.0),
            ("rpc_duration_milliseconds_sum{}".to_owned(), 10.0),
            ("rpc_duration_milliseconds{quantile=\"0.5\"}".to_owned(), 2.0),
            ("rpc_duration_milliseconds{quantile=\"0.99\"}".to_owned(), 5.0),
        ]
    );
}

#[test]
fn delta_and_exponential_are_rejected() {
    let req = request(
        vec![],
        vec![
            metric(
                "d",
                "",
                sum(
                    vec![number(1.0, vec![]), number(2.0, vec![])],
                    true,
                    AggregationTemporality::Delta,
                ),
            ),
            metric(
                "e",
                "",
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint::default()],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            metric(
                "ok",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![number(1.0, vec![])],
                }),
            ),
        ],
    );
    let b = translate_metrics(&req);
    assert_eq!(b.rejected_points, 3);
    assert_eq!(b.accepted_points, 1);
    let msg = b.first_rejection.unwrap();
    assert!(msg.contains("delta") && msg.contains("cumulative"), "{msg}");
    assert_eq!(rendered(&translate_metrics(&req)), vec![("ok{}".to_owned(), 1.0)]);
}

#[test]
fn malformed_points_are_rejected() {
    let mut no_value = number(1.0, vec![]);
    no_value.value = None;
    let req = request(
        vec![],
        vec![
            metric(
                "g",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![no_value],
                }),
            ),
            metric(
                "h",
                "",
                Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        bucket_counts: vec![1, 2],
                        explicit_bounds: vec![1.0, 2.0],
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            metric(
                "...",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![number(1.0, vec![])],
                }),
            ),
        ],
    );
    let b = translate_metrics(&req);
    assert_eq!((b.accepted_points, b.rejected_points), (0, 3));
    assert!(rendered(&b).is_empty());
}

#[test]
fn histogram_buckets_must_match_bounds() {
    let hist = |counts: Vec<u64>, bounds: Vec<f64>| {
        request(
            vec![],
            vec![metric(
                "h",
                "",
                Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        count: counts.iter().sum(),
                        bucket_counts: counts,
                        explicit_bounds: bounds,
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            )],
        )
    };
    for (counts, bounds, want) in [
        (
            vec![1, 2],
            vec![1.0, 2.0],
            "2 bucket counts for 2 explicit bounds; expected 3",
        ),
        (
            vec![1, 2, 3, 4],
            vec![1.0, 2.0],
            "4 bucket counts for 2 explicit bounds",
        ),
        (vec![], vec![1.0], "1 explicit bounds but no bucket counts"),
        (vec![1, 2, 3], vec![2.0, 1.0], "strictly increasing"),
        (vec![1, 2], vec![f64::NAN], "must not be NaN"),
    ] {
        let b = translate_metrics(&hist(counts.clone(), bounds.clone()));
        assert_eq!((b.accepted_points, b.rejected_points), (0, 1), "{counts:?} {bounds:?}");
        let msg = b.first_rejection.unwrap();
        assert!(msg.contains("metric \"h\"") && msg.contains(want), "{msg}");
        assert!(b.series.is_empty());
    }
    // Matching shapes, including no buckets at all, are accepted.
    for (counts, bounds) in [(vec![1, 2, 3], vec![1.0, 2.0]), (vec![], vec![]), (vec![4], vec![])] {
        let b = translate_metrics(&hist(counts, bounds));
        assert_eq!((b.accepted_points, b.rejected_points), (1, 0));
    }
}

#[test]
fn no_recorded_value_is_a_stale_marker() {
    let mut p = number(5.0, vec![]);
    p.flags = 1;
    let req = request(
        vec![],
        vec![metric("g", "", Data::Gauge(Gauge { data_points: vec![p] }))],
    );
    let b = translate_metrics(&req);
    assert_eq!(b.series[0].samples[0].1.to_bits(), STALE_NAN_BITS);
}

#[test]
fn attribute_values_render_like_prometheus() {
    let v = |value| value_string(Some(&AnyValue { value: Some(value) }));
    assert_eq!(v(any_value::Value::IntValue(-4)), "-4");
    assert_eq!(v(any_value::Value::BoolValue(true)), "true");
    assert_eq!(v(any_value::Value::DoubleValue(1.5)), "1.5");
    assert_eq!(v(any_value::Value::BytesValue(b"hello".to_vec())), "aGVsbG8=");
    assert_eq!(v(any_value::Value::BytesValue(b"ab".to_vec())), "YWI=");
    assert_eq!(v(any_value::Value::BytesValue(b"abc".to_vec())), "YWJj");
}

#[test]
fn json_and_protobuf_decode_the_same() {
    let json = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"js"}}]},
        "scopeMetrics":[{"metrics":[{"name":"hits","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
        "dataPoints":[{"timeUnixNano":"1700000000123456789","asInt":"3","unknownField":1,
        "exemplars":[{"timeUnixNano":"1700000000123456789","asDouble":1,"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"}]}]}}]}]}]}"#;
    let from_json = decode_and_translate(json, OtlpEncoding::Json).unwrap();
    assert_eq!(rendered(&from_json), vec![("hits_total{job=\"js\"}".to_owned(), 3.0)]);
    assert_eq!(
        from_json.series[0].exemplars[0].labels,
        vec![
            ("span_id".to_owned(), "eee19b7ec3c1b174".to_owned()),
            ("trace_id".to_owned(), "5b8efff798038103d269b633813fc60c".to_owned()),
        ]
    );
    let req: ExportMetricsServiceRequest = OtlpEncoding::Json.decode(json).unwrap();
    let from_pb = decode_and_translate(&req.encode_to_vec(), OtlpEncoding::Protobuf).unwrap();
    assert_eq!(from_pb, from_json);
    assert!(decode_and_translate(b"{not json", OtlpEncoding::Json).is_err());
    assert!(decode_and_translate(b"\xff\xff\xff", OtlpEncoding::Protobuf).is_err());
}

#[test]
fn encodings_and_status() {
    assert_eq!(
        OtlpEncoding::from_content_type("Application/JSON; charset=utf-8"),
        Some(OtlpEncoding::Json)
    );
    assert_eq!(
        OtlpEncoding::from_content_type("application/x-protobuf"),
        Some(OtlpEncoding::Protobuf)
    );
    assert_eq!(OtlpEncoding::from_content_type("text/plain"), None);
    let st = crate::RpcStatus {
        code: 3,
        message: "bad".into(),
    };
    assert_eq!(st.encode(OtlpEncoding::Json), br#"{"code":3,"message":"bad"}"#);
    assert_eq!(
        crate::RpcStatus::decode(&st.encode(OtlpEncoding::Protobuf)[..]).unwrap(),
        st
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_and_translate(&body, OtlpEncoding::Protobuf);
        let _ = decode_and_translate(&body, OtlpEncoding::Json);
    }

    #[test]
    fn arbitrary_names_give_valid_prometheus_names(name in "\\PC{0,24}", unit in "\\PC{0,8}") {
        for kind in [NameKind::Counter, NameKind::Gauge, NameKind::UpDownSum, NameKind::Distribution] {
            let n = metric_name(&name, &unit, kind);
            prop_assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "{n}");
            prop_assert!(!n.starts_with(|c: char| c.is_ascii_digit()), "{n}");
        }
        let l = label_name(&name);
        prop_assert!(l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{l}");
        prop_assert!(!l.starts_with(|c: char| c.is_ascii_digit()), "{l}");
    }
}
