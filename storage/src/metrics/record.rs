//! What the metrics WAL holds: the head's records and their byte encoding.
//!
//! Every record starts with a one-byte type. Series ids are the head's `u32` ids; a series record
//! always precedes the first sample that uses its id (same WAL, earlier position or checkpoint).
//!
//! | type | body |
//! |---|---|
//! | 1 series | n × (id varint, label count varint, (name, value) length-prefixed strings) |
//! | 2 samples | base_t zigzag; n × (id varint, t − base_t zigzag, value f64 LE bits) |
//! | 3 exemplars | n × (id varint, t zigzag, value f64 LE, label count, (name, value)…) |
//! | 4 metadata | n × (family, kind u8, help, unit) |

use std::sync::Arc;

use crate::encoding::{DecodeError, Reader, put_bytes, put_uvarint, put_varint};
use crate::labels::{Label, Labels};
use crate::metrics::{Exemplar, MetricMetadata, MetricType, Sample};

const T_SERIES: u8 = 1;
const T_SAMPLES: u8 = 2;
const T_EXEMPLARS: u8 = 3;
const T_METADATA: u8 = 4;

/// One decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// New series and their ids.
    Series(Vec<(u32, Labels)>),
    /// Samples by series id.
    Samples(Vec<(u32, Sample)>),
    /// Exemplars by series id.
    Exemplars(Vec<(u32, Exemplar)>),
    /// Metadata by metric family.
    Metadata(Vec<(String, MetricMetadata)>),
}

fn put_labels(dst: &mut Vec<u8>, l: &Labels) {
    put_uvarint(dst, l.len() as u64);
    for (n, v) in l.iter() {
        put_bytes(dst, n.as_bytes());
        put_bytes(dst, v.as_bytes());
    }
}

fn read_labels(r: &mut Reader<'_>) -> Result<Labels, DecodeError> {
    let n = r.len(r.remaining())?;
    let mut v = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let name = r.str()?;
        let value = r.str()?;
        v.push(Label::new(Arc::<str>::from(name), Arc::<str>::from(value)));
    }
    let at = r.pos();
    // Records are written by us from validated sets; re-check so corrupt input can't break
    // the ordering invariant.
    if v.windows(2).any(|w| w[0].name >= w[1].name) || v.iter().any(|l| l.value.is_empty()) {
        return Err(DecodeError {
            offset: at,
            what: "sorted unique labels",
        });
    }
    Ok(Labels::from_sorted_unchecked(v))
}

/// Appends a series record.
pub fn encode_series(dst: &mut Vec<u8>, series: &[(u32, &Labels)]) {
    dst.push(T_SERIES);
    put_uvarint(dst, series.len() as u64);
    for (id, l) in series {
        put_uvarint(dst, u64::from(*id));
        put_labels(dst, l);
    }
}

/// Appends a samples record.
pub fn encode_samples(dst: &mut Vec<u8>, samples: &[(u32, Sample)]) {
    dst.push(T_SAMPLES);
    let base = samples.first().map_or(0, |s| s.1.t);
    put_varint(dst, base);
    put_uvarint(dst, samples.len() as u64);
    for (id, s) in samples {
        put_uvarint(dst, u64::from(*id));
        put_varint(dst, s.t.wrapping_sub(base));
        dst.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
}

/// Appends an exemplars record.
pub fn encode_exemplars(dst: &mut Vec<u8>, ex: &[(u32, &Exemplar)]) {
    dst.push(T_EXEMPLARS);
    put_uvarint(dst, ex.len() as u64);
    for (id, e) in ex {
        put_uvarint(dst, u64::from(*id));
        put_varint(dst, e.t);
        dst.extend_from_slice(&e.v.to_bits().to_le_bytes());
        put_labels(dst, &e.labels);
    }
}

/// Appends a metadata record.
pub fn encode_metadata(dst: &mut Vec<u8>, md: &[(&str, &MetricMetadata)]) {
    dst.push(T_METADATA);
    put_uvarint(dst, md.len() as u64);
    for (family, m) in md {
        put_bytes(dst, family.as_bytes());
        dst.push(m.kind as u8);
        put_bytes(dst, m.help.as_bytes());
        put_bytes(dst, m.unit.as_bytes());
    }
}

fn id(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    let at = r.pos();
    u32::try_from(r.uvarint()?).map_err(|_| DecodeError {
        offset: at,
        what: "series id",
    })
}

/// Decodes one record. Unknown types and trailing garbage are errors.
pub fn decode(buf: &[u8]) -> Result<Record, DecodeError> {
    let mut r = Reader::new(buf);
    let rec = match r.u8()? {
        T_SERIES => {
            let n = r.len(r.remaining())?;
            let mut v = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let i = id(&mut r)?;
                v.push((i, read_labels(&mut r)?));
            }
            Record::Series(v)
        }
        T_SAMPLES => {
            let base = r.varint()?;
            let n = r.len(r.remaining())?;
            let mut v = Vec::with_capacity(n.min(65536));
            for _ in 0..n {
                let i = id(&mut r)?;
                let t = base.wrapping_add(r.varint()?);
                let val = r.f64_le()?;
                v.push((i, Sample { t, v: val }));
            }
            Record::Samples(v)
        }
        T_EXEMPLARS => {
            let n = r.len(r.remaining())?;
            let mut v = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let i = id(&mut r)?;
                let t = r.varint()?;
                let val = r.f64_le()?;
                let labels = read_labels(&mut r)?;
                v.push((i, Exemplar { labels, t, v: val }));
            }
            Record::Exemplars(v)
        }
        T_METADATA => {
            let n = r.len(r.remaining())?;
            let mut v = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let family = r.str()?.to_owned();
                let at = r.pos();
                let kind = MetricType::from_u8(r.u8()?).ok_or(DecodeError {
                    offset: at,
                    what: "metric type",
                })?;
                let help = r.str()?.to_owned();
                let unit = r.str()?.to_owned();
                v.push((family, MetricMetadata { kind, help, unit }));
            }
            Record::Metadata(v)
        }
        _ => {
            return Err(DecodeError {
                offset: 0,
                what: "record type",
            });
        }
    };
    if !r.is_empty() {
        return Err(DecodeError {
            offset: r.pos(),
            what: "end of record",
        });
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::STALE_NAN;
    use proptest::prelude::*;

    fn labels(n: &str) -> Labels {
        Labels::from_pairs([("__name__", n), ("job", "j")]).unwrap()
    }

    #[test]
    fn all_types_round_trip() {
        let l = labels("up");
        let mut b = Vec::new();
        encode_series(&mut b, &[(7, &l)]);
        assert_eq!(decode(&b).unwrap(), Record::Series(vec![(7, l.clone())]));
        b.clear();
        let s = vec![(1, Sample { t: 5, v: STALE_NAN }), (2, Sample { t: -9, v: -0.0 })];
        encode_samples(&mut b, &s);
        match decode(&b).unwrap() {
            Record::Samples(got) => {
                assert_eq!(got.len(), 2);
                assert_eq!(got[0].1.v.to_bits(), STALE_NAN.to_bits());
                assert_eq!(got[1].1.t, -9);
                assert_eq!(got[1].1.v.to_bits(), (-0.0f64).to_bits());
            }
            r => panic!("{r:?}"),
        }
        b.clear();
        let e = Exemplar {
            labels: Labels::from_pairs([("trace_id", "abc")]).unwrap(),
            t: 3,
            v: 1.5,
        };
        encode_exemplars(&mut b, &[(3, &e)]);
        assert_eq!(decode(&b).unwrap(), Record::Exemplars(vec![(3, e)]));
        b.clear();
        let m = MetricMetadata {
            kind: MetricType::Counter,
            help: "h\n".into(),
            unit: "seconds".into(),
        };
        encode_metadata(&mut b, &[("x", &m)]);
        assert_eq!(decode(&b).unwrap(), Record::Metadata(vec![("x".into(), m)]));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&b);
        }

        #[test]
        fn samples_round_trip(s in proptest::collection::vec((any::<u32>(), any::<i64>(), any::<u64>()), 0..64)) {
            let s: Vec<(u32, Sample)> = s.into_iter().map(|(i, t, v)| (i, Sample { t, v: f64::from_bits(v) })).collect();
            let mut b = Vec::new();
            encode_samples(&mut b, &s);
            let Record::Samples(got) = decode(&b).unwrap() else { panic!("type") };
            prop_assert_eq!(got.len(), s.len());
            for (a, b) in got.iter().zip(&s) {
                prop_assert_eq!(a.0, b.0);
                prop_assert_eq!(a.1.t, b.1.t);
                prop_assert_eq!(a.1.v.to_bits(), b.1.v.to_bits());
            }
        }
    }
}
