//! Segment files: immutable, mmapped files of zstd-compressed span blocks.
//!
//! ```text
//! "NRVSPAN1"                       magic
//! block 0 … block n-1              zstd(codec::encode(spans)), spans sorted by trace id
//! trace index                      20-byte entries (trace id ‖ u32 LE block), sorted
//! footer                           see `Footer::encode`
//! u64 LE footer offset ‖ u32 LE footer length ‖ u32 LE crc32(footer) ‖ "NSPNEND\0"
//! ```
//!
//! The footer holds, per block, its offset, span count, time range, longest span and the
//! services it contains (so scans skip blocks), plus the catalog of the segment (services,
//! operations, attribute keys) and the highest WAL sequence number whose spans it holds.
//! Files are written under a `.tmp` name, fsynced and renamed, so a reader never sees half
//! a segment.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::codec;
use super::model::{Span, SpanKind, TraceId};
use crate::encoding::{DecodeError, Reader, put_bytes, put_uvarint};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"NRVSPAN1";
const END_MAGIC: &[u8; 8] = b"NSPNEND\0";
const TRAILER_LEN: usize = 24;
const INDEX_ENTRY: usize = 20;

/// What a block holds, for pruning.
#[derive(Clone, Debug, Default)]
pub struct BlockMeta {
    /// File offset of the compressed block.
    pub offset: u64,
    /// Compressed length.
    pub len: u64,
    /// Spans in the block.
    pub spans: u64,
    /// Earliest span start.
    pub min_start: u64,
    /// Latest span end.
    pub max_end: u64,
    /// Longest span duration.
    pub max_duration: u64,
    /// Indexes into [`Catalog::services`] of the services with spans in the block.
    pub services: Vec<u32>,
}

/// Names a segment (or the store) has seen.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Service names.
    pub services: BTreeSet<String>,
    /// Operations (span name, kind) per service.
    pub operations: BTreeMap<String, BTreeSet<(String, SpanKind)>>,
    /// Resource attribute keys.
    pub resource_keys: BTreeSet<String>,
    /// Span attribute keys.
    pub span_keys: BTreeSet<String>,
}

/// Most operations remembered per service: span names carrying ids would otherwise grow the
/// catalog without bound.
pub const MAX_OPERATIONS_PER_SERVICE: usize = 10_000;
/// Most attribute keys remembered per scope.
pub const MAX_ATTRIBUTE_KEYS: usize = 10_000;

impl Catalog {
    /// Records the names of `span`.
    pub fn add(&mut self, span: &Span) {
        self.add_all(std::iter::once(span));
    }

    /// [`Catalog::add`] for many spans: a run of spans with the same service, name and kind,
    /// or the same resource, is looked at once (spans of one export share both).
    pub fn add_all<'a>(&mut self, spans: impl IntoIterator<Item = &'a Span>) {
        let mut last_op: Option<(&str, &str, SpanKind)> = None;
        let mut last_resource: *const super::model::Resource = std::ptr::null();
        for span in spans {
            let service = span.service_name();
            let op = (service, span.name.as_str(), span.kind);
            if last_op != Some(op) {
                last_op = Some(op);
                let ops = match self.operations.get_mut(service) {
                    Some(ops) => ops,
                    None => {
                        self.services.insert(service.to_owned());
                        self.operations.entry(service.to_owned()).or_default()
                    }
                };
                if ops.len() < MAX_OPERATIONS_PER_SERVICE {
                    let key = (span.name.clone(), span.kind);
                    if !ops.contains(&key) {
                        ops.insert(key);
                    }
                }
            }
            let resource = std::sync::Arc::as_ptr(&span.resource);
            if resource != last_resource {
                last_resource = resource;
                for kv in &span.resource.attributes {
                    if self.resource_keys.len() < MAX_ATTRIBUTE_KEYS && !self.resource_keys.contains(&kv.key) {
                        self.resource_keys.insert(kv.key.clone());
                    }
                }
            }
            for kv in &span.attributes {
                if self.span_keys.len() < MAX_ATTRIBUTE_KEYS && !self.span_keys.contains(&kv.key) {
                    self.span_keys.insert(kv.key.clone());
                }
            }
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &Catalog) {
        self.services.extend(other.services.iter().cloned());
        for (svc, ops) in &other.operations {
            let mine = self.operations.entry(svc.clone()).or_default();
            for op in ops {
                if mine.len() >= MAX_OPERATIONS_PER_SERVICE {
                    break;
                }
                mine.insert(op.clone());
            }
        }
        self.resource_keys.extend(other.resource_keys.iter().cloned());
        self.span_keys.extend(other.span_keys.iter().cloned());
    }
}

/// Writes a segment block by block.
pub struct SegmentWriter {
    tmp: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    level: i32,
    blocks: Vec<BlockMeta>,
    index: Vec<(TraceId, u32)>,
    catalog: Catalog,
    service_ids: BTreeMap<String, u32>,
    spans: u64,
}

impl SegmentWriter {
    /// Starts writing `path` (as `path.tmp` until [`finish`](Self::finish)), compressing blocks
    /// at zstd `level`.
    pub fn create(path: &Path, level: i32) -> Result<SegmentWriter> {
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(|e| Error::io(&tmp, e))?;
        Ok(SegmentWriter {
            tmp,
            path: path.to_owned(),
            out,
            pos: MAGIC.len() as u64,
            level,
            blocks: Vec::new(),
            index: Vec::new(),
            catalog: Catalog::default(),
            service_ids: BTreeMap::new(),
            spans: 0,
        })
    }

    /// Appends one block; `spans` should be sorted by trace id (lookups then touch one
    /// block per trace).
    pub fn add_block(&mut self, spans: &[Span]) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        let block_no =
            u32::try_from(self.blocks.len()).map_err(|_| Error::InvalidInput("segment has too many blocks".into()))?;
        self.catalog.add_all(spans);
        let raw = codec::encode(spans);
        let packed = zstd::bulk::compress(&raw, self.level).map_err(|e| Error::io(&self.tmp, e))?;
        self.out.write_all(&packed).map_err(|e| Error::io(&self.tmp, e))?;
        let mut meta = BlockMeta {
            offset: self.pos,
            len: packed.len() as u64,
            spans: spans.len() as u64,
            min_start: u64::MAX,
            ..Default::default()
        };
        self.pos += packed.len() as u64;
        let mut services = BTreeSet::new();
        for s in spans {
            meta.min_start = meta.min_start.min(s.start_ns);
            meta.max_end = meta.max_end.max(s.end_ns);
            meta.max_duration = meta.max_duration.max(s.duration_ns());
            let svc = s.service_name();
            let next = self.service_ids.len() as u32;
            let id = match self.service_ids.get(svc) {
                Some(id) => *id,
                None => *self.service_ids.entry(svc.to_owned()).or_insert(next),
            };
            services.insert(id);
            if self
                .index
                .last()
                .is_none_or(|(t, b)| *t != s.trace_id || *b != block_no)
            {
                self.index.push((s.trace_id, block_no));
            }
        }
        meta.services = services.into_iter().collect();
        self.spans += spans.len() as u64;
        self.blocks.push(meta);
        Ok(())
    }

    /// Spans written so far.
    pub fn spans(&self) -> u64 {
        self.spans
    }

    /// Writes the index and footer, fsyncs (when `durable`) and renames the file into place.
    pub fn finish(mut self, max_seq: u64, durable: bool) -> Result<PathBuf> {
        let tmp = self.tmp.clone();
        let io = |e| Error::io(&tmp, e);
        self.index.sort_unstable();
        self.index.dedup();
        let index_offset = self.pos;
        for (t, b) in &self.index {
            self.out.write_all(t).map_err(io)?;
            self.out.write_all(&b.to_le_bytes()).map_err(io)?;
        }
        self.pos += (self.index.len() * INDEX_ENTRY) as u64;
        // Service ids were assigned in first-seen order; the footer lists names by id.
        let mut by_id: Vec<(&u32, &String)> = self.service_ids.iter().map(|(n, i)| (i, n)).collect();
        by_id.sort_unstable();
        let mut f = Vec::new();
        put_uvarint(&mut f, 1);
        f.extend_from_slice(&max_seq.to_le_bytes());
        put_uvarint(&mut f, self.spans);
        put_uvarint(&mut f, by_id.len() as u64);
        for (_, name) in &by_id {
            put_bytes(&mut f, name.as_bytes());
        }
        let ops: Vec<(&String, &(String, SpanKind))> = self
            .catalog
            .operations
            .iter()
            .flat_map(|(svc, ops)| ops.iter().map(move |op| (svc, op)))
            .collect();
        put_uvarint(&mut f, ops.len() as u64);
        for (svc, (name, kind)) in ops {
            put_uvarint(&mut f, u64::from(self.service_ids.get(svc).copied().unwrap_or(0)));
            put_bytes(&mut f, name.as_bytes());
            f.push(*kind as u8);
        }
        for keys in [&self.catalog.resource_keys, &self.catalog.span_keys] {
            put_uvarint(&mut f, keys.len() as u64);
            for k in keys {
                put_bytes(&mut f, k.as_bytes());
            }
        }
        put_uvarint(&mut f, self.blocks.len() as u64);
        for b in &self.blocks {
            for v in [b.offset, b.len, b.spans, b.min_start, b.max_end, b.max_duration] {
                put_uvarint(&mut f, v);
            }
            put_uvarint(&mut f, b.services.len() as u64);
            for s in &b.services {
                put_uvarint(&mut f, u64::from(*s));
            }
        }
        put_uvarint(&mut f, index_offset);
        put_uvarint(&mut f, self.index.len() as u64);
        let footer_offset = self.pos;
        self.out.write_all(&f).map_err(io)?;
        self.out.write_all(&footer_offset.to_le_bytes()).map_err(io)?;
        let footer_len = u32::try_from(f.len()).map_err(|_| Error::InvalidInput("segment footer over 4 GiB".into()))?;
        self.out.write_all(&footer_len.to_le_bytes()).map_err(io)?;
        self.out.write_all(&crc32fast::hash(&f).to_le_bytes()).map_err(io)?;
        self.out.write_all(END_MAGIC).map_err(io)?;
        let file = self.out.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        if durable {
            file.sync_all().map_err(io)?;
        }
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        if durable && let Some(dir) = self.path.parent() {
            crate::metrics::block::sync_dir(dir)?;
        }
        Ok(self.path)
    }

    /// Abandons the file.
    pub fn abort(self) {
        drop(self.out);
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// An open segment.
pub struct Segment {
    path: PathBuf,
    mmap: Mmap,
    /// Highest WAL sequence number whose spans are in this segment.
    pub max_seq: u64,
    /// Spans in the segment.
    pub spans: u64,
    /// Service names by id (the ids [`BlockMeta::services`] uses).
    pub services: Vec<String>,
    /// The blocks.
    pub blocks: Vec<BlockMeta>,
    /// The segment's catalog.
    pub catalog: Catalog,
    index_offset: usize,
    index_len: usize,
    /// Why a read found the segment damaged (see `damage`).
    pub(super) damage: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.path)
            .field("spans", &self.spans)
            .finish()
    }
}

impl Segment {
    /// Opens and validates a segment file.
    pub fn open(path: &Path) -> Result<Segment> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: segment files are immutable once renamed into place; nerve never writes to
        // them again and only deletes them (unlinking keeps the mapping valid).
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let corrupt = |offset: usize, reason: &str| Error::corruption(path, offset as u64, reason);
        let n = mmap.len();
        if n < MAGIC.len() + TRAILER_LEN || &mmap[..8] != MAGIC || &mmap[n - 8..] != END_MAGIC {
            return Err(corrupt(0, "not a span segment (bad magic or truncated)"));
        }
        let t = &mmap[n - TRAILER_LEN..];
        let footer_offset = u64::from_le_bytes(t[0..8].try_into().unwrap_or_default()) as usize;
        let footer_len = u32::from_le_bytes(t[8..12].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(t[12..16].try_into().unwrap_or_default());
        let footer_end = footer_offset.checked_add(footer_len).filter(|e| *e == n - TRAILER_LEN);
        let Some(footer_end) = footer_end else {
            return Err(corrupt(n - TRAILER_LEN, "footer offset out of range"));
        };
        let footer = &mmap[footer_offset..footer_end];
        if crc32fast::hash(footer) != crc {
            return Err(corrupt(footer_offset, "footer checksum mismatch"));
        }
        let parsed = parse_footer(footer).map_err(|e| corrupt(footer_offset + e.offset, e.what))?;
        let (max_seq, spans, services, blocks, catalog, index_offset, index_len) = parsed;
        let index_end = index_len
            .checked_mul(INDEX_ENTRY)
            .and_then(|l| index_offset.checked_add(l))
            .filter(|e| *e <= footer_offset);
        if index_end.is_none() || blocks.iter().any(|b| b.offset + b.len > index_offset as u64) {
            return Err(corrupt(footer_offset, "index or block out of range"));
        }
        // The trace-id index has no checksum of its own: check its order and block numbers,
        // so a damaged index is found here instead of silently losing traces.
        let entry = |i: usize| &mmap[index_offset + i * INDEX_ENTRY..index_offset + (i + 1) * INDEX_ENTRY];
        for i in 0..index_len {
            let e = entry(i);
            let block = u32::from_le_bytes([e[16], e[17], e[18], e[19]]) as usize;
            if block >= blocks.len() || (i > 0 && entry(i - 1)[..16] > e[..16]) {
                return Err(corrupt(
                    index_offset + i * INDEX_ENTRY,
                    "trace index out of order or naming a missing block",
                ));
            }
        }
        Ok(Segment {
            path: path.to_owned(),
            mmap,
            max_seq,
            spans,
            services,
            blocks,
            catalog,
            index_offset,
            index_len,
            damage: std::sync::OnceLock::new(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size on disk.
    pub fn size_bytes(&self) -> u64 {
        self.mmap.len() as u64
    }

    fn index_entry(&self, i: usize) -> (&[u8], u32) {
        let at = self.index_offset + i * INDEX_ENTRY;
        let e = &self.mmap[at..at + INDEX_ENTRY];
        (&e[..16], u32::from_le_bytes([e[16], e[17], e[18], e[19]]))
    }

    /// The blocks holding spans of `trace` (binary search in the mmapped index).
    pub fn blocks_of(&self, trace: &TraceId) -> Vec<u32> {
        let (mut lo, mut hi) = (0, self.index_len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.index_entry(mid).0 < &trace[..] {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        while lo < self.index_len {
            let (t, b) = self.index_entry(lo);
            if t != &trace[..] {
                break;
            }
            out.push(b);
            lo += 1;
        }
        out
    }

    /// Decompresses and decodes block `i`.
    pub fn read_block(&self, i: usize) -> Result<Vec<Span>> {
        let Some(b) = self.blocks.get(i) else {
            return Err(Error::corruption(&self.path, 0, format!("no block {i}")));
        };
        let bytes = &self.mmap[b.offset as usize..(b.offset + b.len) as usize];
        let raw =
            zstd::stream::decode_all(bytes).map_err(|e| Error::corruption(&self.path, b.offset, e.to_string()))?;
        codec::decode(&raw)
            .map_err(|e| Error::corruption(&self.path, b.offset, format!("block: {} at {}", e.what, e.offset)))
    }
}

type Parsed = (u64, u64, Vec<String>, Vec<BlockMeta>, Catalog, usize, usize);

fn parse_footer(buf: &[u8]) -> std::result::Result<Parsed, DecodeError> {
    let mut r = Reader::new(buf);
    if r.uvarint()? != 1 {
        return Err(r.err_at("segment version 1"));
    }
    let max_seq = r.u64_le()?;
    let spans = r.uvarint()?;
    let n = r.len(buf.len())?;
    let mut services = Vec::with_capacity(n);
    for _ in 0..n {
        services.push(r.str()?.to_owned());
    }
    let mut catalog = Catalog {
        services: services.iter().cloned().collect(),
        ..Default::default()
    };
    let n_ops = r.len(buf.len())?;
    for _ in 0..n_ops {
        let svc = r.len(services.len())?;
        let name = r.str()?.to_owned();
        let kind = SpanKind::from_i32(i32::from(r.u8()?));
        let svc = services.get(svc).ok_or(r.err_at("service id"))?;
        catalog.operations.entry(svc.clone()).or_default().insert((name, kind));
    }
    for keys in [&mut catalog.resource_keys, &mut catalog.span_keys] {
        let n = r.len(buf.len())?;
        for _ in 0..n {
            keys.insert(r.str()?.to_owned());
        }
    }
    let n_blocks = r.len(buf.len())?;
    let mut blocks = Vec::with_capacity(n_blocks);
    for _ in 0..n_blocks {
        let mut b = BlockMeta {
            offset: r.uvarint()?,
            len: r.uvarint()?,
            spans: r.uvarint()?,
            min_start: r.uvarint()?,
            max_end: r.uvarint()?,
            max_duration: r.uvarint()?,
            services: Vec::new(),
        };
        let n = r.len(services.len())?;
        for _ in 0..n {
            b.services.push(r.len(services.len())? as u32);
        }
        blocks.push(b);
    }
    let index_offset = r.len(usize::MAX)?;
    let index_len = r.len(usize::MAX / INDEX_ENTRY)?;
    Ok((max_seq, spans, services, blocks, catalog, index_offset, index_len))
}
