//! What the runtime needs from a storage backend: the core's read view, the
//! durable write side, and a last flush at shutdown. Both backends qualify.

use raft_storage::{FileStorage, HardStateStore, LogStore, MemStorage, StoreError};

/// A Raft log and hard-state store a node can run on. Clones share one store.
pub trait NodeStorage: LogStore + HardStateStore + Clone + Send + Sync + 'static {
    /// Makes everything recorded so far durable (the commit index included,
    /// which the backend may keep in memory between elections).
    fn flush(&self) -> Result<(), StoreError>;
}

impl NodeStorage for FileStorage {
    fn flush(&self) -> Result<(), StoreError> {
        self.flush_hard_state()
    }
}

impl NodeStorage for MemStorage {
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
