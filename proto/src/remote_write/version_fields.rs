//! Which protocol version a decompressed remote-write body is: protobuf skips unknown
//! fields, so a 1.0 body read as 2.0 (or the reverse) decodes as an empty request and would
//! be acknowledged with nothing stored. The top-level field numbers of the two versions do
//! not overlap, so a body of the other version is recognised by them and refused.

use super::borrowed::Cursor;
use crate::{Error, RemoteWriteVersion};

/// Top-level field of a 1.0 `WriteRequest`: `timeseries`.
const V1_TIMESERIES: u32 = 1;
/// Top-level field of a 1.0 `WriteRequest`: `metadata`.
const V1_METADATA: u32 = 3;
/// Top-level field of a 2.0 `Request`: `symbols`.
pub(super) const V2_SYMBOLS: u32 = 4;
/// Top-level field of a 2.0 `Request`: `timeseries`.
pub(super) const V2_TIMESERIES: u32 = 5;

/// The error for a body of the other protocol version: protobuf skips unknown fields, so
/// such a body would decode as an empty request and be acknowledged with nothing stored.
pub(super) fn wrong_version(announced: RemoteWriteVersion, field: u32) -> Error {
    let msg = match announced {
        RemoteWriteVersion::V1 => format!(
            "remote-write 1.0 request carries field {field}, which only a 2.0 request has \
             (symbols/timeseries); a 2.0 body needs Content-Type: application/x-protobuf;proto={}",
            super::PROTO_V2
        ),
        RemoteWriteVersion::V2 => format!(
            "remote-write 2.0 request carries field {field}, which only a 1.0 WriteRequest has \
             (timeseries/metadata); a 1.0 body needs Content-Type: application/x-protobuf \
             (or proto=prometheus.WriteRequest)"
        ),
    };
    Error::Malformed(msg)
}

/// Refuses a decompressed body whose top-level fields belong to the other protocol version
/// than `announced` (see [`wrong_version`]). Fields neither version defines are skipped, as
/// protobuf requires.
pub fn check_version_fields(buf: &[u8], announced: RemoteWriteVersion) -> Result<(), Error> {
    let foreign: &[u32] = match announced {
        RemoteWriteVersion::V1 => &[V2_SYMBOLS, V2_TIMESERIES],
        RemoteWriteVersion::V2 => &[V1_TIMESERIES, V1_METADATA],
    };
    let mut c = Cursor::new(buf, "Request");
    while !c.done() {
        let (field, wt) = c.key()?;
        // A body that is not protobuf at all is reported as such, not as a version mix-up.
        c.skip(wt)?;
        if foreign.contains(&field) {
            return Err(wrong_version(announced, field));
        }
    }
    Ok(())
}
