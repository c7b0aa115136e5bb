//! The read-only view of persisted Raft state that the core needs.
//!
//! The caller owns writing (see the Ready / advance contract in [`crate::RawNode`]);
//! the core only reads through this trait.

use crate::error::StorageError;
use crate::types::{ConfState, Entry, HardState, LogIndex, Snapshot, Term};

/// Persisted Raft state as the core reads it.
///
/// Guarantees an implementation must give:
/// 1. `first_index() - 1` is the index of the last compacted entry (the snapshot's
///    index), and `term(first_index() - 1)` returns its term.
/// 2. `entries(lo, hi, max)` returns entries `lo..hi` in order, at least one entry if
///    `lo < hi` even when it exceeds `max_bytes`.
/// 3. Nothing returned is ever un-persisted: every read reflects durable state.
pub trait Storage {
    /// The persisted hard state and membership at start-up.
    fn initial_state(&self) -> Result<(HardState, ConfState), StorageError>;
    /// Entries in `[low, high)`, stopping once the total size passes `max_bytes`.
    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, StorageError>;
    /// The term of the entry at `index` (valid for `first_index() - 1 ..= last_index()`).
    fn term(&self, index: LogIndex) -> Result<Term, StorageError>;
    /// The first index still in the log (the snapshot index + 1).
    fn first_index(&self) -> Result<LogIndex, StorageError>;
    /// The last index in the log (the snapshot index if the log is empty).
    fn last_index(&self) -> Result<LogIndex, StorageError>;
    /// The newest snapshot, at an index at least `request_index` when possible.
    fn snapshot(&self, request_index: LogIndex) -> Result<Snapshot, StorageError>;
}
