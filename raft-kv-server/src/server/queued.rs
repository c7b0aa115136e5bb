//! The commands a connection queued since `MULTI` (what `EXEC` proposes),
//! with the limits a transaction stays within.

use raft_kv_state::entry::Queued;

/// Most commands one transaction may queue.
pub(super) const MAX_QUEUED: usize = 100_000;

/// The commands queued since `MULTI`.
#[derive(Debug, Default)]
pub(super) struct Transaction {
    queued: Vec<Queued>,
    /// Argument bytes queued (bounded by the request limit: the entry must
    /// fit where one request would).
    bytes: usize,
    /// A command was refused while queuing: `EXEC` answers `EXECABORT`.
    aborted: bool,
}

impl Transaction {
    /// Makes `EXEC` fail with `EXECABORT`.
    pub(super) fn abort(&mut self) {
        self.aborted = true;
    }

    /// True if a command was refused while queuing.
    pub(super) fn is_aborted(&self) -> bool {
        self.aborted
    }

    /// Counts `bytes` more of arguments; false (nothing counted) if the
    /// transaction would pass `max_bytes` or [`MAX_QUEUED`] commands.
    pub(super) fn reserve(&mut self, bytes: usize, max_bytes: usize) -> bool {
        let total = self.bytes.saturating_add(bytes);
        if self.queued.len() >= MAX_QUEUED || total > max_bytes {
            return false;
        }
        self.bytes = total;
        true
    }

    /// Queues one command.
    pub(super) fn push(&mut self, q: Queued) {
        debug_assert!(self.queued.len() < MAX_QUEUED, "reserve() bounds the queue");
        self.queued.push(q);
    }

    /// The queued commands, in order.
    pub(super) fn into_queued(self) -> Vec<Queued> {
        self.queued
    }
}
