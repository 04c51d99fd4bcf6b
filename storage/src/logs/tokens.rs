//! Splitting lines into tokens, and which tokens go where.
//!
//! A token is a maximal run of alphanumeric characters, lowercased. The same function splits
//! stored lines and query substrings, so the two always agree.
//!
//! Tokens fall into three classes by their text alone (see [`class`]):
//! - **hex ids** — at least [`HEX_MIN_LEN`] bytes of `[0-9a-f]` with at least one digit (request
//!   and trace ids, hashes, numbers of four digits or more). Most are unique or nearly so, so
//!   putting them in a term dictionary would cost more than the text; they go into the chunk's
//!   bloom filter instead.
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
pub(super) const HEX_MIN_LEN: usize = 4;

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

/// One token of a text.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tok<'a> {
    /// Byte range in the text.
    pub from: usize,
    pub to: usize,
    /// Lowercase form.
    pub text: &'a str,
    /// `text` is the text's own bytes `from..to` (it was already lowercase).
    pub same: bool,
    /// Holds an ASCII digit.
    pub digit: bool,
    /// Its [`class`].
    pub class: Class,
}

const ALNUM: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 4;
/// `[0-9a-fA-F]`: hex once lowercased.
const HEX: u8 = 8;

/// Byte classes of ASCII (non-ASCII bytes are 0 and handled apart).
const TABLE: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_digit() {
            ALNUM | DIGIT | HEX
        } else if b.is_ascii_lowercase() {
            ALNUM | if b <= b'f' { HEX } else { 0 }
        } else if b.is_ascii_uppercase() {
            ALNUM | UPPER | if b <= b'F' { HEX } else { 0 }
        } else {
            0
        };
        c += 1;
    }
    t
};

/// Calls `f` for every token of `text`, in order.
pub(super) fn for_each_token(text: &str, mut f: impl FnMut(Tok<'_>)) {
    let bytes = text.as_bytes();
    let mut lower = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c < 0x80 {
            if TABLE[c as usize] & ALNUM == 0 {
                i += 1;
                continue;
            }
        } else if !text[i..].chars().next().is_some_and(char::is_alphanumeric) {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let start = i;
        let (mut ascii, mut any, mut all) = (true, 0u8, HEX);
        while i < bytes.len() {
            let c = bytes[i];
            if c < 0x80 {
                let k = TABLE[c as usize];
                if k & ALNUM == 0 {
                    break;
                }
                any |= k;
                all &= k;
                i += 1;
            } else {
                match text[i..].chars().next() {
                    Some(ch) if ch.is_alphanumeric() => {
                        ascii = false;
                        i += ch.len_utf8();
                    }
                    _ => break,
                }
            }
        }
        let tok = &text[start..i];
        let digit = any & DIGIT != 0;
        if ascii && any & UPPER == 0 {
            let class = if tok.len() >= MAX_TOKEN_LEN {
                Class::Long
            } else if tok.len() >= HEX_MIN_LEN && all & HEX != 0 && digit {
                Class::HexId
            } else {
                Class::Word
            };
            f(Tok {
                from: start,
                to: i,
                text: tok,
                same: true,
                digit,
                class,
            });
        } else {
            lower.clear();
            lower.extend(tok.chars().flat_map(char::to_lowercase));
            f(Tok {
                from: start,
                to: i,
                text: &lower,
                same: false,
                digit,
                class: class(&lower),
            });
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
        for_each_token(s, |t| {
            // The fast class of the tokenizer agrees with `class`.
            assert_eq!(t.class, class(t.text), "{t:?}");
            assert_eq!(t.same, t.text == &s[t.from..t.to]);
            v.push((t.from, t.to, t.text.to_owned()))
        });
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
        for s in [
            "DEADBEEF01 deadbeef01 Deadbeef0 cafe 12345678 1234 x86_64 ÄB12CD34EF",
            &"A1".repeat(60),
        ] {
            toks(s);
        }
    }

    #[test]
    fn classes() {
        assert_eq!(class("request"), Class::Word);
        assert_eq!(class("deadbeef"), Class::Word); // no digit
        assert_eq!(class("1a2b3c4d"), Class::HexId);
        assert_eq!(class("1733400000"), Class::HexId);
        assert_eq!(class("1a2b3c4"), Class::HexId);
        assert_eq!(class("2024"), Class::HexId);
        assert_eq!(class("404"), Class::Word); // too short
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
