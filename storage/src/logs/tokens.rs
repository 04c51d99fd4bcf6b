//! Splitting lines into tokens, and which tokens go where.
//!
//! A token is a maximal run of alphanumeric characters, lowercased. The same function splits
//! stored lines and query substrings, so the two always agree.
//!
//! Tokens fall into three classes by their text alone (see [`class`]):
//! - **hex ids** — at least [`HEX_MIN_LEN`] bytes of `[0-9a-f]` with at least one digit (request
//!   and trace ids, hashes, long numbers). Nearly every one is unique, so putting them in a term
//!   dictionary would cost more than the text; they go into the chunk's bloom filter instead.
//! - **long** — [`MAX_TOKEN_LEN`] bytes or more: not indexed at all; the chunk is flagged.
//! - **words** — everything else, indexed in the partition's tantivy index.
//!
//! Because a word always holds a character outside `[0-9a-f]` or is short, a query fragment that
//! holds such a character can only be part of a word (or a long token): a term-dictionary match
//! on it is exact. A fragment made only of hex characters may be part of a hex id, which no
//! dictionary holds, so it never narrows the search.

/// Tokens this long (bytes) or longer are not indexed (and so never required at query time).
pub(super) const MAX_TOKEN_LEN: usize = 96;
/// Shortest hex run treated as an id (bloom filter) rather than a word.
pub(super) const HEX_MIN_LEN: usize = 8;

/// Where a token is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// In the partition index's term dictionary.
    Word,
    /// In the chunk's bloom filter.
    HexId,
    /// Nowhere (the chunk's `long` flag is set).
    Long,
}

/// The class of a (lowercased) token.
pub(super) fn class(token: &str) -> Class {
    let b = token.as_bytes();
    if b.len() >= MAX_TOKEN_LEN {
        Class::Long
    } else if b.len() >= HEX_MIN_LEN && is_hex(token) && b.iter().any(u8::is_ascii_digit) {
        Class::HexId
    } else {
        Class::Word
    }
}

/// True when every byte is `[0-9a-f]` (what a hex id can be made of).
pub(super) fn is_hex(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Calls `f(from, to, token, same)` for every token of `text`, in order; `from..to` is the
/// token's byte range in `text`, `token` its lowercase form, and `same` tells that `token` is
/// `&text[from..to]` itself (already lowercase).
pub(super) fn for_each_token(text: &str, mut f: impl FnMut(usize, usize, &str, bool)) {
    let bytes = text.as_bytes();
    let mut lower = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c < 0x80 {
            if !c.is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
        } else if !text[i..].chars().next().is_some_and(char::is_alphanumeric) {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let start = i;
        let mut ascii_lower = true;
        while i < bytes.len() {
            let c = bytes[i];
            if c < 0x80 {
                if !c.is_ascii_alphanumeric() {
                    break;
                }
                ascii_lower &= !c.is_ascii_uppercase();
                i += 1;
            } else {
                match text[i..].chars().next() {
                    Some(ch) if ch.is_alphanumeric() => {
                        ascii_lower = false;
                        i += ch.len_utf8();
                    }
                    _ => break,
                }
            }
        }
        let tok = &text[start..i];
        if ascii_lower {
            f(start, i, tok, true);
        } else {
            lower.clear();
            lower.extend(tok.chars().flat_map(char::to_lowercase));
            f(start, i, &lower, false);
        }
    }
}

/// A stable 64-bit hash of a token (bloom filter keys are written to disk, so this must never
/// change).
pub(super) fn hash64(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = 0x243f_6a88_85a3_08d3 ^ (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    // Murmur3 finaliser.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(usize, usize, String)> {
        let mut v = Vec::new();
        for_each_token(s, |a, b, t, _| v.push((a, b, t.to_owned())));
        v
    }

    #[test]
    fn splits_on_non_alphanumerics_and_lowercases() {
        assert_eq!(
            toks("GET /api/Users-42 ok"),
            vec![
                (0, 3, "get".into()),
                (5, 8, "api".into()),
                (9, 14, "users".into()),
                (15, 17, "42".into()),
                (18, 20, "ok".into()),
            ]
        );
        assert_eq!(
            toks("Ünïcode–Straße!"),
            vec![(0, 9, "ünïcode".into()), (12, 19, "straße".into())]
        );
        assert!(toks("  --//  ").is_empty());
    }

    #[test]
    fn classes() {
        assert_eq!(class("request"), Class::Word);
        assert_eq!(class("deadbeef"), Class::Word); // no digit
        assert_eq!(class("1a2b3c4d"), Class::HexId);
        assert_eq!(class("1733400000"), Class::HexId);
        assert_eq!(class("1a2b3c4"), Class::Word); // too short
        assert_eq!(class("zq7abc1234567"), Class::Word);
        assert_eq!(class(&"a".repeat(MAX_TOKEN_LEN)), Class::Long);
    }

    const PINNED: u64 = 3_231_814_882_964_106_058;

    #[test]
    fn hash_is_stable() {
        // Written to disk: a change here breaks every stored bloom filter.
        assert_eq!(hash64(b""), hash64(b""));
        assert_ne!(hash64(b"abc"), hash64(b"abd"));
        assert_eq!(hash64(b"0123456789abcdef"), PINNED);
    }
}
