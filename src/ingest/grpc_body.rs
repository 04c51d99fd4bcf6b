//! gRPC request messages sent with `grpc-encoding: gzip`, inflated by the shared bounded
//! decoder ([`body::inflate`]) before tonic sees them.
//!
//! tonic would inflate them itself, capped per message at `max_decoding_message_size`, but
//! without counting the output against the memory guard, so eight concurrent bombs could
//! take eight times the cap. Here each compressed message is inflated with its path's
//! limit (413-equivalent RESOURCE_EXHAUSTED naming it), counted against
//! `limits.max_memory` while it inflates (UNAVAILABLE, retry later) and held counted until
//! the call is answered; tonic then receives uncompressed frames. Other encodings pass
//! through: tonic answers them UNIMPLEMENTED, listing the one it accepts.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use nerve_proto::loki::ContentEncoding;

use crate::ingest::body::{self, BodyLimits};
use crate::ingest::memory::Charge;
use crate::ingest::otlp::{MAX_BODY_BYTES, OTLP_BODY_LIMITS};
use crate::servers::error::ApiError;
use crate::state::AppState;

/// Length of a gRPC message frame header: compressed flag, then a big-endian u32 length.
const FRAME_HEADER: usize = 5;

/// The middleware: inflates gzip-compressed request messages, or answers the gRPC error.
pub async fn inflate_grpc(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let gzip = req
        .headers()
        .get("grpc-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return next.run(req).await;
    }
    let limits = limits_for(&state, req.uri().path());
    match inflate_request(&state, req, limits).await {
        Ok((req, charge)) => {
            let resp = next.run(req).await;
            drop(charge);
            resp
        }
        Err(e) => e.into_grpc_status().into_http(),
    }
}

/// The bounds of the service at `path`: logs use the log push limits, metrics and traces
/// the OTLP request limit.
fn limits_for(state: &AppState, path: &str) -> BodyLimits {
    if path.starts_with("/opentelemetry.proto.collector.logs.") {
        BodyLimits {
            max_body: state.limits.logs_max_body(),
            max_decoded: state.limits.logs_max_decoded(),
            decoded_limit: "limits.logs_max_decoded_bytes",
            allow_snappy: false,
        }
    } else {
        BodyLimits {
            max_body: MAX_BODY_BYTES,
            ..OTLP_BODY_LIMITS
        }
    }
}

async fn inflate_request(state: &AppState, req: Request, limits: BodyLimits) -> Result<(Request, Charge), ApiError> {
    let (mut parts, body) = req.into_parts();
    let raw = body::read_body(&parts.headers, body, limits.max_body, None).await?;
    let mut charge = state.memory.charge();
    let (framed, charge) = tokio::task::spawn_blocking(move || {
        let framed = inflate_frames(&raw, limits, &mut charge)?;
        Ok::<_, ApiError>((framed, charge))
    })
    .await??;
    parts.headers.remove("grpc-encoding");
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok((Request::from_parts(parts, Body::from(framed)), charge))
}

/// Rewrites a request body of gRPC frames with every compressed message inflated.
fn inflate_frames(raw: &[u8], limits: BodyLimits, charge: &mut Charge) -> Result<Vec<u8>, ApiError> {
    let mut out: Option<Vec<u8>> = None;
    let mut rest = raw;
    while !rest.is_empty() {
        let header = rest
            .get(..FRAME_HEADER)
            .ok_or_else(|| ApiError::bad_data("truncated gRPC message frame header"))?;
        let mut len = [0u8; 4];
        len.copy_from_slice(&header[1..]);
        let len = u32::from_be_bytes(len) as usize;
        let payload = rest
            .get(FRAME_HEADER..FRAME_HEADER.saturating_add(len))
            .ok_or_else(|| ApiError::bad_data("gRPC message frame longer than the request body"))?;
        rest = &rest[FRAME_HEADER + len..];
        let message = if header[0] & 1 == 1 {
            body::inflate(ContentEncoding::Gzip, payload, limits, charge)?
        } else {
            payload.to_vec()
        };
        let len = u32::try_from(message.len())
            .map_err(|_| ApiError::bad_data("inflated gRPC message does not fit a frame"))?;
        let mut frame = [0u8; FRAME_HEADER];
        frame[1..].copy_from_slice(&len.to_be_bytes());
        match &mut out {
            // The usual single message: the header goes in front of the inflated bytes in
            // place (the buffer has room reserved), not into a second copy.
            None => {
                let mut message = message;
                message.splice(0..0, frame);
                out = Some(message);
            }
            Some(o) => {
                o.extend_from_slice(&frame);
                o.extend_from_slice(&message);
            }
        }
    }
    Ok(out.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;
    use crate::ingest::memory::MemoryGuard;
    use crate::servers::error::ErrorKind;

    fn frame(compressed: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![u8::from(compressed)];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const LIMITS: BodyLimits = BodyLimits {
        max_body: 1 << 20,
        max_decoded: 1 << 20,
        decoded_limit: "limits.test",
        allow_snappy: false,
    };

    #[test]
    fn compressed_frames_are_inflated_and_plain_ones_kept() {
        let guard = Arc::new(MemoryGuard::new(0));
        let mut charge = guard.charge();
        let a = b"first message".repeat(100);
        let body = [frame(true, &gzip(&a)), frame(false, b"second"), frame(true, &gzip(b""))].concat();
        let out = inflate_frames(&body, LIMITS, &mut charge).unwrap();
        assert_eq!(
            out,
            [frame(false, &a), frame(false, b"second"), frame(false, b"")].concat()
        );
        assert_eq!(charge.bytes(), a.len() as u64);
    }

    #[test]
    fn bombs_and_broken_frames_are_refused() {
        let guard = Arc::new(MemoryGuard::new(0));
        let mut charge = guard.charge();
        let bomb = frame(true, &gzip(&vec![0u8; 4 << 20]));
        let e = inflate_frames(&bomb, LIMITS, &mut charge).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PayloadTooLarge);
        assert!(e.message().contains("limits.test"), "{}", e.message());
        for bad in [
            &b"\x00\x00\x00"[..],
            b"\x00\x00\x00\x00\x09abc",
            b"\x01\x00\x00\x00\x03abc",
        ] {
            let e = inflate_frames(bad, LIMITS, &mut charge).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadData, "{bad:?}: {}", e.message());
        }
    }
}
