//! Chunks: a run of one stream's entries, sorted by time, stored column by column and
//! compressed with zstd, with the bloom filter of its hex ids and trace ids in front.
//!
//! # Chunk file
//! Every flush of a partition writes one file `chunks/<seq>.chk` (`seq` = the highest WAL
//! sequence number flushed): the magic `NLC1`, then chunk records
//! `[bloom_len u32][payload_len u32][main_len u32][raw_len u32][crc32 u32][bloom][payload]`
//! (little-endian; the crc covers bloom and payload). The payload is the main zstd frame
//! (`main_len` bytes, `raw_len` decompressed) followed by the variable column frames of
//! [`split`]. The partition index points at records by offset.
//!
//! # Payload (before compression)
//! `[n uvarint][flags u8][first ts varint][ts deltas uvarint × (n-1)]`, then unless flag bit 2 is
//! set `[line lengths uvarint × n]`; when bit 0 is set, per entry `[pairs uvarint][(name, value)
//! len-prefixed…]`; when bit 1 is set, per entry the trace id: `[0]` none, `[1][offset
//! uvarint][len uvarint]` the line's bytes there, `[len + 2 uvarint][trace]` stored; then
//! the lines: when bit 2 is set cut into templates and variable columns (see [`split`]), else
//! back to back.

use super::LogEntry;
use super::bloom;
use super::split::{self, HOLE, Splitter};
use super::tokens::{self, Class};
use crate::encoding::{DecodeError, Reader, put_bytes, put_uvarint, put_varint};
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// File magic of a chunk file.
pub(super) const MAGIC: &[u8; 4] = b"NLC1";
/// A chunk is cut once it holds this many line bytes.
pub(super) const TARGET_BYTES: usize = 1 << 20;
/// … or this many entries.
pub(super) const TARGET_ENTRIES: usize = 32_768;
/// Record header size.
pub(super) const HEADER: usize = 20;
/// zstd level of chunk payloads.
const ZSTD_LEVEL: i32 = 3;

const FLAG_METADATA: u8 = 1;
const FLAG_TRACE: u8 = 2;
const FLAG_SPLIT: u8 = 4;

/// A chunk ready to be written, with what the index needs to know about it.
#[derive(Debug)]
pub(super) struct Built {
    /// The record (header, bloom, payload).
    pub record: Vec<u8>,
    /// Distinct word tokens of its lines.
    pub words: Vec<String>,
    /// Whether a line holds a token too long to index.
    pub long: bool,
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u64,
    pub bytes: u64,
}

/// A fast, non-cryptographic hasher for the per-chunk token set (in memory only).
#[derive(Default)]
pub(super) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut it = bytes.chunks_exact(8);
        for c in &mut it {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in it.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;

/// Builds the chunk of `entries` (one stream's, sorted by timestamp; not empty), compressing
/// with `z` (a context reused across chunks: creating one costs more than a small chunk).
pub(super) fn build<'a>(entries: &[&'a LogEntry], z: &mut zstd::bulk::Compressor<'_>) -> std::io::Result<Built> {
    let n = entries.len();
    let mut raw = Vec::with_capacity(entries.iter().map(|e| e.line.len() + 4).sum::<usize>() + 16);
    put_uvarint(&mut raw, n as u64);
    let has_md = entries.iter().any(|e| !e.metadata.is_empty());
    let has_trace = entries.iter().any(|e| e.trace_id.is_some());
    let split = !entries.iter().any(|e| e.line.as_bytes().contains(&HOLE));
    raw.push((u8::from(has_md) * FLAG_METADATA) | (u8::from(has_trace) * FLAG_TRACE) | (u8::from(split) * FLAG_SPLIT));
    let mut prev = entries.first().map_or(0, |e| e.ts_ns);
    put_varint(&mut raw, prev);
    for e in entries.iter().skip(1) {
        put_uvarint(&mut raw, e.ts_ns.wrapping_sub(prev) as u64);
        prev = e.ts_ns;
    }
    if !split {
        for e in entries {
            put_uvarint(&mut raw, e.line.len() as u64);
        }
    }
    if has_md {
        for e in entries {
            put_uvarint(&mut raw, e.metadata.len() as u64);
            for (k, v) in &e.metadata {
                put_bytes(&mut raw, k.as_bytes());
                put_bytes(&mut raw, v.as_bytes());
            }
        }
    }
    let mut words: FastSet<Cow<'a, str>> = FastSet::default();
    let mut hex: Vec<u64> = Vec::new();
    let mut long = false;
    let mut bytes = 0u64;
    let mut parts = Splitter::default();
    let mut trace_at: Vec<Option<usize>> = Vec::with_capacity(if has_trace { n } else { 0 });
    let mut fixed: Vec<Cow<'a, str>> = Vec::new();
    for e in entries {
        let text: &'a str = &e.line;
        let line = text.as_bytes();
        bytes += line.len() as u64;
        let trace = e.trace_id.as_deref().filter(|t| !t.is_empty());
        let mut at = None;
        // In split mode the words outside variables belong to the line's template: they are
        // only added when the template is new (most lines repeat one).
        fixed.clear();
        tokens::for_each_token(text, |t| {
            let (from, to) = (t.from, t.to);
            let var = split && t.digit;
            let word = || {
                if t.same {
                    Cow::Borrowed(&text[from..to])
                } else {
                    Cow::Owned(t.text.to_owned())
                }
            };
            match t.class {
                Class::Word if split && !var => fixed.push(word()),
                Class::Word => {
                    if !words.contains(t.text) {
                        words.insert(word());
                    }
                }
                Class::HexId => hex.push(tokens::hash64(t.text.as_bytes())),
                Class::Long => long = true,
            }
            if var {
                parts.var(line, from, to);
            }
            if at.is_none() && trace.is_some_and(|tr| tr.len() == to - from && tr.as_bytes() == &line[from..to]) {
                at = Some(from);
            }
        });
        if split && parts.end_line(line) {
            words.extend(fixed.drain(..));
        }
        if let Some(t) = &e.trace_id {
            hex.push(tokens::hash64(t.as_bytes()));
        }
        if has_trace {
            trace_at.push(at);
        }
    }
    if has_trace {
        for (e, at) in entries.iter().zip(&trace_at) {
            match &e.trace_id {
                // Trace ids mostly come from the line itself (a JSON or logfmt field): point
                // at them instead of storing them twice.
                Some(t) if let Some(at) = *at => {
                    put_uvarint(&mut raw, 1);
                    put_uvarint(&mut raw, at as u64);
                    put_uvarint(&mut raw, t.len() as u64);
                }
                Some(t) => {
                    put_uvarint(&mut raw, t.len() as u64 + 2);
                    raw.extend_from_slice(t.as_bytes());
                }
                None => put_uvarint(&mut raw, 0),
            }
        }
    }
    let mut frames = Vec::new();
    if split {
        parts.finish(&mut raw, &mut frames, z)?;
    } else {
        for e in entries {
            raw.extend_from_slice(e.line.as_bytes());
        }
    }
    hex.sort_unstable();
    hex.dedup();
    let mut filter = Vec::new();
    bloom::build(&mut filter, &hex);
    let main = z.compress(&raw)?;
    let payload_len = main.len() + frames.len();
    let mut record = Vec::with_capacity(HEADER + filter.len() + payload_len);
    record.extend_from_slice(&(filter.len() as u32).to_le_bytes());
    record.extend_from_slice(&(payload_len as u32).to_le_bytes());
    record.extend_from_slice(&(main.len() as u32).to_le_bytes());
    record.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&filter);
    crc.update(&main);
    crc.update(&frames);
    record.extend_from_slice(&crc.finalize().to_le_bytes());
    record.extend_from_slice(&filter);
    record.extend_from_slice(&main);
    record.extend_from_slice(&frames);
    Ok(Built {
        record,
        words: words.into_iter().map(Cow::into_owned).collect(),
        long,
        min_ts: entries.first().map_or(0, |e| e.ts_ns),
        max_ts: entries.last().map_or(0, |e| e.ts_ns),
        entries: n as u64,
        bytes,
    })
}

/// Splits one stream's sorted entries into chunk-sized runs.
pub(super) fn split<'a>(entries: &'a [&'a LogEntry]) -> impl Iterator<Item = &'a [&'a LogEntry]> + 'a {
    let mut rest = entries;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut end = 0;
        while end < rest.len() && end < TARGET_ENTRIES && bytes < TARGET_BYTES {
            bytes += rest[end].line.len();
            end += 1;
        }
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

fn err(what: &'static str) -> DecodeError {
    DecodeError { offset: 0, what }
}

/// The parts of a record at the start of `buf`.
pub(super) struct Record<'a> {
    pub bloom: &'a [u8],
    /// The main zstd frame, then the variable column frames.
    payload: &'a [u8],
    main_len: usize,
    raw_len: usize,
}

/// Splits the record at the start of `buf` and checks its crc.
pub(super) fn record(buf: &[u8]) -> Result<Record<'_>, DecodeError> {
    let mut r = Reader::new(buf);
    let bloom_len = r.u32_le()? as usize;
    let payload_len = r.u32_le()? as usize;
    let main_len = r.u32_le()? as usize;
    let raw_len = r.u32_le()? as usize;
    let crc = r.u32_le()?;
    let bloom = r.bytes(bloom_len)?;
    let payload = r.bytes(payload_len)?;
    if main_len > payload_len {
        return Err(err("chunk main frame longer than its payload"));
    }
    let mut h = crc32fast::Hasher::new();
    h.update(bloom);
    h.update(payload);
    if h.finalize() != crc {
        return Err(err("chunk checksum mismatch"));
    }
    Ok(Record {
        bloom,
        payload,
        main_len,
        raw_len,
    })
}

/// A decoded chunk.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    pub ts: Vec<i64>,
    /// End offset of each line in `lines`.
    ends: Vec<usize>,
    lines: String,
    metadata: Vec<Vec<(String, String)>>,
    traces: Vec<Trace>,
}

/// A stored trace id.
#[derive(Debug)]
enum Trace {
    None,
    /// Bytes `from..to` of the line.
    InLine(usize, usize),
    Own(String),
}

impl Chunk {
    /// Entries.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Line of entry `i`.
    pub fn line(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.lines.get(start..self.ends[i]).unwrap_or("")
    }

    /// Structured metadata of entry `i`.
    pub fn metadata(&self, i: usize) -> &[(String, String)] {
        self.metadata.get(i).map_or(&[], Vec::as_slice)
    }

    /// Trace id of entry `i`.
    pub fn trace(&self, i: usize) -> Option<&str> {
        match self.traces.get(i)? {
            Trace::None => None,
            Trace::InLine(from, to) => self.line(i).get(*from..*to),
            Trace::Own(t) => Some(t),
        }
    }
}

/// A zstd compression context at the level chunks use.
pub(super) fn compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    zstd::bulk::Compressor::new(ZSTD_LEVEL)
}

/// Decompresses (with the reusable context `dz`) and decodes a record's payload.
pub(super) fn decode(rec: &Record<'_>, dz: &mut zstd::bulk::Decompressor<'_>) -> Result<Chunk, DecodeError> {
    let (main, frames) = rec.payload.split_at(rec.main_len);
    let raw = dz
        .decompress(main, rec.raw_len)
        .map_err(|_| err("chunk payload does not decompress"))?;
    let mut r = Reader::new(&raw);
    let n = r.len(raw.len())?;
    let flags = r.u8()?;
    let mut ts = Vec::with_capacity(n);
    if n > 0 {
        let mut t = r.varint()?;
        ts.push(t);
        for _ in 1..n {
            t = t.wrapping_add(r.uvarint()? as i64);
            ts.push(t);
        }
    }
    let mut ends = Vec::with_capacity(n);
    let mut end = 0usize;
    if flags & FLAG_SPLIT == 0 {
        for _ in 0..n {
            end = end.checked_add(r.len(raw.len())?).ok_or(err("line length overflow"))?;
            ends.push(end);
        }
    }
    let mut metadata = Vec::new();
    if flags & FLAG_METADATA != 0 {
        metadata.reserve(n);
        for _ in 0..n {
            let k = r.len(raw.len())?;
            let mut md = Vec::with_capacity(k.min(64));
            for _ in 0..k {
                md.push((r.str()?.to_owned(), r.str()?.to_owned()));
            }
            metadata.push(md);
        }
    }
    let mut traces = Vec::new();
    if flags & FLAG_TRACE != 0 {
        traces.reserve(n);
        for _ in 0..n {
            let l = r.len(raw.len() + 2)?;
            traces.push(match l {
                0 => Trace::None,
                1 => {
                    let at = r.len(raw.len())?;
                    Trace::InLine(at, at + r.len(raw.len())?)
                }
                l => Trace::Own(
                    std::str::from_utf8(r.bytes(l - 2)?)
                        .map_err(|_| err("trace id is not UTF-8"))?
                        .to_owned(),
                ),
            });
        }
    }
    let lines = if flags & FLAG_SPLIT != 0 {
        let (bytes, e) = split::join(&mut r, n, frames, dz)?;
        ends = e;
        String::from_utf8(bytes).map_err(|_| err("chunk lines are not UTF-8"))?
    } else {
        let rest = r.bytes(r.remaining())?;
        if rest.len() != end {
            return Err(err("chunk lines do not add up"));
        }
        std::str::from_utf8(rest)
            .map_err(|_| err("chunk lines are not UTF-8"))?
            .to_owned()
    };
    let chunk = Chunk {
        ts,
        ends,
        lines,
        metadata,
        traces,
    };
    // Every boundary must be a char boundary for `line` to return the exact line.
    if (0..n).any(|i| chunk.lines.get(..chunk.ends[i]).is_none()) {
        return Err(err("chunk line boundary inside a character"));
    }
    Ok(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ts_ns: i64, line: &str, md: &[(&str, &str)], trace: Option<&str>) -> LogEntry {
        LogEntry {
            ts_ns,
            line: line.into(),
            metadata: md.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            trace_id: trace.map(str::to_owned),
        }
    }

    fn round_trip(entries: &[LogEntry]) -> Chunk {
        let refs: Vec<&LogEntry> = entries.iter().collect();
        let b = build(&refs, &mut compressor().unwrap()).unwrap();
        let rec = record(&b.record).unwrap();
        let c = decode(&rec, &mut zstd::bulk::Decompressor::new().unwrap()).unwrap();
        assert_eq!(c.len(), entries.len());
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(c.ts[i], e.ts_ns);
            assert_eq!(c.line(i), e.line);
            assert_eq!(c.metadata(i), e.metadata.as_slice());
            assert_eq!(c.trace(i), e.trace_id.as_deref());
        }
        c
    }

    #[test]
    fn round_trips_and_indexes_tokens() {
        let entries = vec![
            entry(-5, "GET /api id=0123abcd9f", &[], None),
            entry(10, "", &[("k", "v")], Some("4bf92f3577b34da6a3ce929d0e0e4736")),
            entry(10, "Straße ü", &[], None),
        ];
        round_trip(&entries);
        let refs: Vec<&LogEntry> = entries.iter().collect();
        let b = build(&refs, &mut compressor().unwrap()).unwrap();
        let mut words = b.words.clone();
        words.sort();
        assert_eq!(words, ["api", "get", "id", "straße", "ü"]);
        let rec = record(&b.record).unwrap();
        assert!(bloom::may_contain(rec.bloom, tokens::hash64(b"0123abcd9f")));
        assert!(bloom::may_contain(
            rec.bloom,
            tokens::hash64(b"4bf92f3577b34da6a3ce929d0e0e4736")
        ));
        assert_eq!((b.min_ts, b.max_ts, b.entries, b.bytes), (-5, 10, 3, 32));
    }

    #[test]
    fn trace_ids_found_in_the_line_are_not_stored_twice() {
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        let line = format!("{{\"msg\":\"x\",\"trace_id\":\"{t}\"}}");
        let entries = vec![
            entry(1, &line, &[], Some(t)),
            entry(2, "elsewhere", &[], Some(t)),
            entry(3, "none", &[], None),
            entry(4, "empty", &[], Some("")),
        ];
        round_trip(&entries);
        let one = |e: &LogEntry| {
            let b = build(&[e], &mut compressor().unwrap()).unwrap();
            let rec = record(&b.record).unwrap();
            zstd::bulk::decompress(&rec.payload[..rec.main_len], rec.raw_len)
                .unwrap()
                .len()
        };
        let inline = one(&entries[0]);
        let mut copy = entries[0].clone();
        copy.trace_id = Some("00f067aa0ba902b700f067aa0ba902b7".into());
        assert!(one(&copy) >= inline + 30, "{} vs {inline}", one(&copy));
    }

    #[test]
    fn lines_with_the_hole_byte_are_stored_unsplit() {
        let entries = vec![
            entry(1, "id=42 \u{1a} x9", &[], None),
            entry(2, "\u{1a}\u{1a}7", &[], None),
            entry(3, "plain 12 words 0xff", &[], None),
        ];
        round_trip(&entries);
        round_trip(&entries[2..]);
        let refs: Vec<&LogEntry> = entries.iter().collect();
        let b = build(&refs, &mut compressor().unwrap()).unwrap();
        let rec = record(&b.record).unwrap();
        let raw = zstd::bulk::decompress(&rec.payload[..rec.main_len], rec.raw_len).unwrap();
        assert_eq!(raw[1] & FLAG_SPLIT, 0);
    }

    #[test]
    fn damage_is_an_error() {
        let e = [entry(1, "hello", &[], None)];
        let refs: Vec<&LogEntry> = e.iter().collect();
        let b = build(&refs, &mut compressor().unwrap()).unwrap();
        for i in 0..b.record.len() {
            let mut bad = b.record.clone();
            bad[i] ^= 0x40;
            if let Ok(rec) = record(&bad) {
                // Only a flipped length can pass the crc (and then the lengths are wrong).
                assert!(
                    decode(&rec, &mut zstd::bulk::Decompressor::new().unwrap()).is_err() || i < HEADER,
                    "flip at {i}"
                );
            }
        }
        for cut in 0..b.record.len() {
            assert!(record(&b.record[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn split_respects_targets() {
        let big = "x".repeat(TARGET_BYTES / 2);
        let e: Vec<LogEntry> = (0..5).map(|i| entry(i, &big, &[], None)).collect();
        let refs: Vec<&LogEntry> = e.iter().collect();
        let sizes: Vec<usize> = split(&refs).map(<[_]>::len).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    proptest! {
        #[test]
        fn any_entries_round_trip(
            raw in proptest::collection::vec(
                (any::<i64>(), ".{0,40}", proptest::collection::vec(("[a-z]{1,5}", ".{0,8}"), 0..3),
                 proptest::option::of("[0-9a-f]{32}")),
                1..40,
            )
        ) {
            let mut entries: Vec<LogEntry> = raw
                .into_iter()
                .map(|(ts, line, metadata, trace_id)| LogEntry { ts_ns: ts, line, metadata, trace_id })
                .collect();
            entries.sort_by_key(|e| e.ts_ns);
            round_trip(&entries);
        }
    }
}
