//! The data directory's exclusive lock: one nerve per `--data-dir`.
//!
//! Two processes writing the same WALs corrupt them, so `serve` takes an exclusive `flock` on
//! `<data-dir>/lock` before it binds a socket or opens a store, and holds it until it exits.
//! The kernel releases the lock when the process dies, even by `kill -9`, so a stale lock file
//! never blocks a restart. The file holds the owner's pid, for the refusal message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("data directory {} is in use by pid {pid} (lock file {})", dir.display(), file.display())]
    InUse {
        /// The data directory.
        dir: PathBuf,
        /// The lock file.
        file: PathBuf,
        /// The pid recorded by the holder ("unknown" when unreadable).
        pid: String,
    },
    /// Creating the directory or the lock file failed.
    #[error("locking data directory {}: {source}", dir.display())]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Holds the exclusive lock on a data directory until dropped (or the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Creates `dir` if needed and locks `<dir>/lock`, failing at once when another process
    /// holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(LockError::InUse {
                    dir: dir.to_owned(),
                    file: path,
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid.to_owned()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = DataDirLock::acquire(&data).unwrap();
        let err = DataDirLock::acquire(&data).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LockError::InUse { .. }), "{msg}");
        assert!(msg.contains(&format!("in use by pid {}", std::process::id())), "{msg}");
        drop(first);
        let _again = DataDirLock::acquire(&data).unwrap();
    }
}
