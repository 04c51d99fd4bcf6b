//! WAL records of the log store and the stream registry.
//!
//! Push record: `[kind=1][seq uvarint][streams uvarint]` then per stream
//! `[labels uvarint][(name, value) len-prefixed]…[entries uvarint]` and per entry
//! `[ts varint][line][metadata uvarint][(name, value)…][has_trace u8][trace?]`.
//! Stream record (registry): `[kind=2][id uvarint][labels as above]`.

use super::LogEntry;
use crate::encoding::{DecodeError, Reader, put_bytes, put_uvarint, put_varint};
use crate::labels::{Label, Labels};

const KIND_PUSH: u8 = 1;
const KIND_STREAM: u8 = 2;

/// A decoded push record.
#[derive(Debug)]
pub(super) struct PushRecord {
    pub seq: u64,
    pub streams: Vec<(Labels, Vec<LogEntry>)>,
}

fn put_labels(dst: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(dst, labels.len() as u64);
    for (n, v) in labels.iter() {
        put_bytes(dst, n.as_bytes());
        put_bytes(dst, v.as_bytes());
    }
}

fn read_labels(r: &mut Reader<'_>) -> Result<Labels, DecodeError> {
    let n = r.len(1 << 16)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str()?;
        let value = r.str()?;
        v.push(Label::new(name, value));
    }
    Ok(Labels::from_sorted_unchecked(v))
}

/// Encodes a push of already validated entries.
pub(super) fn encode_push(dst: &mut Vec<u8>, seq: u64, streams: &[(&Labels, Vec<&LogEntry>)]) {
    dst.push(KIND_PUSH);
    put_uvarint(dst, seq);
    put_uvarint(dst, streams.len() as u64);
    for (labels, entries) in streams {
        put_labels(dst, labels);
        put_uvarint(dst, entries.len() as u64);
        for e in entries {
            put_varint(dst, e.ts_ns);
            put_bytes(dst, e.line.as_bytes());
            put_uvarint(dst, e.metadata.len() as u64);
            for (k, v) in &e.metadata {
                put_bytes(dst, k.as_bytes());
                put_bytes(dst, v.as_bytes());
            }
            match &e.trace_id {
                Some(t) => {
                    dst.push(1);
                    put_bytes(dst, t.as_bytes());
                }
                None => dst.push(0),
            }
        }
    }
}

/// Decodes a push record.
pub(super) fn decode_push(buf: &[u8]) -> Result<PushRecord, DecodeError> {
    let mut r = Reader::new(buf);
    if r.u8()? != KIND_PUSH {
        return Err(DecodeError {
            offset: 0,
            what: "log push record kind",
        });
    }
    let seq = r.uvarint()?;
    let n = r.len(buf.len())?;
    let mut streams = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let labels = read_labels(&mut r)?;
        let m = r.len(buf.len())?;
        let mut entries = Vec::with_capacity(m.min(4096));
        for _ in 0..m {
            let ts_ns = r.varint()?;
            let line = r.str()?.to_owned();
            let k = r.len(buf.len())?;
            let mut metadata = Vec::with_capacity(k.min(64));
            for _ in 0..k {
                metadata.push((r.str()?.to_owned(), r.str()?.to_owned()));
            }
            let trace_id = match r.u8()? {
                0 => None,
                _ => Some(r.str()?.to_owned()),
            };
            entries.push(LogEntry {
                ts_ns,
                line,
                metadata,
                trace_id,
            });
        }
        streams.push((labels, entries));
    }
    Ok(PushRecord { seq, streams })
}

/// Encodes a stream registration.
pub(super) fn encode_stream(dst: &mut Vec<u8>, id: u64, labels: &Labels) {
    dst.push(KIND_STREAM);
    put_uvarint(dst, id);
    put_labels(dst, labels);
}

/// Decodes a stream registration.
pub(super) fn decode_stream(buf: &[u8]) -> Result<(u64, Labels), DecodeError> {
    let mut r = Reader::new(buf);
    if r.u8()? != KIND_STREAM {
        return Err(DecodeError {
            offset: 0,
            what: "log stream record kind",
        });
    }
    let id = r.uvarint()?;
    Ok((id, read_labels(&mut r)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_round_trip() {
        let labels = Labels::from_pairs([("app", "a\"b"), ("job", "ü")]).unwrap();
        let e1 = LogEntry {
            ts_ns: -5,
            line: "hello\nworld".into(),
            metadata: vec![("trace_id".into(), "ab".into())],
            trace_id: Some("ab".into()),
        };
        let e2 = LogEntry {
            ts_ns: i64::MAX,
            line: String::new(),
            metadata: vec![],
            trace_id: None,
        };
        let mut buf = Vec::new();
        encode_push(&mut buf, 42, &[(&labels, vec![&e1, &e2])]);
        let rec = decode_push(&buf).unwrap();
        assert_eq!(rec.seq, 42);
        assert_eq!(rec.streams.len(), 1);
        assert_eq!(rec.streams[0].0, labels);
        assert_eq!(rec.streams[0].1, vec![e1, e2]);
        for cut in 0..buf.len() {
            assert!(decode_push(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn stream_round_trip() {
        let labels = Labels::from_pairs([("a", "1")]).unwrap();
        let mut buf = Vec::new();
        encode_stream(&mut buf, 7, &labels);
        assert_eq!(decode_stream(&buf).unwrap(), (7, labels));
    }
}
