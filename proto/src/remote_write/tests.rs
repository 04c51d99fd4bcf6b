use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::prompb::{Exemplar, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};

const LIMIT: usize = 32 << 20;

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn sample_v1() -> WriteRequest {
    WriteRequest {
        timeseries: vec![
            TimeSeries {
                labels: vec![label("__name__", "http_requests_total"), label("job", "api")],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 1_000,
                    },
                    Sample {
                        value: 2.5,
                        timestamp: 2_000,
                    },
                ],
                exemplars: vec![Exemplar {
                    labels: vec![label("trace_id", "abc")],
                    value: 0.5,
                    timestamp: 1_500,
                }],
                histograms: vec![],
            },
            TimeSeries {
                labels: vec![label("__name__", "latency_seconds"), label("job", "api")],
                samples: vec![],
                exemplars: vec![],
                histograms: vec![prompb::Histogram {
                    count: Some(prompb::histogram::Count::CountInt(3)),
                    sum: 1.5,
                    schema: 3,
                    positive_spans: vec![prompb::BucketSpan { offset: 0, length: 2 }],
                    positive_deltas: vec![1, 1],
                    timestamp: 2_000,
                    ..Default::default()
                }],
            },
        ],
        metadata: vec![MetricMetadata {
            r#type: prompb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: "http_requests".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        }],
    }
}

/// symbols: 0 "", 1 __name__, 2 up, 3 job, 4 api, 5 trace_id, 6 t1, 7 help, 8 seconds
fn sample_v2() -> write_v2::Request {
    let symbols = ["", "__name__", "up", "job", "api", "trace_id", "t1", "help", "seconds"];
    write_v2::Request {
        symbols: symbols.iter().map(|s| s.to_string()).collect(),
        timeseries: vec![write_v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![write_v2::Sample {
                value: 1.0,
                timestamp: 10,
                start_timestamp: 0,
            }],
            exemplars: vec![write_v2::Exemplar {
                labels_refs: vec![5, 6],
                value: 2.0,
                timestamp: 0,
            }],
            histograms: vec![write_v2::Histogram::default()],
            metadata: Some(write_v2::Metadata {
                r#type: write_v2::metadata::MetricType::Gauge as i32,
                help_ref: 7,
                unit_ref: 8,
            }),
            created_timestamp: 0,
        }],
    }
}

#[test]
fn v1_round_trip() {
    let req = sample_v1();
    let decoded = decode_v1(&encode_v1(&req), LIMIT).expect("decodes");
    assert_eq!(decoded, req);
}

#[test]
fn v2_round_trip() {
    let req = sample_v2();
    let decoded = decode_v2(&encode_v2(&req), LIMIT).expect("decodes");
    assert_eq!(decoded, req);
}

#[test]
fn flatten_v1_moves_everything() {
    let (series, metadata) = flatten_v1(sample_v1()).expect("flattens");
    assert_eq!(series.len(), 2);
    assert_eq!(
        series[0].labels,
        pairs(&[("__name__", "http_requests_total"), ("job", "api")])
    );
    assert_eq!(series[0].samples, vec![(1_000, 1.0), (2_000, 2.5)]);
    assert_eq!(
        series[0].exemplars,
        vec![DecodedExemplar {
            labels: pairs(&[("trace_id", "abc")]),
            value: 0.5,
            timestamp: Some(1_500),
        }]
    );
    assert_eq!(series[0].histograms, 0);
    assert_eq!(series[1].histograms, 1);
    assert!(series.iter().all(|s| s.metadata.is_none()));
    assert_eq!(
        metadata,
        vec![DecodedMetadata {
            metric_family: "http_requests".into(),
            kind: MetricKind::Counter,
            help: "Requests served.".into(),
            unit: String::new(),
        }]
    );
}

#[test]
fn flatten_v2_resolves_refs() {
    let series = flatten_v2(sample_v2()).expect("flattens");
    assert_eq!(series.len(), 1);
    let s = &series[0];
    assert_eq!(s.labels, pairs(&[("__name__", "up"), ("job", "api")]));
    assert_eq!(s.samples, vec![(10, 1.0)]);
    assert_eq!(s.histograms, 1);
    assert_eq!(s.exemplars[0].labels, pairs(&[("trace_id", "t1")]));
    assert_eq!(s.exemplars[0].timestamp, None);
    assert_eq!(
        s.metadata,
        Some(DecodedMetadata {
            metric_family: "up".into(),
            kind: MetricKind::Gauge,
            help: "help".into(),
            unit: "seconds".into(),
        })
    );
}

#[test]
fn flatten_v2_out_of_range_label_ref_names_series() {
    let mut req = sample_v2();
    let mut second = req.timeseries[0].clone();
    second.labels_refs = vec![1, 99];
    req.timeseries.push(second);
    let err = flatten_v2(req).expect_err("ref 99 is out of range");
    assert!(matches!(
        err,
        Error::SymbolOutOfRange {
            series: 1,
            reference: 99,
            symbols: 9,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "series 1: labels_refs reference 99 out of range (9 symbols)"
    );
    assert_eq!(err.http_status(), 400);
}

#[test]
fn flatten_v2_odd_label_refs() {
    let mut req = sample_v2();
    req.timeseries[0].labels_refs = vec![1, 2, 3];
    let err = flatten_v2(req).expect_err("odd length");
    assert_eq!(
        err.to_string(),
        "series 0: labels_refs has odd length 3, expected name/value pairs"
    );

    let mut req = sample_v2();
    req.timeseries[0].exemplars[0].labels_refs = vec![5];
    let err = flatten_v2(req).expect_err("odd exemplar refs");
    assert!(err.to_string().contains("exemplars[0].labels_refs"), "{err}");
}

#[test]
fn flatten_v2_bad_metadata_and_exemplar_refs() {
    let mut req = sample_v2();
    req.timeseries[0].exemplars[0].labels_refs = vec![5, 100];
    let err = flatten_v2(req).expect_err("bad exemplar ref");
    assert!(err.to_string().contains("exemplars[0].labels_refs reference 100"));

    let mut req = sample_v2();
    if let Some(m) = req.timeseries[0].metadata.as_mut() {
        m.unit_ref = 9;
    }
    let err = flatten_v2(req).expect_err("bad unit ref");
    assert_eq!(
        err.to_string(),
        "series 0: metadata.unit_ref reference 9 out of range (9 symbols)"
    );
}

#[test]
fn flatten_v2_metadata_absent_or_empty_is_none() {
    let mut req = sample_v2();
    req.timeseries[0].metadata = Some(write_v2::Metadata::default());
    let series = flatten_v2(req).expect("flattens");
    assert_eq!(series[0].metadata, None);

    let mut req = sample_v2();
    req.timeseries[0].metadata = None;
    assert_eq!(flatten_v2(req).expect("flattens")[0].metadata, None);

    // No symbols at all: a label-less series with default metadata refs.
    let req = write_v2::Request {
        symbols: vec![],
        timeseries: vec![write_v2::TimeSeries {
            metadata: Some(write_v2::Metadata {
                r#type: write_v2::metadata::MetricType::Counter as i32,
                help_ref: 0,
                unit_ref: 0,
            }),
            ..Default::default()
        }],
    };
    let series = flatten_v2(req).expect("ref 0 into an empty table is empty");
    let meta = series[0].metadata.clone().expect("has a type");
    assert_eq!((meta.kind, meta.help.as_str()), (MetricKind::Counter, ""));
    assert_eq!(meta.metric_family, "");
}

#[test]
fn flatten_v2_refuses_nonempty_first_symbol() {
    let mut req = sample_v2();
    req.symbols[0] = "x".into();
    let err = flatten_v2(req).expect_err("symbols[0] must be empty");
    assert!(
        err.to_string()
            .contains("symbols[0] must be the empty string, got \"x\""),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);
}

#[test]
fn decode_errors_say_what_was_wrong() {
    let err = decode_v1(b"\xff\xff\xff\xff\xff\xff", LIMIT).expect_err("not snappy");
    assert!(err.to_string().starts_with("snappy: corrupt input"), "{err}");
    let err = decode_v1(b"\x05\x00", LIMIT).expect_err("truncated");
    assert!(err.to_string().starts_with("snappy: corrupt input"), "{err}");

    let garbage = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
        .expect("compresses");
    let err = decode_v1(&garbage, LIMIT).expect_err("not protobuf");
    assert!(err.to_string().starts_with("protobuf: "), "{err}");
    assert!(!err.to_string().contains("failed to decode"), "{err}");
    let err = decode_v2(&garbage, LIMIT).expect_err("not protobuf");
    assert!(err.to_string().starts_with("protobuf: "), "{err}");

    let body = encode_v1(&sample_v1());
    let size = snap::raw::decompress_len(&body).expect("header");
    let err = decode_v1(&body, size - 1).expect_err("too large");
    assert_eq!(
        err.to_string(),
        format!("decompressed size {size} exceeds limit {}", size - 1)
    );
    assert!(decode_v1(&body, size).is_ok());

    // A header claiming ~4 GiB is refused before anything is allocated.
    let err = decode_v2(b"\xff\xff\xff\xff\x0f", 1 << 20).expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

#[test]
fn empty_body_is_a_snappy_error() {
    // Like Prometheus (Go snappy), an empty body is corrupt snappy, not an
    // empty request.
    let err = decode_v1(b"", LIMIT).expect_err("empty");
    assert_eq!(err.to_string(), "snappy: corrupt input (empty)");
    assert!(decode_v2(b"", LIMIT).is_err());
}

#[test]
fn body_of_the_other_version_is_refused_not_read_as_empty() {
    // Protobuf skips unknown fields, so each version's body decodes as an empty request of
    // the other; the top-level field check names the mix-up instead.
    let err = decode_v2(&encode_v1(&sample_v1()), LIMIT).expect_err("1.0 body as 2.0");
    let msg = err.to_string();
    assert!(msg.contains("remote-write 2.0 request carries field 1"), "{msg}");
    assert_eq!(err.http_status(), 400);
    let err = decode_v1(&encode_v2(&sample_v2()), LIMIT).expect_err("2.0 body as 1.0");
    let msg = err.to_string();
    assert!(msg.contains("remote-write 1.0 request carries field 4"), "{msg}");
    assert!(msg.contains("proto=io.prometheus.write.v2.Request"), "{msg}");
    let raw = decompress(&encode_v2(&sample_v2()), LIMIT).expect("snappy");
    let walked = for_each_series_v1::<Error>(&raw, |_| panic!("no series of a 2.0 body"));
    assert!(
        walked
            .expect_err("2.0 body walked as 1.0")
            .to_string()
            .contains("field 4")
    );
    // Each version's own body passes; so does a field neither version defines.
    assert!(decode_v1(&encode_v1(&sample_v1()), LIMIT).is_ok());
    assert!(decode_v2(&encode_v2(&sample_v2()), LIMIT).is_ok());
    assert!(check_version_fields(&[0x30, 0x01], RemoteWriteVersion::V2).is_ok());
}

#[test]
fn negotiate_follows_prometheus() {
    use RemoteWriteVersion::{V1, V2};
    let ok = [
        (None, None, V1),
        (Some(""), Some(""), V1),
        (Some("application/x-protobuf"), Some("snappy"), V1),
        (Some("application/x-protobuf;proto=prometheus.WriteRequest"), None, V1),
        (
            Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
            Some("snappy"),
            V2,
        ),
        (
            Some("Application/X-Protobuf; proto=\"io.prometheus.write.v2.Request\""),
            Some("SNAPPY"),
            V2,
        ),
        (Some("application/x-protobuf;charset=utf-8"), None, V1),
        (Some("application/x-protobuf;"), None, V1),
    ];
    for (ct, enc, want) in ok {
        assert_eq!(negotiate(ct, enc).expect("accepted"), want, "{ct:?} {enc:?}");
    }
    let bad = [
        (Some("application/json"), None, "content-type"),
        (Some("application/x-protobuf;proto=foo.Bar"), None, "proto"),
        (Some("application/x-protobuf;proto"), None, "content-type"),
        (None, Some("gzip"), "content-encoding"),
        (Some("application/x-protobuf"), Some("zstd"), "content-encoding"),
    ];
    for (ct, enc, what) in bad {
        let err = negotiate(ct, enc).expect_err("unsupported");
        assert!(
            matches!(&err, Error::Unsupported { what: w, .. } if *w == what),
            "{ct:?} {enc:?}: {err}"
        );
        assert_eq!(err.http_status(), 415);
    }
    assert_eq!(V2.proto_message(), PROTO_V2);
    assert_eq!(negotiate(Some(V2.content_type()), None).ok(), Some(V2));
    assert_eq!(negotiate(Some(V1.content_type()), None).ok(), Some(V1));
}

#[test]
fn v1_to_v2_keeps_everything_and_attaches_metadata() {
    let v1 = sample_v1();
    let v2 = v1_to_v2(&v1);
    assert_eq!(v2.symbols[0], "");
    let v2_series = flatten_v2(decode_v2(&encode_v2(&v2), LIMIT).expect("decodes")).expect("ok");
    let (v1_series, _) = flatten_v1(v1).expect("ok");
    assert_eq!(v2_series.len(), v1_series.len());
    for (a, b) in v1_series.iter().zip(&v2_series) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.exemplars, b.exemplars);
        assert_eq!(a.histograms, b.histograms);
    }
    // http_requests_total belongs to family http_requests.
    let meta = v2_series[0].metadata.clone().expect("attached");
    assert_eq!(meta.kind, MetricKind::Counter);
    assert_eq!(meta.help, "Requests served.");
    assert_eq!(meta.metric_family, "http_requests_total");
    assert_eq!(v2_series[1].metadata, None);
}

#[test]
fn metric_kind_wire_values() {
    let kinds = [
        MetricKind::Counter,
        MetricKind::Gauge,
        MetricKind::Histogram,
        MetricKind::GaugeHistogram,
        MetricKind::Summary,
        MetricKind::Info,
        MetricKind::StateSet,
        MetricKind::Unknown,
    ];
    for k in kinds {
        assert_eq!(MetricKind::from_v1(k.to_v1() as i32), k);
        assert_eq!(MetricKind::from_v2(k.to_v2() as i32), k);
    }
    assert_eq!(MetricKind::from_v1(42), MetricKind::Unknown);
    assert_eq!(MetricKind::from_v2(-1), MetricKind::Unknown);
    assert_eq!(MetricKind::GaugeHistogram.as_str(), "gaugehistogram");
    // The numbers are the wire contract; both versions share them.
    assert_eq!(MetricKind::StateSet.to_v1() as i32, 7);
    assert_eq!(MetricKind::StateSet.to_v2() as i32, 7);
    assert_eq!(MetricKind::Summary.to_v1() as i32, 5);
}

// ---- property tests ----

fn arb_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        Just(f64::INFINITY),
        Just(0.0),
    ]
}

fn arb_labels() -> impl Strategy<Value = Vec<Label>> {
    prop::collection::vec(
        ("[a-z_]{0,8}", ".{0,10}").prop_map(|(name, value)| Label { name, value }),
        0..6,
    )
}

fn arb_histogram() -> impl Strategy<Value = prompb::Histogram> {
    (
        any::<u64>(),
        arb_f64(),
        -4i32..=8,
        prop::collection::vec(any::<i64>(), 0..4),
        any::<i64>(),
    )
        .prop_map(|(count, sum, schema, deltas, timestamp)| prompb::Histogram {
            count: Some(prompb::histogram::Count::CountInt(count)),
            sum,
            schema,
            positive_spans: vec![prompb::BucketSpan {
                offset: 0,
                length: u32::try_from(deltas.len()).unwrap_or(0),
            }],
            positive_deltas: deltas,
            timestamp,
            ..Default::default()
        })
}

fn arb_series() -> impl Strategy<Value = TimeSeries> {
    let sample = (arb_f64(), any::<i64>()).prop_map(|(value, timestamp)| Sample { value, timestamp });
    let exemplar = (arb_labels(), arb_f64(), any::<i64>()).prop_map(|(labels, value, timestamp)| Exemplar {
        labels,
        value,
        timestamp,
    });
    (
        arb_labels(),
        prop::collection::vec(sample, 0..6),
        prop::collection::vec(exemplar, 0..3),
        prop::collection::vec(arb_histogram(), 0..2),
    )
        .prop_map(|(labels, samples, exemplars, histograms)| TimeSeries {
            labels,
            samples,
            exemplars,
            histograms,
        })
}

fn arb_request() -> impl Strategy<Value = WriteRequest> {
    let meta = (0i32..9, "[a-z_]{0,8}", ".{0,10}", "[a-z]{0,5}").prop_map(|(t, family, help, unit)| MetricMetadata {
        r#type: t,
        metric_family_name: family,
        help,
        unit,
    });
    (
        prop::collection::vec(arb_series(), 0..8),
        prop::collection::vec(meta, 0..3),
    )
        .prop_map(|(timeseries, metadata)| WriteRequest { timeseries, metadata })
}

/// Samples compared bit for bit, so NaN (and the staleness marker) compare equal.
fn sample_bits(s: &DecodedSeries) -> Vec<(i64, u64)> {
    s.samples.iter().map(|(t, v)| (*t, v.to_bits())).collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(req) = decode_v1(&body, 1 << 16) {
            let _ = flatten_v1(req);
        }
        if let Ok(req) = decode_v2(&body, 1 << 16) {
            let _ = flatten_v2(req);
        }
    }

    #[test]
    fn arbitrary_protobuf_never_panics(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        // Valid snappy around garbage, so the protobuf decoders get exercised.
        let body = snap::raw::Encoder::new().compress_vec(&raw).expect("compresses");
        if let Ok(req) = decode_v1(&body, 1 << 16) {
            let _ = flatten_v1(req);
        }
        if let Ok(req) = decode_v2(&body, 1 << 16) {
            let _ = flatten_v2(req);
        }
    }

    #[test]
    fn generated_requests_round_trip(req in arb_request()) {
        let decoded = decode_v1(&encode_v1(&req), LIMIT).expect("decodes");
        prop_assert_eq!(decoded.encode_to_vec(), req.encode_to_vec());

        let v2 = v1_to_v2(&req);
        let decoded_v2 = decode_v2(&encode_v2(&v2), LIMIT).expect("decodes");
        prop_assert_eq!(decoded_v2.encode_to_vec(), v2.encode_to_vec());

        let (s1, m1) = flatten_v1(decoded).expect("flattens");
        let s2 = flatten_v2(decoded_v2).expect("flattens");
        prop_assert_eq!(m1.len(), req.metadata.len());
        prop_assert_eq!(s1.len(), s2.len());
        for (a, b) in s1.iter().zip(&s2) {
            prop_assert_eq!(&a.labels, &b.labels);
            prop_assert_eq!(sample_bits(a), sample_bits(b));
            prop_assert_eq!(a.exemplars.len(), b.exemplars.len());
            prop_assert_eq!(a.histograms, b.histograms);
        }
    }
}
