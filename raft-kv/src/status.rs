//! What a node reports about itself: role, term, leader, indexes, membership.
//! `INFO`, `/metrics`, `/health` and `raft-cli status` all read this one view.

use raft_core::{NodeId, Role};
use std::collections::BTreeMap;

/// Whether a node belongs to the cluster, by the configuration it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// A voter or learner of its configuration.
    Member,
    /// It knows no configuration: started with `--join` and not added yet
    /// (or not yet reached by the leader that added it).
    Joining,
    /// Its configuration no longer names it.
    Removed,
}

impl Membership {
    /// The word `INFO` (`membership:`) and `raft-cli status` show.
    pub fn as_str(self) -> &'static str {
        match self {
            Membership::Member => "member",
            Membership::Joining => "joining",
            Membership::Removed => "removed",
        }
    }
}

/// A point-in-time view of one node, refreshed by its consensus thread after
/// every `Ready` and by its applier after every batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// Node id.
    pub id: NodeId,
    /// The node's Raft role.
    pub role: Role,
    /// Current term.
    pub term: u64,
    /// The leader this node knows, if any.
    pub leader_id: Option<NodeId>,
    /// Commit index.
    pub commit_index: u64,
    /// Applied index.
    pub applied_index: u64,
    /// Last log index.
    pub last_index: u64,
    /// Voters (the incoming ones while joint).
    pub voters: Vec<NodeId>,
    /// Learners.
    pub learners: Vec<NodeId>,
    /// Outgoing voters while a joint configuration is in force (empty otherwise).
    pub voters_outgoing: Vec<NodeId>,
    /// Peer addresses of the members.
    pub members: BTreeMap<NodeId, String>,
    /// Client addresses the members advertised (a member that has not yet
    /// done so is missing).
    pub clients: BTreeMap<NodeId, String>,
    /// The state machine version each member advertised it applies.
    pub state_versions: BTreeMap<NodeId, u32>,
    /// The cluster id (0 while a joining node has not been contacted).
    pub cluster_id: u64,
    /// Elections this node won since start.
    pub leader_elections: u64,
    /// Proposals accepted for replication since start.
    pub proposals: u64,
}

impl NodeStatus {
    /// The status of a node that has not stepped yet: a follower with no leader.
    pub fn starting(id: NodeId, cluster_id: u64, members: BTreeMap<NodeId, String>) -> Self {
        NodeStatus {
            id,
            role: Role::Follower,
            term: 0,
            leader_id: None,
            commit_index: 0,
            applied_index: 0,
            last_index: 0,
            voters: Vec::new(),
            learners: Vec::new(),
            voters_outgoing: Vec::new(),
            members,
            clients: BTreeMap::new(),
            state_versions: BTreeMap::new(),
            cluster_id,
            leader_elections: 0,
            proposals: 0,
        }
    }

    /// Whether this node's configuration names it (see [`Membership`]).
    pub fn membership(&self) -> Membership {
        let named = |ids: &[NodeId]| ids.contains(&self.id);
        if self.voters.is_empty() && self.voters_outgoing.is_empty() && self.learners.is_empty() {
            Membership::Joining
        } else if named(&self.voters) || named(&self.voters_outgoing) || named(&self.learners) {
            Membership::Member
        } else {
            Membership::Removed
        }
    }

    /// True if this node leads.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// True when the node knows a leader and its applied index keeps up with
    /// its commit index (what `/health` reports).
    pub fn is_healthy(&self) -> bool {
        self.leader_id.is_some() && self.applied_index + 10_000 >= self.commit_index
    }
}
