//! One process per data dir: an exclusive `flock` on `<data-dir>/LOCK`, held
//! for as long as the node runs (the kernel drops it when the process dies,
//! kill -9 included). The file holds the holder's pid, so the refusal can say
//! who has it.

use crate::error::NodeError;
use raft_storage::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The held lock; dropping it releases the data dir.
#[derive(Debug)]
pub(crate) struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of `dir`, or says which process holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DataDirLock, NodeError> {
        let path = dir.join("LOCK");
        let io_err = |e: std::io::Error| NodeError::Storage {
            dir: dir.display().to_string(),
            source: StoreError::io(&path, e),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(NodeError::DataDirLocked {
                    dir: dir.display().to_string(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = DataDirLock::acquire(dir.path()).expect("free");
        match DataDirLock::acquire(dir.path()) {
            Err(NodeError::DataDirLocked { holder, .. }) => {
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("a second lock must be refused: {other:?}"),
        }
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again");
    }
}
