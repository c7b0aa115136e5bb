//! The messages Raft nodes exchange. Every message carries the sender's term;
//! term 0 marks a message that is not bound to a term (a forwarded proposal or read).

use crate::types::{Entry, LogIndex, NodeId, Snapshot, Term};
use serde::{Deserialize, Serialize};

/// A message between two nodes of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The sender's term, or 0 for term-agnostic messages.
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// Why a vote is requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoteKind {
    /// A pre-vote: "would you vote for me in `term`?" No one changes term.
    PreVote,
    /// A real vote in `term`.
    Vote,
    /// A real vote requested by a leadership transfer: ignores leader leases.
    TransferVote,
}

/// The content of a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// RequestVote (or PreVote) with the candidate's last log position.
    RequestVote {
        /// Pre-vote, vote, or a vote on behalf of a leadership transfer.
        kind: VoteKind,
        /// The candidate's last log index.
        last_index: LogIndex,
        /// The term of the candidate's last entry.
        last_term: Term,
    },
    /// The answer to a `RequestVote`.
    RequestVoteResponse {
        /// True for an answer to a pre-vote.
        pre_vote: bool,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// AppendEntries: `entries` follow the entry at `prev_index` with term `prev_term`.
    Append {
        /// The index just before the first entry.
        prev_index: LogIndex,
        /// The term of the entry at `prev_index`.
        prev_term: Term,
        /// Entries to append (possibly none: a probe).
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: LogIndex,
    },
    /// The answer to an `Append`.
    AppendResponse {
        /// Whether the entries were accepted.
        accepted: bool,
        /// If accepted: the last index now known to match the leader.
        /// If rejected: the `prev_index` of the rejected append.
        index: LogIndex,
        /// If rejected: the index the leader should probe next (fast backtracking).
        hint_index: LogIndex,
        /// If rejected: the term of the follower's entry at `hint_index` (0 if none).
        hint_term: Term,
    },
    /// A heartbeat carrying the commit index and the latest read round.
    Heartbeat {
        /// The commit index, capped at what the follower is known to hold.
        commit: LogIndex,
        /// The leader's latest ReadIndex round when the heartbeat was sent.
        read_round: u64,
    },
    /// The answer to a `Heartbeat`.
    HeartbeatResponse {
        /// Echo of the heartbeat's read round.
        read_round: u64,
    },
    /// A whole snapshot for a follower whose needed entries were compacted.
    InstallSnapshot {
        /// The snapshot to install.
        snapshot: Snapshot,
    },
    /// Proposals forwarded from a follower to the leader.
    Propose {
        /// The payloads to append, in order.
        entries: Vec<Entry>,
    },
    /// A linearizable read forwarded from a follower to the leader.
    ReadIndex {
        /// The follower's read request id.
        request: u64,
    },
    /// The leader's answer to a forwarded `ReadIndex`.
    ReadIndexResponse {
        /// The follower's read request id.
        request: u64,
        /// The index the follower must apply before serving the read.
        index: LogIndex,
    },
    /// Tells the target of a leadership transfer to campaign at once.
    TimeoutNow,
}

impl MessageBody {
    /// A short name for traces and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            MessageBody::RequestVote {
                kind: VoteKind::PreVote,
                ..
            } => "PreVote",
            MessageBody::RequestVote { .. } => "RequestVote",
            MessageBody::RequestVoteResponse { pre_vote: true, .. } => "PreVoteResponse",
            MessageBody::RequestVoteResponse { .. } => "RequestVoteResponse",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResponse { .. } => "AppendResponse",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResponse",
            MessageBody::InstallSnapshot { .. } => "InstallSnapshot",
            MessageBody::Propose { .. } => "Propose",
            MessageBody::ReadIndex { .. } => "ReadIndex",
            MessageBody::ReadIndexResponse { .. } => "ReadIndexResponse",
            MessageBody::TimeoutNow => "TimeoutNow",
        }
    }
}
