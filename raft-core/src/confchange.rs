//! Membership changes as pure functions on [`ConfState`], by joint consensus
//! (Raft dissertation §4.3, etcd's ConfChangeV2): a change moves a plain
//! configuration C(old) to the joint C(old,new); the empty change then leaves
//! the joint configuration for C(new).

use crate::types::{ConfChange, ConfChangeStep, ConfState, NodeId};

/// Why a membership change is refused, or why a configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfChangeError {
    /// A change was proposed while a joint configuration is in force.
    #[error("a joint configuration is in force; leave it before the next change")]
    JointInForce,
    /// The empty change was applied to a plain configuration.
    #[error("not in a joint configuration: nothing to leave")]
    NotJoint,
    /// The empty change was proposed: the leader leaves a joint
    /// configuration on its own.
    #[error("the joint configuration is left automatically")]
    LeftAutomatically,
    /// A proposed change named no step.
    #[error("a change needs at least one step")]
    NoSteps,
    /// A change or a prior one is not yet committed.
    #[error("another membership change is in progress")]
    InProgress,
    /// A proposal carried more than one membership change.
    #[error("one membership change per proposal")]
    SeveralInOneProposal,
    /// Node id 0 is reserved for "none".
    #[error("node id 0 is invalid")]
    InvalidNodeId,
    /// A removal named a node outside the configuration.
    #[error("node {0} is not a member")]
    NotAMember(NodeId),
    /// The change would remove every voter.
    #[error("the change would leave no voters")]
    NoVoters,
    /// A node would be in both the voter and the learner set.
    #[error("node {0} would be both voter and learner")]
    VoterAndLearner(NodeId),
    /// A node would be an outgoing voter and a learner at once.
    #[error("node {0} would be both outgoing voter and learner")]
    OutgoingVoterAndLearner(NodeId),
    /// A next learner that is not an outgoing voter.
    #[error("node {0} is a next learner without being an outgoing voter")]
    StrayNextLearner(NodeId),
}

/// Applies `cc` to `conf` and returns the resulting configuration, or why the
/// change is invalid.
pub fn apply(conf: &ConfState, cc: &ConfChange) -> Result<ConfState, ConfChangeError> {
    if cc.changes.is_empty() {
        return leave_joint(conf);
    }
    if conf.is_joint() {
        return Err(ConfChangeError::JointInForce);
    }
    let mut next = conf.clone();
    next.voters_outgoing = conf.voters.clone();
    next.auto_leave = true;
    for step in &cc.changes {
        match *step {
            ConfChangeStep::AddVoter(id) => {
                if id == 0 {
                    return Err(ConfChangeError::InvalidNodeId);
                }
                next.voters.insert(id);
                next.learners.remove(&id);
                next.learners_next.remove(&id);
            }
            ConfChangeStep::AddLearner(id) => {
                if id == 0 {
                    return Err(ConfChangeError::InvalidNodeId);
                }
                next.voters.remove(&id);
                if next.voters_outgoing.contains(&id) {
                    // Still votes in the outgoing half: becomes a learner on leaving.
                    next.learners_next.insert(id);
                } else {
                    next.learners.insert(id);
                }
            }
            ConfChangeStep::Remove(id) => {
                if !conf.all_nodes().contains(&id) {
                    return Err(ConfChangeError::NotAMember(id));
                }
                next.voters.remove(&id);
                next.learners.remove(&id);
                next.learners_next.remove(&id);
            }
        }
    }
    if next.voters.is_empty() {
        return Err(ConfChangeError::NoVoters);
    }
    check(&next)?;
    Ok(next)
}

fn leave_joint(conf: &ConfState) -> Result<ConfState, ConfChangeError> {
    if !conf.is_joint() {
        return Err(ConfChangeError::NotJoint);
    }
    let mut next = conf.clone();
    next.voters_outgoing.clear();
    let learners_next = std::mem::take(&mut next.learners_next);
    next.learners.extend(learners_next);
    next.auto_leave = false;
    check(&next)?;
    Ok(next)
}

/// Checks the invariants every configuration keeps.
pub fn check(c: &ConfState) -> Result<(), ConfChangeError> {
    if let Some(id) = c.voters.intersection(&c.learners).next() {
        return Err(ConfChangeError::VoterAndLearner(*id));
    }
    if let Some(id) = c.voters_outgoing.intersection(&c.learners).next() {
        return Err(ConfChangeError::OutgoingVoterAndLearner(*id));
    }
    if let Some(id) = c
        .learners_next
        .iter()
        .find(|id| !c.voters_outgoing.contains(id))
    {
        return Err(ConfChangeError::StrayNextLearner(*id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(changes: Vec<ConfChangeStep>) -> ConfChange {
        ConfChange {
            changes,
            ..ConfChange::default()
        }
    }

    #[test]
    fn add_voter_goes_through_a_joint_configuration() {
        let c = ConfState::with_voters([1, 2, 3]);
        let joint = apply(&c, &cc(vec![ConfChangeStep::AddVoter(4)])).expect("valid");
        assert_eq!(joint.voters, [1, 2, 3, 4].into());
        assert_eq!(joint.voters_outgoing, [1, 2, 3].into());
        let done = apply(&joint, &cc(vec![])).expect("leave");
        assert_eq!(done, ConfState::with_voters([1, 2, 3, 4]));
    }

    #[test]
    fn demoting_a_voter_makes_it_a_learner_only_after_leaving() {
        let c = ConfState::with_voters([1, 2, 3]);
        let joint = apply(&c, &cc(vec![ConfChangeStep::AddLearner(3)])).expect("valid");
        assert!(joint.learners_next.contains(&3) && joint.voters_outgoing.contains(&3));
        let done = apply(&joint, &cc(vec![])).expect("leave");
        assert_eq!(done.learners, [3].into());
        assert_eq!(done.voters, [1, 2].into());
    }

    #[test]
    fn promoting_a_learner_makes_it_a_voter() {
        let mut c = ConfState::with_voters([1]);
        c.learners.insert(2);
        let joint = apply(&c, &cc(vec![ConfChangeStep::AddVoter(2)])).expect("valid");
        let done = apply(&joint, &cc(vec![])).expect("leave");
        assert_eq!(done, ConfState::with_voters([1, 2]));
    }

    #[test]
    fn invalid_changes_are_refused() {
        let c = ConfState::with_voters([1]);
        assert!(
            apply(&c, &cc(vec![ConfChangeStep::Remove(1)])).is_err(),
            "no voters left"
        );
        assert!(apply(&c, &cc(vec![])).is_err(), "not joint");
        assert_eq!(
            apply(&c, &cc(vec![ConfChangeStep::Remove(77)])),
            Err(ConfChangeError::NotAMember(77)),
            "removing a stranger is refused, not a no-op"
        );
        let joint = apply(&c, &cc(vec![ConfChangeStep::AddVoter(2)])).expect("valid");
        assert!(
            apply(&joint, &cc(vec![ConfChangeStep::AddVoter(3)])).is_err(),
            "already joint"
        );
    }
}
