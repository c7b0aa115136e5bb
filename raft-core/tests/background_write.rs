//! A leader's log write in the background (the contract in `raw_node.rs`):
//! which readies qualify, that entries are handed out once, that followers'
//! acks commit without the leader's own write, that the leader counts itself
//! only once its write is reported, and that a report for replaced entries is
//! ignored.

mod common;

use common::Net;
use raft_core::{Entry, Message, MessageBody, RawNode, Role, Storage};
use raft_storage::{HardStateStore, LogStore, MemStorage};

/// Takes node `id`'s ready, which must qualify for a background write, sends
/// its messages into `net`'s nodes (stepping, not settling) and advances it in
/// the background. Returns the entries handed out and the messages sent.
fn hand_out_in_background(net: &mut Net, id: u64) -> (Vec<Entry>, Vec<Message>) {
    let raw = net.node(id);
    let rd = raw.ready();
    assert!(
        raw.can_persist_in_background(&rd),
        "a leader's ready with only new entries and a commit qualifies"
    );
    raw.advance_in_background().expect("advance");
    (rd.entries, rd.messages)
}

/// Delivers `msgs` to their nodes, runs each receiver's ready the usual way
/// and returns what the receivers answered.
fn deliver_and_answer(net: &mut Net, msgs: Vec<Message>) -> Vec<Message> {
    let mut answers = Vec::new();
    for m in msgs {
        let to = m.to;
        net.node(to).step(m).expect("step");
        answers.extend(net.process_ready(to));
    }
    answers
}

fn step_all(raw: &mut RawNode<MemStorage>, msgs: Vec<Message>) {
    for m in msgs {
        raw.step(m).expect("step");
    }
}

fn leader_of_three() -> Net {
    let mut net = Net::new(3);
    net.campaign(1);
    assert_eq!(net.role(1), Role::Leader);
    net
}

#[test]
fn followers_acks_commit_before_the_leaders_own_write_is_durable() {
    let mut net = leader_of_three();
    let stored_before = net.nodes[&1].storage.last_index().expect("memory");
    net.node(1).propose(b"x".to_vec()).expect("propose");
    let (entries, msgs) = hand_out_in_background(&mut net, 1);
    assert_eq!(entries.len(), 1);
    let index = entries[0].index;
    let answers = deliver_and_answer(&mut net, msgs);
    step_all(net.node(1), answers);
    assert_eq!(
        net.committed(1),
        index,
        "two followers are a quorum of three without the leader"
    );
    assert_eq!(
        net.nodes[&1].storage.last_index().expect("memory"),
        stored_before,
        "nothing was written to the leader's storage by the core"
    );
    let rd = net.node(1).ready();
    assert!(
        rd.entries.is_empty(),
        "entries handed out are not handed out again"
    );
    assert_eq!(rd.committed_entries.last().map(|e| e.index), Some(index));
}

#[test]
fn the_leader_counts_itself_only_once_its_write_is_reported() {
    let mut net = leader_of_three();
    net.node(1).propose(b"x".to_vec()).expect("propose");
    let (entries, msgs) = hand_out_in_background(&mut net, 1);
    let last = entries.last().expect("one entry");
    let to_two: Vec<Message> = msgs.into_iter().filter(|m| m.to == 2).collect();
    let answers = deliver_and_answer(&mut net, to_two);
    step_all(net.node(1), answers);
    assert!(
        net.committed(1) < last.index,
        "one follower without the leader's own write is not a quorum"
    );
    net.nodes[&1].storage.append(&entries).expect("memory");
    net.node(1).on_persisted(last.index, last.term);
    assert_eq!(
        net.committed(1),
        last.index,
        "the leader's write completes it"
    );
}

#[test]
fn a_report_arriving_between_ready_and_advance_is_accepted() {
    let mut net = leader_of_three();
    net.node(1).propose(b"a".to_vec()).expect("propose");
    let (first, msgs) = hand_out_in_background(&mut net, 1);
    net.node(1).propose(b"b".to_vec()).expect("propose");
    let rd = net.node(1).ready();
    assert_eq!(rd.entries.len(), 1, "only the new entry");
    net.nodes[&1].storage.append(&first).expect("memory");
    let last = first.last().expect("one entry");
    net.node(1).on_persisted(last.index, last.term);
    net.node(1).advance_in_background().expect("advance");
    let answers = deliver_and_answer(&mut net, msgs);
    step_all(net.node(1), answers);
    assert_eq!(net.committed(1), last.index);
}

#[test]
fn votes_and_followers_readies_are_never_persisted_in_background() {
    let mut net = Net::new(3);
    net.node(1).campaign();
    let mut votes = 0;
    for _ in 0..20 {
        let mut msgs = Vec::new();
        for id in 1..=3 {
            let node = net.nodes.get_mut(&id).expect("node");
            let raw = &mut node.raw;
            if !raw.has_ready() {
                continue;
            }
            let rd = raw.ready();
            node.storage.append(&rd.entries).expect("memory");
            if let Some(hs) = rd.hard_state {
                node.storage.set_hard_state(hs).expect("memory");
            }
            let background = raw.can_persist_in_background(&rd);
            if raw.raft().role() != Role::Leader {
                assert!(!background, "node {id} is not the leader");
                votes += rd
                    .persisted_messages
                    .iter()
                    .filter(|m| {
                        matches!(
                            m.body,
                            MessageBody::RequestVoteResponse {
                                pre_vote: false,
                                ..
                            }
                        )
                    })
                    .count();
            }
            msgs.extend(rd.messages);
            msgs.extend(rd.persisted_messages);
            raw.advance().expect("advance");
        }
        for m in msgs {
            let to = m.to;
            net.node(to).step(m).expect("step");
        }
    }
    assert!(votes > 0, "the election had votes that promise durability");
    assert_eq!(net.role(1), Role::Leader);
    net.node(1).propose(b"x".to_vec()).expect("propose");
    let (_, msgs) = hand_out_in_background(&mut net, 1);
    let append = msgs.into_iter().find(|m| m.to == 3).expect("append to 3");
    assert!(matches!(append.body, MessageBody::Append { .. }));
    net.node(3).step(append).expect("step");
    let rd = net.node(3).ready();
    assert!(
        !net.node(3).can_persist_in_background(&rd),
        "a follower acks only what it made durable"
    );
}

#[test]
fn a_report_for_entries_replaced_meanwhile_is_ignored() {
    let mut net = leader_of_three();
    net.isolate(1);
    net.node(1).propose(b"lost".to_vec()).expect("propose");
    let (entries, _) = hand_out_in_background(&mut net, 1);
    let stale = entries.last().expect("one entry").clone();
    // Another leader is elected and overwrites index `stale.index` on 1 in a later term.
    net.tick_all(40);
    let leader = [2, 3]
        .into_iter()
        .find(|&id| net.role(id) == Role::Leader)
        .expect("2 and 3 elect a leader");
    net.node(leader).propose(b"kept".to_vec()).expect("propose");
    net.settle();
    net.heal();
    net.tick_all(3);
    assert_eq!(net.role(1), Role::Follower);
    let replaced = net.node(1).raft().log().term(stale.index).expect("present");
    assert_ne!(replaced, stale.term, "the new leader replaced the entry");
    let committed = net.committed(1);
    net.node(1).on_persisted(stale.index, stale.term);
    assert_eq!(net.committed(1), committed);
    assert_eq!(
        net.node(1).raft().log().term(stale.index),
        Ok(replaced),
        "the late report changed nothing"
    );
    assert_eq!(net.applied_data(1), net.applied_data(leader));
}

#[test]
fn a_report_for_replaced_entries_arriving_once_the_node_leads_again_counts_nothing() {
    let mut net = leader_of_three();
    net.isolate(1);
    for _ in 0..6 {
        net.node(1).propose(b"lost".to_vec()).expect("propose");
    }
    let (entries, _) = hand_out_in_background(&mut net, 1);
    let stale = entries.last().expect("six entries").clone();
    net.tick_all(40);
    let other = [2, 3]
        .into_iter()
        .find(|&id| net.role(id) == Role::Leader)
        .expect("2 and 3 elect a leader");
    net.node(other).propose(b"kept".to_vec()).expect("propose");
    net.settle();
    net.heal();
    net.tick_all(3);
    assert_eq!(net.role(1), Role::Follower);
    // Node 1 leads again, in a later term, before its old write is reported.
    net.settle();
    net.node(other).transfer_leader(1);
    net.settle();
    assert_eq!(net.role(1), Role::Leader);
    assert!(
        net.last_index(1) < stale.index,
        "the new terms' log is shorter than the lost suffix"
    );
    let committed = net.committed(1);
    let matched = |net: &mut Net| {
        net.node(1)
            .raft()
            .tracker()
            .get(1)
            .expect("the leader tracks itself")
            .matched()
    };
    let own_match = matched(&mut net);
    net.node(1).on_persisted(stale.index, stale.term);
    assert_eq!(
        matched(&mut net),
        own_match,
        "the leader does not count the old write"
    );
    assert_eq!(net.committed(1), committed);
    net.settle();
    assert_eq!(net.applied_data(1), net.applied_data(other));
}
