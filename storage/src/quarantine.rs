//! Quarantine: where damaged stored units go so the rest of a store keeps serving.
//!
//! A unit that fails its checks where it is opened or read (a metrics block, a log partition,
//! a span segment, a damaged WAL segment) is moved — or, for a WAL segment that is repaired in
//! place and a log chunk file that also holds intact chunks, copied — to `<store dir>/quarantine/<name>-<unix seconds>` with an ERROR log line
//! naming the file and the reason. Nothing there is read again; it stays for inspection.
//!
//! The process-wide count per signal ([`quarantined_total`]) is what the binary exports as
//! `nerve_storage_quarantined_total{signal=...}`.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of the quarantine directory inside a store directory.
pub const DIR: &str = "quarantine";

/// The store a quarantined unit belonged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// The metrics TSDB.
    Metrics,
    /// The log store.
    Logs,
    /// The span store.
    Traces,
}

impl Signal {
    /// Every signal, in export order.
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Logs, Signal::Traces];

    /// The label value: `metrics`, `logs` or `traces`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Traces => "traces",
        }
    }

    fn index(self) -> usize {
        match self {
            Signal::Metrics => 0,
            Signal::Logs => 1,
            Signal::Traces => 2,
        }
    }
}

static COUNTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Units of `signal` quarantined since the process started.
pub fn quarantined_total(signal: Signal) -> u64 {
    COUNTS[signal.index()].load(Ordering::Relaxed)
}

/// Counts `n` more quarantined units of `signal`.
pub(crate) fn note(signal: Signal, n: u64) {
    COUNTS[signal.index()].fetch_add(n, Ordering::Relaxed);
}

/// A free path `<store_dir>/quarantine/<name>-<unix seconds>[.<k>]` (the directory is created).
fn destination(store_dir: &Path, name: &str) -> Result<PathBuf> {
    let qdir = store_dir.join(DIR);
    std::fs::create_dir_all(&qdir).map_err(|e| Error::io(&qdir, e))?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = qdir.join(format!("{name}-{secs}"));
    let mut to = base.clone();
    let mut k = 1u32;
    while to.exists() {
        let mut s = base.clone().into_os_string();
        s.push(format!(".{k}"));
        to = PathBuf::from(s);
        k += 1;
    }
    Ok(to)
}

/// Moves the damaged `unit` (file or directory) into `store_dir`'s quarantine, logs an ERROR
/// naming it and `reason`, and counts it for `signal`. Returns where it went.
pub(crate) fn move_in(store_dir: &Path, signal: Signal, unit: &Path, reason: &str) -> Result<PathBuf> {
    let name = unit
        .file_name()
        .map_or_else(|| "unit".to_string(), |n| n.to_string_lossy().into_owned());
    let to = destination(store_dir, &name)?;
    std::fs::rename(unit, &to).map_err(|e| Error::io(unit, e))?;
    counted(signal, unit, &to, reason, "moved");
    Ok(to)
}

/// Counts one quarantined unit of `signal` and logs the ERROR naming it, where it went, how
/// (`moved`, or `copied` when the file stays and reads skip its damaged part) and why.
fn counted(signal: Signal, unit: &Path, to: &Path, reason: &str, how: &str) {
    note(signal, 1);
    tracing::error!(
        signal = signal.as_str(),
        file = %unit.display(),
        quarantined_to = %to.display(),
        how,
        reason,
        "damaged storage unit quarantined; the rest keeps serving"
    );
}

/// Copies the WAL file `unit` as `name` into the quarantine of the store holding the WAL
/// directory (the parent of the WAL directory), before the file is repaired in place. Not
/// counted here: the WAL does not know its signal, the store counts its replay report.
/// Returns the copy's path.
pub(crate) fn copy_in(unit: &Path, name: &str) -> Result<PathBuf> {
    let store_dir = unit
        .ancestors()
        .find(|a| {
            a.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with("checkpoint."))
                && a != &unit
        })
        .and_then(Path::parent)
        .ok_or_else(|| Error::corruption(unit, 0, "damaged WAL file has no store directory"))?;
    let to = destination(store_dir, name)?;
    std::fs::copy(unit, &to).map_err(|e| Error::io(&to, e))?;
    Ok(to)
}

/// Copies the damaged file `unit` into `store_dir`'s quarantine as `<name>-<unix seconds>`, with
/// an ERROR naming it and `reason`, and counts it for `signal` — unless an earlier copy named
/// `<name>-…` is there already (the unit was quarantined by an earlier run), in which case
/// nothing happens and `None` is returned. For a unit that stays in place because the file
/// also holds intact data (a log chunk inside a chunk file), so reads keep skipping it.
pub(crate) fn copy_once(
    store_dir: &Path,
    signal: Signal,
    unit: &Path,
    name: &str,
    reason: &str,
) -> Result<Option<PathBuf>> {
    let qdir = store_dir.join(DIR);
    let prefix = format!("{name}-");
    let seen = match std::fs::read_dir(&qdir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io(&qdir, e)),
    };
    if seen {
        return Ok(None);
    }
    let to = destination(store_dir, name)?;
    std::fs::copy(unit, &to).map_err(|e| Error::io(&to, e))?;
    counted(signal, unit, &to, reason, "copied");
    Ok(Some(to))
}

/// Loads a small state file of `store_dir` (a deletion list) with `load`; when it is corrupt,
/// the file is quarantined with an ERROR naming `consequence` and an empty state is used, so a
/// damaged list never stops the store from opening.
pub(crate) fn load_or_quarantine<T: Default>(
    store_dir: &Path,
    signal: Signal,
    file: &Path,
    consequence: &str,
    load: impl FnOnce() -> Result<T>,
) -> Result<T> {
    match load() {
        Err(e @ Error::Corruption { .. }) => {
            move_in(store_dir, signal, file, &format!("{e}; {consequence}"))?;
            Ok(T::default())
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_and_copy_land_in_quarantine_without_clobbering() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path();
        let unit = store.join("partitions").join("42");
        std::fs::create_dir_all(&unit).unwrap();
        std::fs::write(unit.join("meta.json"), b"{").unwrap();
        let before = quarantined_total(Signal::Logs);
        let to = move_in(store, Signal::Logs, &unit, "test").unwrap();
        assert!(!unit.exists());
        assert!(to.starts_with(store.join(DIR)));
        assert!(to.file_name().unwrap().to_string_lossy().starts_with("42-"));
        assert_eq!(std::fs::read(to.join("meta.json")).unwrap(), b"{");
        assert!(quarantined_total(Signal::Logs) > before);

        let seg = store.join("wal").join("00000001");
        std::fs::create_dir_all(seg.parent().unwrap()).unwrap();
        std::fs::write(&seg, b"abc").unwrap();
        let a = copy_in(&seg, "00000001").unwrap();
        let b = copy_in(&seg, "00000001").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.parent().unwrap(), store.join(DIR));
        assert!(seg.exists());
        assert_eq!(std::fs::read(&a).unwrap(), b"abc");
        assert_eq!(std::fs::read(&b).unwrap(), b"abc");
    }
}
