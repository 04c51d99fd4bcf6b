//! The head's open-chunk codec: [`XorChunk`](super::XorChunk)'s timestamps, with values that are
//! decimals stored as integer differences.
//!
//! Most exporter values are decimals: counters are integers, CPU time comes in centiseconds,
//! temperatures in tenths. XOR coding spends 20–50 bits on each change of such a value, because
//! `0.01` steps flip many mantissa bits; here a value `v = m / 10^k` (for the chunk's scale
//! `k <= 9`, `|m| <= 2^53`, and exactly those bits back on division) is stored as `m` minus the
//! previous `m`, in 1 to 71 bits. A chunk whose first value is not such a decimal (a ratio, a
//! NaN) XOR-codes all its values. Later values that do not fit the scale switch to a larger one
//! or are stored raw, so every bit pattern round-trips (NaN payloads, `-0.0`, `±Inf`, the stale
//! marker).
//!
//! These chunks only live in memory: a full one is re-encoded with the dense block encoding
//! when the head closes it, so this layout can change freely between versions.
//!
//! # Layout
//!
//! ```text
//! [u32 LE sample count]                      rewritten in place on every append
//! when count >= 1:
//!   [zigzag varint t0]
//!   [u8 scale]                               k in 0..=9, or 0xff: values XOR-coded
//!   [zigzag varint m0] or [u64 LE bits v0]   first value, decimal or XOR mode
//! bit stream, MSB first: per later sample the timestamp dod as in XorChunk, then the value:
//!   XOR mode: as in XorChunk
//!   decimal mode, d = m - previous m (wrapping):
//!     '0'              d = 0
//!     '10'      + 4    d in [-2^3, 2^3)
//!     '110'     + 8    d in [-2^7, 2^7)
//!     '1110'    + 14   d in [-2^13, 2^13)
//!     '11110'   + 24   d in [-2^23, 2^23)
//!     '111110'  + 40   d in [-2^39, 2^39)
//!     '1111110' + 64   any d
//!     '1111111' + 4 bits k' + 64 bits: k' <= 9: the scale becomes k' and the 64 bits are m;
//!                                      k' = 15: the 64 bits are the raw value (m unchanged)
//! ```

use super::bits::{BitReader, BitWriter, Times, XorState};
use super::{unzigzag, write_varint, zigzag};
use crate::error::Error;
use crate::metrics::Sample;

const HEADER_LEN: usize = 4;
const CHUNK_PATH: &str = "<decimal chunk>";
/// Scale byte of a chunk whose values are XOR-coded.
const XOR_MODE: u8 = 0xff;
/// Largest decimal scale.
const MAX_SCALE: u8 = 9;
/// `k'` of an escape that stores a raw value.
const RAW: u64 = 15;
/// `10^k` for `k <= MAX_SCALE`, all exact in `f64`.
const POW10: [f64; MAX_SCALE as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
/// Integers up to this magnitude are exact in `f64`.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
/// Payload bits of the difference buckets after `'0'`, by the number of leading ones.
const DIFF_BITS: [u32; 6] = [4, 8, 14, 24, 40, 64];
/// Leading ones of an escape.
const ESCAPE_ONES: u32 = 7;

/// `v` as `m` with `v == m / 10^k` bit for bit, if there is one with `|m| <= 2^53`.
fn decimal(v: f64, k: u8) -> Option<i64> {
    let p = POW10[usize::from(k)];
    let x = (v * p).round();
    if !x.is_finite() || x.abs() > MAX_EXACT {
        return None;
    }
    let m = x as i64;
    ((m as f64 / p).to_bits() == v.to_bits()).then_some(m)
}

/// The smallest scale in `from..=MAX_SCALE` at which `v` is a decimal, with its `m`.
fn smallest_scale(v: f64, from: u8) -> Option<(u8, i64)> {
    (from..=MAX_SCALE).find_map(|k| decimal(v, k).map(|m| (k, m)))
}

/// A growable head chunk of float samples; see the module docs.
#[derive(Clone, Debug)]
pub struct DecChunk {
    w: BitWriter,
    times: Times,
    scale: u8,
    m: i64,
    xs: XorState,
}

impl Default for DecChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl DecChunk {
    /// An empty chunk (4 bytes: the zero sample count).
    pub fn new() -> Self {
        let mut w = BitWriter::with_capacity(64);
        w.buf.extend_from_slice(&0u32.to_le_bytes());
        DecChunk {
            w,
            times: Times::default(),
            scale: XOR_MODE,
            m: 0,
            xs: XorState::new(0),
        }
    }

    /// Appends one sample; `t` is greater than the previous timestamp (the encoding itself is
    /// lossless for any `t`).
    ///
    /// # Panics
    /// With a "BUG:" message when the chunk already holds `u32::MAX` samples; the head cuts chunks
    /// long before that.
    pub fn append(&mut self, t: i64, v: f64) {
        let first = self.times.num == 0;
        self.times.push(&mut self.w, t);
        if first {
            write_varint(&mut self.w.buf, zigzag(t));
            match smallest_scale(v, 0) {
                Some((k, m)) => {
                    self.w.buf.push(k);
                    write_varint(&mut self.w.buf, zigzag(m));
                    (self.scale, self.m) = (k, m);
                }
                None => {
                    self.w.buf.push(XOR_MODE);
                    self.w.buf.extend_from_slice(&v.to_bits().to_le_bytes());
                    self.scale = XOR_MODE;
                }
            }
            self.xs = XorState::new(v.to_bits());
        } else {
            self.write_value(v);
        }
        self.w.buf[..HEADER_LEN].copy_from_slice(&self.times.num.to_le_bytes());
    }

    fn write_value(&mut self, v: f64) {
        if self.scale == XOR_MODE {
            return self.w.write_xor(&mut self.xs, v.to_bits());
        }
        if let Some(m) = decimal(v, self.scale) {
            let d = m.wrapping_sub(self.m);
            self.m = m;
            if d == 0 {
                return self.w.write_bits(0, 1);
            }
            for (i, &n) in DIFF_BITS.iter().enumerate() {
                let ones = i as u32 + 1;
                if n == 64 || (-(1i64 << (n - 1))..(1i64 << (n - 1))).contains(&d) {
                    // `ones` one bits, then a zero.
                    self.w.write_bits(((1u64 << ones) - 1) << 1, ones + 1);
                    return self.w.write_bits(d as u64, n);
                }
            }
        }
        self.w.write_bits((1 << ESCAPE_ONES) - 1, ESCAPE_ONES);
        match smallest_scale(v, self.scale + 1) {
            Some((k, m)) => {
                self.w.write_bits(u64::from(k), 4);
                self.w.write_bits(m as u64, 64);
                (self.scale, self.m) = (k, m);
            }
            None => {
                self.w.write_bits(RAW, 4);
                self.w.write_bits(v.to_bits(), 64);
            }
        }
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

    /// The complete encoding, sample count included.
    pub fn bytes(&self) -> &[u8] {
        &self.w.buf
    }

    /// An iterator over the samples, oldest first.
    pub fn iter(&self) -> DecIter<'_> {
        DecIter::new(&self.w.buf)
    }
}

/// An iterator over the samples of encoded [`DecChunk`] bytes. Never allocates per sample and
/// never panics: corrupt input ends the iteration and [`err`](Self::err) says where.
#[derive(Debug)]
pub struct DecIter<'a> {
    r: BitReader<'a>,
    num: u32,
    read: u32,
    t: i64,
    delta: i64,
    scale: u8,
    m: i64,
    xs: XorState,
    err: Option<Error>,
}

impl<'a> DecIter<'a> {
    /// An iterator over `bytes`, which must start with the chunk header.
    pub fn new(bytes: &'a [u8]) -> DecIter<'a> {
        let (num, err) = match bytes.first_chunk::<HEADER_LEN>() {
            Some(h) => (u32::from_le_bytes(*h), None),
            None => (
                0,
                Some(Error::corruption(CHUNK_PATH, 0, "chunk shorter than its header")),
            ),
        };
        DecIter {
            r: BitReader::new(bytes, HEADER_LEN),
            num,
            read: 0,
            t: 0,
            delta: 0,
            scale: XOR_MODE,
            m: 0,
            xs: XorState::new(0),
            err,
        }
    }

    /// The corruption that ended the iteration early, if any.
    pub fn err(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    fn fail(&mut self, reason: &'static str) -> Option<Sample> {
        let offset = (self.r.bit_pos() / 8) as u64;
        self.err = Some(Error::corruption(CHUNK_PATH, offset, reason));
        None
    }

    fn value_of_m(&self) -> f64 {
        self.m as f64 / POW10[usize::from(self.scale.min(MAX_SCALE))]
    }

    /// Reads the first sample's timestamp and value from the byte-aligned header.
    fn read_first(&mut self) -> Result<f64, &'static str> {
        let zz = self
            .r
            .read_aligned_varint()
            .ok_or("bad varint for the first timestamp")?;
        self.t = unzigzag(zz);
        let [scale] = self.r.read_aligned_bytes::<1>().ok_or("missing scale byte")?;
        if scale == XOR_MODE {
            let b = self.r.read_aligned_bytes::<8>().ok_or("missing first value")?;
            self.xs = XorState::new(u64::from_le_bytes(b));
            self.scale = XOR_MODE;
            return Ok(f64::from_bits(self.xs.v));
        }
        if scale > MAX_SCALE {
            return Err("bad scale byte");
        }
        let zz = self.r.read_aligned_varint().ok_or("bad varint for the first value")?;
        (self.scale, self.m) = (scale, unzigzag(zz));
        Ok(self.value_of_m())
    }

    fn read_value(&mut self) -> Result<f64, &'static str> {
        const END: &str = "unexpected end of chunk in a value";
        if self.scale == XOR_MODE {
            return self.r.read_xor(&mut self.xs).map(f64::from_bits);
        }
        let ones = self.r.read_prefix(ESCAPE_ONES).ok_or(END)?;
        if ones == 0 {
            return Ok(self.value_of_m());
        }
        if ones < ESCAPE_ONES {
            let d = self.r.read_signed(DIFF_BITS[ones as usize - 1]).ok_or(END)?;
            self.m = self.m.wrapping_add(d);
            return Ok(self.value_of_m());
        }
        let k = self.r.read_bits(4).ok_or(END)?;
        let x = self.r.read_bits(64).ok_or(END)?;
        if k == RAW {
            return Ok(f64::from_bits(x));
        }
        if k > u64::from(MAX_SCALE) {
            return Err("bad scale in an escape");
        }
        (self.scale, self.m) = (k as u8, x as i64);
        Ok(self.value_of_m())
    }
}

impl Iterator for DecIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.err.is_some() || self.read >= self.num {
            return None;
        }
        let v = if self.read == 0 {
            self.read_first()
        } else {
            match self.r.read_dod() {
                Some(dod) => {
                    self.delta = self.delta.wrapping_add(dod);
                    self.t = self.t.wrapping_add(self.delta);
                    self.read_value()
                }
                None => Err("unexpected end of chunk in a timestamp"),
            }
        };
        match v {
            Ok(v) => {
                self.read += 1;
                Some(Sample { t: self.t, v })
            }
            Err(reason) => self.fail(reason),
        }
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

#[cfg(test)]
mod tests;
