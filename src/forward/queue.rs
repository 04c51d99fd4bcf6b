//! The on-disk queue of one forwarding destination.
//!
//! Records (opaque payloads) are appended to numbered segment files in the queue directory,
//! each framed as `[u32 LE length][u32 LE crc32 of length ‖ payload][payload]`. One reader
//! takes records in order; [`DiskQueue::ack`] moves its cursor past them and the cursor is
//! persisted in `cursor` (`<segment> <offset>`, written to a temporary file and renamed), so
//! after a restart sending resumes where it stopped: a record is sent at least once.
//! Segments behind the cursor are deleted. When the queue would exceed its size bound, the
//! oldest segment is dropped (counted) rather than refusing ingest.
//!
//! A torn or corrupt frame (a crash during an append) ends that segment: the reader skips to
//! the next segment, counting what it skipped as dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Size at which the writer starts a new segment.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Frame header: length and checksum.
const HEADER: u64 = 8;

/// A persistent FIFO of records. Thread-safe: appends from ingest threads, one reader.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
    /// Bytes in segments not yet fully acknowledged (approximate after drops).
    pending_bytes: AtomicU64,
    /// Records dropped because the queue was full or a segment was corrupt.
    dropped: AtomicU64,
    /// Woken on every append.
    notify: tokio::sync::Notify,
}

#[derive(Debug)]
struct Inner {
    /// Segment numbers on disk, oldest first; the last is being written.
    segments: Vec<u64>,
    writer: File,
    /// Bytes in the segment being written.
    written: u64,
    /// Read position: segment and offset of the next unacknowledged record.
    cursor: (u64, u64),
}

/// Records read from the queue, acknowledged together with [`DiskQueue::ack`].
#[derive(Debug)]
pub struct Batch {
    /// The payloads, in order.
    pub records: Vec<Vec<u8>>,
    /// Where the cursor moves once they are delivered (or given up on).
    next: (u64, u64),
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, keeping at most about `max_bytes` on disk.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<DiskQueue> {
        fs::create_dir_all(dir)?;
        let mut segments = Vec::new();
        for e in fs::read_dir(dir)? {
            let name = e?.file_name();
            if let Some(n) = name
                .to_str()
                .and_then(|s| s.strip_suffix(".seg"))
                .and_then(|s| s.parse().ok())
            {
                segments.push(n);
            }
        }
        segments.sort_unstable();
        let cursor = read_cursor(dir).unwrap_or((segments.first().copied().unwrap_or(0), 0));
        // Segments before the cursor were fully sent (deletion may have been interrupted).
        for &s in segments.iter().filter(|&&s| s < cursor.0) {
            let _ = fs::remove_file(segment_path(dir, s));
        }
        segments.retain(|&s| s >= cursor.0);
        // Always append to a fresh segment: an old one may end in a torn frame.
        let next = segments.last().map_or(cursor.0, |&s| s + 1).max(cursor.0);
        let cursor = if segments.is_empty() { (next, 0) } else { cursor };
        segments.push(next);
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, next))?;
        let pending: u64 = segments
            .iter()
            .filter_map(|&s| fs::metadata(segment_path(dir, s)).ok())
            .map(|m| m.len())
            .sum::<u64>()
            .saturating_sub(cursor.1);
        Ok(DiskQueue {
            dir: dir.to_owned(),
            max_bytes: max_bytes.max(SEGMENT_BYTES * 2),
            inner: Mutex::new(Inner {
                segments,
                writer,
                written: 0,
                cursor,
            }),
            pending_bytes: AtomicU64::new(pending),
            dropped: AtomicU64::new(0),
            notify: tokio::sync::Notify::new(),
        })
    }

    /// Appends one record; it is in the OS page cache when this returns.
    pub fn push(&self, record: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(record.len()).map_err(|_| std::io::Error::other("record over 4 GiB"))?;
        let mut frame = Vec::with_capacity(record.len() + HEADER as usize);
        frame.extend_from_slice(&len.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&len.to_le_bytes());
        crc.update(record);
        frame.extend_from_slice(&crc.finalize().to_le_bytes());
        frame.extend_from_slice(record);
        let mut inner = self.inner.lock();
        if inner.written > 0 && inner.written + frame.len() as u64 > SEGMENT_BYTES {
            self.roll(&mut inner)?;
        }
        if let Err(e) = inner.writer.write_all(&frame) {
            // Cut a partial frame off so the segment stays readable.
            let _ = inner.writer.set_len(inner.written);
            return Err(e);
        }
        inner.written += frame.len() as u64;
        self.pending_bytes.fetch_add(frame.len() as u64, Ordering::Relaxed);
        drop(inner);
        self.notify.notify_one();
        Ok(())
    }

    fn roll(&self, inner: &mut Inner) -> std::io::Result<()> {
        let next = inner.segments.last().copied().unwrap_or(0) + 1;
        inner.writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, next))?;
        inner.segments.push(next);
        inner.written = 0;
        // Over the bound: drop the oldest segment (never the one being written).
        while self.pending_bytes.load(Ordering::Relaxed) > self.max_bytes && inner.segments.len() > 1 {
            let oldest = inner.segments.remove(0);
            let path = segment_path(&self.dir, oldest);
            let (records, bytes) = count_records(&path, if oldest == inner.cursor.0 { inner.cursor.1 } else { 0 });
            let _ = fs::remove_file(&path);
            self.dropped.fetch_add(records, Ordering::Relaxed);
            self.pending_bytes
                .fetch_sub(bytes.min(self.pending_bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
            tracing::warn!(dir = %self.dir.display(), records, "forwarding queue full: dropped its oldest segment");
            if inner.cursor.0 <= oldest {
                inner.cursor = (inner.segments[0], 0);
                let _ = write_cursor(&self.dir, inner.cursor);
            }
        }
        Ok(())
    }

    /// Up to `max_records` / about `max_bytes` of records from the cursor on, without moving
    /// it; empty when the queue is drained.
    pub fn peek(&self, max_records: usize, max_bytes: usize) -> std::io::Result<Batch> {
        let (segments, mut cursor) = {
            let inner = self.inner.lock();
            (inner.segments.clone(), inner.cursor)
        };
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut idx = segments.iter().position(|&s| s == cursor.0).unwrap_or(0);
        while idx < segments.len() && records.len() < max_records && bytes < max_bytes {
            let seg = segments[idx];
            let is_last = idx + 1 == segments.len();
            let path = segment_path(&self.dir, seg);
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_last => {
                    idx += 1;
                    cursor = (segments[idx], 0);
                    continue;
                }
                Err(e) => return Err(e),
            };
            file.seek(SeekFrom::Start(cursor.1))?;
            let mut reader = std::io::BufReader::new(file);
            loop {
                if records.len() >= max_records || bytes >= max_bytes {
                    break;
                }
                match read_frame(&mut reader)? {
                    Frame::Record(r) => {
                        cursor.1 += HEADER + r.len() as u64;
                        bytes += r.len();
                        records.push(r);
                    }
                    // The writer may still add to the last segment; an older one is done.
                    Frame::End if is_last => break,
                    Frame::End | Frame::Torn => {
                        if is_last {
                            break;
                        }
                        idx += 1;
                        cursor = (segments[idx], 0);
                        break;
                    }
                }
            }
            if is_last || records.len() >= max_records || bytes >= max_bytes {
                break;
            }
        }
        Ok(Batch { records, next: cursor })
    }

    /// Moves the cursor past `batch`, persists it and deletes segments left behind.
    pub fn ack(&self, batch: &Batch) -> std::io::Result<()> {
        let sent: u64 = batch.records.iter().map(|r| r.len() as u64 + HEADER).sum();
        let mut inner = self.inner.lock();
        if batch.next < inner.cursor {
            return Ok(()); // the queue dropped these meanwhile
        }
        inner.cursor = batch.next;
        let done: Vec<u64> = inner.segments.iter().copied().filter(|&s| s < batch.next.0).collect();
        inner.segments.retain(|&s| s >= batch.next.0);
        write_cursor(&self.dir, inner.cursor)?;
        drop(inner);
        for s in done {
            let _ = fs::remove_file(segment_path(&self.dir, s));
        }
        let p = self.pending_bytes.load(Ordering::Relaxed);
        self.pending_bytes.fetch_sub(sent.min(p), Ordering::Relaxed);
        Ok(())
    }

    /// Waits until something is appended (or a spurious wake-up).
    pub async fn appended(&self) {
        self.notify.notified().await;
    }

    /// Bytes waiting to be sent.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Relaxed)
    }

    /// Records dropped (queue full or corrupt segment).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Counts records given up on by the sender as dropped.
    pub fn count_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

enum Frame {
    Record(Vec<u8>),
    End,
    Torn,
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Frame> {
    let mut head = [0u8; HEADER as usize];
    match read_full(r, &mut head)? {
        0 => return Ok(Frame::End),
        n if n < head.len() => return Ok(Frame::End),
        _ => {}
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let want = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let mut payload = vec![0u8; len as usize];
    if read_full(r, &mut payload)? < payload.len() {
        return Ok(Frame::End);
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head[..4]);
    crc.update(&payload);
    Ok(if crc.finalize() == want {
        Frame::Record(payload)
    } else {
        Frame::Torn
    })
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn count_records(path: &Path, from: u64) -> (u64, u64) {
    let Ok(mut f) = File::open(path) else { return (0, 0) };
    if f.seek(SeekFrom::Start(from)).is_err() {
        return (0, 0);
    }
    let mut r = std::io::BufReader::new(f);
    let (mut n, mut bytes) = (0, 0);
    while let Ok(Frame::Record(rec)) = read_frame(&mut r) {
        n += 1;
        bytes += rec.len() as u64 + HEADER;
    }
    (n, bytes)
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}.seg"))
}

fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let s = fs::read_to_string(dir.join("cursor")).ok()?;
    let mut it = s.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn write_cursor(dir: &Path, cursor: (u64, u64)) -> std::io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    fs::write(&tmp, format!("{} {}\n", cursor.0, cursor.1))?;
    fs::rename(&tmp, dir.join("cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &DiskQueue) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let b = q.peek(3, 1 << 20).unwrap();
            if b.records.is_empty() {
                return out;
            }
            q.ack(&b).unwrap();
            out.extend(b.records);
        }
    }

    #[test]
    fn fifo_survives_reopen_and_resumes_at_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        for i in 0..10u8 {
            q.push(&[i; 5]).unwrap();
        }
        let b = q.peek(4, 1 << 20).unwrap();
        assert_eq!(b.records.len(), 4);
        assert_eq!(q.peek(4, 1 << 20).unwrap().records, b.records, "peek does not consume");
        q.ack(&b).unwrap();
        drop(q);
        let q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        q.push(&[99; 3]).unwrap();
        let rest = drain(&q);
        let want: Vec<Vec<u8>> = (4..10u8).map(|i| vec![i; 5]).chain([vec![99; 3]]).collect();
        assert_eq!(rest, want);
        assert_eq!(q.pending_bytes(), 0);
        drop(q);
        let q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        assert!(
            q.peek(10, 1 << 20).unwrap().records.is_empty(),
            "nothing sent twice after a reopen"
        );
    }

    #[test]
    fn a_torn_tail_is_skipped_and_later_records_still_come() {
        let dir = tempfile::tempdir().unwrap();
        let q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        q.push(b"one").unwrap();
        q.push(b"two").unwrap();
        drop(q);
        // A crash mid-append: garbage after the last frame.
        let seg = segment_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[7, 0, 0, 0, 1, 2]).unwrap();
        let q = DiskQueue::open(dir.path(), 1 << 30).unwrap();
        q.push(b"three").unwrap();
        assert_eq!(drain(&q), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    }
}
