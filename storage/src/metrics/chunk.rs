//! Sample chunk codecs: Gorilla-style delta-of-delta timestamps and XOR-compressed floats
//! ([`XorChunk`]), and the head's open-chunk variant that stores decimal values as integer
//! differences ([`DecChunk`], in `decimal`). Both share the bit stream code in `bits`.
//!
//! An [`XorChunk`] is appended to sample by sample and read back by [`XorIter`], which works
//! directly on borrowed (for example mmapped) bytes; block chunks use it for tiny frames. The
//! encoding is lossless for every bit pattern: NaN payloads, the stale marker
//! [`STALE_NAN`](crate::metrics::STALE_NAN), `-0.0` and `±Inf` come back bit for bit, and any
//! `i64` timestamp sequence round-trips because all timestamp arithmetic wraps modulo 2^64
//! (strictly increasing timestamps are only needed for [`XorIter::seek`]).
//!
//! # Layout
//!
//! ```text
//! [u32 LE sample count]                     header, rewritten in place on every append
//! [zigzag varint t0]                        byte aligned, only when count >= 1
//! bit stream, MSB first, zero padded:
//!   v0                                      64 raw bits
//!   per later sample: dod, then value       (dod of sample 1 is its delta t1 - t0)
//! dod (wrapping i64 delta-of-delta):
//!   '0'                = 0
//!   '10'    + 8 bits   in [-2^7,  2^7)      (scrape jitter)
//!   '110'   + 14 bits  in [-2^13, 2^13)
//!   '1110'  + 20 bits  in [-2^19, 2^19)
//!   '11110' + 32 bits  in [-2^31, 2^31)
//!   '11111' + 64 bits  anything else (the full wrapping difference)
//! value, x = bits(v) XOR bits(previous v):
//!   '0'                                     x == 0 (repeated value, the common case)
//!   '10' + (64 - lead - trail) bits         x fits the previous window of meaningful bits
//!   '11' + 6 bits lead + 6 bits (len - 1) + len bits   a new window
//! ```
//!
//! Compared to Prometheus' XOR chunk the header holds a 32-bit count, the smallest timestamp
//! bucket is 8 bits (millisecond jitter of a 15 s scrape fits) and windows may start at any of the
//! 64 bit positions (6 bits of leading zeros instead of 5).

use crate::error::{Error, Result};
use crate::metrics::Sample;

mod bits;
mod decimal;
use bits::{BitReader, BitWriter, Times, XorState};
pub use decimal::{DecChunk, DecIter};

/// Bytes before the first sample: the little-endian `u32` sample count.
const HEADER_LEN: usize = 4;
/// Pseudo path used in [`Error::Corruption`] for chunk bytes that have no file of their own.
const CHUNK_PATH: &str = "<xor chunk>";

/// A growable head chunk of float samples.
///
/// Appends are O(1) (the buffer grows by a few bytes at a time, so a chunk reallocates a few
/// times); [`bytes`](Self::bytes) is always a complete, self-describing encoding that
/// [`XorIter`] can read. Not thread-safe by itself: the head wraps it in its per-series lock.
#[derive(Clone, Debug)]
pub struct XorChunk {
    w: BitWriter,
    times: Times,
    xs: XorState,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (4 bytes: the zero sample count).
    pub fn new() -> Self {
        let mut w = BitWriter::with_capacity(128);
        w.buf.extend_from_slice(&0u32.to_le_bytes());
        XorChunk {
            w,
            times: Times::default(),
            xs: XorState::new(0),
        }
    }

    /// Appends one sample.
    ///
    /// The caller guarantees `t` is greater than the previous timestamp (the head rejects
    /// out-of-order samples before they get here); the encoding itself is lossless for any `t`.
    ///
    /// # Panics
    /// With a "BUG:" message when the chunk already holds `u32::MAX` samples; the head cuts chunks
    /// long before that.
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        let first = self.times.num == 0;
        self.times.push(&mut self.w, t);
        if first {
            write_varint(&mut self.w.buf, zigzag(t));
            self.w.write_bits(bits, 64);
            self.xs = XorState::new(bits);
        } else {
            self.w.write_xor(&mut self.xs, bits);
        }
        self.w.buf[..HEADER_LEN].copy_from_slice(&self.times.num.to_le_bytes());
    }

    /// Number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        self.times.len()
    }

    /// Timestamp of the first sample, `None` when the chunk is empty.
    pub fn min_time(&self) -> Option<i64> {
        self.times.min_time()
    }

    /// Timestamp of the last sample, `None` when the chunk is empty.
    pub fn max_time(&self) -> Option<i64> {
        self.times.max_time()
    }

    /// The complete encoding, sample count included; what gets written to disk.
    pub fn bytes(&self) -> &[u8] {
        &self.w.buf
    }

    /// Length of [`bytes`](Self::bytes) in bytes.
    pub fn byte_len(&self) -> usize {
        self.w.buf.len()
    }

    /// An iterator over the samples, oldest first.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(&self.w.buf)
    }

    /// Rebuilds a chunk from its [`bytes`](Self::bytes), ready for further appends.
    ///
    /// Decodes every sample to validate the input: a short or malformed stream, trailing bytes or
    /// non-zero padding bits are [`Error::Corruption`].
    pub fn from_bytes(buf: Vec<u8>) -> Result<XorChunk> {
        let mut it = XorIter::new(&buf);
        let mut first_t = 0;
        while let Some(s) = it.next() {
            if it.read == 1 {
                first_t = s.t;
            }
        }
        if let Some(err) = it.err.take() {
            return Err(err);
        }
        let bit_pos = it.r.bit_pos();
        let used = bit_pos.div_ceil(8);
        if used != buf.len() {
            return Err(Error::corruption(
                CHUNK_PATH,
                used as u64,
                "trailing bytes after the last sample",
            ));
        }
        let free_bits = (used * 8 - bit_pos) as u32;
        if it.num > 0 && free_bits > 0 {
            let padding = buf[used - 1] & ((1u8 << free_bits) - 1);
            if padding != 0 {
                return Err(Error::corruption(CHUNK_PATH, used as u64 - 1, "non-zero padding bits"));
            }
        }
        let times = Times {
            num: it.num,
            first: first_t,
            last: it.t,
            delta: it.delta,
        };
        let xs = it.xs;
        Ok(XorChunk {
            w: BitWriter { buf, free_bits },
            times,
            xs,
        })
    }
}

/// A resettable iterator over the samples of an encoded [`XorChunk`].
///
/// Borrows the bytes (a head chunk or an mmapped region) and never allocates per sample. Corrupt
/// input ends the iteration: [`next`](Iterator::next) returns `None` and [`err`](Self::err)
/// reports an [`Error::Corruption`] with the byte offset. It never panics and every step consumes
/// input, so it cannot loop forever.
#[derive(Debug)]
pub struct XorIter<'a> {
    r: BitReader<'a>,
    num: u32,
    read: u32,
    t: i64,
    delta: i64,
    xs: XorState,
    current: Option<Sample>,
    err: Option<Error>,
}

impl<'a> XorIter<'a> {
    /// An iterator over `bytes`, which must start with the chunk header.
    pub fn new(bytes: &'a [u8]) -> XorIter<'a> {
        let (num, err) = match bytes.first_chunk::<HEADER_LEN>() {
            Some(h) => (u32::from_le_bytes(*h), None),
            None => (
                0,
                Some(Error::corruption(CHUNK_PATH, 0, "chunk shorter than its header")),
            ),
        };
        XorIter {
            r: BitReader::new(bytes, HEADER_LEN),
            num,
            read: 0,
            t: 0,
            delta: 0,
            xs: XorState::new(0),
            current: None,
            err,
        }
    }

    /// Restarts the iterator on `bytes`, reusing it (no allocation).
    pub fn reset(&mut self, bytes: &'a [u8]) {
        *self = XorIter::new(bytes);
    }

    /// Number of samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    /// The sample last returned by `next` or `seek`, if any.
    pub fn at(&self) -> Option<Sample> {
        self.current
    }

    /// Advances to the first sample with timestamp `>= t` and returns it.
    ///
    /// Never moves backwards: when the current sample already satisfies `t` it is returned again.
    /// `None` means the chunk is exhausted (or corrupt, see [`err`](Self::err)).
    pub fn seek(&mut self, t: i64) -> Option<Sample> {
        if let Some(s) = self.current
            && s.t >= t
        {
            return Some(s);
        }
        self.by_ref().find(|s| s.t >= t)
    }

    /// The corruption that ended the iteration early, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    fn fail(&mut self, reason: &'static str) -> Option<Sample> {
        let offset = (self.r.bit_pos() / 8) as u64;
        self.err = Some(Error::corruption(CHUNK_PATH, offset, reason));
        self.current = None;
        None
    }
}

impl Iterator for XorIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.err.is_some() || self.read >= self.num {
            self.current = None;
            return None;
        }
        if self.read == 0 {
            let Some(zz) = self.r.read_aligned_varint() else {
                return self.fail("bad varint for the first timestamp");
            };
            self.t = unzigzag(zz);
            let Some(v) = self.r.read_bits(64) else {
                return self.fail("unexpected end of chunk in the first value");
            };
            self.xs = XorState::new(v);
        } else {
            let Some(dod) = self.r.read_dod() else {
                return self.fail("unexpected end of chunk in a timestamp");
            };
            self.delta = self.delta.wrapping_add(dod);
            self.t = self.t.wrapping_add(self.delta);
            if let Err(reason) = self.r.read_xor(&mut self.xs) {
                return self.fail(reason);
            }
        }
        self.read += 1;
        let s = Sample {
            t: self.t,
            v: f64::from_bits(self.xs.v),
        };
        self.current = Some(s);
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.err.is_some() {
            0
        } else {
            (self.num - self.read) as usize
        };
        (0, Some(left))
    }
}

/// Maps signed to unsigned so small magnitudes get short varints.
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads an LEB128 varint at `*pos`, advancing it; `None` when truncated or longer than 10 bytes.
pub(crate) fn read_varint(src: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *src.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Appends `v` as an LEB128 varint (1..=10 bytes).
pub(crate) fn write_varint(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

#[cfg(test)]
mod tests;
