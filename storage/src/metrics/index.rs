//! The on-disk label index of a block, read in place through memmap2.
//!
//! Layout (all integers little-endian; "off" = absolute file offset):
//! ```text
//! magic "NRVIDX1\0"
//! symbols      n × (uvarint len, utf-8 bytes)        sorted, unique
//! symbol offs  n × u64 off
//! series       per series: uvarint nlabels, nlabels × (uvarint name sym, uvarint value sym),
//!              uvarint nchunks, nchunks × (zigzag mint, uvarint maxt−mint, uvarint off, uvarint len)
//! series offs  nseries × u64 off                       (series id = position; sorted by labels)
//! postings     serialized roaring bitmaps
//! post table   npost × (u32 name sym, u32 value sym, u64 off, u64 len), sorted by (name, value)
//! toc          u64 nsym, u64 sym_offs_off, u64 nseries, u64 series_offs_off, u64 npost,
//!              u64 post_table_off, u32 crc32 of every byte before the toc, magic "NRVTOC1\0"
//! ```
//! Because symbols are sorted, symbol ids order like their strings, so the postings table is
//! binary-searchable by id, and a label's values are one contiguous run of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use roaring::RoaringBitmap;

use crate::encoding::{Reader, put_uvarint, put_varint};
use crate::error::{Error, Result};
use crate::labels::{Label, Labels};
use crate::metrics::postings::IndexReader;

const MAGIC: &[u8; 8] = b"NRVIDX1\0";
const TOC_MAGIC: &[u8; 8] = b"NRVTOC1\0";
const TOC_LEN: usize = 6 * 8 + 4 + 8;
const POST_ENTRY: usize = 24;

/// Where one chunk of a series lives in the block's chunk file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample time (ms).
    pub mint: i64,
    /// Last sample time (ms).
    pub maxt: i64,
    /// Offset of the chunk frame in the chunk file.
    pub offset: u64,
    /// Length of the frame.
    pub len: u64,
}

/// Builds an index file from series given in label order, each with its chunks. The series
/// are walked twice (symbols first), so the iterator must be cheap to clone. The file is
/// streamed to disk (only the postings and offset tables are held in memory) and fsynced.
pub fn write_index<'a, I>(path: &Path, series: I) -> Result<()>
where
    I: Iterator<Item = (&'a Labels, &'a [ChunkMeta])> + Clone,
{
    let mut syms: BTreeMap<&str, u32> = BTreeMap::new();
    for (l, _) in series.clone() {
        for (n, v) in l.iter() {
            syms.insert(n, 0);
            syms.insert(v, 0);
        }
    }
    for (i, v) in syms.values_mut().enumerate() {
        *v = i as u32;
    }
    let mut out = IndexOut::create(path)?;
    let mut b: Vec<u8> = Vec::with_capacity(256);
    out.put(MAGIC)?;
    let mut sym_offs = Vec::with_capacity(syms.len());
    for s in syms.keys() {
        sym_offs.push(out.pos);
        b.clear();
        put_uvarint(&mut b, s.len() as u64);
        b.extend_from_slice(s.as_bytes());
        out.put(&b)?;
    }
    let sym_offs_off = out.pos;
    for o in &sym_offs {
        out.put(&o.to_le_bytes())?;
    }
    drop(sym_offs);
    let mut postings: BTreeMap<(u32, u32), RoaringBitmap> = BTreeMap::new();
    let mut series_offs = Vec::new();
    for (id, (l, chunks)) in series.enumerate() {
        series_offs.push(out.pos);
        b.clear();
        put_uvarint(&mut b, l.len() as u64);
        for (n, v) in l.iter() {
            let (ns, vs) = (syms[n], syms[v]);
            put_uvarint(&mut b, u64::from(ns));
            put_uvarint(&mut b, u64::from(vs));
            postings.entry((ns, vs)).or_default().insert(id as u32);
        }
        put_uvarint(&mut b, chunks.len() as u64);
        for c in chunks {
            put_varint(&mut b, c.mint);
            put_uvarint(&mut b, c.maxt.wrapping_sub(c.mint) as u64);
            put_uvarint(&mut b, c.offset);
            put_uvarint(&mut b, c.len);
        }
        out.put(&b)?;
    }
    let nsyms = syms.len() as u64;
    drop(syms);
    let series_offs_off = out.pos;
    for o in &series_offs {
        out.put(&o.to_le_bytes())?;
    }
    let nseries = series_offs.len() as u64;
    drop(series_offs);
    let mut table = Vec::with_capacity(postings.len() * POST_ENTRY);
    for ((n, v), bm) in &postings {
        let off = out.pos;
        b.clear();
        bm.serialize_into(&mut b).map_err(|e| Error::io(path, e))?;
        out.put(&b)?;
        table.extend_from_slice(&n.to_le_bytes());
        table.extend_from_slice(&v.to_le_bytes());
        table.extend_from_slice(&off.to_le_bytes());
        table.extend_from_slice(&(b.len() as u64).to_le_bytes());
    }
    let post_table_off = out.pos;
    out.put(&table)?;
    let crc = out.crc.clone().finalize();
    for v in [
        nsyms,
        sym_offs_off,
        nseries,
        series_offs_off,
        postings.len() as u64,
        post_table_off,
    ] {
        out.put(&v.to_le_bytes())?;
    }
    out.put(&crc.to_le_bytes())?;
    out.put(TOC_MAGIC)?;
    out.finish()
}

/// A buffered index file being written: tracks the offset and the checksum of what was put.
struct IndexOut {
    path: PathBuf,
    w: std::io::BufWriter<std::fs::File>,
    crc: crc32fast::Hasher,
    pos: u64,
}

impl IndexOut {
    fn create(path: &Path) -> Result<Self> {
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(IndexOut {
            path: path.to_owned(),
            w: std::io::BufWriter::with_capacity(1 << 16, f),
            crc: crc32fast::Hasher::new(),
            pos: 0,
        })
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        use std::io::Write;
        self.crc.update(b);
        self.pos += b.len() as u64;
        self.w.write_all(b).map_err(|e| Error::io(&self.path, e))
    }

    fn finish(self) -> Result<()> {
        let f = self.w.into_inner().map_err(|e| Error::io(&self.path, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

/// CRC32 of the first `len` bytes of `path`, read through a small buffer rather than a mapping,
/// so validating an index does not leave all of it resident in the process.
fn file_crc(path: &Path, len: u64) -> Result<u32> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = f.take(len);
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = 0u64;
    loop {
        let n = r.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        seen += n as u64;
    }
    if seen != len {
        return Err(Error::corruption(path, seen, "index shorter than its mapping"));
    }
    Ok(h.finalize())
}

/// A block's index, mapped read-only. Cheap lookups straight from the mapping; nothing but
/// the mapping is held in memory.
pub struct IndexFile {
    path: PathBuf,
    map: Mmap,
    nsym: u64,
    sym_offs_off: u64,
    nseries: u64,
    series_offs_off: u64,
    npost: u64,
    post_table_off: u64,
}

impl IndexFile {
    /// Maps and validates (magic, bounds, checksum) the index at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: block files are immutable once renamed into place; nerve never writes them
        // again, and deletion keeps existing mappings valid on the platforms we support.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| Error::io(path, e))?;
        let bad = |off: usize, why: &str| Error::corruption(path, off as u64, why);
        if map.len() < MAGIC.len() + TOC_LEN || &map[..8] != MAGIC {
            return Err(bad(0, "bad index magic or short file"));
        }
        let toc_at = map.len() - TOC_LEN;
        let mut r = Reader::new(&map[toc_at..]);
        let mut next = || r.u64_le().map_err(|e| bad(toc_at + e.offset, e.what));
        let (nsym, sym_offs_off, nseries, series_offs_off, npost, post_table_off) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        let crc = u32::from_le_bytes([map[toc_at + 48], map[toc_at + 49], map[toc_at + 50], map[toc_at + 51]]);
        if &map[map.len() - 8..] != TOC_MAGIC {
            return Err(bad(toc_at, "bad toc magic"));
        }
        if file_crc(path, toc_at as u64)? != crc {
            return Err(bad(0, "index checksum mismatch"));
        }
        let fits = |off: u64, n: u64, w: u64| off.checked_add(n.saturating_mul(w)).is_some_and(|e| e <= toc_at as u64);
        if !fits(sym_offs_off, nsym, 8)
            || !fits(series_offs_off, nseries, 8)
            || !fits(post_table_off, npost, POST_ENTRY as u64)
        {
            return Err(bad(toc_at, "toc section out of bounds"));
        }
        Ok(IndexFile {
            path: path.to_owned(),
            map,
            nsym,
            sym_offs_off,
            nseries,
            series_offs_off,
            npost,
            post_table_off,
        })
    }

    fn corrupt(&self, off: u64, why: &str) -> Error {
        Error::corruption(&self.path, off, why)
    }

    fn u64_at(&self, off: u64) -> Result<u64> {
        let o = usize::try_from(off).map_err(|_| self.corrupt(off, "offset"))?;
        let b = self
            .map
            .get(o..o + 8)
            .ok_or_else(|| self.corrupt(off, "u64 out of bounds"))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn u32_at(&self, off: u64) -> Result<u32> {
        let o = usize::try_from(off).map_err(|_| self.corrupt(off, "offset"))?;
        let b = self
            .map
            .get(o..o + 4)
            .ok_or_else(|| self.corrupt(off, "u32 out of bounds"))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Number of series.
    pub fn num_series(&self) -> u64 {
        self.nseries
    }

    /// The string of symbol `id`.
    pub fn symbol(&self, id: u32) -> Result<&str> {
        if u64::from(id) >= self.nsym {
            return Err(self.corrupt(0, "symbol id out of range"));
        }
        let off = self.u64_at(self.sym_offs_off + u64::from(id) * 8)?;
        let o = usize::try_from(off).map_err(|_| self.corrupt(off, "offset"))?;
        let mut r = Reader::new(
            self.map
                .get(o..)
                .ok_or_else(|| self.corrupt(off, "symbol out of bounds"))?,
        );
        r.str().map_err(|e| self.corrupt(off + e.offset as u64, e.what))
    }

    /// The id of symbol `s`, if present.
    pub fn lookup(&self, s: &str) -> Result<Option<u32>> {
        let (mut lo, mut hi) = (0u64, self.nsym);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.symbol(mid as u32)?.cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid as u32)),
            }
        }
        Ok(None)
    }

    fn entry(&self, i: u64) -> Result<(u32, u32, u64, u64)> {
        let at = self.post_table_off + i * POST_ENTRY as u64;
        Ok((
            self.u32_at(at)?,
            self.u32_at(at + 4)?,
            self.u64_at(at + 8)?,
            self.u64_at(at + 16)?,
        ))
    }

    /// First table position whose key is ≥ `(n, v)`.
    fn table_lower_bound(&self, n: u32, v: u32) -> Result<u64> {
        let (mut lo, mut hi) = (0u64, self.npost);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (a, b, _, _) = self.entry(mid)?;
            if (a, b) < (n, v) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    fn read_postings(&self, off: u64, len: u64) -> Result<RoaringBitmap> {
        let (o, l) = (
            usize::try_from(off).unwrap_or(usize::MAX),
            usize::try_from(len).unwrap_or(usize::MAX),
        );
        let b = self
            .map
            .get(o..o.saturating_add(l))
            .ok_or_else(|| self.corrupt(off, "postings out of bounds"))?;
        RoaringBitmap::deserialize_from(b).map_err(|e| self.corrupt(off, &format!("postings: {e}")))
    }

    /// Distinct label names.
    pub fn label_names(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.npost {
            let (n, _, _, _) = self.entry(i)?;
            out.push(self.symbol(n)?.to_owned());
            i = self.table_lower_bound(n.saturating_add(1), 0)?;
            if n == u32::MAX {
                break;
            }
        }
        Ok(out)
    }

    /// Labels and chunk metas of series `id`.
    pub fn series(&self, id: u32) -> Result<(Labels, Vec<ChunkMeta>)> {
        if u64::from(id) >= self.nseries {
            return Err(self.corrupt(0, "series id out of range"));
        }
        let off = self.u64_at(self.series_offs_off + u64::from(id) * 8)?;
        let o = usize::try_from(off).map_err(|_| self.corrupt(off, "offset"))?;
        let mut r = Reader::new(
            self.map
                .get(o..)
                .ok_or_else(|| self.corrupt(off, "series out of bounds"))?,
        );
        let e = |e: crate::encoding::DecodeError| self.corrupt(off + e.offset as u64, e.what);
        let n = r.len(256).map_err(e)?;
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let ns = r.len(u32::MAX as usize).map_err(e)? as u32;
            let vs = r.len(u32::MAX as usize).map_err(e)? as u32;
            labels.push(Label::new(
                Arc::<str>::from(self.symbol(ns)?),
                Arc::<str>::from(self.symbol(vs)?),
            ));
        }
        let nc = r.len(1 << 24).map_err(e)?;
        let mut chunks = Vec::with_capacity(nc);
        for _ in 0..nc {
            let mint = r.varint().map_err(e)?;
            let maxt = mint.wrapping_add(r.uvarint().map_err(e)? as i64);
            let offset = r.uvarint().map_err(e)?;
            let len = r.uvarint().map_err(e)?;
            chunks.push(ChunkMeta {
                mint,
                maxt,
                offset,
                len,
            });
        }
        if labels.windows(2).any(|w| w[0].name >= w[1].name) {
            return Err(self.corrupt(off, "series labels not sorted"));
        }
        Ok((Labels::from_sorted_unchecked(labels), chunks))
    }
}

impl IndexReader for IndexFile {
    fn all_postings(&self) -> Result<RoaringBitmap> {
        let n = u32::try_from(self.nseries).map_err(|_| self.corrupt(0, "too many series"))?;
        let mut b = RoaringBitmap::new();
        b.insert_range(0..n);
        Ok(b)
    }

    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&str)) -> Result<()> {
        let Some(n) = self.lookup(name)? else { return Ok(()) };
        let mut i = self.table_lower_bound(n, 0)?;
        while i < self.npost {
            let (a, v, _, _) = self.entry(i)?;
            if a != n {
                break;
            }
            f(self.symbol(v)?);
            i += 1;
        }
        Ok(())
    }

    fn postings(&self, name: &str, value: &str) -> Result<RoaringBitmap> {
        let (Some(n), Some(v)) = (self.lookup(name)?, self.lookup(value)?) else {
            return Ok(RoaringBitmap::new());
        };
        let i = self.table_lower_bound(n, v)?;
        if i >= self.npost {
            return Ok(RoaringBitmap::new());
        }
        let (a, b, off, len) = self.entry(i)?;
        if (a, b) != (n, v) {
            return Ok(RoaringBitmap::new());
        }
        self.read_postings(off, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::{MatchOp, Matcher};
    use crate::metrics::postings::postings_for_matchers;
    use crate::metrics::postings::tests::VecIndex;

    #[test]
    fn round_trip_and_matchers_agree_with_model() {
        let dir = tempfile::tempdir().unwrap();
        let mut ls: Vec<Labels> = (0..200)
            .map(|i| {
                Labels::from_pairs([
                    ("__name__".to_string(), format!("m{}", i % 7)),
                    ("job".to_string(), format!("j{}", i % 3)),
                    ("i".to_string(), if i % 5 == 0 { String::new() } else { i.to_string() }),
                ])
                .unwrap()
            })
            .collect();
        ls.sort();
        ls.dedup();
        let series: Vec<(Labels, Vec<ChunkMeta>)> = ls
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    l.clone(),
                    vec![ChunkMeta {
                        mint: -5,
                        maxt: i as i64,
                        offset: i as u64 * 10,
                        len: 10,
                    }],
                )
            })
            .collect();
        let p = dir.path().join("index");
        write_index(&p, series.iter().map(|(l, c)| (l, c.as_slice()))).unwrap();
        let ix = IndexFile::open(&p).unwrap();
        assert_eq!(ix.num_series(), ls.len() as u64);
        for (i, (l, c)) in series.iter().enumerate() {
            assert_eq!(&ix.series(i as u32).unwrap(), &(l.clone(), c.clone()));
        }
        let model = VecIndex(ls.clone());
        let cases = vec![
            vec![Matcher::equal("__name__", "m3")],
            vec![
                Matcher::new(MatchOp::Regex, "job", "j1|j2").unwrap(),
                Matcher::equal("i", ""),
            ],
            vec![Matcher::new(MatchOp::NotRegex, "i", "1.*").unwrap()],
            vec![
                Matcher::new(MatchOp::Regex, "i", ".*5").unwrap(),
                Matcher::new(MatchOp::NotEqual, "job", "j0").unwrap(),
            ],
            vec![Matcher::equal("nope", "x")],
        ];
        for ms in cases {
            assert_eq!(
                postings_for_matchers(&ix, &ms).unwrap(),
                postings_for_matchers(&model, &ms).unwrap(),
                "{ms:?}"
            );
        }
        assert_eq!(ix.label_names().unwrap(), vec!["__name__", "i", "job"]);
    }

    #[test]
    fn corrupt_index_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let l = Labels::from_pairs([("__name__", "x")]).unwrap();
        write_index(&p, std::iter::once((&l, &[][..]))).unwrap();
        let mut b = std::fs::read(&p).unwrap();
        b[10] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        assert!(matches!(IndexFile::open(&p), Err(Error::Corruption { .. })));
    }
}
