//! `Content-Encoding` of push bodies: identity, gzip, deflate, zstd (and snappy, which is a
//! no-op because protobuf push bodies are snappy blocks anyway).
//!
//! Every decoder is bounded by the caller's `max_decoded`: decompression stops one byte past
//! the limit and fails with [`Error::DecodedTooLarge`], so a small "zip bomb" cannot make the
//! receiver allocate without bound.

use std::borrow::Cow;
use std::io::Read;

use crate::Error;

/// A supported `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No header, an empty one, or `identity`.
    Identity,
    /// `gzip` (also `x-gzip`); concatenated members are read as one stream, like Go's reader.
    Gzip,
    /// `deflate`: Loki reads raw DEFLATE (Go's `compress/flate`); a zlib-wrapped stream (what
    /// RFC 9110 calls deflate) is accepted too.
    Deflate,
    /// `zstd`.
    Zstd,
    /// `snappy`: the body is passed on unchanged (Loki does the same; protobuf push bodies
    /// are snappy blocks whatever the header says).
    Snappy,
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value (case-insensitive, surrounding spaces
    /// ignored); [`Error::Unsupported`] (HTTP 415) for anything else.
    pub fn from_header(value: Option<&str>) -> Result<Self, Error> {
        let v = value.unwrap_or("").trim();
        let enc = if v.is_empty() || v.eq_ignore_ascii_case("identity") {
            ContentEncoding::Identity
        } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
            ContentEncoding::Gzip
        } else if v.eq_ignore_ascii_case("deflate") {
            ContentEncoding::Deflate
        } else if v.eq_ignore_ascii_case("zstd") {
            ContentEncoding::Zstd
        } else if v.eq_ignore_ascii_case("snappy") {
            ContentEncoding::Snappy
        } else {
            return Err(Error::Unsupported {
                what: "content-encoding",
                value: v.to_owned(),
            });
        };
        Ok(enc)
    }

    /// Undoes this encoding. Identity and snappy borrow the body (still checked against
    /// `max_decoded`); the others decompress into a new buffer of at most `max_decoded` bytes.
    pub fn decode(self, body: &[u8], max_decoded: usize) -> Result<Cow<'_, [u8]>, Error> {
        self.decode_metered(body, max_decoded, &mut |_| Ok(()))
    }

    /// [`ContentEncoding::decode`] that reports every [`METER_CHUNK`] or less of output to
    /// `meter` before keeping it; an error from `meter` stops decompression and is
    /// returned. Receivers use it to count inflating bodies against a shared memory bound,
    /// so many concurrent bombs cannot add up past it even when each stays under
    /// `max_decoded`.
    pub fn decode_metered<'b>(
        self,
        body: &'b [u8],
        max_decoded: usize,
        meter: &mut dyn FnMut(usize) -> Result<(), Error>,
    ) -> Result<Cow<'b, [u8]>, Error> {
        match self {
            ContentEncoding::Identity | ContentEncoding::Snappy => {
                if body.len() > max_decoded {
                    return Err(Error::DecodedTooLarge { limit: max_decoded });
                }
                Ok(Cow::Borrowed(body))
            }
            ContentEncoding::Gzip => read_bounded("gzip", flate2::read::MultiGzDecoder::new(body), max_decoded, meter),
            ContentEncoding::Deflate => {
                if looks_like_zlib(body) {
                    let zlib = read_bounded("deflate", flate2::read::ZlibDecoder::new(body), max_decoded, meter);
                    match zlib {
                        Ok(out) => return Ok(out),
                        // Over a limit: trying raw DEFLATE would only inflate it again.
                        Err(e @ (Error::DecodedTooLarge { .. } | Error::OverMemory(_))) => return Err(e),
                        Err(_) => {}
                    }
                }
                read_bounded("deflate", flate2::read::DeflateDecoder::new(body), max_decoded, meter)
            }
            ContentEncoding::Zstd => {
                let decoder = zstd::stream::read::Decoder::new(body).map_err(|e| Error::Decompress {
                    encoding: "zstd",
                    message: e.to_string(),
                })?;
                read_bounded("zstd", decoder, max_decoded, meter)
            }
        }
    }
}

/// The two-byte zlib header check of RFC 1950 (CM = 8, FCHECK makes it a multiple of 31).
fn looks_like_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Output is read and metered in pieces of at most this many bytes.
pub const METER_CHUNK: usize = 256 << 10;

/// Most address space [`read_bounded`] reserves up front.
const MAX_RESERVE: usize = 1 << 30;

/// Reads `reader` to the end, failing once more than `max` bytes come out or `meter`
/// refuses a piece. The output buffer's capacity is reserved once from `max` (the
/// receiver's limit, never a size the sender claims): address space only, pages become
/// resident as they are written, and the buffer never grows by copying, which would hold
/// the old and the new copy at once.
fn read_bounded<'a>(
    encoding: &'static str,
    mut reader: impl Read,
    max: usize,
    meter: &mut dyn FnMut(usize) -> Result<(), Error>,
) -> Result<Cow<'a, [u8]>, Error> {
    let mut out = Vec::with_capacity(max.min(MAX_RESERVE));
    let mut chunk = vec![0u8; METER_CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Decompress {
                    encoding,
                    message: e.to_string(),
                });
            }
        };
        if out.len().saturating_add(n) > max {
            return Err(Error::DecodedTooLarge { limit: max });
        }
        meter(n)?;
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(Cow::Owned(out))
}
