//! The generated data set of the PromQL oracle test.

/// Label pairs (sorted, `__name__` included) and `(ms, value)` samples of one series.
pub type SeriesData = (Vec<(String, String)>, Vec<(i64, f64)>);

/// A tiny deterministic PRNG (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Span of the data set.
pub const SPAN_MS: i64 = 2 * 3600 * 1000;

fn labels(name: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![("__name__".to_string(), name.to_string())];
    v.extend(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    v.sort();
    v
}

/// The data set: samples in `[t0, t0 + 2h]`.
pub fn dataset(t0: i64) -> Vec<SeriesData> {
    let mut rng = Rng(42);
    let mut out: Vec<SeriesData> = Vec::new();
    let times = |step: i64, from: i64, to: i64| (0..).map(move |i| from + i * step).take_while(move |t| *t <= to);
    // Counters with resets, three intervals.
    for (inst, step) in [("i0", 15_000), ("i1", 10_000), ("i2", 30_000)] {
        for code in ["200", "500"] {
            let mut v = 0.0;
            let mut pts = Vec::new();
            for t in times(step, t0, t0 + SPAN_MS) {
                if rng.below(200) == 0 {
                    v = 0.0;
                } else {
                    v += (rng.below(20) as f64) * if code == "500" { 0.25 } else { 1.0 };
                }
                pts.push((t, v));
            }
            out.push((
                labels(
                    "http_requests_total",
                    &[("job", "api"), ("instance", inst), ("code", code)],
                ),
                pts,
            ));
        }
    }
    // A counter with irregular scrape intervals.
    let (mut t, mut v, mut pts) = (t0, 100.0, Vec::new());
    while t <= t0 + SPAN_MS {
        pts.push((t, v));
        v += rng.below(7) as f64;
        t += 3_000 + rng.below(40_000) as i64;
    }
    out.push((
        labels(
            "http_requests_total",
            &[("job", "batch"), ("instance", "i9"), ("code", "200")],
        ),
        pts,
    ));
    // Gauges with NaN and a 12-minute gap.
    for room in ["kitchen", "attic", "cellar"] {
        let mut pts = Vec::new();
        for t in times(15_000, t0, t0 + SPAN_MS) {
            let rel = t - t0;
            if room == "attic" && (40 * 60_000..52 * 60_000).contains(&rel) {
                continue;
            }
            let val = if rng.below(50) == 0 {
                f64::NAN
            } else {
                ((rng.f() * 4000.0).round() - 1000.0) / 100.0
            };
            pts.push((t, val));
        }
        out.push((labels("temperature", &[("job", "sensors"), ("room", room)]), pts));
    }
    // ±Inf.
    let pts = times(20_000, t0, t0 + SPAN_MS)
        .map(|t| {
            let v = match rng.below(30) {
                0 => f64::INFINITY,
                1 => f64::NEG_INFINITY,
                _ => rng.below(100) as f64,
            };
            (t, v)
        })
        .collect();
    out.push((labels("gauge_inf", &[("job", "edge")]), pts));
    // Classic histogram.
    for job in ["api", "web"] {
        let bounds = ["0.1", "0.5", "1", "2.5", "+Inf"];
        let mut counts = [0.0; 5];
        let mut series: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 5];
        let (mut sum, mut sum_pts, mut count_pts) = (0.0, Vec::new(), Vec::new());
        for t in times(15_000, t0, t0 + SPAN_MS) {
            for _ in 0..rng.below(8) {
                let obs = rng.f() * 3.0;
                sum += obs;
                for (i, b) in bounds.iter().enumerate() {
                    let ub: f64 = b.replace("+Inf", "inf").parse().unwrap();
                    if obs <= ub {
                        counts[i] += 1.0;
                    }
                }
            }
            for i in 0..5 {
                series[i].push((t, counts[i]));
            }
            sum_pts.push((t, sum));
            count_pts.push((t, counts[4]));
        }
        for (i, b) in bounds.iter().enumerate() {
            out.push((
                labels("req_duration_seconds_bucket", &[("job", job), ("le", b)]),
                series[i].clone(),
            ));
        }
        out.push((labels("req_duration_seconds_sum", &[("job", job)]), sum_pts));
        out.push((labels("req_duration_seconds_count", &[("job", job)]), count_pts));
    }
    // Summary.
    for q in ["0.5", "0.9", "0.99"] {
        let pts = times(15_000, t0, t0 + SPAN_MS)
            .map(|t| (t, q.parse::<f64>().unwrap() + rng.f() / 10.0))
            .collect();
        out.push((labels("rpc_latency", &[("job", "rpc"), ("quantile", q)]), pts));
    }
    // Series starting late and ending early.
    let late: Vec<(i64, f64)> = times(15_000, t0 + 40 * 60_000, t0 + SPAN_MS)
        .enumerate()
        .map(|(i, t)| (t, i as f64 * 2.0))
        .collect();
    out.push((labels("batch_runs_total", &[("job", "batch"), ("batch", "late")]), late));
    let early: Vec<(i64, f64)> = times(15_000, t0, t0 + 50 * 60_000)
        .enumerate()
        .map(|(i, t)| (t, i as f64))
        .collect();
    out.push((
        labels("batch_runs_total", &[("job", "batch"), ("batch", "early")]),
        early,
    ));
    // Awkward label values.
    for (i, path) in ["a\"b", "c:\\temp\\", "ünïcødé ✓", "line\nbreak"].iter().enumerate() {
        let pts = times(30_000, t0, t0 + SPAN_MS).map(|t| (t, i as f64 + 0.5)).collect();
        out.push((labels("weird_labels", &[("job", "w"), ("path", path)]), pts));
    }
    // Two names with one label set (duplicate-series errors once names are dropped).
    for n in ["dup_a", "dup_b"] {
        let pts = times(15_000, t0, t0 + SPAN_MS)
            .enumerate()
            .map(|(i, t)| (t, i as f64))
            .collect();
        out.push((labels(n, &[("x", "1")]), pts));
    }
    out
}
