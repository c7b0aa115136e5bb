//! `Config::broadcast_commit`: with it, a new commit index goes to every
//! follower at once (an empty append if need be); without it, followers learn
//! it from the next append or heartbeat, and committing is unchanged.

mod common;

use common::Net;
use raft_core::Role;

fn leader_of_three(broadcast_commit: bool) -> Net {
    let mut net = Net::with_config(3, |c| c.broadcast_commit = broadcast_commit);
    net.campaign(1);
    assert_eq!(net.role(1), Role::Leader);
    net.tick(1, 1); // followers learn the first commit, whatever the mode
    net
}

#[test]
fn with_broadcast_followers_learn_a_commit_at_once() {
    let mut net = leader_of_three(true);
    let appends = net.delivered_named("Append").len();
    net.propose(1, b"x");
    let index = net.committed(1);
    assert_eq!((net.committed(2), net.committed(3)), (index, index));
    assert_eq!(
        net.delivered_named("Append").len() - appends,
        4,
        "one append with the entry and one announcing the commit, per follower"
    );
    assert_eq!(net.applied_data(2), vec![b"x".to_vec()]);
}

#[test]
fn without_broadcast_the_commit_rides_on_the_next_append_or_heartbeat() {
    let mut net = leader_of_three(false);
    let appends = net.delivered_named("Append").len();
    net.propose(1, b"x");
    let index = net.committed(1);
    assert_eq!(
        net.applied_data(1),
        vec![b"x".to_vec()],
        "the leader commits"
    );
    assert!(
        net.committed(2) < index && net.committed(3) < index,
        "no message announced the commit yet"
    );
    assert_eq!(
        net.delivered_named("Append").len() - appends,
        2,
        "one append with the entry per follower, none empty"
    );
    net.propose(1, b"y");
    assert_eq!(
        net.applied_data(2),
        vec![b"x".to_vec()],
        "the next append carries the first commit"
    );
    net.tick(1, 1);
    assert_eq!(
        net.committed(2),
        net.committed(1),
        "the heartbeat carries it"
    );
    assert_eq!(net.applied_data(3), vec![b"x".to_vec(), b"y".to_vec()]);
}

#[test]
fn without_broadcast_a_follower_that_forwarded_a_proposal_hears_of_its_commit_at_once() {
    let mut net = leader_of_three(false);
    net.propose(2, b"via 2");
    let index = net.committed(1);
    assert_eq!(net.applied_data(1), vec![b"via 2".to_vec()]);
    assert_eq!(
        net.committed(2),
        index,
        "the follower answers its client only once it applies: it is told now"
    );
    assert_eq!(net.applied_data(2), vec![b"via 2".to_vec()]);
    assert!(
        net.committed(3) < index,
        "the other follower waits for the next message"
    );
    net.propose(1, b"direct");
    let appends_to_2 = net
        .delivered_named("Append")
        .into_iter()
        .filter(|m| m.to == 2)
        .count();
    net.propose(1, b"again");
    let after = net
        .delivered_named("Append")
        .into_iter()
        .filter(|m| m.to == 2)
        .count();
    assert_eq!(
        after - appends_to_2,
        1,
        "once told, no more empty appends for it"
    );
}
