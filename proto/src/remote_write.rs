//! Prometheus remote write 1.0 and 2.0: content negotiation, decoding,
//! flattening into one version-neutral view, and encoding.
//!
//! Wire format (both versions): an HTTP POST whose body is a snappy **block**
//! (not the framed format) of a serialized protobuf message —
//! [`prompb::WriteRequest`] for 1.0, [`write_v2::Request`] for 2.0. Which one
//! is announced by the `Content-Type` header, see [`negotiate`].

mod borrowed;
mod convert;
mod flatten;
#[cfg(test)]
mod tests;
mod version_fields;

use prost::Message;

use crate::{Error, prompb, write_v2};

pub use borrowed::{SeriesView, for_each_series_v1};
pub use convert::v1_to_v2;
pub use flatten::{DecodedExemplar, DecodedMetadata, DecodedSeries, MetricKind, flatten_v1, flatten_v2};
pub use version_fields::check_version_fields;

/// The media type of both remote-write versions.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// The `proto` media-type parameter naming the 1.0 message.
pub const PROTO_V1: &str = "prometheus.WriteRequest";
/// The `proto` media-type parameter naming the 2.0 message.
pub const PROTO_V2: &str = "io.prometheus.write.v2.Request";
/// The only `Content-Encoding` remote write uses.
pub const CONTENT_ENCODING_SNAPPY: &str = "snappy";

/// Which remote-write protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemoteWriteVersion {
    /// Remote write 1.0: [`prompb::WriteRequest`].
    V1,
    /// Remote write 2.0: [`write_v2::Request`].
    V2,
}

impl RemoteWriteVersion {
    /// The fully qualified protobuf message name (the `proto` parameter).
    pub fn proto_message(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => PROTO_V1,
            RemoteWriteVersion::V2 => PROTO_V2,
        }
    }

    /// The `Content-Type` a sender puts on a request of this version.
    pub fn content_type(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => CONTENT_TYPE_PROTOBUF,
            RemoteWriteVersion::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        }
    }

    /// The `X-Prometheus-Remote-Write-Version` header value a sender puts on
    /// a request of this version.
    pub fn version_header(self) -> &'static str {
        match self {
            RemoteWriteVersion::V1 => "0.1.0",
            RemoteWriteVersion::V2 => "2.0.0",
        }
    }
}

/// Picks the protocol version from the request's `Content-Type` and checks
/// its `Content-Encoding`, the way Prometheus' own receiver does:
///
/// * no (or blank) `Content-Type` → [`RemoteWriteVersion::V1`];
/// * `application/x-protobuf` without a `proto` parameter, or with
///   `proto=prometheus.WriteRequest` → V1;
/// * `application/x-protobuf;proto=io.prometheus.write.v2.Request` → V2;
/// * any other media type, any other `proto`, or a parameter that is not
///   `key=value` → [`Error::Unsupported`] (HTTP 415);
/// * no (or blank) `Content-Encoding`, or `snappy` → accepted; anything else
///   → [`Error::Unsupported`].
///
/// Media type, parameter names and the encoding compare case-insensitively,
/// whitespace around parts is ignored and a quoted `proto` value is accepted
/// (RFC 9110 §5.6.6); Prometheus itself is stricter but accepts a subset of
/// this.
pub fn negotiate(content_type: Option<&str>, content_encoding: Option<&str>) -> Result<RemoteWriteVersion, Error> {
    let version = match content_type.map(str::trim) {
        None | Some("") => RemoteWriteVersion::V1,
        Some(ct) => parse_content_type(ct)?,
    };
    match content_encoding.map(str::trim) {
        None | Some("") => {}
        Some(enc) if enc.eq_ignore_ascii_case(CONTENT_ENCODING_SNAPPY) => {}
        Some(enc) => return Err(unsupported("content-encoding", enc)),
    }
    Ok(version)
}

fn parse_content_type(content_type: &str) -> Result<RemoteWriteVersion, Error> {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case(CONTENT_TYPE_PROTOBUF) {
        return Err(unsupported("content-type", content_type));
    }
    for param in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = param.split_once('=') else {
            return Err(unsupported("content-type", content_type));
        };
        if key.trim().eq_ignore_ascii_case("proto") {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            return match value {
                PROTO_V1 => Ok(RemoteWriteVersion::V1),
                PROTO_V2 => Ok(RemoteWriteVersion::V2),
                other => Err(unsupported("proto", other)),
            };
        }
    }
    Ok(RemoteWriteVersion::V1)
}

fn unsupported(what: &'static str, value: &str) -> Error {
    Error::Unsupported {
        what,
        value: value.to_owned(),
    }
}

/// Decompresses a snappy block, refusing (before allocating) if the header
/// announces more than `max_decoded` bytes.
pub fn decompress(body: &[u8], max_decoded: usize) -> Result<Vec<u8>, Error> {
    let size = snap::raw::decompress_len(body).map_err(Error::Snappy)?;
    if size > max_decoded {
        return Err(Error::TooLarge {
            size,
            limit: max_decoded,
        });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(Error::Snappy)
}

/// Decodes a remote-write 1.0 body: snappy block, then [`prompb::WriteRequest`].
///
/// `max_decoded` bounds the decompressed size in bytes; it is checked against
/// the snappy header before anything is allocated. Never panics.
pub fn decode_v1(body: &[u8], max_decoded: usize) -> Result<prompb::WriteRequest, Error> {
    let raw = decompress(body, max_decoded)?;
    check_version_fields(&raw, RemoteWriteVersion::V1)?;
    prompb::WriteRequest::decode(raw.as_slice()).map_err(Error::Protobuf)
}

/// Decodes a remote-write 2.0 body: snappy block, then [`write_v2::Request`].
///
/// `max_decoded` bounds the decompressed size in bytes; it is checked against
/// the snappy header before anything is allocated. A 1.0 body (top-level fields 1 or 3) is
/// refused rather than read as an empty 2.0 request. Symbol references are not checked here
/// but in [`flatten_v2`]. Never panics.
pub fn decode_v2(body: &[u8], max_decoded: usize) -> Result<write_v2::Request, Error> {
    let raw = decompress(body, max_decoded)?;
    check_version_fields(&raw, RemoteWriteVersion::V2)?;
    write_v2::Request::decode(raw.as_slice()).map_err(Error::Protobuf)
}

/// Encodes a remote-write 1.0 body: protobuf, then snappy block.
///
/// # Panics
/// If the serialized message exceeds snappy's block limit (about 4 GiB).
pub fn encode_v1(req: &prompb::WriteRequest) -> Vec<u8> {
    compress(&req.encode_to_vec())
}

/// Encodes a remote-write 2.0 body: protobuf, then snappy block.
///
/// # Panics
/// If the serialized message exceeds snappy's block limit (about 4 GiB).
pub fn encode_v2(req: &write_v2::Request) -> Vec<u8> {
    compress(&req.encode_to_vec())
}

fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .expect("remote-write message larger than a snappy block can hold")
}
