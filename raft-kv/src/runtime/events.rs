//! The messages between the runtime's threads: [`Event`]s into the
//! consensus thread (its one input queue) and [`ApplyMsg`]s from it to the
//! applier, in log order.

use super::requests::ReadId;
use crate::error::RequestError;
use crossbeam_channel::Sender;
use raft_core::{Entry, Message, NodeId, ReadState, Snapshot};
use raft_kv_state::ProposalId;
use std::time::Instant;

/// Everything the consensus thread reacts to, from one bounded channel.
pub(crate) enum Event {
    /// A message from a peer.
    Peer(Message),
    /// A client write, registered in the request registry.
    Propose {
        id: ProposalId,
        data: Vec<u8>,
        deadline: Instant,
    },
    /// A membership change, registered in the request registry.
    ConfChange {
        id: ProposalId,
        cc: raft_core::ConfChange,
    },
    /// A linearizable read, registered in the request registry.
    Read { id: ReadId, deadline: Instant },
    /// Hand leadership to `to` (on the leader).
    Transfer {
        to: NodeId,
        reply: Sender<Result<(), RequestError>>,
    },
    /// A leader stopping gracefully hands leadership to its most up-to-date voter.
    ShutdownTransfer { reply: Sender<Option<NodeId>> },
    /// The applier applied everything up to this index.
    Applied(u64),
    /// The log writer made more entries durable (or failed).
    LogWritten,
    /// Stop the thread.
    Shutdown,
}

/// Work for the applier thread, in log order.
pub(crate) enum ApplyMsg {
    /// Committed entries to apply, and when they were handed over.
    Entries(Vec<Entry>, Instant),
    /// Reads that are safe to serve once their index is applied.
    Reads(Vec<ReadState>),
    /// A snapshot from the leader replaces the state.
    Restore(Snapshot),
    /// Take a snapshot now and compact; the reply says how it went.
    SnapshotNow(Sender<Result<(), RequestError>>),
    /// The consensus thread stopped: finish.
    Stop,
}
