//! One time partition of the log store: chunk files, the tantivy index over their chunks, and
//! the head of entries not flushed yet.
//!
//! A flush groups the head's entries by stream, sorts them by time, cuts them into chunks,
//! writes the chunks to a new file (fsynced, then renamed into place), and then commits one
//! index document per chunk with the flushed WAL sequence number as the commit payload. A crash
//! between the two leaves a chunk file no commit refers to: opening deletes it and WAL replay
//! flushes its entries again.

use super::LogEntry;
use super::chunk::{self, MAGIC};
use super::head::{Head, HeadBatch};
use super::schema::{self, Fields};
use crate::error::{Error, Result};
use memmap2::Mmap;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tantivy::collector::Collector;
use tantivy::query::AllQuery;
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

/// A consistent view of a partition: committed index plus the head that is not in it.
pub(super) struct Snapshot {
    pub searcher: Searcher,
    pub head: Head,
}

struct State {
    searcher: Searcher,
    head: Head,
    /// Stream ids with at least one entry here (committed or in the head).
    streams: HashSet<u64>,
    /// Highest WAL sequence number committed to the index (0: none).
    committed_seq: u64,
    /// Entries in committed chunks.
    indexed: u64,
    /// When the oldest batch now in the head was added.
    head_since: Option<Instant>,
}

struct WriterSlot {
    writer: Option<IndexWriter<TantivyDocument>>,
    last_used: Instant,
}

/// A partition covering `[start_ns, end_ns)`.
pub(super) struct Partition {
    pub start_ns: i64,
    pub end_ns: i64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    pub fields: Fields,
    writer: Mutex<WriterSlot>,
    writer_memory: usize,
    state: RwLock<State>,
    /// Chunk files mapped so far, by sequence number.
    files: RwLock<HashMap<u64, Arc<Mmap>>>,
    /// Damage met by reads (see `damage`).
    pub(super) damage: super::damage::Damage,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("start_ns", &self.start_ns)
            .field("dir", &self.dir)
            .finish()
    }
}

impl Partition {
    /// Opens (or creates) the partition in `dir`.
    pub fn open(dir: &Path, start_ns: i64, end_ns: i64, writer_memory: usize) -> Result<Partition> {
        let (index, fields) = schema::open_index(dir)?;
        let err = schema::err(dir);
        let committed_seq = index
            .load_metas()
            .map_err(&err)?
            .payload
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(&err)?;
        let searcher = reader.searcher();
        let streams = committed_streams(&searcher, fields, dir)?;
        let indexed = searcher.search(&AllQuery, &SumEntries).map_err(&err)?;
        remove_orphans(&dir.join("chunks"), committed_seq)?;
        Ok(Partition {
            start_ns,
            end_ns,
            dir: dir.to_owned(),
            index,
            reader,
            fields,
            writer: Mutex::new(WriterSlot {
                writer: None,
                last_used: Instant::now(),
            }),
            writer_memory,
            state: RwLock::new(State {
                searcher,
                head: Head::default(),
                streams,
                committed_seq,
                indexed,
                head_since: None,
            }),
            files: RwLock::new(HashMap::new()),
            damage: Default::default(),
        })
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Highest WAL sequence number in the index.
    pub fn committed_seq(&self) -> u64 {
        self.state.read().committed_seq
    }

    /// Adds a batch to the head.
    pub fn add(&self, batch: Arc<HeadBatch>) {
        let mut st = self.state.write();
        for e in &batch.entries {
            st.streams.insert(e.stream);
        }
        st.head_since.get_or_insert_with(Instant::now);
        st.head.batches.push(batch);
    }

    /// A consistent view for a query.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.state.read();
        Snapshot {
            searcher: st.searcher.clone(),
            head: st.head.clone(),
        }
    }

    /// Whether any entry of stream `id` is here.
    pub fn has_stream(&self, id: u64) -> bool {
        self.state.read().streams.contains(&id)
    }

    /// Entries in the head and in committed chunks.
    pub fn counts(&self) -> (usize, u64) {
        let st = self.state.read();
        (st.head.len(), st.indexed)
    }

    /// How long the oldest head batch has waited for a flush.
    pub fn head_age(&self) -> Option<Duration> {
        self.state.read().head_since.map(|t| t.elapsed())
    }

    /// The mapped chunk file `seq`.
    pub fn file(&self, seq: u64) -> Result<Arc<Mmap>> {
        if let Some(m) = self.files.read().get(&seq) {
            return Ok(m.clone());
        }
        let path = chunk_path(&self.dir, seq);
        let f = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        // SAFETY: chunk files are written once (to a temporary name, then renamed) and never
        // modified; they are only deleted with their whole partition.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| Error::io(&path, e))?;
        if map.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(Error::corruption(&path, 0, "not a log chunk file"));
        }
        let map = Arc::new(map);
        self.files.write().insert(seq, map.clone());
        Ok(map)
    }

    /// Approximate heap bytes of the uncommitted head.
    pub fn head_bytes(&self) -> usize {
        self.state.read().head.bytes()
    }

    /// Commits every head batch with `seq <= upto_seq` to the index, recording `upto_seq` as the
    /// commit payload, and swaps in a searcher that sees them. Returns the entries committed.
    pub fn commit(&self, upto_seq: u64) -> Result<usize> {
        let batches: Vec<Arc<HeadBatch>> = {
            let st = self.state.read();
            st.head.batches.iter().filter(|b| b.seq <= upto_seq).cloned().collect()
        };
        if batches.is_empty() {
            return Ok(0);
        }
        let err = schema::err(&self.dir);
        let mut slot = self.writer.lock();
        slot.last_used = Instant::now();
        let writer = match &mut slot.writer {
            Some(w) => w,
            None => slot.writer.insert(
                self.index
                    .writer_with_num_threads(1, self.writer_memory)
                    .map_err(&err)?,
            ),
        };
        let n = match self.index_batches(writer, &batches, upto_seq) {
            Ok(n) => n,
            Err(e) => {
                // Whatever was added but not committed is discarded with the writer; the head
                // still holds the batches, so the next commit retries them.
                slot.writer = None;
                return Err(e);
            }
        };
        drop(slot);
        self.reader.reload().map_err(&err)?;
        let searcher = self.reader.searcher();
        let mut st = self.state.write();
        st.searcher = searcher;
        st.head.batches.retain(|b| b.seq > upto_seq);
        st.head_since = (!st.head.batches.is_empty()).then(Instant::now);
        st.committed_seq = st.committed_seq.max(upto_seq);
        st.indexed += n as u64;
        Ok(n)
    }

    fn index_batches(
        &self,
        writer: &mut IndexWriter<TantivyDocument>,
        batches: &[Arc<HeadBatch>],
        upto_seq: u64,
    ) -> Result<usize> {
        let err = schema::err(&self.dir);
        let f = self.fields;
        let mut by_stream: HashMap<u64, Vec<&LogEntry>> = HashMap::new();
        for b in batches {
            for he in &b.entries {
                by_stream.entry(he.stream).or_default().push(&he.entry);
            }
        }
        let mut streams: Vec<(u64, Vec<&LogEntry>)> = by_stream.into_iter().collect();
        streams.sort_unstable_by_key(|(id, _)| *id);
        let chunks_dir = self.dir.join("chunks");
        std::fs::create_dir_all(&chunks_dir).map_err(|e| Error::io(&chunks_dir, e))?;
        let path = chunk_path(&self.dir, upto_seq);
        let tmp = path.with_extension("tmp");
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC).map_err(|e| Error::io(&tmp, e))?;
        let mut offset = MAGIC.len() as u64;
        let mut docs = Vec::new();
        let mut n = 0;
        let mut z = chunk::compressor().map_err(|e| Error::io(&tmp, e))?;
        for (stream, mut entries) in streams {
            entries.sort_by_key(|e| e.ts_ns);
            for run in chunk::split(&entries) {
                let built = chunk::build(run, &mut z).map_err(|e| Error::io(&tmp, e))?;
                out.write_all(&built.record).map_err(|e| Error::io(&tmp, e))?;
                let mut doc = TantivyDocument::new();
                doc.add_u64(f.stream, stream);
                doc.add_i64(f.min_ts, built.min_ts);
                doc.add_i64(f.max_ts, built.max_ts);
                doc.add_u64(f.file, upto_seq);
                doc.add_u64(f.offset, offset);
                doc.add_u64(f.entries, built.entries);
                doc.add_u64(f.bytes, built.bytes);
                if built.long {
                    doc.add_u64(f.long, 1);
                }
                doc.add_pre_tokenized_text(f.words, pre_tokenized(built.words));
                offset += built.record.len() as u64;
                n += run.len();
                docs.push(doc);
            }
        }
        let file = out.into_inner().map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        crate::metrics::block::sync_dir(&chunks_dir)?;
        for doc in docs {
            writer.add_document(doc).map_err(&err)?;
        }
        let mut prepared = writer.prepare_commit().map_err(&err)?;
        prepared.set_payload(&upto_seq.to_string());
        prepared.commit().map_err(&err)?;
        Ok(n)
    }

    /// Drops the index writer (and its memory arena) when unused for `idle`.
    pub fn close_idle_writer(&self, idle: Duration) {
        let mut slot = self.writer.lock();
        if slot.last_used.elapsed() >= idle
            && let Some(w) = slot.writer.take()
            && let Err(e) = w.wait_merging_threads()
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "closing log index writer");
        }
    }

    /// Verifies the checksums of the committed index files, once per partition and process
    /// (tantivy does not check them on reads); a failing file marks the index damaged (see
    /// `damage`). Returns whether this call did the check.
    pub fn verify_index_once(&self) -> bool {
        if self.damage.verified.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        match self.index.validate_checksum() {
            Ok(bad) if bad.is_empty() => {}
            Ok(bad) => {
                let mut files: Vec<String> = bad.iter().map(|p| p.display().to_string()).collect();
                files.sort();
                let e = Error::corruption(
                    &self.dir,
                    0,
                    format!("index files fail their checksum: {}", files.join(", ")),
                );
                self.note_damage(&e, true);
            }
            // Not proof of damage (a merge may have removed a file meanwhile): try next start.
            Err(e) => tracing::warn!(dir = %self.dir.display(), error = %e, "cannot verify log index checksums"),
        }
        true
    }

    /// Waits for merges and releases the writer.
    pub fn close(&self) {
        if let Some(w) = self.writer.lock().writer.take()
            && let Err(e) = w.wait_merging_threads()
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "closing log index writer");
        }
    }
}

/// Stream ids present in the committed index (from the `stream` term dictionary).
fn committed_streams(searcher: &Searcher, fields: Fields, dir: &Path) -> Result<HashSet<u64>> {
    let mut out = HashSet::new();
    for seg in searcher.segment_readers() {
        let inv = seg.inverted_index(fields.stream).map_err(schema::err(dir))?;
        let mut terms = inv.terms().stream().map_err(|e| Error::io(dir, e))?;
        while terms.advance() {
            let key = terms.key();
            let Ok(b) = <[u8; 8]>::try_from(key) else {
                return Err(Error::corruption(dir, 0, "stream term of unexpected size"));
            };
            out.insert(u64::from_be_bytes(b));
        }
    }
    Ok(out)
}

/// Path of chunk file `seq` in partition `dir`.
/// Path of chunk file `seq` of the partition in `dir`.
pub(super) fn chunk_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join("chunks").join(format!("{seq:020}.chk"))
}

/// Deletes chunk files no commit refers to (written by a flush whose index commit did not
/// happen) and unfinished temporary files.
fn remove_orphans(chunks: &Path, committed_seq: u64) -> Result<()> {
    let rd = match std::fs::read_dir(chunks) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(chunks, e)),
    };
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(chunks, e))?;
        let path = ent.path();
        let orphan = match path.extension().and_then(|x| x.to_str()) {
            Some("tmp") => true,
            Some("chk") => path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|seq| seq > committed_seq),
            _ => false,
        };
        if orphan {
            tracing::warn!(path = %path.display(), "removing log chunk file of an unfinished flush");
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// The distinct words of a chunk as tantivy's pre-tokenized text.
fn pre_tokenized(words: Vec<String>) -> PreTokenizedString {
    let tokens = words
        .into_iter()
        .enumerate()
        .map(|(position, text)| Token {
            offset_from: 0,
            offset_to: 0,
            position,
            text,
            position_length: 1,
        })
        .collect();
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}

/// Sums the `entries` fast field over all documents.
struct SumEntries;

struct SumSegment {
    col: tantivy::columnar::Column<u64>,
    sum: u64,
}

impl Collector for SumEntries {
    type Fruit = u64;
    type Child = SumSegment;

    fn for_segment(&self, _: tantivy::SegmentOrdinal, reader: &tantivy::SegmentReader) -> tantivy::Result<SumSegment> {
        Ok(SumSegment {
            col: reader.fast_fields().u64("entries")?,
            sum: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<u64>) -> tantivy::Result<u64> {
        Ok(fruits.into_iter().sum())
    }
}

impl tantivy::collector::SegmentCollector for SumSegment {
    type Fruit = u64;

    fn collect(&mut self, doc: tantivy::DocId, _: tantivy::Score) {
        self.sum += self.col.first(doc).unwrap_or(0);
    }

    fn harvest(self) -> u64 {
        self.sum
    }
}
