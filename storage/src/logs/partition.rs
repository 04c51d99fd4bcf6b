//! One time partition of the log store: a tantivy index plus the head of uncommitted entries.

use super::head::{Head, HeadBatch};
use super::record;
use super::schema::{self, Fields};
use crate::error::{Error, Result};
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};

/// Decompressed doc-store blocks cached per segment reader.
const DOC_STORE_CACHE_BLOCKS: usize = 4;

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
            // tantivy caches 100 decompressed doc-store blocks per segment by default: with
            // 1 MiB blocks a full scan filled gigabytes. Reads walk each segment in doc order,
            // so a few blocks per segment keep the hit rate.
            .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
            .try_into()
            .map_err(&err)?;
        let searcher = reader.searcher();
        let streams = committed_streams(&searcher, fields, dir)?;
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
            }),
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

    /// Entries in the head and in the index.
    pub fn counts(&self) -> (usize, u64) {
        let st = self.state.read();
        (st.head.len(), st.searcher.num_docs())
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
        st.committed_seq = st.committed_seq.max(upto_seq);
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
        let mut md = Vec::new();
        let mut n = 0;
        for b in batches {
            for he in &b.entries {
                let e = &he.entry;
                let mut doc = TantivyDocument::new();
                doc.add_u64(f.stream, he.stream);
                doc.add_i64(f.ts, e.ts_ns);
                doc.add_u64(f.bytes, e.line.len() as u64);
                doc.add_text(f.line, &e.line);
                md.clear();
                record::encode_metadata(&mut md, &e.metadata);
                doc.add_bytes(f.metadata, &md);
                if let Some(t) = &e.trace_id {
                    doc.add_text(f.trace, t);
                }
                if schema::has_long_token(&e.line) {
                    doc.add_u64(f.long, 1);
                }
                writer.add_document(doc).map_err(&err)?;
                n += 1;
            }
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
