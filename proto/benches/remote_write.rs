//! Remote-write receive path: snappy + protobuf decoding and flattening, for
//! both protocol versions, on a request shaped like what Prometheus sends
//! (2,000 series × 10 samples, 8 labels per series, family metadata).
//!
//! Throughput is reported in samples per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nerve_proto::prompb::{Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use nerve_proto::{decode_v1, decode_v2, encode_v1, encode_v2, flatten_v1, flatten_v2, v1_to_v2};

const SERIES: usize = 2_000;
const SAMPLES_PER_SERIES: usize = 10;
const FAMILIES: usize = 100;
const LIMIT: usize = 64 << 20;

fn label(name: &str, value: String) -> Label {
    Label {
        name: name.to_owned(),
        value,
    }
}

/// A deterministic request: 100 metric families spread over 20 targets, each
/// series with `__name__`, `job`, `instance`, `namespace`, `pod`, `container`,
/// `method` and `code` (sorted by name, as Prometheus sends them), and 10
/// samples 15 s apart.
fn realistic_request() -> WriteRequest {
    let mut timeseries = Vec::with_capacity(SERIES);
    for i in 0..SERIES {
        let family = i % FAMILIES;
        let target = (i / FAMILIES) % 20;
        let samples = (0..SAMPLES_PER_SERIES)
            .map(|s| Sample {
                value: (i * 31 + s * 7) as f64 * 0.25,
                timestamp: 1_718_000_000_000 + (s as i64) * 15_000,
            })
            .collect();
        timeseries.push(TimeSeries {
            labels: vec![
                label("__name__", format!("app_component_{family}_requests_total")),
                label("code", ["200", "404", "500"][i % 3].to_owned()),
                label("container", format!("app-{}", target % 4)),
                label("instance", format!("10.0.{}.{}:9100", target / 10, target)),
                label("job", format!("kubernetes-pods-{}", target % 5)),
                label("method", ["GET", "POST"][i % 2].to_owned()),
                label("namespace", format!("team-{}", target % 3)),
                label("pod", format!("app-{}-7d9f8c6b5-x{:04}", target % 4, i / 6)),
            ],
            samples,
            exemplars: vec![],
            histograms: vec![],
        });
    }
    let metadata = (0..FAMILIES)
        .map(|f| MetricMetadata {
            r#type: 1,
            metric_family_name: format!("app_component_{f}_requests"),
            help: format!("Requests handled by component {f}."),
            unit: String::new(),
        })
        .collect();
    WriteRequest { timeseries, metadata }
}

fn bench_remote_write(c: &mut Criterion) {
    let request = realistic_request();
    let body_v1 = encode_v1(&request);
    let body_v2 = encode_v2(&v1_to_v2(&request));
    let samples = (SERIES * SAMPLES_PER_SERIES) as u64;

    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(samples));
    group.bench_function("decode_v1+flatten_v1", |b| {
        b.iter(|| {
            let req = decode_v1(black_box(&body_v1), LIMIT).expect("valid v1 body");
            black_box(flatten_v1(req).expect("flattens"))
        })
    });
    group.bench_function("decode_v2+flatten_v2", |b| {
        b.iter(|| {
            let req = decode_v2(black_box(&body_v2), LIMIT).expect("valid v2 body");
            black_box(flatten_v2(req).expect("flattens"))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_remote_write);
criterion_main!(benches);
