//! Bit-level writing and reading shared by the head chunk codecs ([`XorChunk`](super::XorChunk)
//! and [`DecChunk`](super::DecChunk)): an MSB-first bit stream, the delta-of-delta timestamp
//! buckets and the XOR value coding described in the [`chunk`](super) module docs.

/// `leading` value meaning "no window of meaningful bits yet".
const NO_WINDOW: u8 = 0xff;
/// Delta-of-delta buckets after the `'0'` case: (prefix, prefix bits, payload bits).
const DOD_BUCKETS: [(u64, u32, u32); 4] = [(0b10, 2, 8), (0b110, 3, 14), (0b1110, 4, 20), (0b11110, 5, 32)];
/// How much a buffer grows when full: head chunks are many and small, so they grow in small
/// steps rather than by doubling (a 120-sample chunk usually needs 100–200 bytes).
const GROW_BYTES: usize = 32;

/// An MSB-first bit stream appended to a byte buffer (which may start with byte-aligned
/// headers written through [`BitWriter::buf`] before any bit).
#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    /// The bytes; the last one holds `8 - free_bits` bits of the stream.
    pub buf: Vec<u8>,
    /// Unused low bits of the last byte of `buf` (0..=7).
    pub free_bits: u32,
}

impl BitWriter {
    /// An empty stream with room for `cap` bytes.
    pub fn with_capacity(cap: usize) -> Self {
        BitWriter {
            buf: Vec::with_capacity(cap),
            free_bits: 0,
        }
    }

    /// Appends the low `n` bits of `value` (1..=64), most significant first.
    pub fn write_bits(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            if self.free_bits == 0 {
                if self.buf.len() == self.buf.capacity() {
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

    /// Appends a timestamp delta-of-delta.
    pub fn write_dod(&mut self, dod: i64) {
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

    /// Appends the value `bits`, XOR-coded against `st` (which it updates).
    pub fn write_xor(&mut self, st: &mut XorState, bits: u64) {
        let x = bits ^ st.v;
        st.v = bits;
        if x == 0 {
            return self.write_bits(0, 1);
        }
        let lead = x.leading_zeros() as u8;
        let trail = x.trailing_zeros() as u8;
        if st.leading != NO_WINDOW && lead >= st.leading && trail >= st.trailing {
            self.write_bits(0b10, 2);
            let len = 64 - u32::from(st.leading) - u32::from(st.trailing);
            return self.write_bits(x >> st.trailing, len);
        }
        let len = 64 - u32::from(lead) - u32::from(trail);
        // '11' + 6 bits lead + 6 bits (len - 1) in one 14-bit write.
        self.write_bits((0b11 << 12) | (u64::from(lead) << 6) | u64::from(len - 1), 14);
        self.write_bits(x >> trail, len);
        st.leading = lead;
        st.trailing = trail;
    }
}

/// The timestamps side of an appendable chunk: sample count, first and last timestamp, and the
/// last delta, with the delta-of-delta coding of every timestamp after the first.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Times {
    /// Samples appended.
    pub num: u32,
    pub first: i64,
    pub last: i64,
    pub delta: i64,
}

impl Times {
    /// Records `t`. Every timestamp but the first has its delta-of-delta written to `w`; the
    /// caller writes the first one (byte-aligned, in its header).
    ///
    /// # Panics
    /// With a "BUG:" message when the chunk already holds `u32::MAX` samples; the head cuts
    /// chunks long before that.
    pub fn push(&mut self, w: &mut BitWriter, t: i64) {
        assert!(self.num < u32::MAX, "BUG: a chunk holds u32::MAX samples");
        if self.num == 0 {
            self.first = t;
        } else {
            let delta = t.wrapping_sub(self.last);
            w.write_dod(delta.wrapping_sub(self.delta));
            self.delta = delta;
        }
        self.last = t;
        self.num += 1;
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.num as usize
    }

    /// Timestamp of the first sample, `None` when empty.
    pub fn min_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.first)
    }

    /// Timestamp of the last sample, `None` when empty.
    pub fn max_time(&self) -> Option<i64> {
        (self.num > 0).then_some(self.last)
    }
}

/// State of the XOR value coding: the previous value and its window of meaningful bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct XorState {
    /// Bits of the previous value.
    pub v: u64,
    leading: u8,
    trailing: u8,
}

impl XorState {
    /// The state after a first value `v` (no window yet).
    pub const fn new(v: u64) -> Self {
        XorState {
            v,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }
}

/// Reads an MSB-first bit stream from borrowed bytes without allocating.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte of `data` to load into `acc`.
    pos: usize,
    /// Left-aligned bit buffer; only the top `nacc` bits are pending.
    acc: u64,
    nacc: u32,
}

impl<'a> BitReader<'a> {
    /// A reader of `data` starting at byte `pos`.
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        BitReader {
            data,
            pos,
            acc: 0,
            nacc: 0,
        }
    }

    /// Bits consumed so far, counted from the start of `data`.
    pub fn bit_pos(&self) -> usize {
        self.pos * 8 - self.nacc as usize
    }

    /// Reads an LEB128 varint; only valid before any bit was read. `None` when truncated, too
    /// long, or bits are already buffered.
    pub fn read_aligned_varint(&mut self) -> Option<u64> {
        if self.nacc != 0 {
            return None;
        }
        super::read_varint(self.data, &mut self.pos)
    }

    /// Reads `n` raw bytes; only valid before any bit was read.
    pub fn read_aligned_bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.nacc != 0 {
            return None;
        }
        let b = self.data.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        b.try_into().ok()
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
    pub fn read_bits(&mut self, n: u32) -> Option<u64> {
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
    pub fn read_prefix(&mut self, max: u32) -> Option<u32> {
        let mut ones = 0;
        while ones < max {
            if self.read_bits(1)? == 0 {
                break;
            }
            ones += 1;
        }
        Some(ones)
    }

    /// Reads a signed value of `n` bits (two's complement, 1..=64).
    #[inline]
    pub fn read_signed(&mut self, n: u32) -> Option<i64> {
        let raw = self.read_bits(n)?;
        Some(((raw << (64 - n)) as i64) >> (64 - n))
    }

    /// Reads a timestamp delta-of-delta written by [`BitWriter::write_dod`].
    pub fn read_dod(&mut self) -> Option<i64> {
        let ones = self.read_prefix(5)?;
        let n = match ones {
            0 => return Some(0),
            1..=4 => DOD_BUCKETS[ones as usize - 1].2,
            _ => 64,
        };
        self.read_signed(n)
    }

    /// Reads a value written by [`BitWriter::write_xor`], updating `st`.
    pub fn read_xor(&mut self, st: &mut XorState) -> Result<u64, &'static str> {
        const END: &str = "unexpected end of chunk in a value";
        if self.read_bits(1).ok_or(END)? == 0 {
            return Ok(st.v);
        }
        if self.read_bits(1).ok_or(END)? == 0 {
            if st.leading == NO_WINDOW {
                return Err("value reuses a window before one was set");
            }
            let len = 64 - u32::from(st.leading) - u32::from(st.trailing);
            let x = self.read_bits(len).ok_or(END)?;
            st.v ^= x << st.trailing;
            return Ok(st.v);
        }
        let head = self.read_bits(12).ok_or(END)?;
        let lead = (head >> 6) as u32;
        let len = (head & 0x3f) as u32 + 1;
        if lead + len > 64 {
            return Err("value window exceeds 64 bits");
        }
        let trail = 64 - lead - len;
        let x = self.read_bits(len).ok_or(END)?;
        st.v ^= x << trail;
        st.leading = lead as u8;
        st.trailing = trail as u8;
        Ok(st.v)
    }
}
