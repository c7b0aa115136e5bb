//! Elections message by message: what a node answers to stale and newer
//! terms, whom a campaign asks, when the leader lease ends (etcd-raft's
//! `TestRecvMsgPreVote`, `TestLeaderElectionWithCheckQuorum` and
//! `TestCampaignWhileLeader` are the models). Each test names the exact
//! messages a node emits.

mod common;

use common::{config, drain, msg, single_node, storage_with_log};
use raft_core::{ConfState, Message, MessageBody, RawNode, Role, VoteKind};
use raft_storage::MemStorage;

fn node_with(
    id: u64,
    storage: MemStorage,
    pre_vote: bool,
    check_quorum: bool,
) -> RawNode<MemStorage> {
    let mut cfg = config(id);
    cfg.pre_vote = pre_vote;
    cfg.check_quorum = check_quorum;
    RawNode::new(cfg, storage).expect("node")
}

fn vote_request(from: u64, term: u64, kind: VoteKind) -> Message {
    msg(
        from,
        1,
        term,
        MessageBody::RequestVote {
            kind,
            last_index: 0,
            last_term: 0,
        },
    )
}

#[test]
fn without_check_quorum_or_pre_vote_a_stale_append_gets_no_answer() {
    let storage = storage_with_log(&[1, 2, 3], &[1], 5);
    let mut raw = node_with(1, storage, false, false);
    let append = MessageBody::Append {
        prev_index: 1,
        prev_term: 1,
        entries: vec![],
        commit: 1,
    };
    raw.step(msg(2, 1, 3, append)).expect("step");
    assert_eq!(drain(&mut raw), vec![], "a stale leader is ignored");
    assert_eq!(raw.raft().term(), 5);
}

#[test]
fn a_stale_pre_vote_is_refused_at_the_newer_term() {
    let mut raw = single_node(1, &[1, 2, 3], &[1], 5);
    raw.step(vote_request(2, 3, VoteKind::PreVote))
        .expect("step");
    let out = drain(&mut raw);
    assert_eq!(
        out,
        vec![msg(
            1,
            2,
            5,
            MessageBody::RequestVoteResponse {
                pre_vote: true,
                granted: false,
            }
        )],
        "the refusal carries term 5 so the pre-candidate learns it"
    );
}

#[test]
fn a_campaign_asks_every_other_voter_and_no_learner() {
    let mut conf = ConfState::with_voters([1, 2, 3]);
    conf.learners.insert(4);
    let storage = MemStorage::with_conf_state(conf);
    let mut raw = node_with(1, storage, false, false);
    raw.campaign();
    assert_eq!(raw.raft().role(), Role::Candidate);
    let mut asked: Vec<u64> = drain(&mut raw)
        .into_iter()
        .filter(|m| matches!(m.body, MessageBody::RequestVote { .. }))
        .map(|m| m.to)
        .collect();
    asked.sort_unstable();
    assert_eq!(asked, [2, 3]);
}

#[test]
fn a_single_voter_campaigns_into_leadership_of_the_next_term() {
    for pre_vote in [true, false] {
        let storage = storage_with_log(&[1], &[], 0);
        let mut raw = node_with(1, storage, pre_vote, true);
        raw.campaign();
        assert_eq!(raw.raft().role(), Role::Leader, "pre_vote {pre_vote}");
        assert_eq!(raw.raft().term(), 1, "pre_vote {pre_vote}");
    }
}

#[test]
fn the_leader_lease_ends_after_exactly_one_election_timeout() {
    let heartbeat = MessageBody::Heartbeat {
        commit: 0,
        read_round: 0,
    };
    // A seed whose randomized timeout exceeds election_tick, so that the
    // follower is still waiting for its leader after exactly election_tick ticks.
    let mut tried = 0;
    for seed in 0..50 {
        let mut cfg = config(1);
        cfg.seed = seed;
        let mut raw =
            RawNode::new(cfg.clone(), storage_with_log(&[1, 2, 3], &[], 1)).expect("node");
        raw.step(msg(2, 1, 1, heartbeat.clone())).expect("step");
        drain(&mut raw);
        for _ in 0..cfg.election_tick - 1 {
            raw.tick();
        }
        raw.step(vote_request(3, 2, VoteKind::Vote)).expect("step");
        assert_eq!(
            drain(&mut raw),
            vec![],
            "within the lease a vote request is ignored"
        );
        raw.tick();
        if raw.raft().role() != Role::Follower {
            continue; // this seed's timeout is exactly election_tick
        }
        raw.step(vote_request(3, 2, VoteKind::Vote)).expect("step");
        assert_eq!(raw.raft().term(), 2, "seed {seed}: the lease is over");
        let granted: Vec<Message> = drain(&mut raw).into_iter().filter(|m| m.to == 3).collect();
        assert_eq!(
            granted,
            vec![msg(
                1,
                3,
                2,
                MessageBody::RequestVoteResponse {
                    pre_vote: false,
                    granted: true,
                }
            )],
            "seed {seed}"
        );
        tried += 1;
    }
    assert!(tried > 10, "only {tried} seeds waited past election_tick");
}

#[test]
fn a_pre_vote_for_the_current_term_is_refused_after_voting_in_it() {
    let storage = storage_with_log(&[1, 2, 3], &[], 5);
    let mut raw = node_with(1, storage, true, false);
    raw.step(vote_request(2, 6, VoteKind::Vote)).expect("step");
    assert_eq!(raw.raft().term(), 6);
    drain(&mut raw);
    // Node 3 is a term behind: its pre-vote names term 6, which is ours, and
    // we already voted in it.
    raw.step(vote_request(3, 6, VoteKind::PreVote))
        .expect("step");
    assert_eq!(
        drain(&mut raw),
        vec![msg(
            1,
            3,
            6,
            MessageBody::RequestVoteResponse {
                pre_vote: true,
                granted: false,
            }
        )]
    );
}

#[test]
fn only_a_leader_transfers_and_only_to_another_voter() {
    let mut conf = ConfState::with_voters([1]);
    conf.learners.insert(4);
    let mut leader = node_with(1, MemStorage::with_conf_state(conf), false, false);
    leader.campaign();
    assert_eq!(leader.raft().role(), Role::Leader);
    drain(&mut leader);
    for to in [1, 4, 9] {
        leader.transfer_leader(to);
        assert_eq!(leader.raft().lead_transferee(), None, "transfer to n{to}");
        assert_eq!(drain(&mut leader), vec![], "transfer to n{to}");
    }
    let mut follower = single_node(1, &[1, 2, 3], &[], 1);
    follower.transfer_leader(2);
    assert_eq!(follower.raft().lead_transferee(), None);
    assert_eq!(drain(&mut follower), vec![]);
}
