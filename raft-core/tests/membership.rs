//! Membership changes by joint consensus, learners and leadership transfer
//! (etcd-raft's AddNode, RemoveNode, AddLearner, LearnerPromotion, joint_autoleave,
//! remove leader, TransferLeader scenarios).

mod common;

use common::{Net, msg, storage_with_log};
use raft_core::{
    ConfChange, ConfChangeError, ConfChangeStep, ConfState, Entry, EntryPayload, Error,
    MessageBody, RawNode, Role, Snapshot, SnapshotMeta,
};
use raft_storage::LogStore;

fn change(steps: Vec<ConfChangeStep>) -> ConfChange {
    ConfChange {
        changes: steps,
        ..ConfChange::default()
    }
}

fn voters(net: &Net, id: u64) -> Vec<u64> {
    net.nodes[&id]
        .raw
        .status()
        .conf_state
        .voters
        .into_iter()
        .collect()
}

#[test]
fn add_voter_through_joint_consensus_and_leave_automatically() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.campaign(1);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddVoter(4)]))
        .expect("accepted");
    net.settle();
    net.tick_all(2);
    for id in 1..=4 {
        let cs = net.nodes[&id].raw.status().conf_state;
        assert_eq!(cs.voters, [1, 2, 3, 4].into(), "node {id}");
        assert!(!cs.is_joint(), "node {id} left the joint configuration");
    }
    net.propose(1, b"after");
    assert_eq!(
        net.applied_data(4),
        vec![b"after".to_vec()],
        "the new voter receives the log"
    );
}

#[test]
fn configuration_takes_effect_when_appended_not_when_committed() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.drop_kinds.insert("Append");
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::Remove(3)]))
        .expect("accepted");
    net.settle();
    let cs = net.nodes[&1].raw.status().conf_state;
    assert!(
        cs.is_joint(),
        "the leader uses C(old,new) before it commits"
    );
    assert_eq!(net.committed(1), 1, "nothing new committed");
}

#[test]
fn a_second_change_while_one_is_in_progress_is_refused() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.add_empty_node(5);
    net.campaign(1);
    net.drop_kinds.insert("AppendResponse");
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(4)]))
        .expect("accepted");
    net.settle();
    let err = net
        .node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(5)]))
        .expect_err("refused");
    assert!(
        matches!(err, Error::ConfChange(ConfChangeError::InProgress)),
        "{err}"
    );
    net.drop_kinds.clear();
    net.tick_all(3);
    let st = net.nodes[&1].raw.status();
    assert!(
        !st.conf_state.is_joint(),
        "left the joint configuration: {:?}, commit {}, last {}",
        st.conf_state,
        st.hard_state.commit,
        st.last_index
    );
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(5)]))
        .expect("accepted once the first is done");
}

#[test]
fn learners_receive_the_log_but_never_vote_or_count() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.campaign(1);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(4)]))
        .expect("accepted");
    net.settle();
    net.tick_all(2);
    net.propose(1, b"x");
    assert_eq!(net.applied_data(4), vec![b"x".to_vec()]);
    assert_eq!(net.nodes[&4].raw.status().conf_state.learners, [4].into());
    // A learner never campaigns, however long it waits.
    net.isolate(4);
    net.tick(4, 100);
    assert_eq!(net.role(4), Role::Follower);
    // With two voters down, the learner cannot form a quorum with the leader.
    net.heal();
    net.isolate(2);
    net.isolate(3);
    net.node(1)
        .propose(b"y".to_vec())
        .expect("proposal accepted");
    net.settle();
    assert_eq!(
        net.applied_data(1),
        vec![b"x".to_vec()],
        "not committed with only a learner"
    );
}

#[test]
fn promote_a_learner_to_voter() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.campaign(1);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(4)]))
        .expect("learner");
    net.settle();
    net.tick_all(2);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddVoter(4)]))
        .expect("promotion");
    net.settle();
    net.tick_all(2);
    assert_eq!(voters(&net, 4), vec![1, 2, 3, 4]);
    assert!(net.nodes[&4].raw.status().conf_state.learners.is_empty());
}

#[test]
fn removing_the_leader_keeps_it_leading_until_c_new_commits_then_it_steps_down() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::Remove(1)]))
        .expect("accepted");
    net.settle();
    // Before stepping down it told the others that C(new) is committed.
    assert_ne!(net.role(1), Role::Leader, "the removed leader stepped down");
    for id in 2..=3 {
        assert_eq!(
            net.committed(id),
            net.last_index(1),
            "node {id} knows C(new) committed"
        );
    }
    net.tick_all(2);
    assert_ne!(net.role(1), Role::Leader, "the removed leader stepped down");
    assert_eq!(voters(&net, 2), vec![2, 3]);
    // The remaining voters elect a leader; the removed node never campaigns.
    net.tick_all(40);
    let leaders: Vec<u64> = (2..=3).filter(|&id| net.role(id) == Role::Leader).collect();
    assert_eq!(leaders.len(), 1);
    net.isolate(1);
    let term = net.term(1);
    net.tick(1, 100);
    assert_eq!(net.term(1), term, "a removed node does not campaign");
}

#[test]
fn leadership_transfer_hands_over_to_an_up_to_date_follower() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.propose(1, b"a");
    net.node(1).transfer_leader(3);
    net.settle();
    assert_eq!(net.role(3), Role::Leader);
    assert_eq!(net.role(1), Role::Follower);
    assert_eq!(net.leader_of(1), Some(3));
}

#[test]
fn proposals_are_refused_during_a_transfer_and_the_transfer_times_out() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.isolate(3);
    net.node(1).transfer_leader(3);
    net.settle();
    assert!(matches!(
        net.node(1).propose(b"x".to_vec()),
        Err(Error::ProposalDropped(_))
    ));
    net.tick(1, 10);
    assert_eq!(net.role(1), Role::Leader);
    net.node(1)
        .propose(b"x".to_vec())
        .expect("accepted after the transfer gave up");
}

#[test]
fn a_removed_follower_is_told_the_joint_configuration_committed_before_it_is_dropped() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::Remove(3)]))
        .expect("accepted");
    net.settle();
    let joint_index = net.nodes[&1]
        .applied
        .iter()
        .find(|e| matches!(&e.payload, raft_core::EntryPayload::ConfChange(cc) if !cc.changes.is_empty()))
        .map(|e| e.index)
        .expect("the leader applied the joint entry");
    // Node 3 learns the joint entry is committed, though the leader left it out
    // of the tracker with C(new): it applied the joint configuration.
    assert!(
        net.committed(3) >= joint_index,
        "node 3 commit {}",
        net.committed(3)
    );
    let last_to_3 = net
        .delivered
        .iter()
        .rev()
        .find(|m| m.to == 3 && m.from == 1)
        .expect("the leader wrote to node 3");
    assert!(
        matches!(last_to_3.body, raft_core::MessageBody::Heartbeat { commit, .. } if commit >= joint_index),
        "the last message to node 3 announces the commit: {last_to_3:?}"
    );
    assert_eq!(voters(&net, 1), vec![1, 2]);
}

/// A membership entry whose resulting configuration is `conf`.
fn conf_entry(index: u64, term: u64, conf: ConfState) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::ConfChange(ConfChange {
            result: Some(conf),
            ..change(vec![ConfChangeStep::AddLearner(4)])
        }),
    }
}

fn with_learner(voters: [u64; 3], learner: u64) -> ConfState {
    let mut c = ConfState::with_voters(voters);
    c.learners.insert(learner);
    c
}

#[test]
fn a_change_is_refused_until_the_leave_joint_entry_commits() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.add_empty_node(5);
    net.campaign(1);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(4)]))
        .expect("accepted");
    // Run until the joint configuration committed and the leader appended
    // the entry that leaves it; then hold that entry uncommitted.
    for _ in 0..100 {
        let conf = net.nodes[&1].raw.raft().conf_in_force().clone();
        if !conf.is_joint() && conf.learners.contains(&4) {
            break;
        }
        assert!(
            net.round(),
            "the cluster went quiet in the joint configuration"
        );
    }
    net.drop_kinds.insert("AppendResponse");
    net.settle();
    let last_conf_index = net.last_index(1);
    assert!(
        net.committed(1) < last_conf_index,
        "the leave entry is uncommitted"
    );
    let err = net
        .node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(5)]))
        .expect_err("refused");
    assert!(
        matches!(err, Error::ConfChange(ConfChangeError::InProgress)),
        "{err}"
    );
}

#[test]
fn the_configuration_at_an_index_is_the_newest_at_or_before_it() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.campaign(1);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(4)]))
        .expect("accepted");
    net.settle();
    // 1: the leader's noop, 2: the joint entry, 3: the entry leaving it.
    let raw = &net.nodes[&1].raw;
    assert_eq!(raw.conf_state_at(1), ConfState::with_voters([1, 2, 3]));
    let joint = raw.conf_state_at(2);
    assert!(joint.is_joint() && joint.learners.contains(&4), "{joint:?}");
    assert_eq!(raw.conf_state_at(3), with_learner([1, 2, 3], 4));
    assert_eq!(raw.conf_state_at(9), with_learner([1, 2, 3], 4));
}

#[test]
fn a_new_member_is_sent_entries_from_after_the_membership_entry() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.campaign(1);
    net.isolate(4);
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(4)]))
        .expect("accepted");
    net.process_ready(1);
    let st = net.nodes[&1].raw.status();
    assert_eq!(st.last_index, 2);
    assert_eq!(
        st.progress[&4].next, 3,
        "optimistically after the joint entry"
    );
}

#[test]
fn overwriting_a_membership_entry_restores_the_configuration_before_it() {
    let mut raw = common::single_node(1, &[1, 2, 3], &[1], 1);
    let append = |from, term, entry| {
        msg(
            from,
            1,
            term,
            MessageBody::Append {
                prev_index: 1,
                prev_term: 1,
                entries: vec![entry],
                commit: 1,
            },
        )
    };
    raw.step(append(2, 2, conf_entry(2, 2, with_learner([1, 2, 3], 4))))
        .expect("step");
    assert_eq!(raw.raft().conf_in_force(), &with_learner([1, 2, 3], 4));
    assert_eq!(raw.status().conf_state, with_learner([1, 2, 3], 4));
    let plain = Entry {
        index: 2,
        term: 3,
        payload: EntryPayload::Normal(b"x".to_vec()),
    };
    raw.step(append(3, 3, plain)).expect("step");
    let base = ConfState::with_voters([1, 2, 3]);
    assert_eq!(raw.raft().conf_in_force(), &base, "entry 2 is gone");
    assert_eq!(raw.status().conf_state, base, "and the tracker follows");
}

#[test]
fn a_restarted_node_uses_a_membership_entry_at_the_end_of_its_log() {
    let storage = storage_with_log(&[1, 2, 3], &[1], 1);
    storage
        .append(&[conf_entry(2, 1, with_learner([1, 2, 3], 4))])
        .expect("append");
    let raw = RawNode::new(common::config(1), storage).expect("node");
    assert_eq!(raw.raft().conf_in_force(), &with_learner([1, 2, 3], 4));
    assert_eq!(raw.status().conf_state, with_learner([1, 2, 3], 4));
}

#[test]
fn an_installed_snapshot_brings_its_configuration() {
    let mut raw = common::single_node(1, &[1, 2, 3], &[1], 1);
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            index: 10,
            term: 2,
            conf_state: with_learner([1, 2, 3], 5),
        },
        data: vec![],
    };
    raw.step(msg(2, 1, 2, MessageBody::InstallSnapshot { snapshot }))
        .expect("step");
    common::drain(&mut raw);
    assert_eq!(raw.raft().conf_in_force(), &with_learner([1, 2, 3], 5));
    assert_eq!(raw.conf_state_at(10), with_learner([1, 2, 3], 5));
}

#[test]
fn the_joint_configuration_is_left_only_once_it_commits() {
    let mut net = Net::new(3);
    net.add_empty_node(4);
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).expect("leader");
    assert!(net.round(), "the append of entry 2 reaches the followers");
    net.node(1)
        .propose_conf_change(change(vec![ConfChangeStep::AddLearner(4)]))
        .expect("accepted");
    // The joint entry (3) never leaves; the acks for entry 2 come back.
    net.drop_kinds.insert("Append");
    net.settle();
    assert_eq!(net.committed(1), 2);
    assert_eq!(
        net.last_index(1),
        3,
        "no entry leaving the joint configuration"
    );
    assert!(net.nodes[&1].raw.raft().conf_in_force().is_joint());
}

#[test]
fn leadership_transfer_to_a_lagging_follower_waits_until_it_catches_up() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.isolate(3);
    for i in 0..3u8 {
        net.propose(1, &[i]);
    }
    net.node(1).transfer_leader(3);
    net.settle();
    assert!(
        net.delivered_named("TimeoutNow").is_empty(),
        "node 3 lacks entries: no TimeoutNow yet"
    );
    net.heal();
    // Heartbeats show node 3 behind; it catches up; then it is told to run.
    for _ in 0..5 {
        if net.role(3) == Role::Leader {
            break;
        }
        net.tick(1, 1);
    }
    assert_eq!(net.delivered_named("TimeoutNow").len(), 1);
    assert_eq!(net.role(3), Role::Leader, "caught up, then took over");
}
