//! Tests of the decimal head chunk.
use super::*;
use crate::metrics::chunk::XorChunk;
use crate::metrics::{NORMAL_NAN_BITS, STALE_NAN_BITS};
use proptest::prelude::*;

fn encode(samples: &[(i64, u64)]) -> DecChunk {
    let mut c = DecChunk::new();
    for &(t, v) in samples {
        c.append(t, f64::from_bits(v));
    }
    c
}

fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
    let mut it = DecIter::new(bytes);
    let out: Vec<_> = it.by_ref().map(|s| (s.t, s.v.to_bits())).collect();
    assert!(it.err().is_none(), "{:?}", it.err());
    out
}

/// Values of every kind: decimals at random scales (counters, gauges), values that need a
/// larger scale later, floats that are no decimal, huge numbers, and special bit patterns.
fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        (any::<i32>(), 0u32..=9).prop_map(|(m, k)| (f64::from(m) / 10f64.powi(k as i32)).to_bits()),
        (0u64..1 << 53).prop_map(|m| (m as f64).to_bits()),
        any::<u64>(),
        any::<f64>().prop_map(f64::to_bits),
        Just(STALE_NAN_BITS),
        Just(NORMAL_NAN_BITS),
        Just((-0.0f64).to_bits()),
        Just(f64::INFINITY.to_bits()),
        Just(f64::NEG_INFINITY.to_bits()),
        Just(1e300f64.to_bits()),
        Just(0.1f64.to_bits()),
    ]
}

fn series() -> impl Strategy<Value = Vec<(i64, u64)>> {
    let start = prop_oneof![any::<i64>(), Just(0i64), Just(i64::MAX - 1000)];
    let gap = prop_oneof![Just(15_000i64), 14_990i64..15_010, 1i64..i64::MAX, any::<i64>()];
    // Walks: each step adds a small decimal to the previous value, like a gauge or counter.
    let walk = (any::<i32>(), 0u32..=4, prop::collection::vec(-300i32..300, 0..200)).prop_map(|(m0, k, steps)| {
        let p = 10f64.powi(k as i32);
        let mut m = i64::from(m0);
        steps
            .into_iter()
            .map(|s| {
                m += i64::from(s);
                (m as f64 / p).to_bits()
            })
            .collect::<Vec<u64>>()
    });
    let values = prop_oneof![walk, prop::collection::vec(value(), 0..200)];
    (start, values, prop::collection::vec(gap, 200)).prop_map(|(mut t, vals, gaps)| {
        vals.into_iter()
            .zip(gaps)
            .map(|(v, g)| {
                t = t.wrapping_add(g);
                (t, v)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn round_trip(s in series()) {
        let c = encode(&s);
        prop_assert_eq!(c.num_samples(), s.len());
        prop_assert_eq!(decode(c.bytes()), s.clone());
        prop_assert_eq!(c.min_time(), s.first().map(|p| p.0));
        prop_assert_eq!(c.max_time(), s.last().map(|p| p.0));
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut it = DecIter::new(&b);
        let n = it.by_ref().take(100_000).count();
        prop_assert!(n <= u32::from_le_bytes([b.first().copied().unwrap_or(0), *b.get(1).unwrap_or(&0), *b.get(2).unwrap_or(&0), *b.get(3).unwrap_or(&0)]) as usize);
    }

    #[test]
    fn truncation_is_an_error(s in series(), cut in 1usize..64) {
        let c = encode(&s);
        let b = c.bytes();
        prop_assume!(s.len() > 1 && cut < b.len() - HEADER_LEN);
        let short = &b[..b.len() - cut];
        let mut it = DecIter::new(short);
        let n = it.by_ref().count();
        prop_assert!(n < s.len() && it.err().is_some());
    }
}

/// Bytes per sample for 120 samples at an exact 15 s interval, against XorChunk.
fn sizes(values: impl Fn(usize) -> f64) -> (f64, f64) {
    let (mut d, mut x) = (DecChunk::new(), XorChunk::new());
    for i in 0..120 {
        let (t, v) = (i as i64 * 15_000, values(i));
        d.append(t, v);
        x.append(t, v);
    }
    assert_eq!(decode(d.bytes()).len(), 120);
    (d.bytes().len() as f64 / 120.0, x.bytes().len() as f64 / 120.0)
}

#[test]
fn decimals_are_smaller_than_xor_and_floats_are_not_larger() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut r: Vec<u64> = (0..120).map(|_| next()).collect();
    let counter: Vec<f64> = r
        .iter()
        .scan(1e6, |c, x| {
            *c += (x % 300) as f64;
            Some(*c)
        })
        .collect();
    let centis: Vec<f64> = r
        .iter()
        .scan(123_456_789i64, |c, x| {
            *c += 500 + (x % 1000) as i64;
            Some(*c as f64 / 100.0)
        })
        .collect();
    let gauge: Vec<f64> = r
        .iter()
        .scan(4_000i64, |c, x| {
            *c += (x % 41) as i64 - 20;
            Some(*c as f64 / 100.0)
        })
        .collect();
    r.iter_mut().for_each(|x| *x >>= 11);
    let floats: Vec<f64> = r.iter().map(|x| *x as f64 / (1u64 << 53) as f64).collect();
    for (name, vals, at_most) in [
        ("counter +0..300", &counter, 1.0),
        ("centiseconds +5..15 s", &centis, 0.5),
        ("gauge 2 decimals ±0.20", &gauge, 0.3),
        ("random floats", &floats, 1.02),
    ] {
        let (d, x) = sizes(|i| vals[i]);
        eprintln!("{name}: {d:.2} vs xor {x:.2} bytes/sample");
        assert!(d <= x * at_most, "{name}: {d:.2} vs xor {x:.2} bytes/sample");
    }
}

#[test]
fn scale_switches_and_raw_escapes_round_trip() {
    let vals = [
        45.0,
        45.3,
        45.25,
        f64::NAN,
        45.125,
        1e300,
        -0.0,
        7.0,
        f64::from_bits(STALE_NAN_BITS),
        0.1 + 0.2,
    ];
    let s: Vec<(i64, u64)> = vals.iter().enumerate().map(|(i, v)| (i as i64, v.to_bits())).collect();
    assert_eq!(decode(encode(&s).bytes()), s);
}
