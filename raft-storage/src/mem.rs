//! An in-memory backend: the reference the file backend is checked against, and
//! the "persisted" side of simulated nodes.

use crate::{HardStateStore, LogStore, StoreError, check_contiguous};
use parking_lot::RwLock;
use raft_core::{
    ConfState, Entry, HardState, LogIndex, Snapshot, SnapshotMeta, Storage, StorageError, Term,
};
use std::sync::Arc;

#[derive(Debug, Default, Clone)]
struct MemInner {
    hard_state: HardState,
    snapshot: Snapshot,
    /// The membership in force (initially the snapshot's).
    conf_state: ConfState,
    /// Entries after `snapshot.meta.index`.
    entries: Vec<Entry>,
}

impl MemInner {
    fn offset(&self) -> LogIndex {
        self.snapshot.meta.index + 1
    }
    fn last_index(&self) -> LogIndex {
        self.snapshot.meta.index + self.entries.len() as u64
    }

    fn view(&self) -> crate::LogView<'_> {
        crate::LogView {
            entries: &self.entries,
            offset: self.offset(),
            snap_index: self.snapshot.meta.index,
            snap_term: self.snapshot.meta.term,
        }
    }
}

/// A shared in-memory store. Clones share the same state; [`MemStorage::deep_clone`]
/// copies it.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    inner: Arc<RwLock<MemInner>>,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose initial membership is `conf_state` (a new cluster).
    pub fn with_conf_state(conf_state: ConfState) -> Self {
        let s = Self::default();
        s.inner.write().conf_state = conf_state.clone();
        s.inner.write().snapshot.meta.conf_state = conf_state;
        s
    }

    /// An independent copy of the current state.
    pub fn deep_clone(&self) -> Self {
        MemStorage {
            inner: Arc::new(RwLock::new(self.inner.read().clone())),
        }
    }

    /// The current hard state.
    pub fn hard_state(&self) -> HardState {
        self.inner.read().hard_state
    }

    /// Every stored entry (after the snapshot).
    pub fn all_entries(&self) -> Vec<Entry> {
        self.inner.read().entries.clone()
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<(HardState, ConfState), StorageError> {
        let s = self.inner.read();
        Ok((s.hard_state, s.conf_state.clone()))
    }

    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, StorageError> {
        let s = self.inner.read();
        s.view().entries(low, high, max_bytes)
    }

    fn term(&self, index: LogIndex) -> Result<Term, StorageError> {
        let s = self.inner.read();
        s.view().term(index)
    }

    fn first_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.inner.read().offset())
    }

    fn last_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.inner.read().last_index())
    }

    fn snapshot(&self, _request_index: LogIndex) -> Result<Snapshot, StorageError> {
        Ok(self.inner.read().snapshot.clone())
    }
}

impl LogStore for MemStorage {
    fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        check_contiguous(entries)?;
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut s = self.inner.write();
        if first.index < s.offset() || first.index > s.last_index() + 1 {
            return Err(StoreError::Invalid(format!(
                "append at {} outside the log [{}, {}]",
                first.index,
                s.offset(),
                s.last_index() + 1
            )));
        }
        let keep = (first.index - s.offset()) as usize;
        s.entries.truncate(keep);
        s.entries.extend_from_slice(entries);
        Ok(())
    }

    fn apply_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let mut s = self.inner.write();
        let meta = &snapshot.meta;
        if meta.index <= s.snapshot.meta.index {
            return Err(StoreError::Invalid(format!(
                "snapshot at {} is not newer than the current one at {}",
                meta.index, s.snapshot.meta.index
            )));
        }
        let keep_tail = s.last_index() >= meta.index
            && s.entries[(meta.index - s.offset()) as usize].term == meta.term;
        if keep_tail {
            let drop_n = (meta.index + 1 - s.offset()) as usize;
            s.entries.drain(..drop_n);
        } else {
            s.entries.clear();
        }
        s.hard_state.commit = s.hard_state.commit.max(meta.index);
        s.conf_state = meta.conf_state.clone();
        s.snapshot = snapshot;
        Ok(())
    }

    fn create_snapshot(
        &self,
        index: LogIndex,
        conf_state: ConfState,
        data: Vec<u8>,
    ) -> Result<SnapshotMeta, StoreError> {
        {
            let s = self.inner.read();
            if index > s.hard_state.commit || index > s.last_index() {
                return Err(StoreError::NotYetDurable {
                    index,
                    commit: s.hard_state.commit,
                    last: s.last_index(),
                });
            }
        }
        let term = self
            .term(index)
            .map_err(|e| StoreError::Invalid(format!("snapshot at {index}: {e}")))?;
        let mut s = self.inner.write();
        if index < s.snapshot.meta.index {
            return Err(StoreError::Invalid(format!("snapshot at {index} is stale")));
        }
        let drop_n = (index + 1 - s.offset()) as usize;
        s.entries.drain(..drop_n);
        // The log before the snapshot is gone: its membership is now the base.
        s.conf_state = conf_state.clone();
        s.snapshot = Snapshot {
            meta: SnapshotMeta {
                index,
                term,
                conf_state,
            },
            data,
        };
        Ok(s.snapshot.meta.clone())
    }
}

impl HardStateStore for MemStorage {
    fn set_hard_state(&self, hard_state: HardState) -> Result<(), StoreError> {
        let mut s = self.inner.write();
        crate::assert_hard_state_step(&s.hard_state, &hard_state);
        s.hard_state = hard_state;
        Ok(())
    }

    fn set_conf_state(&self, conf_state: ConfState) -> Result<(), StoreError> {
        self.inner.write().conf_state = conf_state;
        Ok(())
    }
}
