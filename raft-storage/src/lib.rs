//! `raft-storage`: where a node's Raft state lives between restarts.
//!
//! Two backends behind the same traits: [`MemStorage`] (tests, the simulator) and
//! [`FileStorage`] (a segmented, checksummed, group-committed WAL plus atomically
//! replaced state and snapshot files). Both implement the core's read view
//! ([`raft_core::Storage`]) and the write side here ([`LogStore`],
//! [`HardStateStore`]); one conformance suite runs against both.

pub mod atomic_file;
pub mod conformance;
mod file;
mod mem;
pub mod record;
pub mod wal;

pub use file::{FileStorage, FileStorageOptions};
pub use mem::MemStorage;

use raft_core::{ConfState, Entry, HardState, LogIndex, Snapshot, SnapshotMeta, Storage};
use std::path::{Path, PathBuf};

/// Errors of the storage backends. Corruption always names the file and offset.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O call failed on `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Bytes on disk failed their checksum or did not decode.
    #[error("corrupted data in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damaged record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The caller asked for something the log cannot do (the message says what).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// A snapshot was asked for at an index this store does not know to be
    /// committed or stored yet (an applier running ahead of this node's own
    /// persistence): try again later.
    #[error(
        "snapshot at {index} is not yet committed and stored here (commit {commit}, last {last})"
    )]
    NotYetDurable {
        /// The requested index.
        index: LogIndex,
        /// The commit index the store holds.
        commit: LogIndex,
        /// The last index the store holds.
        last: LogIndex,
    },
}

impl StoreError {
    /// An I/O error on `path` from anything printable.
    pub fn io(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        }
    }
}

impl From<StoreError> for raft_core::StorageError {
    fn from(e: StoreError) -> Self {
        raft_core::StorageError::Backend(e.to_string())
    }
}

/// The write side of a Raft log. Every method but
/// [`LogStore::append_unsynced`] is durable when it returns.
pub trait LogStore: Storage {
    /// Appends contiguous `entries`, replacing any stored entries at or after the
    /// first one's index (a conflicting suffix). One fsync covers the whole batch.
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError>;
    /// [`LogStore::append`] that may return before the entries are durable:
    /// they are readable at once and durable after the next
    /// [`LogStore::sync_log`]. A crash before it may keep any prefix of them.
    /// The default is a durable append.
    fn append_unsynced(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.append(entries)
    }
    /// Makes every entry appended so far durable, without holding up readers
    /// or other writers while the disk works. The default does nothing (every
    /// append is already durable).
    fn sync_log(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Installs `snapshot`: the log before and at its index is discarded (entries
    /// after it are kept only if they agree with its term), and it becomes the
    /// snapshot served to followers.
    fn apply_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError>;
    /// Records a snapshot the application took at `index` (committed, at most the
    /// applied index) and compacts the log prefix through `index`; returns where
    /// the snapshot sits (the store keeps its data to serve followers).
    fn create_snapshot(
        &self,
        index: LogIndex,
        conf_state: ConfState,
        data: Vec<u8>,
    ) -> Result<SnapshotMeta, StoreError>;
}

/// The write side of the hard state and membership.
pub trait HardStateStore {
    /// Persists `hard_state` atomically.
    fn set_hard_state(&self, hard_state: HardState) -> Result<(), StoreError>;
    /// Persists the membership in force (updated as conf changes apply).
    fn set_conf_state(&self, conf_state: ConfState) -> Result<(), StoreError>;
}

/// Asserts that `new` may follow `old` on disk: the term never decreases, and
/// within one term the vote, once cast, never changes. (The core asserts the
/// same of every hard state it hands out: a pair of assertions, one per side.)
fn assert_hard_state_step(old: &HardState, new: &HardState) {
    assert!(
        new.term >= old.term,
        "hard state: term {} would go back to {}",
        old.term,
        new.term
    );
    assert!(
        new.term > old.term || old.vote.is_none() || new.vote == old.vote,
        "hard state: the vote for {:?} in term {} would change to {:?}",
        old.vote,
        old.term,
        new.vote
    );
}

/// Checks a batch before it is written: contiguous indexes, non-empty log range.
fn check_contiguous(entries: &[Entry]) -> Result<(), StoreError> {
    for w in entries.windows(2) {
        if w[1].index != w[0].index + 1 {
            return Err(StoreError::Invalid(format!(
                "entries not contiguous: {} then {}",
                w[0].index, w[1].index
            )));
        }
    }
    Ok(())
}

/// A log held as `entries` starting at index `offset`, after a snapshot whose
/// last entry is (`snap_index`, `snap_term`): the read view both backends share.
struct LogView<'a> {
    entries: &'a [Entry],
    offset: LogIndex,
    snap_index: LogIndex,
    snap_term: raft_core::Term,
}

impl LogView<'_> {
    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, raft_core::StorageError> {
        if low < self.offset {
            return Err(raft_core::StorageError::Compacted);
        }
        if high > self.offset + self.entries.len() as u64 {
            return Err(raft_core::StorageError::Unavailable(high - 1));
        }
        let range = (low - self.offset) as usize..(high - self.offset) as usize;
        Ok(limit_size(&self.entries[range], max_bytes))
    }

    fn term(&self, index: LogIndex) -> Result<raft_core::Term, raft_core::StorageError> {
        if index == self.snap_index {
            return Ok(self.snap_term);
        }
        if index < self.snap_index {
            return Err(raft_core::StorageError::Compacted);
        }
        self.entries
            .get((index - self.offset) as usize)
            .map(|e| e.term)
            .ok_or(raft_core::StorageError::Unavailable(index))
    }
}

/// Takes entries from `ents` while the running size stays within `max_bytes`
/// (at least one entry).
fn limit_size(ents: &[Entry], max_bytes: Option<u64>) -> Vec<Entry> {
    let Some(max) = max_bytes else {
        return ents.to_vec();
    };
    let mut size = 0;
    let mut out = Vec::new();
    for e in ents {
        size += e.size_hint();
        if !out.is_empty() && size > max {
            break;
        }
        out.push(e.clone());
    }
    out
}
