//! The protobuf flavour of the Loki push body: a snappy block of a serialized
//! [`logproto::PushRequest`](crate::logproto::PushRequest).

use prost::Message;

use super::labels::{format_labels, parse_labels};
use super::{PushEntry, PushRequest, PushStream, metadata_pair};
use crate::Error;
use crate::logproto;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Decodes a snappy-compressed protobuf push body, refusing to decompress more than
/// `max_decoded` bytes.
pub(super) fn decode(body: &[u8], max_decoded: usize) -> Result<PushRequest, Error> {
    let size = snap::raw::decompress_len(body).map_err(Error::Snappy)?;
    if size > max_decoded {
        return Err(Error::DecodedTooLarge { limit: max_decoded });
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(Error::Snappy)?;
    let msg = logproto::PushRequest::decode(raw.as_slice()).map_err(Error::Protobuf)?;
    from_message(msg)
}

/// Validates and converts the generated message.
fn from_message(msg: logproto::PushRequest) -> Result<PushRequest, Error> {
    let streams = msg
        .streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let labels =
                parse_labels(&s.labels).map_err(|e| Error::InvalidPush(format!("streams[{i}].labels: {e}")))?;
            let entries = s
                .entries
                .into_iter()
                .enumerate()
                .map(|(j, e)| entry(i, j, e))
                .collect::<Result<_, _>>()?;
            Ok(PushStream { labels, entries })
        })
        .collect::<Result<_, Error>>()?;
    Ok(PushRequest { streams })
}

fn entry(i: usize, j: usize, e: logproto::EntryAdapter) -> Result<PushEntry, Error> {
    let at = || format!("streams[{i}].entries[{j}]");
    let Some(ts) = e.timestamp else {
        return Err(Error::InvalidPush(format!("{}: missing timestamp", at())));
    };
    let ts_ns = i128::from(ts.seconds) * NANOS_PER_SECOND + i128::from(ts.nanos);
    let Ok(ts_ns) = i64::try_from(ts_ns) else {
        return Err(Error::InvalidPush(format!(
            "{}: timestamp {}s {}ns is out of range for nanoseconds since 1970",
            at(),
            ts.seconds,
            ts.nanos
        )));
    };
    let structured_metadata = e
        .structured_metadata
        .into_iter()
        .map(|p| {
            metadata_pair(p.name, p.value)
                .map_err(|why| Error::InvalidPush(format!("{}.structured_metadata: {why}", at())))
        })
        .collect::<Result<_, _>>()?;
    Ok(PushEntry {
        ts_ns,
        line: e.line,
        structured_metadata,
    })
}

/// Encodes `req` as a snappy-compressed protobuf push body.
pub(super) fn encode(req: &PushRequest) -> Vec<u8> {
    let msg = logproto::PushRequest {
        streams: req
            .streams
            .iter()
            .map(|s| logproto::StreamAdapter {
                labels: format_labels(&s.labels),
                entries: s.entries.iter().map(entry_message).collect(),
                hash: 0,
            })
            .collect(),
    };
    let raw = msg.encode_to_vec();
    // Compressing into a Vec fails only for inputs over snappy's ~4 GiB limit; an empty body
    // (which decodes as an empty request) is the only thing left to send then.
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default()
}

fn entry_message(e: &PushEntry) -> logproto::EntryAdapter {
    let ns = i128::from(e.ts_ns);
    // div_euclid of an i64 by 1e9 always fits in i64, and rem_euclid in 0..1e9 fits in i32.
    let seconds = i64::try_from(ns.div_euclid(NANOS_PER_SECOND)).unwrap_or_default();
    let nanos = i32::try_from(ns.rem_euclid(NANOS_PER_SECOND)).unwrap_or_default();
    logproto::EntryAdapter {
        timestamp: Some(prost_types::Timestamp { seconds, nanos }),
        line: e.line.clone(),
        structured_metadata: e
            .structured_metadata
            .iter()
            .map(|(name, value)| logproto::LabelPairAdapter {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}
