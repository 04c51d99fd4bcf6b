//! Reading request bodies with a size cap, and undoing their `Content-Encoding` with a cap
//! on the output: the one implementation every compressed ingest path uses (Loki push,
//! OTLP/HTTP logs, traces and metrics on both ports, and gRPC messages, see
//! [`crate::ingest::grpc_body`]).
//!
//! Decompression streams: output is produced in pieces of
//! [`METER_CHUNK`](nerve_proto::loki::METER_CHUNK) bytes, each counted against the memory
//! guard ([`Charge`]) before it is kept, and stops one piece past the path's decoded limit
//! (413 naming the limit). So a small body inflating to gigabytes costs at most the limit,
//! and many at once cannot together push nerve past `limits.max_memory` (503, retry later).

use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, HttpBody as _};
use axum::http::{HeaderMap, header};
use nerve_proto::loki::ContentEncoding;

use crate::ingest::memory::{Charge, MemoryGuard};
use crate::servers::error::{ApiError, ErrorKind};

/// Reads the body as sent, refusing with 413 as soon as it is known to exceed `max` (from
/// `Content-Length`, or while streaming a chunked body); the 413 names `limit`, the setting
/// `max` comes from, when given.
pub async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    max: usize,
    limit: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        let msg = match limit {
            Some(name) => format!("request body exceeds {name} ({max} bytes)"),
            None => format!("request body exceeds {max} bytes"),
        };
        ApiError::new(ErrorKind::PayloadTooLarge, msg)
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(max));
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| ApiError::bad_data(format!("reading request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(too_large());
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// The bounds of one ingest path's bodies.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Largest body as sent; larger → 413.
    pub max_body: usize,
    /// Largest body after decompression; larger → 413.
    pub max_decoded: usize,
    /// What `max_decoded` is called in the 413 message, e.g. `limits.logs_max_decoded_bytes`.
    pub decoded_limit: &'static str,
    /// Whether `Content-Encoding: snappy` is accepted (Loki: passed through, its protobuf
    /// bodies are snappy blocks anyway); otherwise it is a 415 like any unknown encoding.
    pub allow_snappy: bool,
}

/// A request body with its `Content-Encoding` undone.
#[derive(Debug)]
pub struct Decoded {
    /// The decoded bytes.
    pub bytes: Vec<u8>,
    /// The decompressed bytes, counted against the memory guard until dropped; keep it
    /// while the request is being decoded and stored.
    pub charge: Charge,
}

/// Reads a body of at most `limits.max_body` bytes and undoes its `Content-Encoding`
/// (identity, gzip, deflate, zstd; snappy when allowed) on a blocking thread, with the
/// output capped at `limits.max_decoded` (413) and counted against `guard` as it is
/// produced (503 over `limits.max_memory`). An unknown encoding is 415, a corrupt stream
/// 400.
pub async fn read_decoded(
    guard: &Arc<MemoryGuard>,
    headers: &HeaderMap,
    body: Body,
    limits: BodyLimits,
) -> Result<Decoded, ApiError> {
    let header = headers.get(header::CONTENT_ENCODING).map(|v| v.to_str());
    let encoding = match header {
        Some(Err(_)) => Err(unsupported_encoding("(not visible ASCII)")),
        Some(Ok(v)) => ContentEncoding::from_header(Some(v)).map_err(|_| unsupported_encoding(v)),
        None => Ok(ContentEncoding::Identity),
    }?;
    if encoding == ContentEncoding::Snappy && !limits.allow_snappy {
        return Err(unsupported_encoding("snappy"));
    }
    let raw = read_body(headers, body, limits.max_body, None).await?;
    let mut charge = guard.charge();
    if matches!(encoding, ContentEncoding::Identity | ContentEncoding::Snappy) {
        if raw.len() > limits.max_decoded {
            return Err(too_large(limits));
        }
        return Ok(Decoded { bytes: raw, charge });
    }
    tokio::task::spawn_blocking(move || {
        let bytes = inflate(encoding, &raw, limits, &mut charge)?;
        Ok(Decoded { bytes, charge })
    })
    .await?
}

/// Undoes a compressing `encoding` of `raw` (blocking): output capped at
/// `limits.max_decoded` (413 naming the limit) and counted against the memory guard
/// through `charge` as it is produced (503); a corrupt stream is 400.
pub fn inflate(
    encoding: ContentEncoding,
    raw: &[u8],
    limits: BodyLimits,
    charge: &mut Charge,
) -> Result<Vec<u8>, ApiError> {
    let mut refusal = None;
    let out = encoding.decode_metered(raw, limits.max_decoded, &mut |n| {
        charge.add(n).map_err(|e| {
            let msg = e.message().to_owned();
            refusal = Some(e);
            nerve_proto::Error::OverMemory(msg)
        })
    });
    if out.is_err() {
        // The partly inflated buffer is gone: give its pages back before the next bomb.
        crate::allocator::release_free_memory();
    }
    match out {
        Ok(bytes) => Ok(bytes.into_owned()),
        Err(nerve_proto::Error::OverMemory(msg)) => {
            Err(refusal.unwrap_or_else(|| ApiError::new(ErrorKind::Unavailable, msg)))
        }
        Err(nerve_proto::Error::DecodedTooLarge { .. }) => Err(too_large(limits)),
        Err(e) => Err(ApiError::bad_data(format!("decompressing request body: {e}"))),
    }
}

/// Counts the output a snappy block announces (a Loki protobuf push) before it is
/// decompressed, so it is bounded by the memory guard like the other encodings. Bodies
/// announcing more than the decoded limit are refused by the decoder before allocating
/// and are not counted.
pub fn charge_snappy_block(decoded: &mut Decoded, max_decoded: usize) -> Result<(), ApiError> {
    match snap::raw::decompress_len(&decoded.bytes) {
        Ok(n) if n <= max_decoded => decoded.charge.add(n),
        _ => Ok(()),
    }
}

fn unsupported_encoding(value: &str) -> ApiError {
    ApiError::new(
        ErrorKind::UnsupportedMediaType,
        format!("unsupported Content-Encoding {value:?}; use gzip, deflate, zstd or none"),
    )
}

fn too_large(limits: BodyLimits) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "decompressed request body exceeds {} ({} bytes)",
            limits.decoded_limit, limits.max_decoded
        ),
    )
}

#[cfg(test)]
mod tests;
