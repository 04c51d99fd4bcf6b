//! Checkpoints: the records worth keeping from old segments, compacted into one directory.

use super::segment::{self, Listing, Next, RecordReader, TMP_SUFFIX};
use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

/// What [`Wal::checkpoint`](super::Wal::checkpoint) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Number of the new checkpoint (the last segment it covers).
    pub checkpoint: u64,
    /// Records read from the previous checkpoint and the covered segments.
    pub records_read: u64,
    /// Records written to the new checkpoint.
    pub records_kept: u64,
    /// Size of the new checkpoint in bytes, framing included.
    pub bytes_written: u64,
    /// Segment files deleted.
    pub segments_deleted: u64,
}

/// Builds checkpoint `upto` from the newest checkpoint and segments `first..=upto`, then deletes
/// what it replaces. Segments in that range are closed, so this runs beside appends.
#[tracing::instrument(skip_all, fields(dir = %dir.display(), upto))]
pub(super) fn write(
    dir: &Path,
    first: u64,
    upto: u64,
    durable: bool,
    keep: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Result<CheckpointStats> {
    let listing = Listing::read(dir)?;
    let segments: Vec<u64> = (first..=upto).collect();
    if let Some(missing) = segments.iter().find(|n| listing.segments.binary_search(n).is_err()) {
        return Err(Error::corruption(
            segment::path(dir, *missing),
            0,
            "segment to checkpoint is missing",
        ));
    }
    let final_dir = segment::checkpoint_dir(dir, upto);
    let mut tmp_name = final_dir.clone().into_os_string();
    tmp_name.push(TMP_SUFFIX);
    let tmp = std::path::PathBuf::from(tmp_name);
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = copy_records(&listing, &segments, &tmp, durable, keep);
    let mut stats = match written {
        Ok(stats) => stats,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    stats.checkpoint = upto;
    if final_dir.exists() {
        fs::remove_dir_all(&final_dir).map_err(|e| Error::io(&final_dir, e))?;
    }
    fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    if durable {
        segment::sync_dir(dir)?;
    }
    // From here on the new checkpoint is the truth; what follows is cleanup that replay and open
    // would redo after a crash.
    segment::remove_files(dir, &segments)?;
    stats.segments_deleted = segments.len() as u64;
    for &old in listing.checkpoints.iter().filter(|&&n| n != upto) {
        let d = segment::checkpoint_dir(dir, old);
        fs::remove_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    }
    if durable {
        segment::sync_dir(dir)?;
    }
    tracing::info!(
        kept = stats.records_kept,
        read = stats.records_read,
        "WAL checkpoint written"
    );
    Ok(stats)
}

/// Streams the kept records of the previous checkpoint and `segments` into `tmp/00000000`.
fn copy_records(
    listing: &Listing,
    segments: &[u64],
    tmp: &Path,
    durable: bool,
    mut keep: impl FnMut(&[u8]) -> Option<Vec<u8>>,
) -> Result<CheckpointStats> {
    let mut inputs = Vec::new();
    if let Some((_, cdir)) = listing.checkpoint() {
        inputs.extend(
            segment::numbered_files(&cdir)?
                .into_iter()
                .map(|n| segment::path(&cdir, n)),
        );
    }
    inputs.extend(segments.iter().map(|&n| segment::path(&listing.dir, n)));

    let out_path = segment::path(tmp, 0);
    let file = File::create(&out_path).map_err(|e| Error::io(&out_path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut stats = CheckpointStats::default();
    let mut frame = Vec::new();
    for input in &inputs {
        let mut reader = RecordReader::open(input)?;
        loop {
            match reader.next()? {
                Next::Record => {}
                Next::End => break,
                Next::Torn(reason) => return Err(Error::corruption(input, reader.offset(), reason)),
            }
            stats.records_read += 1;
            let Some(rec) = keep(reader.record()) else { continue };
            if u32::try_from(rec.len()).is_err() {
                return Err(Error::InvalidInput(format!(
                    "checkpoint record of {} bytes exceeds 4 GiB",
                    rec.len()
                )));
            }
            frame.clear();
            segment::frame(&rec, &mut frame);
            out.write_all(&frame).map_err(|e| Error::io(&out_path, e))?;
            stats.records_kept += 1;
            stats.bytes_written += frame.len() as u64;
        }
    }
    let file = out.into_inner().map_err(|e| Error::io(&out_path, e.into_error()))?;
    if durable {
        file.sync_all().map_err(|e| Error::io(&out_path, e))?;
        segment::sync_dir(tmp)?;
    }
    Ok(stats)
}
