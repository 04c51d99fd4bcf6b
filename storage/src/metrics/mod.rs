//! The metrics TSDB.
//!
//! Write path: [`Appender`] → WAL (fsync policy) → head (compressed chunks, postings).
//! Every `block_duration` the head's oldest range is written as an immutable block
//! (see [`block`]), blocks are compacted and deleted by retention.
//! Read path: [`Querier`] merges head and blocks over `[mint, maxt]`.

pub mod chunk;
pub mod wal;

/// One float sample: a millisecond timestamp and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; may be the stale marker [`STALE_NAN`].
    pub v: f64,
}

/// Bit pattern of the Prometheus staleness marker (a signalling NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// Bit pattern of the NaN Prometheus uses for an ordinary NaN value.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;
/// The staleness marker as an f64. Compare with [`is_stale_nan`], never with `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True when `v` is exactly the staleness marker.
#[inline]
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
