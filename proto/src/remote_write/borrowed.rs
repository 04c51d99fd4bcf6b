//! A zero-copy reader of remote-write 1.0 requests for the ingest hot path.
//!
//! [`decode_v1`](super::decode_v1) + [`flatten_v1`](super::flatten_v1) allocate two `String`s
//! per label of every series; for a receiver whose series already exist that allocation is
//! most of the work. [`for_each_series_v1`] decodes the decompressed protobuf once, in place,
//! into flat arrays of label pairs borrowed from the buffer, and then hands out one view per
//! series. A series' label fields are checked to be UTF-8 in one call over their whole byte
//! range, falling back to a check per string.
//! It accepts exactly what the prost decoder accepts for the fields it reads (same wire types,
//! UTF-8-checked strings) and skips unknown fields the same way.

use super::version_fields::{V2_SYMBOLS, V2_TIMESERIES, wrong_version};
use crate::Error;
use crate::RemoteWriteVersion;
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

pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

fn err(what: &str, why: &str) -> Error {
    Error::Malformed(format!("protobuf: {what}: {why}"))
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Cursor { buf, pos: 0, what }
    }

    pub(super) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, Error> {
        // Most keys and lengths are one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
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

    pub(super) fn key(&mut self) -> Result<(u32, u8), Error> {
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
        std::str::from_utf8(b).map_err(|_| err(self.what, NOT_UTF8))
    }

    /// Skips a field of wire type `wt`.
    pub(super) fn skip(&mut self, wt: u8) -> Result<(), Error> {
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

/// A label's name and value bytes. Only a field that a later repetition replaces is checked to
/// be UTF-8 here (prost rejects such a field too); the kept ones are the caller's to check.
fn read_label_raw(buf: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let mut c = Cursor::new(buf, "Label");
    let (mut name, mut value): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    while !c.done() {
        let slot = match c.key()? {
            (1, wt) => {
                c.expect(wt, 2)?;
                &mut name
            }
            (2, wt) => {
                c.expect(wt, 2)?;
                &mut value
            }
            (_, wt) => {
                c.skip(wt)?;
                continue;
            }
        };
        if let Some(old) = slot.replace(c.bytes()?) {
            std::str::from_utf8(old).map_err(|_| err("Label", NOT_UTF8))?;
        }
    }
    Ok((name.unwrap_or(&[]), value.unwrap_or(&[])))
}

/// A label with both strings checked to be UTF-8.
fn read_label(buf: &[u8]) -> Result<(&str, &str), Error> {
    let (n, v) = read_label_raw(buf)?;
    let s = |b| std::str::from_utf8(b).map_err(|_| err("Label", NOT_UTF8));
    Ok((s(n)?, s(v)?))
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

/// Byte offset of `part`, a sub-slice of `whole`, within `whole`.
fn offset_in(part: &[u8], whole: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize)
}

/// Per series of a request: where its decoded parts end in [`Flat`], and the byte range of the
/// request holding its label fields.
#[derive(Clone, Copy)]
struct SeriesEnd {
    labels: usize,
    samples: usize,
    exemplars: usize,
    histograms: usize,
    /// The label fields' byte range in the request.
    region: (usize, usize),
    /// True when that range as a whole is valid UTF-8 and every label string starts and ends
    /// on one of its character boundaries (so each is valid UTF-8 too).
    region_ok: bool,
}

/// Every series of a request, decoded once: label strings as byte ranges of the request
/// (validated), samples as values. Holds no borrow, so each thread keeps one and reuses its
/// buffers from request to request instead of allocating and freeing them every time.
#[derive(Default)]
struct Flat {
    /// (name start, name end, value start, value end) in the request buffer.
    labels: Vec<[usize; 4]>,
    samples: Vec<(i64, f64)>,
    ends: Vec<SeriesEnd>,
}

impl Flat {
    fn clear(&mut self) {
        self.labels.clear();
        self.samples.clear();
        self.ends.clear();
    }

    /// Gives back the memory a very large request made the buffers take.
    fn trim(&mut self) {
        const KEEP: usize = 1 << 16;
        if self.labels.capacity() > KEEP {
            self.labels.shrink_to(KEEP);
        }
        if self.samples.capacity() > KEEP {
            self.samples.shrink_to(KEEP);
        }
        if self.ends.capacity() > KEEP {
            self.ends.shrink_to(KEEP);
        }
    }
}

thread_local! {
    static FLAT: std::cell::Cell<Flat> = std::cell::Cell::new(Flat::default());
}

const NOT_UTF8: &str = "invalid string value: data is not UTF-8 encoded";

/// Decodes one series, `buf` (a sub-slice of the request `req`), into `out`, validating
/// everything.
fn read_series<'a>(
    req: &'a [u8],
    buf: &'a [u8],
    out: &mut Flat,
    exemplars: &mut Vec<ExemplarView<'a>>,
) -> Result<(), Error> {
    let mut c = Cursor::new(buf, "TimeSeries");
    let mut histograms = 0;
    let first_label = out.labels.len();
    let base = offset_in(buf, req);
    // The label fields' range, checked to be UTF-8 in one call below: one check of ~200 bytes
    // instead of two short ones per label.
    let (mut lo, mut hi) = (usize::MAX, 0);
    while !c.done() {
        let field_at = base + c.pos;
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 2)?;
                let (n, v) = read_label_raw(c.bytes()?)?;
                let (n0, v0) = (offset_in(n, req), offset_in(v, req));
                out.labels.push([n0, n0 + n.len(), v0, v0 + v.len()]);
                (lo, hi) = (lo.min(field_at), base + c.pos);
            }
            (2, wt) => {
                c.expect(wt, 2)?;
                out.samples.push(read_sample(c.bytes()?)?);
            }
            (3, wt) => {
                c.expect(wt, 2)?;
                exemplars.push(read_exemplar(c.bytes()?)?);
            }
            (4, wt) => {
                c.expect(wt, 2)?;
                c.bytes()?;
                histograms += 1;
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    let labels = &out.labels[first_label..];
    let region = req.get(lo..hi).and_then(|r| std::str::from_utf8(r).ok());
    let region_ok = region.is_some_and(|r| {
        labels
            .iter()
            .flat_map(|l| [(l[0], l[1]), (l[2], l[3])])
            .all(|(a, b)| a == b || (a >= lo && r.is_char_boundary(a - lo) && r.is_char_boundary(b - lo)))
    });
    if !region_ok {
        for l in labels {
            for (a, b) in [(l[0], l[1]), (l[2], l[3])] {
                // Empty strings (absent fields) have no offset in the request.
                let bytes = if a == b { &[][..] } else { req.get(a..b).unwrap_or(&[]) };
                std::str::from_utf8(bytes).map_err(|_| err("Label", NOT_UTF8))?;
            }
        }
    }
    out.ends.push(SeriesEnd {
        labels: out.labels.len(),
        samples: out.samples.len(),
        exemplars: exemplars.len(),
        histograms,
        region: (lo, hi),
        region_ok,
    });
    Ok(())
}

/// The label strings of one series that [`read_series`] validated, pushed onto `out`.
fn label_strs<'a>(req: &'a [u8], labels: &[[usize; 4]], end: &SeriesEnd, out: &mut PairsView<'a>) -> Result<(), Error> {
    let bug = || err("Label", "BUG: a validated label no longer decodes");
    if end.region_ok {
        let (lo, hi) = end.region;
        let r = req
            .get(lo..hi)
            .and_then(|r| std::str::from_utf8(r).ok())
            .ok_or_else(bug)?;
        let s = |a: usize, b: usize| {
            if a == b { Some("") } else { r.get(a - lo..b - lo) }
        };
        for l in labels {
            out.push((s(l[0], l[1]).ok_or_else(bug)?, s(l[2], l[3]).ok_or_else(bug)?));
        }
    } else {
        let s = |a: usize, b: usize| -> Result<&'a str, Error> {
            if a == b {
                return Ok("");
            }
            std::str::from_utf8(req.get(a..b).ok_or_else(bug)?).map_err(|_| bug())
        };
        for l in labels {
            out.push((s(l[0], l[1])?, s(l[2], l[3])?));
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
    let mut flat = FLAT.with(|f| f.take());
    flat.clear();
    let r = walk(buf, &mut flat, &mut f);
    flat.trim();
    FLAT.with(|f| f.set(flat));
    r
}

/// [`for_each_series_v1`] with the thread's decoding buffers.
fn walk<'a, E: From<Error>>(
    buf: &'a [u8],
    flat: &mut Flat,
    f: &mut impl FnMut(&SeriesView<'a>) -> Result<(), E>,
) -> Result<Vec<DecodedMetadata>, E> {
    let mut metadata = Vec::new();
    let mut exemplars = Vec::new();
    // Decode and validate everything first, so that errors reject the request whole.
    let mut c = Cursor::new(buf, "WriteRequest");
    while !c.done() {
        match c.key()? {
            (1, wt) => {
                c.expect(wt, 2)?;
                read_series(buf, c.bytes()?, flat, &mut exemplars)?;
            }
            (3, wt) => {
                c.expect(wt, 2)?;
                metadata.push(read_metadata(c.bytes()?)?);
            }
            (field @ (V2_SYMBOLS | V2_TIMESERIES), _) => {
                return Err(wrong_version(RemoteWriteVersion::V1, field).into());
            }
            (_, wt) => c.skip(wt)?,
        }
    }
    // Then hand out the series from what was decoded.
    let mut view = SeriesView::default();
    let (mut l0, mut s0, mut e0) = (0, 0, 0);
    for end in &flat.ends {
        view.clear();
        label_strs(buf, &flat.labels[l0..end.labels], end, &mut view.labels)?;
        view.samples.extend_from_slice(&flat.samples[s0..end.samples]);
        view.exemplars.extend_from_slice(&exemplars[e0..end.exemplars]);
        view.histograms = end.histograms;
        (l0, s0, e0) = (end.labels, end.samples, end.exemplars);
        f(&view)?;
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

    #[test]
    fn a_replaced_label_field_is_still_checked_like_prost_does() {
        // Label { name: <invalid UTF-8>, name: "a", value: "b" }: the last name wins, but prost
        // rejects the request for the first one, and so does this reader.
        let label: Vec<u8> = vec![0x0a, 1, 0xff, 0x0a, 1, b'a', 0x12, 1, b'b'];
        let series: Vec<u8> = [&[0x0a, label.len() as u8][..], &label].concat();
        let buf: Vec<u8> = [&[0x0a, series.len() as u8][..], &series].concat();
        assert!(WriteRequest::decode(&buf[..]).is_err());
        let r = for_each_series_v1::<Error>(&buf, |_| Ok(()));
        assert!(r.unwrap_err().to_string().contains("UTF-8"));
    }

    proptest! {
        /// Labels of any Unicode (multi-byte characters, strings longer than 127 bytes, empty
        /// strings) come out exactly as prost decodes them, through the one-range UTF-8 check.
        #[test]
        fn unicode_labels_agree_with_prost(
            series in proptest::collection::vec(
                proptest::collection::vec(("\\PC{0,12}", "\\PC{0,8}|[a-zé€😀]{120,160}"), 0..6),
                1..5,
            ),
        ) {
            let r = WriteRequest {
                timeseries: series
                    .iter()
                    .map(|ls| TimeSeries {
                        labels: ls
                            .iter()
                            .map(|(n, v)| Label { name: n.clone(), value: v.clone() })
                            .collect(),
                        samples: vec![Sample { value: 1.0, timestamp: 2 }],
                        ..Default::default()
                    })
                    .collect(),
                metadata: vec![],
            };
            let buf = r.encode_to_vec();
            let mut seen: Vec<Vec<(String, String)>> = Vec::new();
            for_each_series_v1::<Error>(&buf, |s| {
                seen.push(s.labels.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect());
                Ok(())
            })
            .unwrap();
            prop_assert_eq!(seen, series);
        }

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
