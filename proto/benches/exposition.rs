//! Exposition parsing throughput on a realistic 10k-line scrape body shaped like
//! node_exporter's and a typical instrumented service's output: HELP/TYPE per family,
//! counters and gauges with 1–4 labels, classic histograms with `le` buckets, summaries with
//! quantiles, some escaped label values. Reported in lines (≈ samples) per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nerve_proto::exposition::{Entry, Format, Parser};

/// Builds a body of about `lines` lines in the Prometheus text format.
fn realistic_body(lines: usize) -> String {
    let mut b = String::with_capacity(lines * 80);
    let mut n = 0usize;
    let mut family = 0usize;
    while n < lines {
        match family % 4 {
            0 => {
                let name = format!("node_cpu_seconds_total_{family}");
                b.push_str(&format!(
                    "# HELP {name} Seconds the CPUs spent in each mode.\n# TYPE {name} counter\n"
                ));
                n += 2;
                for cpu in 0..4 {
                    for mode in ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"] {
                        b.push_str(&format!(
                            "{name}{{cpu=\"{cpu}\",mode=\"{mode}\"}} {}.{}\n",
                            12345 + n * 7,
                            n % 100
                        ));
                        n += 1;
                    }
                }
            }
            1 => {
                let name = format!("http_request_duration_seconds_{family}");
                b.push_str(&format!(
                    "# HELP {name} A histogram of request latencies.\n# TYPE {name} histogram\n"
                ));
                n += 2;
                for handler in ["/api/v1/query", "/api/v1/write", "/metrics"] {
                    let mut c = 0;
                    for le in [
                        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
                    ] {
                        c += n % 13;
                        b.push_str(&format!(
                            "{name}_bucket{{handler=\"{handler}\",method=\"GET\",code=\"200\",le=\"{le}\"}} {c}\n"
                        ));
                        n += 1;
                    }
                    b.push_str(&format!(
                        "{name}_sum{{handler=\"{handler}\",method=\"GET\",code=\"200\"}} {}.0473\n",
                        c * 3
                    ));
                    b.push_str(&format!(
                        "{name}_count{{handler=\"{handler}\",method=\"GET\",code=\"200\"}} {c}\n"
                    ));
                    n += 2;
                }
            }
            2 => {
                let name = format!("go_gc_duration_seconds_{family}");
                b.push_str(&format!(
                    "# HELP {name} A summary of GC pause durations.\n# TYPE {name} summary\n"
                ));
                n += 2;
                for q in ["0", "0.25", "0.5", "0.75", "1"] {
                    b.push_str(&format!("{name}{{quantile=\"{q}\"}} 1.{n}e-05\n"));
                    n += 1;
                }
                b.push_str(&format!("{name}_sum 0.{n}\n{name}_count {n}\n"));
                n += 2;
            }
            _ => {
                let name = format!("node_filesystem_avail_bytes_{family}");
                b.push_str(&format!(
                    "# HELP {name} Filesystem space available.\n# TYPE {name} gauge\n"
                ));
                n += 2;
                for (dev, mnt) in [
                    ("/dev/sda1", "/"),
                    ("/dev/sda2", "/home"),
                    ("tmpfs", "/run"),
                    ("overlay", "/var/lib/docker/overlay2/\\\"x\\\""),
                ] {
                    b.push_str(&format!(
                        "{name}{{device=\"{dev}\",fstype=\"ext4\",mountpoint=\"{mnt}\"}} {}\n",
                        (n as f64) * 1.5e9
                    ));
                    n += 1;
                }
            }
        }
        family += 1;
    }
    b
}

fn parse_all(body: &[u8], format: Format) -> (usize, f64) {
    let mut p = Parser::new(body, format).expect("utf-8");
    let (mut n, mut sum) = (0usize, 0f64);
    while let Some(e) = p.next_entry().expect("valid body") {
        if let Entry::Sample(s) = e {
            n += s.labels.len() + 1;
            sum += s.value;
        }
    }
    (n, sum)
}

/// Prometheus 2.42's own parser test files (`model/textparse/promtestdata*.txt`), when
/// `PROM_TEXTPARSE_TESTDATA` names their directory: the same input Prometheus'
/// `BenchmarkParse` reads, so `benches/exposition_vs_prometheus.sh` can compare time per pass.
/// One iteration parses the whole file, yielding every sample's name, unescaped labels and
/// value (what Prometheus' `decode-metric` variant extracts, without building a label set).
fn prometheus_testdata(c: &mut Criterion) {
    let Ok(dir) = std::env::var("PROM_TEXTPARSE_TESTDATA") else {
        return;
    };
    let mut g = c.benchmark_group("prom_testdata");
    for file in ["promtestdata.txt", "promtestdata.nometa.txt"] {
        let Ok(body) = std::fs::read(std::path::Path::new(&dir).join(file)) else {
            continue;
        };
        g.throughput(Throughput::Bytes(body.len() as u64));
        for (name, format) in [("text", Format::PrometheusText), ("openmetrics", Format::OpenMetrics)] {
            g.bench_function(format!("{name}/{file}"), |b| {
                b.iter(|| black_box(parse_all(black_box(&body), format)))
            });
        }
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let text = realistic_body(10_000);
    let lines = text.lines().count() as u64;
    let om = format!("{text}# EOF\n");
    let mut g = c.benchmark_group("exposition");
    g.throughput(Throughput::Elements(lines));
    g.bench_function("text_0.0.4_10k_lines", |b| {
        b.iter(|| black_box(parse_all(black_box(text.as_bytes()), Format::PrometheusText)))
    });
    g.bench_function("openmetrics_10k_lines", |b| {
        b.iter(|| black_box(parse_all(black_box(om.as_bytes()), Format::OpenMetrics)))
    });
    g.finish();
}

criterion_group!(benches, bench, prometheus_testdata);
criterion_main!(benches);
