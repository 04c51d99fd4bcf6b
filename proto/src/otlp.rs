//! What the OTLP/HTTP receivers share: the two body encodings (protobuf and JSON) and the
//! `google.rpc.Status` error body.
//!
//! The OTLP types themselves come from the `opentelemetry-proto` crate, re-exported as
//! [`crate::otlp_proto`]; its `with-serde` feature implements the OTLP JSON mapping (hex
//! trace and span ids, int64 as strings or numbers, lowerCamelCase keys, unknown keys
//! ignored).

use prost::Message;

use crate::Error;
use crate::loki::ContentEncoding;

/// The media type of protobuf-encoded OTLP/HTTP bodies.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// The media type of JSON-encoded OTLP/HTTP bodies.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// How an OTLP/HTTP body is encoded. Replies use the request's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (the OTLP JSON mapping of the protobuf messages).
    Json,
}

impl OtlpEncoding {
    /// The encoding announced by a `Content-Type` header (media type compared
    /// case-insensitively, parameters ignored); `None` for anything else.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case(CONTENT_TYPE_PROTOBUF) {
            Some(OtlpEncoding::Protobuf)
        } else if media.eq_ignore_ascii_case(CONTENT_TYPE_JSON) {
            Some(OtlpEncoding::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of bodies in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            OtlpEncoding::Protobuf => CONTENT_TYPE_PROTOBUF,
            OtlpEncoding::Json => CONTENT_TYPE_JSON,
        }
    }

    /// Decodes an OTLP message (already decompressed) in this encoding.
    pub fn decode<M>(self, body: &[u8]) -> Result<M, Error>
    where
        M: Message + Default + serde::de::DeserializeOwned,
    {
        match self {
            OtlpEncoding::Protobuf => M::decode(body).map_err(Error::Protobuf),
            OtlpEncoding::Json => serde_json::from_slice(body).map_err(Error::Json),
        }
    }

    /// Encodes an OTLP message in this encoding.
    pub fn encode<M>(self, msg: &M) -> Vec<u8>
    where
        M: Message + serde::Serialize,
    {
        match self {
            OtlpEncoding::Protobuf => msg.encode_to_vec(),
            // Serializing generated OTLP types into memory cannot fail; an empty object is
            // still a valid (empty) OTLP JSON message if it ever did.
            OtlpEncoding::Json => serde_json::to_vec(msg).unwrap_or_else(|_| b"{}".to_vec()),
        }
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses (details are never sent).
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value, e.g. 3 (INVALID_ARGUMENT).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// Developer-facing message.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `google.rpc.Code` INVALID_ARGUMENT.
pub const CODE_INVALID_ARGUMENT: i32 = 3;
/// `google.rpc.Code` RESOURCE_EXHAUSTED.
pub const CODE_RESOURCE_EXHAUSTED: i32 = 8;
/// `google.rpc.Code` INTERNAL.
pub const CODE_INTERNAL: i32 = 13;
/// `google.rpc.Code` UNAVAILABLE.
pub const CODE_UNAVAILABLE: i32 = 14;

impl RpcStatus {
    /// Encodes the status in `encoding` (JSON: `{"code":3,"message":"..."}`).
    pub fn encode(&self, encoding: OtlpEncoding) -> Vec<u8> {
        match encoding {
            OtlpEncoding::Protobuf => self.encode_to_vec(),
            OtlpEncoding::Json => {
                let value = serde_json::json!({ "code": self.code, "message": self.message });
                serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
            }
        }
    }
}

/// Decodes an OTLP/HTTP body into message `M`: `application/x-protobuf` (also when
/// `content_type` is `None`) or `application/json` (OTLP JSON, hex trace and span ids);
/// other content types are [`Error::Unsupported`] (415). `content_encoding` may be
/// absent/`identity`, `gzip`, `deflate` or `zstd`; at most `max_decoded` bytes are
/// decompressed ([`Error::DecodedTooLarge`], 413).
pub fn decode_request<M>(
    body: &[u8],
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    max_decoded: usize,
) -> Result<M, Error>
where
    M: Message + Default + serde::de::DeserializeOwned,
{
    let encoding = match content_type {
        None => OtlpEncoding::Protobuf,
        Some(ct) => OtlpEncoding::from_content_type(ct).ok_or_else(|| Error::Unsupported {
            what: "content-type",
            value: ct.to_owned(),
        })?,
    };
    let content_encoding = match ContentEncoding::from_header(content_encoding)? {
        ContentEncoding::Snappy => {
            return Err(Error::Unsupported {
                what: "content-encoding",
                value: "snappy".to_owned(),
            });
        }
        other => other,
    };
    let decoded = content_encoding.decode(body, max_decoded)?;
    encoding.decode(&decoded)
}
