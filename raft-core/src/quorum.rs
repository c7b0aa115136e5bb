//! Quorum math, isolated: majority and joint (two-majority) configurations.
//!
//! Modeled on etcd-io/raft `quorum/majority.go` and `quorum/joint.go`. An empty
//! majority config commits everything and wins every vote, so a joint config whose
//! outgoing half is empty behaves exactly like its incoming half.

use crate::types::{LogIndex, NodeId};
use std::collections::BTreeSet;

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// Not decided yet: some voters have not answered.
    Pending,
    /// A quorum rejected.
    Lost,
    /// A quorum granted.
    Won,
}

/// A set of voters deciding by simple majority.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MajorityConfig {
    voters: BTreeSet<NodeId>,
}

impl MajorityConfig {
    /// A majority config over `voters`.
    pub fn new(voters: BTreeSet<NodeId>) -> Self {
        MajorityConfig { voters }
    }

    /// The voters.
    pub fn voters(&self) -> &BTreeSet<NodeId> {
        &self.voters
    }

    /// The largest index acknowledged by a majority. Voters `acked` knows nothing
    /// of count as 0. Empty config: `LogIndex::MAX`.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Option<LogIndex>) -> LogIndex {
        if self.voters.is_empty() {
            return LogIndex::MAX;
        }
        let mut indexes: Vec<LogIndex> = self
            .voters
            .iter()
            .map(|&id| acked(id).unwrap_or(0))
            .collect();
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        indexes[self.voters.len() / 2]
    }

    /// Counts `votes` (`Some(true)` granted, `Some(false)` rejected, `None` missing).
    pub fn vote_result(&self, votes: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        if self.voters.is_empty() {
            return VoteResult::Won;
        }
        let (mut granted, mut missing) = (0, 0);
        for &id in &self.voters {
            match votes(id) {
                Some(true) => granted += 1,
                Some(false) => {}
                None => missing += 1,
            }
        }
        let quorum = self.voters.len() / 2 + 1;
        if granted >= quorum {
            VoteResult::Won
        } else if granted + missing >= quorum {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }

    /// True if the nodes for which `active` holds form a majority.
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.vote_result(|id| Some(active(id))) == VoteResult::Won
    }
}

/// Two majority configs that must both agree: the joint configuration of a
/// membership change. The outgoing half is empty outside a change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointConfig {
    incoming: MajorityConfig,
    outgoing: MajorityConfig,
}

impl JointConfig {
    /// A joint config; pass an empty `outgoing` for a plain majority.
    pub fn new(incoming: BTreeSet<NodeId>, outgoing: BTreeSet<NodeId>) -> Self {
        JointConfig {
            incoming: MajorityConfig::new(incoming),
            outgoing: MajorityConfig::new(outgoing),
        }
    }

    /// The incoming majority.
    pub fn incoming(&self) -> &MajorityConfig {
        &self.incoming
    }

    /// The outgoing majority (empty outside a change).
    pub fn outgoing(&self) -> &MajorityConfig {
        &self.outgoing
    }

    /// Every voter of either half.
    pub fn ids(&self) -> BTreeSet<NodeId> {
        self.incoming
            .voters
            .union(&self.outgoing.voters)
            .copied()
            .collect()
    }

    /// The largest index committed in both halves.
    pub fn committed_index(&self, acked: impl Fn(NodeId) -> Option<LogIndex>) -> LogIndex {
        let a = self.incoming.committed_index(&acked);
        let b = self.outgoing.committed_index(&acked);
        a.min(b)
    }

    /// Won only if both halves won; Lost if either lost.
    pub fn vote_result(&self, votes: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        let a = self.incoming.vote_result(&votes);
        let b = self.outgoing.vote_result(&votes);
        match (a, b) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// True if the active nodes form a quorum in both halves.
    pub fn has_quorum(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.vote_result(|id| Some(active(id))) == VoteResult::Won
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The property tests' generator: the core's own deterministic one.
    struct Gen(crate::DetRng);
    impl Gen {
        fn below(&mut self, n: u64) -> u64 {
            self.0.range(0, n)
        }
    }

    fn random_voters(g: &mut Gen) -> BTreeSet<NodeId> {
        let n = g.below(8);
        (0..n).map(|_| 1 + g.below(10)).collect()
    }

    /// The naive definition: the largest index such that a majority acked at least it.
    fn naive_committed(voters: &BTreeSet<NodeId>, acked: &BTreeMap<NodeId, LogIndex>) -> LogIndex {
        if voters.is_empty() {
            return LogIndex::MAX;
        }
        let candidates: BTreeSet<LogIndex> = voters
            .iter()
            .map(|id| *acked.get(id).unwrap_or(&0))
            .collect();
        candidates
            .into_iter()
            .filter(|&idx| {
                let n = voters
                    .iter()
                    .filter(|id| *acked.get(id).unwrap_or(&0) >= idx)
                    .count();
                n > voters.len() / 2
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn majority_committed_index_matches_naive_definition() {
        let mut g = Gen(crate::DetRng::new(0x9e37_79b9_7f4a_7c15));
        for _ in 0..20_000 {
            let voters = random_voters(&mut g);
            let mut acked = BTreeMap::new();
            for &id in &voters {
                if g.below(4) != 0 {
                    acked.insert(id, g.below(20));
                }
            }
            let cfg = MajorityConfig::new(voters.clone());
            assert_eq!(
                cfg.committed_index(|id| acked.get(&id).copied()),
                naive_committed(&voters, &acked),
                "voters {voters:?} acked {acked:?}"
            );
        }
    }

    #[test]
    fn joint_committed_index_is_minimum_of_both_halves() {
        let mut g = Gen(crate::DetRng::new(42));
        for _ in 0..20_000 {
            let incoming = random_voters(&mut g);
            let outgoing = random_voters(&mut g);
            let acked: BTreeMap<NodeId, LogIndex> = (1..=10).map(|id| (id, g.below(20))).collect();
            let joint = JointConfig::new(incoming.clone(), outgoing.clone());
            let want = naive_committed(&incoming, &acked).min(naive_committed(&outgoing, &acked));
            assert_eq!(joint.committed_index(|id| acked.get(&id).copied()), want);
        }
    }

    #[test]
    fn majority_vote_result_matches_counting() {
        let mut g = Gen(crate::DetRng::new(7));
        for _ in 0..20_000 {
            let voters = random_voters(&mut g);
            let mut votes = BTreeMap::new();
            for &id in &voters {
                if g.below(3) != 0 {
                    votes.insert(id, g.below(2) == 0);
                }
            }
            let cfg = MajorityConfig::new(voters.clone());
            let yes = votes.values().filter(|v| **v).count();
            let no = votes.values().filter(|v| !**v).count();
            let q = voters.len() / 2 + 1;
            let want = if voters.is_empty() || yes >= q {
                VoteResult::Won
            } else if voters.len() - no >= q {
                VoteResult::Pending
            } else {
                VoteResult::Lost
            };
            assert_eq!(cfg.vote_result(|id| votes.get(&id).copied()), want);
        }
    }

    #[test]
    fn joint_vote_needs_both_majorities() {
        let joint = JointConfig::new([1, 2, 3].into(), [3, 4, 5].into());
        let granted = [1, 2, 3];
        let result = joint.vote_result(|id| Some(granted.contains(&id)));
        assert_eq!(result, VoteResult::Lost);
        let granted = [1, 3, 4];
        assert_eq!(
            joint.vote_result(|id| Some(granted.contains(&id))),
            VoteResult::Won
        );
    }

    #[test]
    fn majority_has_quorum_needs_more_than_half_of_the_voters() {
        let cfg = MajorityConfig::new([1, 2, 3, 4].into());
        assert_eq!(cfg.voters(), &BTreeSet::from([1, 2, 3, 4]));
        assert!(cfg.has_quorum(|id| id != 4), "3 of 4 is a majority");
        assert!(!cfg.has_quorum(|id| id <= 2), "2 of 4 is not");
        assert!(!cfg.has_quorum(|_| false));
        assert!(MajorityConfig::default().has_quorum(|_| false));
    }

    #[test]
    fn joint_config_exposes_both_halves_and_their_union() {
        let joint = JointConfig::new([1, 2, 3].into(), [3, 4].into());
        assert_eq!(joint.incoming().voters(), &BTreeSet::from([1, 2, 3]));
        assert_eq!(joint.outgoing().voters(), &BTreeSet::from([3, 4]));
        assert_eq!(joint.ids(), BTreeSet::from([1, 2, 3, 4]));
        let plain = JointConfig::new([5].into(), BTreeSet::new());
        assert_eq!(plain.ids(), BTreeSet::from([5]));
        assert!(plain.outgoing().voters().is_empty());
    }

    #[test]
    fn empty_config_commits_everything() {
        assert_eq!(
            MajorityConfig::default().committed_index(|_| None),
            LogIndex::MAX
        );
        assert_eq!(
            MajorityConfig::default().vote_result(|_| None),
            VoteResult::Won
        );
    }
}
