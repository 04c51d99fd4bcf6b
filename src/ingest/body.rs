//! Reading request bodies with a size cap.

use std::pin::Pin;

use axum::body::{Body, HttpBody as _};
use axum::http::{HeaderMap, header};

use crate::servers::error::{ApiError, ErrorKind};

/// Reads the body as sent, refusing with 413 once it exceeds `max`.
pub async fn read_body(headers: &HeaderMap, mut body: Body, max: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::new(ErrorKind::PayloadTooLarge, format!("request body exceeds {max} bytes"));
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
