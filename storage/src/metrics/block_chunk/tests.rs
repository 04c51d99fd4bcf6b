//! Tests of the parent module.
use super::*;
use crate::metrics::{NORMAL_NAN_BITS, STALE_NAN};
use proptest::prelude::*;

fn round_trip(samples: &[Sample]) -> Vec<u8> {
    let prefix = b"prefix";
    let mut buf = prefix.to_vec();
    encode(samples, &mut buf);
    assert_eq!(&buf[..prefix.len()], prefix);
    let mut out = vec![Sample { t: 7, v: 7.0 }];
    decode(&buf[prefix.len()..], &mut out).unwrap();
    assert_eq!(out.len(), samples.len() + 1);
    assert_eq!(out[0], Sample { t: 7, v: 7.0 });
    for (a, b) in out[1..].iter().zip(samples) {
        assert_eq!((a.t, a.v.to_bits()), (b.t, b.v.to_bits()));
    }
    buf.split_off(prefix.len())
}

/// Deterministic pseudo-random numbers (xorshift64), so measurements are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

const T0: i64 = 1_700_000_000_000;

/// 480 samples (2 h) every 15 s, ± `jitter` ms, with values from `value`.
fn series(jitter: i64, mut value: impl FnMut(&mut Rng) -> f64) -> Vec<Sample> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut sample = |i: i64| {
        let v = value(&mut rng);
        let j = rng.below(2 * jitter as u64 + 1) - jitter;
        Sample {
            t: T0 + i * 15_000 + j,
            v,
        }
    };
    (0..480).map(&mut sample).collect()
}

fn counter(inc: u64, jitter: i64) -> Vec<Sample> {
    let mut v = 123_456.0;
    series(jitter, |r| {
        v += r.below(inc) as f64;
        v
    })
}

fn gauge() -> Vec<Sample> {
    let mut cents = 4_217i64;
    series(0, |r| {
        cents += r.below(41) - 20;
        cents as f64 / 100.0
    })
}

/// Prints the table in the module doc: `cargo test -p nerve-storage --lib block_chunk -- --nocapture`.
#[test]
fn measure_sizes() {
    let cases: [(&str, Vec<Sample>, f64); 7] = [
        (
            "counter, +0..300 per scrape (uniform), exact 15 s",
            counter(301, 0),
            1.2,
        ),
        ("counter, +0..300 per scrape, ±5 ms scrape jitter", counter(301, 5), 1.7),
        ("counter, +0..5 per scrape, exact 15 s", counter(6, 0), 0.5),
        ("counter, +0..5 per scrape, ±5 ms scrape jitter", counter(6, 5), 1.0),
        ("gauge, 2 decimals, random walk of ±0.20, exact 15 s", gauge(), 0.85),
        (
            "random floats in [0, 1), exact 15 s",
            series(0, |r| (r.next() >> 11) as f64 / (1u64 << 53) as f64),
            7.0,
        ),
        ("constant, exact 15 s", series(0, |_| 1.0), 0.05),
    ];
    for (name, s, limit) in cases {
        let bytes = round_trip(&s).len() as f64 / s.len() as f64;
        let mut c = XorChunk::new();
        s.iter().for_each(|x| c.append(x.t, x.v));
        let xor = c.byte_len() as f64 / s.len() as f64;
        println!("//! | {name:55} | {bytes:11.2} | {xor:8.2} |");
        assert!(bytes <= limit, "{name}: {bytes} bytes/sample");
    }
    // A stale marker at the end costs only its exception entry.
    let mut s = counter(301, 0);
    s[479].v = STALE_NAN;
    assert!(round_trip(&s).len() < round_trip(&counter(301, 0)).len() + 16);
}

#[test]
fn empty_and_tiny() {
    assert_eq!(round_trip(&[]), vec![V_RAW, 0]);
    round_trip(&[Sample { t: i64::MIN, v: -0.0 }]);
    round_trip(&[Sample { t: 1, v: STALE_NAN }, Sample { t: 2, v: f64::NAN }]);
    let mut out = Vec::new();
    decode(&[], &mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn frames_split_long_inputs() {
    round_trip(
        &(0..MAX_FRAME_SAMPLES as i64 + 10)
            .map(|t| Sample { t, v: (t % 7) as f64 })
            .collect::<Vec<_>>(),
    );
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(STALE_NAN),
        Just(f64::from_bits(NORMAL_NAN_BITS)),
        Just(f64::from_bits(0xfff8_0000_0000_1234)),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1_000_000i64..1_000_000).prop_map(|m| m as f64 / 100.0),
        (0i64..1000).prop_map(|m| m as f64),
        Just(9.007_199_254_740_993e15),
        Just(1e300),
    ]
}

proptest! {
    #[test]
    fn arbitrary_series_round_trip(
        start in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX - 100)],
        pts in prop::collection::vec((prop_oneof![1i64..30, Just(15_000i64), any::<i64>()], value()), 0..300),
        constant in any::<bool>(),
    ) {
        let (mut t, first) = (start, pts.first().map_or(0.0, |p| p.1));
        let s: Vec<_> = pts.into_iter().map(|(g, v)| {
            t = t.wrapping_add(g);
            Sample { t, v: if constant { first } else { v } }
        }).collect();
        round_trip(&s);
    }

    #[test]
    fn counters_and_gauges_round_trip(
        pts in prop::collection::vec((14_990i64..15_010, 0i64..1000, 0u8..10), 1..500),
        scale in 0usize..4,
    ) {
        let (mut t, mut m) = (T0, 0i64);
        let s: Vec<_> = pts.into_iter().map(|(g, inc, special)| {
            t += g;
            m += inc;
            let v = if special == 0 { STALE_NAN } else { m as f64 / POW10[scale] };
            Sample { t, v }
        }).collect();
        round_trip(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut out = Vec::new();
        let _ = decode(&bytes, &mut out);
    }

    #[test]
    fn flipped_byte_never_panics(idx in any::<prop::sample::Index>(), flip in 1u8..=255, kind in 0usize..3) {
        let s = [counter(301, 5), gauge(), series(0, |_| 1.0)][kind].clone();
        let mut buf = Vec::new();
        encode(&s[..100], &mut buf);
        let i = idx.index(buf.len());
        buf[i] ^= flip;
        let mut out = Vec::new();
        let _ = decode(&buf, &mut out);
    }
}
