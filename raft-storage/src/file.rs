//! The durable backend: a segmented WAL for entries, an atomically replaced
//! `state` file (hard state, membership) and an atomically replaced `snapshot` file.
//!
//! The previous snapshot is kept as `snapshot.prev`, with the WAL segments
//! written since it: if the newest snapshot file is damaged (or missing after a
//! crash mid-rotation), recovery falls back to the previous one plus the log,
//! and moves the damaged file aside as `snapshot.damaged`. A snapshot installed
//! from the leader over a conflicting log has no such log behind it, so it
//! drops the previous snapshot.
//!
//! Durability: entries are durable when `append` returns (one fdatasync per
//! batch). Term and vote are durable when `set_hard_state` returns; a change of the
//! commit index alone is kept in memory and written with the next term/vote change,
//! snapshot or [`FileStorage::flush_hard_state`], as etcd does: a lost commit index
//! is relearned from the leader and never makes a node unsafe.

use crate::atomic_file;
use crate::wal::{DEFAULT_SEGMENT_BYTES, Wal};
use crate::{HardStateStore, LogStore, StoreError, check_contiguous};
use raft_core::{
    ConfState, Entry, HardState, LogIndex, Snapshot, SnapshotMeta, Storage, StorageError, Term,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Tunables of a [`FileStorage`].
#[derive(Clone, Debug)]
pub struct FileStorageOptions {
    /// Size at which the WAL starts a new segment.
    pub segment_bytes: u64,
}

impl Default for FileStorageOptions {
    fn default() -> Self {
        FileStorageOptions {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StateFile {
    hard_state: HardState,
    conf_state: ConfState,
}

#[derive(Debug)]
struct FileInner {
    dir: PathBuf,
    wal: Wal,
    /// What the state file holds (durable).
    durable: StateFile,
    /// The latest hard state (commit may be ahead of `durable`).
    hard_state: HardState,
    snapshot: Snapshot,
    /// The last log index known durable (entries after it were written by
    /// [`LogStore::append_unsynced`] and await [`LogStore::sync_log`]).
    synced_to: LogIndex,
}

impl FileInner {
    fn view(&self) -> crate::LogView<'_> {
        crate::LogView {
            entries: self.wal.entries(),
            offset: self.wal.first_index(),
            snap_index: self.snapshot.meta.index,
            snap_term: self.snapshot.meta.term,
        }
    }
}

/// A durable Raft store in one directory. Clones share the same state.
#[derive(Debug, Clone)]
pub struct FileStorage {
    inner: Arc<RwLock<FileInner>>,
    /// Held while a snapshot file is written, so writers never interleave.
    snapshot_writer: Arc<parking_lot::Mutex<()>>,
}

impl FileStorage {
    /// Opens the store in `dir` (created if missing), recovering its state. A new
    /// directory starts with `initial_conf` as its membership; an existing one
    /// keeps its own. Fails with the file and offset on corruption.
    pub fn open(
        dir: &Path,
        initial_conf: ConfState,
        opts: FileStorageOptions,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let state_path = dir.join("state");
        let fresh = !state_path.exists() && !dir.join("wal").exists();
        let durable: StateFile = match atomic_file::read(&state_path)? {
            Some(bytes) => postcard::from_bytes(&bytes).map_err(|e| StoreError::Corrupt {
                path: state_path.clone(),
                offset: 0,
                reason: format!("undecodable state: {e}"),
            })?,
            None => StateFile {
                hard_state: HardState::default(),
                conf_state: if fresh {
                    initial_conf
                } else {
                    ConfState::default()
                },
            },
        };
        let snapshot = match recover_snapshot(dir)? {
            Some(snapshot) => snapshot,
            None => Snapshot {
                meta: SnapshotMeta {
                    conf_state: durable.conf_state.clone(),
                    ..SnapshotMeta::default()
                },
                data: Vec::new(),
            },
        };
        if snapshot.meta.index > crate::wal::MAX_INDEX {
            return Err(StoreError::Corrupt {
                path: dir.join(SNAPSHOT),
                offset: 0,
                reason: format!("snapshot index {} is out of range", snapshot.meta.index),
            });
        }
        let wal = Wal::open(&dir.join("wal"), opts.segment_bytes, snapshot.meta.index)?;
        let mut hard_state = durable.hard_state;
        hard_state.commit = hard_state
            .commit
            .max(snapshot.meta.index)
            .min(wal.last_index());
        let inner = FileInner {
            dir: dir.to_path_buf(),
            synced_to: wal.last_index(),
            wal,
            durable: durable.clone(),
            hard_state,
            snapshot,
        };
        if fresh {
            write_state(&inner.dir, &durable)?;
        }
        log::info!(
            "storage {}: recovered entries {}..={}, term {}, commit {}, snapshot at {}",
            dir.display(),
            inner.wal.first_index(),
            inner.wal.last_index(),
            hard_state.term,
            hard_state.commit,
            inner.snapshot.meta.index
        );
        Ok(FileStorage {
            inner: Arc::new(RwLock::new(inner)),
            snapshot_writer: Arc::new(parking_lot::Mutex::new(())),
        })
    }

    // std's lock, not parking_lot's: under contention (the log writer
    // appending while the consensus thread looks up terms) it parks after a
    // short spin and never calls sched_yield. A panic while it is held is a
    // bug that already stopped the node; the state it guards stays readable.
    fn read_inner(&self) -> RwLockReadGuard<'_, FileInner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_inner(&self) -> RwLockWriteGuard<'_, FileInner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the latest commit index to the state file.
    pub fn flush_hard_state(&self) -> Result<(), StoreError> {
        let mut s = self.write_inner();
        let state = StateFile {
            hard_state: s.hard_state,
            conf_state: s.durable.conf_state.clone(),
        };
        write_state(&s.dir, &state)?;
        s.durable = state;
        Ok(())
    }
}

/// The snapshot file's payload, `postcard(snapshot)`, as a small head (the
/// metadata and the data's length prefix) and the data itself, borrowed.
fn snapshot_payload(snapshot: &Snapshot) -> Result<(Vec<u8>, &[u8]), StoreError> {
    let encode_err =
        |e: postcard::Error| StoreError::Invalid(format!("cannot encode snapshot: {e}"));
    let mut head = postcard::to_stdvec(&snapshot.meta).map_err(encode_err)?;
    let len = postcard::to_stdvec(&(snapshot.data.len() as u64)).map_err(encode_err)?;
    head.extend_from_slice(&len);
    Ok((head, &snapshot.data))
}

const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_PREV: &str = "snapshot.prev";
const SNAPSHOT_NEXT: &str = "snapshot.next";
const SNAPSHOT_DAMAGED: &str = "snapshot.damaged";

/// Makes `snapshot` the snapshot file of `dir`, without copying its data.
/// With `keep_previous`, the file it replaces becomes `snapshot.prev` (the
/// fallback); without, any previous one is removed. Every step is a durable
/// rename, and recovery handles a crash between any two (`recover_snapshot`).
fn write_snapshot(dir: &Path, snapshot: &Snapshot, keep_previous: bool) -> Result<(), StoreError> {
    let (head, data) = snapshot_payload(snapshot)?;
    let (current, prev, next) = (
        dir.join(SNAPSHOT),
        dir.join(SNAPSHOT_PREV),
        dir.join(SNAPSHOT_NEXT),
    );
    atomic_file::write_parts(&next, &[&head, data])?;
    if keep_previous && current.exists() {
        std::fs::rename(&current, &prev).map_err(|e| StoreError::io(&prev, e))?;
    } else if !keep_previous {
        remove_if_present(&prev)?;
    }
    std::fs::rename(&next, &current).map_err(|e| StoreError::io(&current, e))?;
    atomic_file::sync_dir(dir)
}

/// The first index whose WAL files a new snapshot at `index` keeps: the log
/// since the previous snapshot (at `previous`), which with it replaces the new
/// one if that is damaged; with no previous snapshot, nothing before `index`.
fn log_kept_from(previous: LogIndex, index: LogIndex) -> LogIndex {
    if previous > 0 {
        previous + 1
    } else {
        index + 1
    }
}

fn remove_if_present(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(path, e)),
        _ => Ok(()),
    }
}

fn read_snapshot(path: &Path) -> Result<Option<Snapshot>, StoreError> {
    let Some(bytes) = atomic_file::read(path)? else {
        return Ok(None);
    };
    postcard::from_bytes(&bytes)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("undecodable snapshot: {e}"),
        })
}

/// The newest usable snapshot of `dir`. A half-written `snapshot.next` is
/// dropped (the log it would have compacted is still there). A damaged
/// `snapshot` is moved aside and `snapshot.prev` takes its place; so does a
/// missing one (a crash between the two renames of `write_snapshot`). Whether
/// the WAL reaches back to the fallback is checked when it is opened.
fn recover_snapshot(dir: &Path) -> Result<Option<Snapshot>, StoreError> {
    remove_if_present(&dir.join(SNAPSHOT_NEXT))?;
    let (current, prev) = (dir.join(SNAPSHOT), dir.join(SNAPSHOT_PREV));
    let damage = match read_snapshot(&current) {
        Ok(Some(s)) => return Ok(Some(s)),
        Ok(None) if !prev.exists() => return Ok(None),
        Ok(None) => None,
        Err(e @ StoreError::Corrupt { .. }) if prev.exists() => Some(e),
        Err(e) => return Err(e),
    };
    let fallback = read_snapshot(&prev)?;
    match &damage {
        Some(e) => {
            log::error!(
                "storage {}: {e}; falling back to {} (index {}) and the log, the damaged file kept as {}",
                dir.display(),
                SNAPSHOT_PREV,
                fallback.as_ref().map_or(0, |s| s.meta.index),
                SNAPSHOT_DAMAGED
            );
            let aside = dir.join(SNAPSHOT_DAMAGED);
            std::fs::rename(&current, &aside).map_err(|e| StoreError::io(&aside, e))?;
        }
        None => log::warn!(
            "storage {}: no {SNAPSHOT} but a {SNAPSHOT_PREV} (a crash while replacing it): using it",
            dir.display()
        ),
    }
    std::fs::rename(&prev, &current).map_err(|e| StoreError::io(&current, e))?;
    atomic_file::sync_dir(dir)?;
    Ok(fallback)
}

fn write_state(dir: &Path, state: &StateFile) -> Result<(), StoreError> {
    let bytes = postcard::to_stdvec(state)
        .map_err(|e| StoreError::Invalid(format!("cannot encode state: {e}")))?;
    atomic_file::write(&dir.join("state"), &bytes)
}

impl Storage for FileStorage {
    fn initial_state(&self) -> Result<(HardState, ConfState), StorageError> {
        let s = self.read_inner();
        // Membership entries after the snapshot are in the log; the base is the
        // snapshot's membership, or the bootstrap one before any snapshot.
        let conf = if s.snapshot.meta.index > 0 {
            s.snapshot.meta.conf_state.clone()
        } else {
            s.durable.conf_state.clone()
        };
        Ok((s.hard_state, conf))
    }

    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, StorageError> {
        let s = self.read_inner();
        s.view().entries(low, high, max_bytes)
    }

    fn term(&self, index: LogIndex) -> Result<Term, StorageError> {
        let s = self.read_inner();
        s.view().term(index)
    }

    fn first_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.read_inner().wal.first_index())
    }

    fn last_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.read_inner().wal.last_index())
    }

    fn snapshot(&self, _request_index: LogIndex) -> Result<Snapshot, StorageError> {
        Ok(self.read_inner().snapshot.clone())
    }
}

impl LogStore for FileStorage {
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        check_contiguous(entries)?;
        let mut s = self.write_inner();
        s.wal.append(entries)?;
        s.synced_to = s.wal.last_index();
        Ok(())
    }

    fn append_unsynced(&self, entries: &[Entry]) -> Result<(), StoreError> {
        check_contiguous(entries)?;
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut s = self.write_inner();
        s.wal.write(entries)?;
        s.synced_to = s.synced_to.min(first.index - 1);
        Ok(())
    }

    fn sync_log(&self) -> Result<(), StoreError> {
        // The fdatasync runs outside the lock: readers (the consensus thread
        // looking up terms) and snapshots go on meanwhile.
        let (handle, last) = {
            let s = self.read_inner();
            (s.wal.sync_handle(), s.wal.last_index())
        };
        if let Some((file, path)) = handle {
            file.sync_data().map_err(|e| StoreError::io(&path, e))?;
        }
        let mut s = self.write_inner();
        s.synced_to = s.synced_to.max(last).min(s.wal.last_index());
        Ok(())
    }

    fn apply_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let _writing = self.snapshot_writer.lock();
        let mut s = self.write_inner();
        let meta = snapshot.meta.clone();
        if meta.index <= s.snapshot.meta.index {
            return Err(StoreError::Invalid(format!(
                "snapshot at {} is not newer than the current one at {}",
                meta.index, s.snapshot.meta.index
            )));
        }
        let keep_tail = s.wal.last_index() >= meta.index
            && s.wal.entries()[(meta.index - s.wal.first_index()) as usize].term == meta.term;
        // Snapshot first: once it is durable the log prefix may go. The old
        // snapshot stays as the fallback only if the log behind it stays too.
        let previous = s.snapshot.meta.index;
        write_snapshot(&s.dir, &snapshot, keep_tail && previous > 0)?;
        s.hard_state.commit = s.hard_state.commit.max(meta.index);
        let state = StateFile {
            hard_state: s.hard_state,
            conf_state: meta.conf_state.clone(),
        };
        write_state(&s.dir, &state)?;
        s.durable = state;
        if keep_tail {
            s.wal
                .compact(meta.index, log_kept_from(previous, meta.index))?;
        } else {
            s.wal.reset_after(meta.index)?;
        }
        s.snapshot = snapshot;
        s.synced_to = s.wal.last_index();
        Ok(())
    }

    fn create_snapshot(
        &self,
        index: LogIndex,
        conf_state: ConfState,
        data: Vec<u8>,
    ) -> Result<SnapshotMeta, StoreError> {
        // Serializes snapshot writers; appends go on while the file is written.
        let _writing = self.snapshot_writer.lock();
        {
            let s = self.read_inner();
            if index > s.hard_state.commit || index > s.synced_to {
                return Err(StoreError::NotYetDurable {
                    index,
                    commit: s.hard_state.commit,
                    last: s.synced_to,
                });
            }
        }
        let term = self
            .term(index)
            .map_err(|e| StoreError::Invalid(format!("snapshot at {index}: {e}")))?;
        let (dir, previous) = {
            let s = self.read_inner();
            if index == s.snapshot.meta.index && index > 0 {
                return Ok(s.snapshot.meta.clone()); // already there
            }
            if index < s.snapshot.meta.index {
                return Err(StoreError::Invalid(format!(
                    "snapshot at {index} is older than the one at {}",
                    s.snapshot.meta.index
                )));
            }
            (s.dir.clone(), s.snapshot.meta.index)
        };
        let snapshot = Snapshot {
            meta: SnapshotMeta {
                index,
                term,
                conf_state,
            },
            data,
        };
        write_snapshot(&dir, &snapshot, previous > 0)?;
        let mut s = self.write_inner();
        s.wal.compact(index, log_kept_from(previous, index))?;
        let meta = snapshot.meta.clone();
        s.snapshot = snapshot;
        Ok(meta)
    }
}

impl HardStateStore for FileStorage {
    fn set_hard_state(&self, hard_state: HardState) -> Result<(), StoreError> {
        let mut s = self.write_inner();
        crate::assert_hard_state_step(&s.hard_state, &hard_state);
        s.hard_state = hard_state;
        let d = s.durable.hard_state;
        if d.term != hard_state.term || d.vote != hard_state.vote {
            let state = StateFile {
                hard_state,
                conf_state: s.durable.conf_state.clone(),
            };
            write_state(&s.dir, &state)?;
            s.durable = state;
        }
        Ok(())
    }

    fn set_conf_state(&self, conf_state: ConfState) -> Result<(), StoreError> {
        let mut s = self.write_inner();
        let state = StateFile {
            hard_state: s.hard_state,
            conf_state,
        };
        write_state(&s.dir, &state)?;
        s.durable = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_payload_in_parts_is_the_postcard_encoding() {
        for len in [0usize, 1, 127, 128, 300, 16_384, 70_000] {
            let snapshot = Snapshot {
                meta: SnapshotMeta {
                    index: 1 << 40,
                    term: 300,
                    conf_state: ConfState::with_voters([1, 2, 3]),
                },
                data: (0..len).map(|i| i as u8).collect(),
            };
            let (head, data) = snapshot_payload(&snapshot).expect("encodes");
            let joined = [head.as_slice(), data].concat();
            assert_eq!(
                joined,
                postcard::to_stdvec(&snapshot).expect("encodes"),
                "{len} bytes"
            );
        }
    }
}
