//! A zero-copy reader of remote-write 1.0 requests for the ingest hot path.
//!
//! [`decode_v1`](super::decode_v1) + [`flatten_v1`](super::flatten_v1) allocate two `String`s
//! per label of every series; for a receiver whose series already exist that allocation is
//! most of the work. [`for_each_series_v1`] walks the decompressed protobuf in place and hands
//! out label pairs borrowed from the buffer, reusing its scratch vectors between series.
//! It accepts exactly what the prost decoder accepts for the fields it reads (same wire types,
//! UTF-8-checked strings) and skips unknown fields the same way.

use crate::Error;
use crate::remote_write::{DecodedMetadata, MetricKind};

/// Label pairs borrowed from a request.
pub type PairsView<'a> = Vec<(&'a str, &'a str)>;
/// An exemplar borrowed from a request: labels, value, timestamp (0 = none).
pub type ExemplarView<'a> = (PairsView<'a>, f64, i64);

/// One time series of a request, borrowed from the request buffer.
#[derive(Debug, Default)]
pub struct SeriesView<'a> {
    /// Label pairs in wire order.
    pub labels: Vec<(&'a str, &'a str)>,
    /// Samples: (timestamp ms, value).
    pub samples: Vec<(i64, f64)>,
    /// Exemplars: labels, value, timestamp (0 = none).
    pub exemplars: Vec<ExemplarView<'a>>,
    /// Native histograms present (not decoded).
    pub histograms: usize,
}

impl SeriesView<'_> {
    fn clear(&mut self) {
        self.labels.clear();
        self.samples.clear();
        self.exemplars.clear();
        self.histograms = 0;
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

fn err(what: &str, why: &str) -> Error {
    Error::Malformed(format!("protobuf: {what}: {why}"))
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Cursor { buf, pos: 0, what }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(err(self.what, "buffer underflow"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(err(self.what, "invalid varint"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(err(self.what, "invalid varint"))
    }

    fn key(&mut self) -> Result<(u32, u8), Error> {
        let k = self.varint()?;
        let wt = (k & 7) as u8;
        let field = u32::try_from(k >> 3).map_err(|_| err(self.what, "invalid key"))?;
        if field == 0 {
            return Err(err(self.what, "invalid field number 0"));
        }
        Ok((field, wt))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = usize::try_from(self.varint()?).map_err(|_| err(self.what, "length overflow"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| err(self.what, "buffer underflow"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn fixed64(&mut self) -> Result<u64, Error> {
        let end = self.pos + 8;
        let b = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| err(self.what, "buffer underflow"))?;
        self.pos = end;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn str(&mut self) -> Result<&'a str, Error> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| err(self.what, "invalid string value: data is not UTF-8 encoded"))
    }

    /// Skips a field of wire type `wt`.
    fn skip(&mut self, wt: u8) -> Result<(), Error> {
        match wt {
            0 => self.varint().map(|_| ()),
            1 => self.fixed64().map(|_| ()),
            2 => self.bytes().map(|_| ()),
            5 => {
                let end = self.pos + 4;
                if end > self.buf.len() {
                    return Err(err(self.what, "buffer underflow"));
                }
                self.pos = end;
                Ok(())
            }
            3 => self.skip_group(0),
            _ => Err(err(self.what, "invalid wire type")),
        }
    }

    /// Skips a group (deprecated proto2 encoding) up to its end tag, as prost does.
    fn skip_group(&mut self, depth: u32) -> Result<(), Error> {
        if depth > 100 {
            return Err(err(self.what, "recursion limit reached"));
        }
        loop {
            let (_, wt) = self.key()?;
            match wt {
                4 => return Ok(()),
                3 => self.skip_group(depth + 1)?,
                wt => self.skip(wt)?,
            }
        }
    }

    fn expect(&self, wt: u8, want: u8) -> Result<(), Error> {
        if wt == want {
            Ok(())
        } else {
            Err(err(self.what, "invalid wire type"))
        }
    }
}

fn read_label(buf: &[u8]) -> Result<(&str, &str), Error> {
    let mut c = Cursor::new(buf, "Label");
    let (mut name, mut value) = ("", "");
    while !c.done() {
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 2)?;
                name = c.str()?;
            }
            (2, wt) => {
                c.expect(wt, 2)?;
                value = c.str()?;
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    Ok((name, value))
}

fn read_sample(buf: &[u8]) -> Result<(i64, f64), Error> {
    let mut c = Cursor::new(buf, "Sample");
    let (mut t, mut v) = (0i64, 0f64);
    while !c.done() {
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 1)?;
                v = f64::from_bits(c.fixed64()?);
            }
            (2, wt) => {
                c.expect(wt, 0)?;
                t = c.varint()? as i64;
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    Ok((t, v))
}

fn read_exemplar(buf: &[u8]) -> Result<ExemplarView<'_>, Error> {
    let mut c = Cursor::new(buf, "Exemplar");
    let (mut labels, mut v, mut t) = (Vec::new(), 0f64, 0i64);
    while !c.done() {
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 2)?;
                labels.push(read_label(c.bytes()?)?);
            }
            (2, wt) => {
                c.expect(wt, 1)?;
                v = f64::from_bits(c.fixed64()?);
            }
            (3, wt) => {
                c.expect(wt, 0)?;
                t = c.varint()? as i64;
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    Ok((labels, v, t))
}

fn read_series<'a>(buf: &'a [u8], out: &mut SeriesView<'a>) -> Result<(), Error> {
    out.clear();
    let mut c = Cursor::new(buf, "TimeSeries");
    while !c.done() {
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 2)?;
                out.labels.push(read_label(c.bytes()?)?);
            }
            (2, wt) => {
                c.expect(wt, 2)?;
                out.samples.push(read_sample(c.bytes()?)?);
            }
            (3, wt) => {
                c.expect(wt, 2)?;
                out.exemplars.push(read_exemplar(c.bytes()?)?);
            }
            (4, wt) => {
                c.expect(wt, 2)?;
                c.bytes()?;
                out.histograms += 1;
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    Ok(())
}

fn read_metadata(buf: &[u8]) -> Result<DecodedMetadata, Error> {
    let mut c = Cursor::new(buf, "MetricMetadata");
    let mut md = DecodedMetadata {
        metric_family: String::new(),
        kind: MetricKind::Unknown,
        help: String::new(),
        unit: String::new(),
    };
    while !c.done() {
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 0)?;
                md.kind = MetricKind::from_v1(c.varint()? as i32);
            }
            (2, wt) => {
                c.expect(wt, 2)?;
                md.metric_family = c.str()?.to_owned();
            }
            (4, wt) => {
                c.expect(wt, 2)?;
                md.help = c.str()?.to_owned();
            }
            (5, wt) => {
                c.expect(wt, 2)?;
                md.unit = c.str()?.to_owned();
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    Ok(md)
}

/// Walks a decompressed remote-write 1.0 `WriteRequest`, calling `f` for each series in wire
/// order with a view borrowed from `buf`, and returns the request's metadata. The whole
/// request is validated before `f` is first called, so a malformed request has no effect.
pub fn for_each_series_v1<'a, E: From<Error>>(
    buf: &'a [u8],
    mut f: impl FnMut(&SeriesView<'a>) -> Result<(), E>,
) -> Result<Vec<DecodedMetadata>, E> {
    let mut metadata = Vec::new();
    let mut view = SeriesView::default();
    // Pass 1: validate everything (and collect metadata) so that errors reject the request whole.
    let mut c = Cursor::new(buf, "WriteRequest");
    while !c.done() {
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 2)?;
                read_series(c.bytes()?, &mut view)?;
            }
            (3, wt) => {
                c.expect(wt, 2)?;
                metadata.push(read_metadata(c.bytes()?)?);
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    // Pass 2: hand out the series.
    let mut c = Cursor::new(buf, "WriteRequest");
    while !c.done() {
        let (field, wt) = c.key()?;
        if field == 1 && wt == 2 {
            read_series(c.bytes()?, &mut view)?;
            f(&view)?;
        } else {
            c.skip(wt)?;
        }
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompb::{Exemplar, Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
    use proptest::prelude::*;
    use prost::Message;

    fn req() -> WriteRequest {
        WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        Label {
                            name: "__name__".into(),
                            value: "up".into(),
                        },
                        Label {
                            name: "job".into(),
                            value: "a".into(),
                        },
                    ],
                    samples: vec![
                        Sample {
                            value: 1.5,
                            timestamp: -7,
                        },
                        Sample {
                            value: f64::NAN,
                            timestamp: 1 << 40,
                        },
                    ],
                    exemplars: vec![Exemplar {
                        labels: vec![Label {
                            name: "trace_id".into(),
                            value: "ab".into(),
                        }],
                        value: 2.0,
                        timestamp: 9,
                    }],
                    histograms: vec![],
                },
                TimeSeries {
                    labels: vec![Label {
                        name: "__name__".into(),
                        value: "x".into(),
                    }],
                    ..Default::default()
                },
            ],
            metadata: vec![MetricMetadata {
                r#type: 1,
                metric_family_name: "up".into(),
                help: "h".into(),
                unit: "u".into(),
            }],
        }
    }

    #[test]
    fn agrees_with_prost() {
        let r = req();
        let buf = r.encode_to_vec();
        let mut seen = Vec::new();
        let md = for_each_series_v1::<Error>(&buf, |s| {
            seen.push((
                s.labels
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
                s.samples.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>(),
                s.exemplars.len(),
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[0].0,
            vec![
                ("__name__".to_string(), "up".to_string()),
                ("job".to_string(), "a".to_string())
            ]
        );
        assert_eq!(seen[0].1, vec![(-7, 1.5f64.to_bits()), (1 << 40, f64::NAN.to_bits())]);
        assert_eq!(seen[0].2, 1);
        assert_eq!(md.len(), 1);
        assert_eq!(md[0].metric_family, "up");
        assert_eq!(md[0].kind, MetricKind::Counter);
    }

    #[test]
    fn invalid_utf8_is_an_error_before_any_callback() {
        let label: Vec<u8> = [&[0x0a, 1, b'a', 0x12, 2][..], &[0xff, 0xfe]].concat();
        let series: Vec<u8> = [&[0x0a, label.len() as u8][..], &label].concat();
        let good = TimeSeries {
            labels: vec![Label {
                name: "a".into(),
                value: "b".into(),
            }],
            ..Default::default()
        };
        let mut buf = WriteRequest {
            timeseries: vec![good],
            metadata: vec![],
        }
        .encode_to_vec();
        buf.extend_from_slice(&[0x0a, series.len() as u8]);
        buf.extend_from_slice(&series);
        let mut calls = 0;
        let r = for_each_series_v1::<Error>(&buf, |_| {
            calls += 1;
            Ok(())
        });
        assert!(r.unwrap_err().to_string().contains("UTF-8"));
        assert_eq!(calls, 0);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_agree_with_prost_on_acceptance(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let ours = for_each_series_v1::<Error>(&b, |_| Ok(())).is_ok();
            let prost_ok = WriteRequest::decode(&b[..]).is_ok();
            // We read a subset of fields, so we may accept what prost rejects in fields we skip
            // (e.g. a malformed histogram), never the reverse.
            prop_assert!(ours || !prost_ok, "prost accepted what we rejected");
        }
    }
}
