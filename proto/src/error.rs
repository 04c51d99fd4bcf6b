//! The error type of this crate.

/// Everything that can go wrong while negotiating, decoding or flattening a
/// remote-write, Loki push or OTLP request.
///
/// [`Error::Unsupported`] means the request announced a format nerve does not
/// speak (HTTP 415); every other variant means the body itself is bad (HTTP 400).
/// See [`Error::http_status`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not a valid snappy block.
    // snap's own messages already start with "snappy: "; say it only once.
    #[error("snappy: {}", .0.to_string().trim_start_matches("snappy: "))]
    Snappy(snap::Error),

    /// The decompressed body is not a valid protobuf message (zero-copy reader; same wording
    /// as [`Error::Protobuf`]).
    #[error("{0}")]
    Malformed(String),

    /// The snappy header announces more decompressed bytes than allowed.
    #[error("decompressed size {size} exceeds limit {limit}")]
    TooLarge {
        /// Decompressed size announced by the snappy header, in bytes.
        size: usize,
        /// The caller's limit, in bytes.
        limit: usize,
    },

    /// The decompressed body is not a valid protobuf message of the expected type.
    #[error(
        "protobuf: {}",
        .0.to_string().trim_start_matches("failed to decode Protobuf message: ")
    )]
    Protobuf(prost::DecodeError),

    /// The body is not valid OTLP JSON (the OTLP JSON mapping of the expected message).
    #[error("json: {0}")]
    Json(serde_json::Error),

    /// A remote-write 2.0 symbol reference points past the end of `symbols`.
    #[error("series {series}: {field} reference {reference} out of range ({symbols} symbols)")]
    SymbolOutOfRange {
        /// Index of the offending series in the request.
        series: usize,
        /// Which reference was bad, e.g. `labels_refs` or `metadata.help_ref`.
        field: String,
        /// The reference found.
        reference: u32,
        /// Length of the symbols table.
        symbols: usize,
    },

    /// A remote-write 2.0 `labels_refs` list has an odd length, so it is not
    /// a list of name/value pairs.
    #[error("series {series}: {field} has odd length {len}, expected name/value pairs")]
    OddLabelRefs {
        /// Index of the offending series in the request.
        series: usize,
        /// Which list was bad: `labels_refs` or `exemplars[i].labels_refs`.
        field: String,
        /// The list's length.
        len: usize,
    },

    /// A compressed body (`Content-Encoding` gzip, deflate or zstd) could not be decompressed.
    #[error("{encoding}: {message}")]
    Decompress {
        /// The content encoding: `gzip`, `deflate` or `zstd`.
        encoding: &'static str,
        /// What the decompressor reported.
        message: String,
    },

    /// The decompressed body is larger than the caller's limit (HTTP 413). Raised by
    /// streaming decompressors, which cannot know the full size up front.
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    DecodedTooLarge {
        /// The caller's limit, in bytes.
        limit: usize,
    },

    /// A receiver's memory bound refused more decompressed bytes (HTTP 503: the request
    /// may succeed later). Raised by the meter passed to
    /// [`ContentEncoding::decode_metered`](crate::loki::ContentEncoding::decode_metered).
    #[error("{0}")]
    OverMemory(String),

    /// A stream label set is not valid: bad selector syntax, an invalid label name, a
    /// duplicate name, or no labels at all. The message quotes the input and says why.
    #[error("{0}")]
    InvalidLabels(String),

    /// A Loki push body decoded but is not a valid push request; the message names the
    /// stream and entry index and what is wrong, e.g.
    /// `streams[0].values[2][0]: timestamp must be a string of nanoseconds, got a number`.
    #[error("{0}")]
    InvalidPush(String),

    /// A content type, protobuf message or content encoding nerve does not accept.
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// What was unsupported: `content-type`, `proto` or `content-encoding`.
        what: &'static str,
        /// The value received.
        value: String,
    },
}

impl Error {
    /// The HTTP status a receiver should answer with: 415 for
    /// [`Error::Unsupported`], 413 for [`Error::DecodedTooLarge`], 503 for
    /// [`Error::OverMemory`], 400 for everything
    /// else (the sender drops the data instead of retrying, as Prometheus' own receiver
    /// does).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Unsupported { .. } => 415,
            Error::DecodedTooLarge { .. } => 413,
            Error::OverMemory(_) => 503,
            _ => 400,
        }
    }
}
