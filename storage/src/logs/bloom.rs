//! A bloom filter over token hashes, one per chunk: it answers "may this chunk hold hex id X"
//! for the tokens no term dictionary keeps (see [`super::tokens`]) and for trace ids.
//!
//! Encoding: `[k u8][bit words, u64 little-endian…]`; an empty encoding is the filter of no keys.
//! Bit `i` of key `h` is `(h_lo + i·h_hi) mod bits` (double hashing), `i < k`.

/// Bits per key: with [`HASHES`] probes, about 0.3 % false positives.
const BITS_PER_KEY: usize = 12;
/// Probes per key.
const HASHES: u8 = 8;

/// Encodes a filter holding `hashes` (duplicates allowed) into `dst`.
pub(super) fn build(dst: &mut Vec<u8>, hashes: &[u64]) {
    if hashes.is_empty() {
        return;
    }
    let words = (hashes.len() * BITS_PER_KEY).div_ceil(64).max(1);
    let bits = (words * 64) as u64;
    let mut w = vec![0u64; words];
    for &h in hashes {
        let (lo, hi) = (h & 0xffff_ffff, (h >> 32) | 1);
        for i in 0..u64::from(HASHES) {
            let b = lo.wrapping_add(i.wrapping_mul(hi)) % bits;
            w[(b / 64) as usize] |= 1 << (b % 64);
        }
    }
    dst.reserve(1 + words * 8);
    dst.push(HASHES);
    for x in w {
        dst.extend_from_slice(&x.to_le_bytes());
    }
}

/// Whether the filter encoded in `enc` may hold `h`. A malformed encoding answers "maybe", so
/// a damaged filter costs time, never results.
pub(super) fn may_contain(enc: &[u8], h: u64) -> bool {
    let Some((&k, words)) = enc.split_first() else {
        return false;
    };
    if words.is_empty() || !words.len().is_multiple_of(8) {
        return true;
    }
    let bits = (words.len() * 8) as u64;
    let (lo, hi) = (h & 0xffff_ffff, (h >> 32) | 1);
    (0..u64::from(k)).all(|i| {
        let b = lo.wrapping_add(i.wrapping_mul(hi)) % bits;
        words[(b / 8) as usize] & (1 << (b % 8)) != 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::tokens::hash64;

    #[test]
    fn holds_every_key_and_few_others() {
        let keys: Vec<u64> = (0..5000u32).map(|i| hash64(format!("{i:016x}").as_bytes())).collect();
        let mut enc = Vec::new();
        build(&mut enc, &keys);
        assert!(keys.iter().all(|&h| may_contain(&enc, h)));
        let false_pos = (5000..105_000u32)
            .filter(|i| may_contain(&enc, hash64(format!("{i:016x}").as_bytes())))
            .count();
        // 0.3 % expected; allow twice that.
        assert!(false_pos < 600, "{false_pos} false positives in 100000");
    }

    #[test]
    fn empty_and_damaged_filters() {
        assert!(!may_contain(&[], 42));
        assert!(may_contain(&[8, 1, 2, 3], 42));
    }
}
