//! The data Raft replicates and persists: ids, log entries, hard state,
//! membership (`ConfState`) and snapshot metadata.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A node's identity inside one cluster. `0` is never a valid id.
pub type NodeId = u64;
/// A Raft term. Terms start at 1 once any election happened; 0 means "none yet".
pub type Term = u64;
/// A position in the replicated log. Index 0 is the empty prefix before the first entry.
pub type LogIndex = u64;

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload {
    /// The empty entry a new leader appends to commit entries of earlier terms.
    Noop,
    /// Application data, opaque to Raft.
    Normal(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A membership change (see [`ConfChange`]).
    ConfChange(ConfChange),
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: LogIndex,
    /// What the entry carries.
    pub payload: EntryPayload,
}

impl Entry {
    /// Approximate encoded size in bytes, used for message and batch limits.
    pub fn size_hint(&self) -> u64 {
        let payload = match &self.payload {
            EntryPayload::Noop => 0,
            EntryPayload::Normal(data) => data.len(),
            EntryPayload::ConfChange(cc) => 16 * (cc.changes.len() + 1),
        };
        (payload + 16) as u64
    }
}

/// The state a node must persist before it answers any message: current term,
/// the vote cast in that term, and the highest index known to be committed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// The highest log index known to be committed.
    pub commit: LogIndex,
}

/// A cluster membership. When `voters_outgoing` is non-empty the cluster is in a
/// joint configuration and every decision needs a majority of both voter sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfState {
    /// Voters of the (incoming) configuration.
    pub voters: BTreeSet<NodeId>,
    /// Nodes that receive the log but never vote or count for a quorum.
    pub learners: BTreeSet<NodeId>,
    /// Voters of the outgoing configuration while in a joint configuration.
    pub voters_outgoing: BTreeSet<NodeId>,
    /// Voters of the outgoing configuration that become learners once the joint state ends.
    pub learners_next: BTreeSet<NodeId>,
    /// Leave the joint configuration automatically once it is committed.
    pub auto_leave: bool,
}

impl ConfState {
    /// A plain (non-joint) configuration of the given voters.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        ConfState {
            voters: voters.into_iter().collect(),
            ..ConfState::default()
        }
    }

    /// True while the configuration is joint (an outgoing voter set exists).
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }

    /// Every node that takes part: voters of both sets and learners.
    pub fn all_nodes(&self) -> BTreeSet<NodeId> {
        let mut all = self.voters.clone();
        all.extend(&self.voters_outgoing);
        all.extend(&self.learners);
        all.extend(&self.learners_next);
        all
    }

    /// True if `id` votes in the incoming or the outgoing configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.voters_outgoing.contains(&id)
    }
}

/// One step of a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChangeStep {
    /// Add `NodeId` as a voter (or promote it from learner).
    AddVoter(NodeId),
    /// Add `NodeId` as a learner (or demote it from voter).
    AddLearner(NodeId),
    /// Remove `NodeId` from the configuration.
    Remove(NodeId),
}

/// A membership change, in the style of etcd's ConfChangeV2. An empty change list
/// means "leave the joint configuration".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfChange {
    /// The steps applied together.
    pub changes: Vec<ConfChangeStep>,
    /// Opaque data the application attaches (for example a new node's address).
    #[serde(with = "serde_bytes")]
    pub context: Vec<u8>,
    /// The configuration the change results in, filled in by the leader when it
    /// appends the entry. It makes every membership entry self-contained, so a
    /// node that joins with no configuration learns the whole membership from it.
    pub result: Option<ConfState>,
}

/// Identifies the log prefix a snapshot replaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last log index the snapshot includes.
    pub index: LogIndex,
    /// The term of the entry at `index`.
    pub term: Term,
    /// The membership in force at `index`.
    pub conf_state: ConfState,
}

/// A snapshot of the application state up to `meta.index`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Where the snapshot sits in the log.
    pub meta: SnapshotMeta,
    /// The application's serialized state, opaque to Raft.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl Snapshot {
    /// True for the "no snapshot" value (index 0).
    pub fn is_empty(&self) -> bool {
        self.meta.index == 0
    }
}

/// The role a node plays in its current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Runs a pre-election that does not change any term.
    PreCandidate,
    /// Runs a real election in a new term.
    Candidate,
    /// Leads the cluster in its term.
    Leader,
}

impl Role {
    /// The lower-case name used in logs, `INFO` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "precandidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Volatile state worth reporting when it changes: who leads and this node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftState {
    /// The known leader, if any.
    pub leader_id: Option<NodeId>,
    /// This node's role.
    pub role: Role,
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    /// The layouts before bulk byte serialization: plain derives.
    #[derive(Serialize)]
    enum LegacyPayload {
        #[allow(dead_code)]
        Noop,
        Normal(Vec<u8>),
    }

    #[derive(Serialize)]
    struct LegacyEntry {
        term: Term,
        index: LogIndex,
        payload: LegacyPayload,
    }

    #[derive(Serialize)]
    struct LegacySnapshot {
        meta: SnapshotMeta,
        data: Vec<u8>,
    }

    #[test]
    fn entries_and_snapshots_keep_their_bytes_so_old_logs_replay() {
        let data = vec![0u8, 1, 2, 255, 128];
        let old = LegacyEntry {
            term: 3,
            index: 70_000,
            payload: LegacyPayload::Normal(data.clone()),
        };
        let new = Entry {
            term: 3,
            index: 70_000,
            payload: EntryPayload::Normal(data.clone()),
        };
        let old = postcard::to_stdvec(&old).expect("encodes");
        assert_eq!(old, postcard::to_stdvec(&new).expect("encodes"));
        assert_eq!(postcard::from_bytes::<Entry>(&old).expect("decodes"), new);

        let meta = SnapshotMeta {
            index: 9,
            term: 2,
            conf_state: ConfState::with_voters([1, 2, 3]),
        };
        let old = LegacySnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        let new = Snapshot { meta, data };
        let old = postcard::to_stdvec(&old).expect("encodes");
        assert_eq!(old, postcard::to_stdvec(&new).expect("encodes"));
        assert_eq!(
            postcard::from_bytes::<Snapshot>(&old).expect("decodes"),
            new
        );
    }
}
