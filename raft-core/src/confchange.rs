//! Membership changes as pure functions on [`ConfState`], by joint consensus
//! (Raft dissertation §4.3, etcd's ConfChangeV2): a change moves a plain
//! configuration C(old) to the joint C(old,new); the empty change then leaves
//! the joint configuration for C(new).

use crate::types::{ConfChange, ConfChangeStep, ConfState};

/// Applies `cc` to `conf` and returns the resulting configuration, or why the
/// change is invalid.
pub fn apply(conf: &ConfState, cc: &ConfChange) -> Result<ConfState, String> {
    if cc.changes.is_empty() {
        return leave_joint(conf);
    }
    if conf.is_joint() {
        return Err("a joint configuration is in force; leave it before the next change".into());
    }
    let mut next = conf.clone();
    next.voters_outgoing = conf.voters.clone();
    next.auto_leave = true;
    for step in &cc.changes {
        match *step {
            ConfChangeStep::AddVoter(id) => {
                if id == 0 {
                    return Err("node id 0 is invalid".into());
                }
                next.voters.insert(id);
                next.learners.remove(&id);
                next.learners_next.remove(&id);
            }
            ConfChangeStep::AddLearner(id) => {
                if id == 0 {
                    return Err("node id 0 is invalid".into());
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
                    return Err(format!("node {id} is not a member"));
                }
                next.voters.remove(&id);
                next.learners.remove(&id);
                next.learners_next.remove(&id);
            }
        }
    }
    if next.voters.is_empty() {
        return Err("the change would leave no voters".into());
    }
    check(&next)?;
    Ok(next)
}

fn leave_joint(conf: &ConfState) -> Result<ConfState, String> {
    if !conf.is_joint() {
        return Err("not in a joint configuration: nothing to leave".into());
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
pub fn check(c: &ConfState) -> Result<(), String> {
    if let Some(id) = c.voters.intersection(&c.learners).next() {
        return Err(format!("node {id} would be both voter and learner"));
    }
    if let Some(id) = c.voters_outgoing.intersection(&c.learners).next() {
        return Err(format!(
            "node {id} would be both outgoing voter and learner"
        ));
    }
    if let Some(id) = c
        .learners_next
        .iter()
        .find(|id| !c.voters_outgoing.contains(id))
    {
        return Err(format!(
            "node {id} is a next learner without being an outgoing voter"
        ));
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
            Err("node 77 is not a member".into()),
            "removing a stranger is refused, not a no-op"
        );
        let joint = apply(&c, &cc(vec![ConfChangeStep::AddVoter(2)])).expect("valid");
        assert!(
            apply(&joint, &cc(vec![ConfChangeStep::AddVoter(3)])).is_err(),
            "already joint"
        );
    }
}
