//! The leader's bookkeeping for the whole membership: one [`Progress`] per node,
//! the quorum configuration, and the votes of an election in progress.

use crate::progress::Progress;
use crate::quorum::{JointConfig, VoteResult};
use crate::types::{ConfState, LogIndex, NodeId};
use std::collections::BTreeMap;

/// Progress of every member plus the active quorum configuration.
#[derive(Clone, Debug)]
pub struct ProgressTracker {
    conf: ConfState,
    quorum: JointConfig,
    progress: BTreeMap<NodeId, Progress>,
    votes: BTreeMap<NodeId, bool>,
    max_inflight: usize,
    max_inflight_bytes: u64,
}

impl ProgressTracker {
    /// A tracker with an empty membership.
    pub fn new(max_inflight: usize, max_inflight_bytes: u64) -> Self {
        ProgressTracker {
            conf: ConfState::default(),
            quorum: JointConfig::default(),
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            max_inflight,
            max_inflight_bytes,
        }
    }

    /// Switches to `conf`, keeping the progress of nodes that stay and creating
    /// progress (next = `next_index`) for new ones.
    pub fn apply_conf(&mut self, conf: ConfState, next_index: LogIndex) {
        let all = conf.all_nodes();
        self.progress.retain(|id, _| all.contains(id));
        for &id in &all {
            let (max, bytes) = (self.max_inflight, self.max_inflight_bytes);
            let p = self
                .progress
                .entry(id)
                .or_insert_with(|| Progress::new(next_index, max, bytes));
            p.set_learner(!conf.is_voter(id));
        }
        self.quorum = JointConfig::new(conf.voters.clone(), conf.voters_outgoing.clone());
        self.conf = conf;
    }

    /// The active membership.
    pub fn conf(&self) -> &ConfState {
        &self.conf
    }

    /// True if `id` votes in the active configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.conf.is_voter(id)
    }

    /// True if `id` is a voter and the only one.
    pub fn is_single_voter(&self, id: NodeId) -> bool {
        let ids = self.quorum.ids();
        ids.len() == 1 && ids.contains(&id)
    }

    /// The progress of `id`, if a member.
    pub fn get(&self, id: NodeId) -> Option<&Progress> {
        self.progress.get(&id)
    }

    /// The progress of `id` for update, if a member.
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Progress> {
        self.progress.get_mut(&id)
    }

    /// Every member's progress, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Progress)> {
        self.progress.iter()
    }

    /// Every member's progress for update, in id order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&NodeId, &mut Progress)> {
        self.progress.iter_mut()
    }

    /// Member ids, in order.
    pub fn ids(&self) -> Vec<NodeId> {
        self.progress.keys().copied().collect()
    }

    /// The largest index replicated on a quorum (by `matched`).
    pub fn committed_index(&self) -> LogIndex {
        self.quorum
            .committed_index(|id| self.progress.get(&id).map(Progress::matched))
    }

    /// Forgets the votes of the last election.
    pub fn reset_votes(&mut self) {
        self.votes.clear();
    }

    /// Records `id`'s vote (first answer wins) and returns the tally.
    pub fn record_vote(&mut self, id: NodeId, granted: bool) -> VoteResult {
        self.votes.entry(id).or_insert(granted);
        self.tally()
    }

    /// The current election outcome.
    pub fn tally(&self) -> VoteResult {
        self.quorum.vote_result(|id| self.votes.get(&id).copied())
    }

    /// True if the nodes marked recently active (plus `self_id`) form a quorum.
    pub fn quorum_active(&self, self_id: NodeId) -> bool {
        self.quorum.has_quorum(|id| {
            id == self_id || self.progress.get(&id).is_some_and(Progress::recent_active)
        })
    }

    /// True if the given acknowledgements form a quorum.
    pub fn has_quorum(&self, acked: impl Fn(NodeId) -> bool) -> bool {
        self.quorum.has_quorum(acked)
    }
}
