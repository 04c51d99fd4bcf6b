//! The head chunk codec: Gorilla-style delta-of-delta timestamps and XOR-compressed floats.
//!
//! A head chunk is appended to sample by sample and read back by [`XorIter`], which works directly
//! on borrowed (for example mmapped) bytes. The encoding is lossless for every bit pattern: NaN
//! payloads, the stale marker [`STALE_NAN`](crate::metrics::STALE_NAN), `-0.0` and `±Inf` come
//! back bit for bit, and any `i64` timestamp sequence round-trips because all timestamp arithmetic
//! wraps modulo 2^64 (strictly increasing timestamps are only needed for [`XorIter::seek`]).
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

/// Bytes before the first sample: the little-endian `u32` sample count.
const HEADER_LEN: usize = 4;
/// Pseudo path used in [`Error::Corruption`] for chunk bytes that have no file of their own.
const CHUNK_PATH: &str = "<xor chunk>";
/// `leading` value meaning "no window of meaningful bits yet".
const NO_WINDOW: u8 = 0xff;
/// Delta-of-delta buckets after the `'0'` case: (prefix, prefix bits, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 4] = [(0b10, 2, 8), (0b110, 3, 14), (0b1110, 4, 20), (0b11110, 5, 32)];

/// How much an open chunk's buffer grows when full (its first allocation is 128 bytes).
const GROW_BYTES: usize = 32;

/// A growable head chunk of float samples.
///
/// Appends are O(1) (the buffer grows by [`GROW_BYTES`] at a time, so a chunk reallocates a few
/// times); [`bytes`](Self::bytes) is always a complete, self-describing encoding that
/// [`XorIter`] can read. Not thread-safe by itself: the head wraps it in its per-series lock.
#[derive(Clone, Debug)]
pub struct XorChunk {
    buf: Vec<u8>,
    /// Unused low bits of the last byte of `buf` (0..=7).
    free_bits: u32,
    num: u32,
    first_t: i64,
    state: State,
}

/// Codec state shared by the appender and the iterator: everything needed to encode or decode
/// the next sample.
#[derive(Clone, Copy, Debug)]
struct State {
    t: i64,
    delta: i64,
    v: u64,
    leading: u8,
    trailing: u8,
}

impl State {
    const EMPTY: State = State {
        t: 0,
        delta: 0,
        v: 0,
        leading: NO_WINDOW,
        trailing: 0,
    };
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (4 bytes: the zero sample count).
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_le_bytes());
        XorChunk {
            buf,
            free_bits: 0,
            num: 0,
            first_t: 0,
            state: State::EMPTY,
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
        assert!(self.num < u32::MAX, "BUG: XorChunk holds u32::MAX samples");
        let bits = v.to_bits();
        match self.num {
            0 => {
                write_varint(&mut self.buf, zigzag(t));
                self.write_bits(bits, 64);
                self.first_t = t;
                self.state.v = bits;
            }
            _ => {
                let delta = t.wrapping_sub(self.state.t);
                self.write_dod(delta.wrapping_sub(self.state.delta));
                self.write_value(bits);
                self.state.delta = delta;
            }
        }
        self.state.t = t;
        self.num += 1;
        self.buf[..HEADER_LEN].copy_from_slice(&self.num.to_le_bytes());
    }

    /// Number of samples in the chunk.
    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    /// Timestamp of the first sample, `None` when the chunk is empty.
    pub fn min_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.first_t)
    }

    /// Timestamp of the last sample, `None` when the chunk is empty.
    pub fn max_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.state.t)
    }

    /// The complete encoding, sample count included; what gets written to disk.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Length of [`bytes`](Self::bytes) in bytes.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// An iterator over the samples, oldest first.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(&self.buf)
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
        let bit_pos = it.bit_pos();
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
        let (num, state) = (it.num, it.state);
        Ok(XorChunk {
            buf,
            free_bits,
            num,
            first_t,
            state,
        })
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            return self.write_bits(0, 1);
        }
        for (prefix, prefix_bits, payload_bits) in DOD_BUCKETS {
            let half = 1i64 << (payload_bits - 1);
            if (-half..half).contains(&dod) {
                self.write_bits(prefix, prefix_bits);
                return self.write_bits(dod as u64, payload_bits);
            }
        }
        self.write_bits(0b11111, 5);
        self.write_bits(dod as u64, 64);
    }

    fn write_value(&mut self, bits: u64) {
        let x = bits ^ self.state.v;
        self.state.v = bits;
        if x == 0 {
            return self.write_bits(0, 1);
        }
        let lead = x.leading_zeros() as u8;
        let trail = x.trailing_zeros() as u8;
        let st = self.state;
        if st.leading != NO_WINDOW && lead >= st.leading && trail >= st.trailing {
            self.write_bits(0b10, 2);
            let len = 64 - u32::from(st.leading) - u32::from(st.trailing);
            return self.write_bits(x >> st.trailing, len);
        }
        let len = 64 - u32::from(lead) - u32::from(trail);
        // '11' + 6 bits lead + 6 bits (len - 1) in one 14-bit write.
        self.write_bits((0b11 << 12) | (u64::from(lead) << 6) | u64::from(len - 1), 14);
        self.write_bits(x >> trail, len);
        self.state.leading = lead;
        self.state.trailing = trail;
    }

    /// Appends the low `n` bits of `value` (1..=64), most significant first.
    fn write_bits(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            if self.free_bits == 0 {
                if self.buf.len() == self.buf.capacity() {
                    // Grow in small steps, not by doubling: an open chunk per series is a large
                    // share of the head, and a 120-sample chunk usually needs 130–200 bytes.
                    self.buf.reserve_exact(GROW_BYTES);
                }
                self.buf.push(0);
                self.free_bits = 8;
            }
            let take = self.free_bits.min(n);
            let part = ((value >> (n - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= part << (self.free_bits - take);
            }
            self.free_bits -= take;
            n -= take;
        }
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
    data: &'a [u8],
    /// Next byte of `data` to load into `acc`.
    pos: usize,
    /// Left-aligned bit buffer; only the top `nacc` bits are pending.
    acc: u64,
    nacc: u32,
    num: u32,
    read: u32,
    state: State,
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
        let state = State::EMPTY;
        let (pos, acc, nacc, read, current) = (HEADER_LEN, 0, 0, 0, None);
        XorIter {
            data: bytes,
            pos,
            acc,
            nacc,
            num,
            read,
            state,
            current,
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

    /// Bits consumed so far, counted from the start of the chunk.
    fn bit_pos(&self) -> usize {
        self.pos * 8 - self.nacc as usize
    }

    fn fail(&mut self, reason: &'static str) -> Option<Sample> {
        let offset = (self.bit_pos() / 8) as u64;
        self.err = Some(Error::corruption(CHUNK_PATH, offset, reason));
        self.current = None;
        None
    }

    /// Loads whole bytes into `acc` until it holds at least 57 bits or the input ends.
    #[inline]
    fn refill(&mut self) {
        if let Some(word) = self.data.get(self.pos..self.pos + 8) {
            // Bits beyond `nacc` already in `acc` are the same input bits, so OR-ing is harmless.
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.acc |= u64::from_be_bytes(w) >> self.nacc;
            let bytes = (63 - self.nacc) / 8;
            self.pos += bytes as usize;
            self.nacc += bytes * 8;
            return;
        }
        while self.nacc <= 56 {
            let Some(&b) = self.data.get(self.pos) else { break };
            self.acc |= u64::from(b) << (56 - self.nacc);
            self.nacc += 8;
            self.pos += 1;
        }
    }

    /// Reads `n` bits (1..=64), most significant first; `None` at the end of the input.
    #[inline]
    fn read_bits(&mut self, n: u32) -> Option<u64> {
        if n > 56 {
            let hi = self.read_bits(n - 32)?;
            let lo = self.read_bits(32)?;
            return Some((hi << 32) | lo);
        }
        if self.nacc < n {
            self.refill();
            if self.nacc < n {
                return None;
            }
        }
        let v = self.acc >> (64 - n);
        self.acc <<= n;
        self.nacc -= n;
        Some(v)
    }

    /// Counts leading one bits, up to `max`, consuming them and the terminating zero (if `< max`).
    #[inline]
    fn read_prefix(&mut self, max: u32) -> Option<u32> {
        let mut ones = 0;
        while ones < max {
            if self.read_bits(1)? == 0 {
                break;
            }
            ones += 1;
        }
        Some(ones)
    }

    fn read_dod(&mut self) -> Option<i64> {
        let ones = self.read_prefix(5)?;
        let n = match ones {
            0 => return Some(0),
            1..=4 => DOD_BUCKETS[ones as usize - 1].2,
            _ => 64,
        };
        let raw = self.read_bits(n)?;
        Some(((raw << (64 - n)) as i64) >> (64 - n))
    }

    fn read_value(&mut self) -> Result<u64, &'static str> {
        const END: &str = "unexpected end of chunk in a value";
        if self.read_bits(1).ok_or(END)? == 0 {
            return Ok(self.state.v);
        }
        if self.read_bits(1).ok_or(END)? == 0 {
            if self.state.leading == NO_WINDOW {
                return Err("value reuses a window before one was set");
            }
            let len = 64 - u32::from(self.state.leading) - u32::from(self.state.trailing);
            let x = self.read_bits(len).ok_or(END)?;
            self.state.v ^= x << self.state.trailing;
            return Ok(self.state.v);
        }
        let head = self.read_bits(12).ok_or(END)?;
        let lead = (head >> 6) as u32;
        let len = (head & 0x3f) as u32 + 1;
        if lead + len > 64 {
            return Err("value window exceeds 64 bits");
        }
        let trail = 64 - lead - len;
        let x = self.read_bits(len).ok_or(END)?;
        self.state.v ^= x << trail;
        self.state.leading = lead as u8;
        self.state.trailing = trail as u8;
        Ok(self.state.v)
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
            let Some(zz) = read_varint(self.data, &mut self.pos) else {
                return self.fail("bad varint for the first timestamp");
            };
            self.state.t = unzigzag(zz);
            let Some(v) = self.read_bits(64) else {
                return self.fail("unexpected end of chunk in the first value");
            };
            self.state.v = v;
        } else {
            let Some(dod) = self.read_dod() else {
                return self.fail("unexpected end of chunk in a timestamp");
            };
            self.state.delta = self.state.delta.wrapping_add(dod);
            self.state.t = self.state.t.wrapping_add(self.state.delta);
            if let Err(reason) = self.read_value() {
                return self.fail(reason);
            }
        }
        self.read += 1;
        let s = Sample {
            t: self.state.t,
            v: f64::from_bits(self.state.v),
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
