//! Tests of the parent module.
use super::*;
use crate::metrics::{NORMAL_NAN_BITS, STALE_NAN};
use proptest::prelude::*;

fn encode(samples: &[(i64, u64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, f64::from_bits(v));
    }
    c
}

fn decode(bytes: &[u8]) -> Vec<(i64, u64)> {
    let mut it = XorIter::new(bytes);
    let out: Vec<_> = it.by_ref().map(|s| (s.t, s.v.to_bits())).collect();
    assert!(it.err().is_none(), "{:?}", it.err());
    out
}

/// Timestamps from arbitrary (possibly huge) gaps, wrapping like the codec does.
fn series() -> impl Strategy<Value = Vec<(i64, u64)>> {
    let special = prop_oneof![
        Just(STALE_NAN.to_bits()),
        Just(NORMAL_NAN_BITS),
        Just((-0.0f64).to_bits()),
        Just(f64::INFINITY.to_bits()),
        Just(f64::NEG_INFINITY.to_bits()),
        Just(0x7ff8_dead_beef_0001u64),
        Just(1.0f64.to_bits()),
    ];
    let value = prop_oneof![any::<u64>(), special, (0u32..1000).prop_map(|x| f64::from(x).to_bits())];
    let start = prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX - 1000), Just(0i64)];
    let gap = prop_oneof![
        1i64..20,
        Just(15_000i64),
        14_990i64..15_010,
        1i64..i64::MAX,
        any::<i64>()
    ];
    // Every other series is constant (the value of its first sample).
    (start, prop::collection::vec((gap, value), 0..200), any::<bool>()).prop_map(|(mut t, pts, constant)| {
        let first = pts.first().map_or(0, |p| p.1);
        let pts = pts.into_iter().map(|(g, v)| (g, if constant { first } else { v }));
        pts.map(|(g, v)| {
            t = t.wrapping_add(g);
            (t, v)
        })
        .collect()
    })
}

proptest! {
    #[test]
    fn round_trip(s in series()) {
        let c = encode(&s);
        prop_assert_eq!(c.num_samples(), s.len());
        prop_assert_eq!(decode(c.bytes()), s.clone());
        prop_assert_eq!(c.min_time(), s.first().map(|p| p.0));
        prop_assert_eq!(c.max_time(), s.last().map(|p| p.0));
        // Reopen, append more, decode again.
        let mut r = XorChunk::from_bytes(c.bytes().to_vec()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.bytes(), c.bytes());
        let extra = (s.last().map_or(0, |p| p.0).wrapping_add(15_000), STALE_NAN.to_bits());
        r.append(extra.0, f64::from_bits(extra.1));
        let mut want = s.clone();
        want.push(extra);
        prop_assert_eq!(decode(r.bytes()), want.clone());
        let fresh = encode(&want);
        prop_assert_eq!(r.bytes(), fresh.bytes());
    }

    #[test]
    fn seek_finds_first_at_or_after(
        s in series().prop_map(|mut v| { v.sort_by_key(|p| p.0); v.dedup_by_key(|p| p.0); v }),
        targets in prop::collection::vec(any::<i64>(), 1..8),
    ) {
        let c = encode(&s);
        let mut it = c.iter();
        let mut targets = targets;
        targets.sort();
        for t in targets {
            let want = s.iter().find(|p| p.0 >= t).copied();
            let got = it.seek(t).map(|x| (x.t, x.v.to_bits()));
            prop_assert_eq!(got, want);
            // Seeking backwards returns the current sample again.
            prop_assert_eq!(it.seek(i64::MIN).map(|x| (x.t, x.v.to_bits())), want);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut it = XorIter::new(&bytes);
        let n = it.by_ref().count();
        prop_assert!(n == it.num_samples() || it.err().is_some());
        let _ = XorChunk::from_bytes(bytes);
    }
}

#[test]
fn edge_cases() {
    let c = XorChunk::new();
    assert_eq!(c.bytes(), &[0, 0, 0, 0]);
    assert_eq!((c.min_time(), c.max_time(), c.num_samples()), (None, None, 0));
    assert!(c.iter().next().is_none());
    assert!(XorChunk::from_bytes(c.bytes().to_vec()).is_ok());
    let c = encode(&[(-5, STALE_NAN.to_bits())]);
    assert_eq!(decode(c.bytes()), vec![(-5, STALE_NAN.to_bits())]);
    let mut it = XorIter::new(&[1, 0]);
    assert!(it.next().is_none());
    assert!(it.err().is_some());
    let s = [
        (i64::MIN, 1),
        (i64::MAX, 2),
        (i64::MIN, 3),
        (0, 4),
        (i64::MAX, u64::MAX),
    ];
    assert_eq!(decode(encode(&s).bytes()), s);
    // A regular scrape of a small gauge: 1 bit of timestamp, a few bits of value.
    let s: Vec<_> = (0..120)
        .map(|i| (1_700_000_000_000 + i * 15_000, f64::from(i as u32 % 3).to_bits()))
        .collect();
    let c = encode(&s);
    assert!(c.byte_len() < 120 * 3, "{} bytes", c.byte_len());
    let c = encode(&[(1, 1), (2, 2)]);
    let mut b = c.bytes().to_vec();
    b.push(0);
    assert!(XorChunk::from_bytes(b).is_err());
    let mut b = c.bytes().to_vec();
    b[0] = 200;
    assert!(XorChunk::from_bytes(b).is_err());
}
