//! Damage in the middle of a WAL file: find the next valid record, replay on, repair the file.
//!
//! Records are framed `[len][crc32(len ‖ payload)][payload]`, so after a bad record the next
//! valid one can be found by trying every later byte offset as a frame start: a frame whose
//! checksum matches is taken as a record (a random match has probability 2⁻³²). Candidate
//! lengths are capped (see [`max_candidate_len`]) so a scan over random bytes stays linear.

use super::RECORD_HEADER_LEN;
use crate::error::{Error, Result};
use memmap2::Mmap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffix of a repaired copy of a segment being written (removed by replay if left over).
pub(super) const REPAIR_SUFFIX: &str = ".repair";

/// A run of bytes that held no valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Range {
    pub start: u64,
    pub end: u64,
}

/// What [`scan`] found after the first bad record of a file.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Damaged ranges, in file order; the last one may end at the end of the file.
    pub damaged: Vec<Range>,
    /// Byte ranges of valid records to keep, in file order (the part before the damage too).
    pub keep: Vec<Range>,
    /// Records and payload bytes recovered after the first damage.
    pub records: u64,
    /// Payload bytes of those records.
    pub bytes: u64,
    /// File length.
    pub len: u64,
}

/// Largest length a resynchronisation candidate may claim: 1 MiB, or twice the largest record
/// seen before the damage. Bounds the checksum work per candidate offset over random bytes; a
/// record past the damage longer than that is counted with the damaged range.
fn max_candidate_len(largest_seen: u64) -> u64 {
    (1u64 << 20).max(largest_seen.saturating_mul(2))
}

/// End of the valid frame starting at `at`, if one does (length within the data and the cap,
/// checksum matching).
fn frame_end(data: &[u8], at: usize, cap: u64) -> Option<usize> {
    let head = data.get(at..at.checked_add(RECORD_HEADER_LEN as usize)?)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if u64::from(len) > cap {
        return None;
    }
    let start = at + RECORD_HEADER_LEN as usize;
    let payload = data.get(start..start.checked_add(len as usize)?)?;
    let mut h = crc32fast::Hasher::new();
    h.update(&head[..4]);
    h.update(payload);
    (h.finalize() == crc).then_some(start + len as usize)
}

/// Replays the valid records after the first bad one at `first_bad` of `p` into `f`, skipping
/// damaged ranges; `largest_seen` is the largest payload read before the damage.
pub(super) fn scan(
    p: &Path,
    first_bad: u64,
    largest_seen: u64,
    f: &mut impl FnMut(&[u8]) -> Result<()>,
) -> Result<Scan> {
    let file = File::open(p).map_err(|e| Error::io(p, e))?;
    // SAFETY: WAL files are only written by this process, and replay runs before the WAL is
    // opened for appends, so the mapping does not change underneath.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(p, e))?;
    let data: &[u8] = &map;
    let cap = max_candidate_len(largest_seen);
    let mut out = Scan {
        len: data.len() as u64,
        ..Scan::default()
    };
    if first_bad > 0 {
        out.keep.push(Range {
            start: 0,
            end: first_bad,
        });
    }
    let mut bad = usize::try_from(first_bad).unwrap_or(data.len()).min(data.len());
    while bad < data.len() {
        let next = (bad + 1..data.len()).find(|&at| frame_end(data, at, cap).is_some());
        let Some(mut at) = next else {
            out.damaged.push(Range {
                start: bad as u64,
                end: data.len() as u64,
            });
            break;
        };
        out.damaged.push(Range {
            start: bad as u64,
            end: at as u64,
        });
        let good = at;
        while let Some(end) = frame_end(data, at, cap) {
            let payload = &data[at + RECORD_HEADER_LEN as usize..end];
            f(payload)?;
            out.records += 1;
            out.bytes += payload.len() as u64;
            at = end;
        }
        out.keep.push(Range {
            start: good as u64,
            end: at as u64,
        });
        bad = at;
    }
    Ok(out)
}

/// How many records a damaged range held, estimated by walking its length fields: the frames
/// the walk steps over, plus one for the rest when it stops short of the range's end (a broken
/// length field hides how many records the rest held). Returns `(count, exact)`, exact when the
/// walk lands on the range's end. At least one.
pub(super) fn records_in(p: &Path, r: Range) -> Result<(u64, bool)> {
    let data = std::fs::read(p).map_err(|e| Error::io(p, e))?;
    let end = usize::try_from(r.end).unwrap_or(usize::MAX).min(data.len());
    let mut at = usize::try_from(r.start).unwrap_or(end).min(end);
    let mut n = 0u64;
    while at < end {
        let Some(head) = data.get(at..at + RECORD_HEADER_LEN as usize) else {
            break;
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let next = at + RECORD_HEADER_LEN as usize + len;
        if next > end {
            break;
        }
        n += 1;
        at = next;
    }
    let exact = at == end;
    Ok(((n + u64::from(!exact)).max(1), exact))
}

/// Rewrites `p` with only the `keep` ranges (written to `p.repair`, fsynced, renamed over).
pub(super) fn rewrite(p: &Path, keep: &[Range]) -> Result<()> {
    let data = std::fs::read(p).map_err(|e| Error::io(p, e))?;
    let mut tmp = p.as_os_str().to_owned();
    tmp.push(REPAIR_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    for r in keep {
        let (s, e) = (r.start as usize, (r.end as usize).min(data.len()));
        out.write_all(&data[s.min(e)..e]).map_err(|e| Error::io(&tmp, e))?;
    }
    out.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, p).map_err(|e| Error::io(p, e))?;
    if let Some(dir) = p.parent() {
        super::segment::sync_dir(dir)?;
    }
    Ok(())
}

/// Removes `*.repair` files left in `dir` by a crash during [`rewrite`].
pub(super) fn remove_leftovers(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(REPAIR_SUFFIX) {
            let p = entry.path();
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}
