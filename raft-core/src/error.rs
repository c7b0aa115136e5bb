//! Typed errors of the consensus core and of the storage it reads.

use crate::types::LogIndex;

/// Errors a [`crate::Storage`] implementation returns to the core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The requested index was compacted into a snapshot.
    #[error("log index is compacted")]
    Compacted,
    /// The requested index is beyond the last stored entry.
    #[error("log index {0} is unavailable")]
    Unavailable(LogIndex),
    /// A snapshot is being prepared; ask again later.
    #[error("snapshot temporarily unavailable")]
    SnapshotTemporarilyUnavailable,
    /// The backend failed (I/O, corruption); the message says where.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// Errors returned by the consensus core's API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A proposal or read could not be accepted: no leader is known, a leadership
    /// transfer is in progress, or this node is not a member.
    #[error("proposal dropped: {0}")]
    ProposalDropped(&'static str),
    /// The configuration is invalid (the message says why).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A membership change was refused.
    #[error("membership change refused: {0}")]
    ConfChange(#[from] crate::confchange::ConfChangeError),
    /// The storage the core reads from failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// `advance` or a persistence callback did not match the last `Ready`.
    #[error("ready/advance contract violated: {0}")]
    Contract(&'static str),
}

/// Result alias for the core's API.
pub type Result<T> = std::result::Result<T, Error>;
