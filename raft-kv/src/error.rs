//! The store's typed errors at the runtime's edges: what a client request can
//! fail with ([`RequestError`]), the error code word every RESP error starts with
//! ([`ErrorCode`]), and what stops a running node ([`FatalError`]).
//!
//! Only the RESP server turns a [`RequestError`] into text, and the Rust client
//! and `raft-cli` read only the [`ErrorCode`] back: no code path anywhere
//! depends on an error message's wording.

use raft_core::NodeId;
pub use raft_kv_state::ErrorCode;
use raft_kv_state::ReplyError;
use raft_kv_state::store::SnapshotDecodeError;

/// Why a client request did not get a normal reply. Each variant has exactly one
/// [`ErrorCode`]; its text is the human part of the RESP error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No leader took the command before its deadline; it was never proposed.
    #[error("no leader could be reached in time; the command was not proposed")]
    NotProposed,
    /// The consensus core refused the proposal (no leader, transfer running, not a member).
    #[error("the command was not proposed: {0}")]
    Dropped(raft_core::Error),
    /// No leader was known for the whole wait of a read; nothing was read.
    #[error("no leader could be reached in time; nothing was read")]
    ReadNotServed,
    /// This node belongs to no configuration (joining, or removed): it
    /// answers at once instead of waiting for a leader that will not come.
    #[error("{}", not_a_member_text(*.0))]
    NotAMember(crate::status::Membership),
    /// The node's request queue is full; nothing was proposed.
    #[error("the node is overloaded; nothing was proposed")]
    Overloaded,
    /// The write was proposed and its deadline passed without an outcome.
    #[error("the write was proposed but its outcome is unknown; it may still be applied")]
    OutcomeUnknown,
    /// The write was proposed and then leadership changed.
    #[error("leadership changed; the write may or may not be applied")]
    LeaderChanged,
    /// A linearizable read was not confirmed by a quorum before its deadline.
    #[error("the read could not be confirmed by a quorum in time")]
    ReadTimedOut,
    /// Leadership changed before a read was confirmed; nothing was read.
    #[error("leadership changed before the read was confirmed")]
    ReadAborted,
    /// The node is stopping.
    #[error("the node is stopping")]
    Shutdown,
    /// The request must go to the leader.
    #[error("this node is not the leader (leader: {}); send it to the leader", leader_text(*.leader))]
    NotLeader {
        /// The leader this node knows, if any.
        leader: Option<NodeId>,
    },
    /// A leadership transfer names a node that is not a voter.
    #[error("node {0} is not a voter")]
    NotVoter(NodeId),
    /// The transfer started but the target did not take over before the deadline.
    #[error("node {0} did not become leader in time")]
    TransferTimedOut(NodeId),
    /// A follower was asked to remove itself: it could not see the removal commit.
    #[error(
        "a follower cannot wait for its own removal to commit; send RAFT.REMOVENODE to another member"
    )]
    RemoveSelfAsFollower,
    /// A membership change the core refused (invalid, or another one in progress).
    #[error("{0}")]
    Refused(raft_core::Error),
    /// Another snapshot is being written.
    #[error("a snapshot is already being taken")]
    SnapshotBusy,
    /// Writing the snapshot failed (the text names the file).
    #[error("snapshot at {index} not taken: {reason}")]
    SnapshotFailed {
        /// The applied index the snapshot was for.
        index: u64,
        /// The storage error, as text (storage errors are not cloneable).
        reason: String,
    },
    /// A snapshot did not finish before the deadline.
    #[error("the snapshot did not finish in time")]
    SnapshotTimedOut,
}

fn holder_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "another process".to_string(), |p| format!("process {p}"))
}

fn not_a_member_text(m: crate::status::Membership) -> &'static str {
    match m {
        crate::status::Membership::Removed => {
            "this node was removed from the cluster: send requests to another member"
        }
        _ => {
            "this node has not been added to a cluster yet (started with --join): \
             add it with raft-cli member add"
        }
    }
}

fn leader_text(leader: Option<NodeId>) -> String {
    leader.map_or_else(|| "none known".to_string(), |l| l.to_string())
}

impl RequestError {
    /// The RESP error code the server sends for this error.
    pub fn code(&self) -> ErrorCode {
        use RequestError::*;
        match self {
            NotProposed | ReadNotServed | NotAMember(_) | Dropped(_) | Overloaded | ReadAborted => {
                ErrorCode::NoLeader
            }
            OutcomeUnknown | LeaderChanged | ReadTimedOut | TransferTimedOut(_)
            | SnapshotTimedOut => ErrorCode::Timeout,
            Shutdown => ErrorCode::Shutdown,
            NotLeader { .. }
            | NotVoter(_)
            | RemoveSelfAsFollower
            | Refused(_)
            | SnapshotBusy
            | SnapshotFailed { .. } => ErrorCode::Err,
        }
    }
}

/// What made a running node stop by itself. The node answers no more requests
/// and exits with this as its last line.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    /// A write to the data dir failed; the storage error names the file.
    #[error("{what} failed: {source}")]
    Storage {
        /// What was being written (`WAL append`, `hard state write`, ...).
        what: &'static str,
        /// The failure, with its path.
        source: raft_storage::StoreError,
    },
    /// The applier thread is gone, so nothing more can be applied.
    #[error("the applier thread stopped")]
    ApplierStopped,
    /// The leader's log writer thread is gone.
    #[error("the log writer thread stopped")]
    LogWriterStopped,
    /// The leader's log writer could not make entries durable (the storage
    /// error, with its path).
    #[error("the log writer failed: {0}")]
    LogWriteFailed(String),
    /// The consensus core reported a broken contract.
    #[error("raft: {0}")]
    Raft(#[from] raft_core::Error),
    /// A committed entry does not decode. Skipping it would make this
    /// replica diverge from those that applied it, so the node stops.
    #[error(
        "committed entry {index} does not decode as an entry of this store ({reason}); upgrade this node if a newer version wrote it"
    )]
    UnknownCommand {
        /// The entry's index.
        index: u64,
        /// The decoder's complaint.
        reason: String,
    },
    /// A committed entry of a state machine version this binary does not
    /// know: the node stops before applying it.
    #[error(
        "committed entry {index} was written at state machine version {version}, and this binary applies versions up to {supported}: upgrade this node to a version that knows {version}",
        supported = raft_kv_state::entry::STATE_MACHINE_VERSION
    )]
    UnknownStateMachineVersion {
        /// The entry's index.
        index: u64,
        /// Its version.
        version: u32,
    },
    /// A snapshot from the leader does not decode.
    #[error("received a damaged snapshot at {index}: {source}")]
    DamagedSnapshot {
        /// The snapshot's index.
        index: u64,
        /// What is wrong with it.
        source: SnapshotDecodeError,
    },
}

/// Why a node could not start or had to stop. Each is one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("invalid configuration ({setting}): {source}", setting = .source.setting())]
    Config {
        /// What is wrong.
        #[from]
        source: crate::config::ConfigError,
    },
    /// The data directory cannot be trusted or used.
    #[error("data directory {dir}: {source}")]
    Storage {
        /// The directory.
        dir: String,
        /// What failed.
        source: raft_storage::StoreError,
    },
    /// Another process runs a node on this data directory.
    #[error("data directory {dir} is in use by {} (one process per data dir)", holder_text(*.holder))]
    DataDirLocked {
        /// The directory.
        dir: String,
        /// The holder's pid, if its lock file says.
        holder: Option<u32>,
    },
    /// The data directory holds Raft state but no cluster file.
    #[error("{dir} holds Raft state but no cluster file; refusing to guess its cluster")]
    NoClusterFile {
        /// The directory.
        dir: String,
    },
    /// A listen address could not be bound.
    #[error(transparent)]
    Net(#[from] raft_net::NetError),
    /// The TLS certificates, keys or CAs cannot be used.
    #[error("{flags}: {source}")]
    Tls {
        /// The flags that name the files (`--peer-cert/--peer-key/--peer-ca`).
        flags: &'static str,
        /// What is wrong.
        source: raft_net::TlsError,
    },
    /// The client port could not be bound.
    #[error("cannot listen for clients on {addr}: {source}")]
    ClientBind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics port could not be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    MetricsBind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The consensus core refused to start.
    #[error("raft: {0}")]
    Raft(#[from] raft_core::Error),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// A fatal error stopped the node while it ran.
    #[error("fatal: {0}")]
    Fatal(#[from] FatalError),
}

impl From<&RequestError> for ReplyError {
    fn from(e: &RequestError) -> ReplyError {
        ReplyError::new(e.code(), e.to_string())
    }
}
