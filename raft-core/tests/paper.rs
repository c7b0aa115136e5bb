//! The Raft paper's rules and scenarios (and those of etcd-raft's
//! raft_paper_test.go), run against `raft-core` alone.

mod common;

use common::{Net, config, drain, msg, single_node, storage_with_log};
use raft_core::{ConfState, DetRng, Error, MessageBody, ProgressState, RawNode, Role, VoteKind};
use raft_storage::LogStore;

#[test]
fn start_as_follower() {
    let raw = single_node(1, &[1, 2, 3], &[], 0);
    assert_eq!(raw.raft().role(), Role::Follower);
    assert_eq!(raw.raft().term(), 0);
    assert_eq!(raw.raft().leader_id(), None);
}

#[test]
fn follower_update_term_from_message() {
    let mut raw = single_node(1, &[1, 2, 3], &[], 1);
    raw.step(msg(
        2,
        1,
        2,
        MessageBody::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ))
    .expect("step");
    assert_eq!(raw.raft().term(), 2);
    assert_eq!(raw.raft().leader_id(), Some(2));
    assert_eq!(raw.raft().role(), Role::Follower);
}

#[test]
fn reject_stale_term_message_and_tell_the_sender_the_new_term() {
    let mut raw = single_node(1, &[1, 2, 3], &[1], 2);
    let append = MessageBody::Append {
        prev_index: 1,
        prev_term: 1,
        entries: vec![],
        commit: 1,
    };
    raw.step(msg(2, 1, 1, append)).expect("step");
    assert_eq!(
        raw.raft().log().committed(),
        0,
        "a stale leader's commit is ignored"
    );
    let out = drain(&mut raw);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].term, 2,
        "the reply carries the newer term so the stale leader steps down"
    );
    assert!(matches!(
        out[0].body,
        MessageBody::AppendResponse {
            accepted: false,
            ..
        }
    ));
}

#[test]
fn leader_election_in_one_round_three_and_five_nodes() {
    for n in [3, 5] {
        let mut net = Net::new(n);
        net.campaign(1);
        assert_eq!(net.role(1), Role::Leader, "{n} nodes");
        assert_eq!(net.term(1), 1);
        for id in 2..=n {
            assert_eq!(net.role(id), Role::Follower);
            assert_eq!(net.leader_of(id), Some(1));
        }
    }
}

#[test]
fn follower_votes_once_per_term_first_come_first_served() {
    let mut raw = single_node(1, &[1, 2, 3], &[], 0);
    let vote = |from| {
        msg(
            from,
            1,
            1,
            MessageBody::RequestVote {
                kind: VoteKind::Vote,
                last_index: 0,
                last_term: 0,
            },
        )
    };
    raw.step(vote(2)).expect("step");
    raw.step(vote(3)).expect("step");
    raw.step(vote(2)).expect("step");
    let out = drain(&mut raw);
    let granted: Vec<(u64, bool)> = out
        .iter()
        .map(|m| match m.body {
            MessageBody::RequestVoteResponse { granted, .. } => (m.to, granted),
            _ => panic!("unexpected {m:?}"),
        })
        .collect();
    assert_eq!(granted, vec![(2, true), (3, false), (2, true)]);
    assert_eq!(raw.raft().vote(), Some(2));
}

#[test]
fn vote_responses_wait_for_the_vote_to_be_persisted() {
    let mut raw = single_node(1, &[1, 2, 3], &[], 0);
    raw.step(msg(
        2,
        1,
        1,
        MessageBody::RequestVote {
            kind: VoteKind::Vote,
            last_index: 0,
            last_term: 0,
        },
    ))
    .expect("step");
    let rd = raw.ready();
    assert!(
        rd.messages.is_empty(),
        "no vote may leave before it is durable"
    );
    assert_eq!(rd.persisted_messages.len(), 1);
    assert_eq!(rd.hard_state.map(|h| h.vote), Some(Some(2)));
}

#[test]
fn candidate_falls_back_to_follower_on_append_of_its_term() {
    let mut cfg = config(1);
    cfg.pre_vote = false;
    let mut raw = RawNode::new(cfg, storage_with_log(&[1, 2, 3], &[], 0)).expect("node");
    raw.campaign();
    assert_eq!(raw.raft().role(), Role::Candidate);
    let term = raw.raft().term();
    raw.step(msg(
        2,
        1,
        term,
        MessageBody::Append {
            prev_index: 0,
            prev_term: 0,
            entries: vec![],
            commit: 0,
        },
    ))
    .expect("step");
    assert_eq!(raw.raft().role(), Role::Follower);
    assert_eq!(raw.raft().leader_id(), Some(2));
    assert_eq!(raw.raft().term(), term);
}

#[test]
fn election_timeout_is_randomized_within_one_to_two_timeouts() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let mut cfg = config(1);
        cfg.seed = seed;
        let mut raw = RawNode::new(cfg, storage_with_log(&[1, 2, 3], &[], 0)).expect("node");
        let mut ticks = 0;
        while raw.raft().role() == Role::Follower {
            raw.tick();
            ticks += 1;
            assert!(
                ticks < 20,
                "timed out after {ticks} ticks, beyond 2 * election_tick"
            );
        }
        assert!(
            ticks >= 10,
            "timed out after {ticks} ticks, before election_tick"
        );
        seen.insert(ticks);
    }
    assert!(seen.len() >= 5, "timeouts are spread: {seen:?}");
}

#[test]
fn leader_broadcasts_heartbeats_every_heartbeat_tick() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.delivered.clear();
    net.node(1).tick();
    net.settle();
    let beats: Vec<u64> = net
        .delivered_named("Heartbeat")
        .iter()
        .map(|m| m.to)
        .collect();
    assert_eq!(beats, vec![2, 3]);
}

#[test]
fn leader_commits_preceding_entries_through_its_noop() {
    // Figure 8's safe path: entries of term 1 commit only together with the
    // new leader's term-3 noop.
    let mut net = Net::with_logs(&[(1, vec![1, 1], 2), (2, vec![1], 2), (3, vec![1], 2)]);
    net.campaign(1);
    assert_eq!(net.role(1), Role::Leader);
    assert_eq!(net.term(1), 3);
    assert_eq!(
        net.committed(1),
        3,
        "term-1 entries commit with the term-3 noop"
    );
    for id in 1..=3 {
        assert_eq!(
            net.applied_data(id),
            vec![vec![1, 0], vec![1, 1]],
            "node {id}"
        );
    }
}

#[test]
fn figure_8_leader_never_commits_a_previous_term_entry_by_counting_replicas() {
    // Leader of term 3 holds an entry of term 2 at index 2; it replicates it to a
    // majority while its own noop cannot reach anyone. Index 2 must stay
    // uncommitted until an entry of term 3 is on a majority.
    let mut net = Net::with_logs(&[(1, vec![1, 2], 2), (2, vec![1], 2), (3, vec![1], 2)]);
    net.drop_kinds.insert("Append");
    net.campaign(1);
    assert_eq!(net.role(1), Role::Leader);
    // Hand-deliver only the term-2 entry to node 2, as the old leader could have.
    let entry2 = net.nodes[&1]
        .raw
        .raft()
        .log()
        .slice(2, 3, None)
        .expect("entry 2");
    let term = net.term(1);
    net.node(2)
        .step(msg(
            1,
            2,
            term,
            MessageBody::Append {
                prev_index: 1,
                prev_term: 1,
                entries: entry2,
                commit: 0,
            },
        ))
        .expect("step");
    let out = net.process_ready(2);
    for m in out {
        net.node(1).step(m).expect("step");
    }
    net.process_ready(1);
    assert_eq!(
        net.committed(1),
        0,
        "a term-2 entry on a majority is not committed by a term-3 leader"
    );
    net.drop_kinds.clear();
    net.tick(1, 1);
    net.settle();
    assert_eq!(
        net.committed(1),
        3,
        "once the term-3 noop is on a majority, both commit"
    );
}

#[test]
fn figure_7_leader_brings_every_follower_log_in_line() {
    let leader = vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers = [
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6],          // (a) missing one
        vec![1, 1, 1, 4],                         // (b) missing many
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],    // (c) one extra uncommitted
        vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra from term 7
        vec![1, 1, 1, 4, 4, 4, 4],                // (e) conflicting term 4
        vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],    // (f) conflicting terms 2, 3
    ];
    for (i, f) in followers.iter().enumerate() {
        // The leader wins term 8 with node 3's vote (an empty log votes for anyone).
        let mut net = Net::with_logs(&[(1, leader.clone(), 7), (2, f.clone(), 7), (3, vec![], 7)]);
        net.campaign(1);
        assert_eq!(net.role(1), Role::Leader, "case {i}");
        net.tick_all(3);
        let want = net.nodes[&1]
            .raw
            .raft()
            .log()
            .slice(1, net.last_index(1) + 1, None)
            .expect("leader log");
        let got = net.nodes[&2]
            .raw
            .raft()
            .log()
            .slice(1, net.last_index(2) + 1, None)
            .expect("follower log");
        assert_eq!(got, want, "case {i}: follower log equals the leader's");
    }
}

#[test]
fn fast_backtracking_needs_few_rejections() {
    // Follower (f) of Figure 7 diverges for 8 entries over two terms: the hint
    // (conflicting term and its first index) skips whole terms.
    let mut net = Net::with_logs(&[
        (1, vec![1, 1, 1, 4, 4, 5, 5, 6, 6, 6], 7),
        (2, vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], 7),
        (3, vec![], 7),
    ]);
    net.campaign(1);
    net.tick_all(2);
    let rejections = net
        .delivered
        .iter()
        .filter(|m| {
            m.from == 2
                && matches!(
                    m.body,
                    MessageBody::AppendResponse {
                        accepted: false,
                        ..
                    }
                )
        })
        .count();
    assert!(rejections <= 3, "{rejections} rejections");
    assert_eq!(net.last_index(2), net.last_index(1));
}

#[test]
fn split_vote_then_reelection_in_a_higher_term() {
    let mut net = Net::new(4);
    for id in 1..=4 {
        let storage = net.nodes[&id].storage.clone();
        let mut cfg = config(id);
        cfg.pre_vote = false;
        net.nodes.get_mut(&id).expect("node").raw = RawNode::new(cfg, storage).expect("node");
    }
    // 1 and 2 campaign at once; 3 hears 1 first, 4 hears 2 first: 2 votes each of 4.
    net.cut(1, 4);
    net.cut(2, 3);
    net.cut(1, 2);
    net.node(1).campaign();
    net.node(2).campaign();
    net.settle();
    assert_eq!(net.role(1), Role::Candidate);
    assert_eq!(net.role(2), Role::Candidate);
    assert_eq!(net.term(1), 1);
    net.heal();
    // The next timeout starts term 2 and someone wins it.
    for _ in 0..40 {
        net.tick_all(1);
        if (1..=4).any(|id| net.role(id) == Role::Leader) {
            break;
        }
    }
    let leaders: Vec<u64> = (1..=4).filter(|&id| net.role(id) == Role::Leader).collect();
    assert_eq!(leaders.len(), 1, "exactly one leader after re-election");
    assert!(net.term(leaders[0]) >= 2);
}

#[test]
fn leader_steps_down_on_a_higher_term() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.node(1)
        .step(msg(
            2,
            1,
            5,
            MessageBody::AppendResponse {
                accepted: false,
                index: 0,
                hint_index: 0,
                hint_term: 0,
            },
        ))
        .expect("step");
    assert_eq!(net.role(1), Role::Follower);
    assert_eq!(net.term(1), 5);
}

#[test]
fn candidate_with_a_stale_log_loses() {
    // Node 3's log ends at term 1; 1 and 2 hold a term-2 entry.
    let mut net = Net::with_logs(&[(1, vec![1, 2], 2), (2, vec![1, 2], 2), (3, vec![1], 2)]);
    net.campaign(3);
    assert_ne!(net.role(3), Role::Leader);
    net.campaign(1);
    assert_eq!(net.role(1), Role::Leader);
}

#[test]
fn prevote_keeps_a_partitioned_node_from_inflating_terms() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.isolate(3);
    let before = net.term(3);
    net.tick(3, 200);
    assert_eq!(
        net.term(3),
        before,
        "pre-candidates do not raise their term"
    );
    net.heal();
    net.tick_all(5);
    assert_eq!(net.role(1), Role::Leader, "the leader keeps its term");
    assert_eq!(net.term(1), before);
    assert_eq!(net.leader_of(3), Some(1));
}

#[test]
fn check_quorum_deposes_a_leader_cut_off_from_its_quorum() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.isolate(1);
    // Followers answered during the first window, so the step-down comes at the
    // end of the first full window without them: within two election timeouts.
    net.tick(1, 20);
    assert_eq!(
        net.role(1),
        Role::Follower,
        "no quorum heard within an election timeout"
    );
}

#[test]
fn rejoining_node_without_prevote_cannot_win_votes_from_followers_with_a_live_leader() {
    let mut net = Net::new(3);
    net.campaign(1);
    // Node 3 without PreVote, alone: its term climbs.
    let storage = net.nodes[&3].storage.clone();
    let mut cfg = config(3);
    cfg.pre_vote = false;
    net.nodes.get_mut(&3).expect("node").raw = RawNode::new(cfg, storage).expect("node");
    net.isolate(3);
    net.tick(3, 50);
    let inflated = net.term(3);
    assert!(inflated > 1);
    // Its vote request reaches node 2, which heard from the leader recently.
    net.tick_all(1);
    net.node(2)
        .step(msg(
            3,
            2,
            inflated,
            MessageBody::RequestVote {
                kind: VoteKind::Vote,
                last_index: 1,
                last_term: 1,
            },
        ))
        .expect("step");
    assert_eq!(net.term(2), 1, "leader lease: the vote request is ignored");
    assert_eq!(net.leader_of(2), Some(1));
}

#[test]
fn rejoining_node_does_not_disrupt_a_stable_leader() {
    let mut net = Net::new(5);
    net.campaign(1);
    net.propose(1, b"x");
    net.isolate(5);
    net.tick(5, 100);
    net.heal();
    net.tick_all(20);
    assert_eq!(net.role(1), Role::Leader);
    assert_eq!(net.term(1), 1);
    assert_eq!(
        net.applied_data(5),
        vec![b"x".to_vec()],
        "the rejoined node catches up"
    );
}

#[test]
fn read_index_is_served_after_a_heartbeat_quorum() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.propose(1, b"a");
    net.node(1).read_index(7).expect("leader accepts reads");
    net.settle();
    let reads = &net.nodes[&1].reads;
    assert_eq!(reads.len(), 1);
    assert_eq!((reads[0].request, reads[0].index), (7, 2));
    // A follower's read goes through the leader.
    net.node(3).read_index(8).expect("follower forwards");
    net.settle();
    let reads = &net.nodes[&3].reads;
    assert_eq!((reads[0].request, reads[0].index), (8, 2));
}

#[test]
fn one_quorum_round_serves_every_queued_read() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.tick_all(1);
    net.delivered.clear();
    for r in 1..=50 {
        net.node(1).read_index(r).expect("read");
    }
    net.settle();
    assert_eq!(net.nodes[&1].reads.len(), 50);
    assert_eq!(
        net.delivered_named("Heartbeat").len(),
        2,
        "one round: one heartbeat per follower"
    );
}

#[test]
fn new_leader_serves_no_read_before_committing_in_its_term() {
    let mut net = Net::new(3);
    net.drop_kinds.insert("AppendResponse");
    net.campaign(1);
    net.node(1).read_index(1).expect("read queued");
    net.settle();
    assert!(
        net.nodes[&1].reads.is_empty(),
        "noop not committed: no read yet"
    );
    net.drop_kinds.clear();
    net.tick_all(2);
    assert_eq!(net.nodes[&1].reads.len(), 1);
    assert!(net.nodes[&1].reads[0].index >= 1);
}

#[test]
fn deposed_leader_never_serves_a_stale_read() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.propose(1, b"old");
    net.isolate(1);
    // Once their leader lease runs out, 2 and 3 elect a new leader, which commits
    // a newer write the old leader cannot know.
    for _ in 0..12 {
        net.node(3).tick();
        net.settle();
    }
    net.campaign(2);
    assert_eq!(net.role(2), Role::Leader);
    net.propose(2, b"new");
    // The old leader still believes it leads; its read must not be served.
    assert_eq!(net.role(1), Role::Leader);
    net.node(1).read_index(99).expect("queued");
    net.tick(1, 3);
    assert!(
        net.nodes[&1].reads.is_empty(),
        "no quorum confirms the old leader"
    );
    net.tick(1, 20);
    assert_eq!(net.role(1), Role::Follower, "CheckQuorum deposed it");
    assert_eq!(
        net.nodes[&1].failed_reads,
        vec![99],
        "the read is reported failed, never served"
    );
}

#[test]
fn follower_forwards_proposals_and_errors_without_a_leader() {
    let mut net = Net::new(3);
    assert!(matches!(
        net.node(2).propose(b"x".to_vec()),
        Err(Error::ProposalDropped(_))
    ));
    net.campaign(1);
    net.propose(2, b"via follower");
    assert_eq!(net.applied_data(1), vec![b"via follower".to_vec()]);
}

#[test]
fn proposals_are_batched_into_one_append_per_follower() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.tick_all(1);
    net.delivered.clear();
    net.node(1)
        .propose_batch((0..100u8).map(|i| vec![i]).collect())
        .expect("batch");
    net.settle();
    let appends: Vec<usize> = net
        .delivered
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } if !entries.is_empty() => Some(entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(appends, vec![100, 100]);
    assert_eq!(net.applied_data(3).len(), 100);
}

#[test]
fn flow_control_stops_at_a_full_inflight_window() {
    let mut net = Net::new(2);
    net.campaign(1);
    net.tick_all(1);
    net.cut(1, 2);
    net.delivered.clear();
    net.heal();
    net.drop_kinds.insert("AppendResponse");
    for i in 0..300u32 {
        net.node(1)
            .propose(i.to_le_bytes().to_vec())
            .expect("propose");
        net.settle();
    }
    let appends = net.delivered_named("Append").len();
    assert_eq!(
        appends, 256,
        "max_inflight_msgs appends, then the leader waits"
    );
}

#[test]
fn malformed_and_random_messages_never_panic() {
    let mut rng = DetRng::new(7);
    let mut net = Net::new(3);
    net.campaign(1);
    net.propose(1, b"seed");
    for step in 0..20_000u64 {
        let to = 1 + rng.range(0, 3);
        let from = 1 + rng.range(0, 4);
        let term = rng.range(0, 4);
        let idx = |rng: &mut DetRng| rng.range(0, 8);
        let body = match rng.range(0, 9) {
            0 => MessageBody::RequestVote {
                kind: [VoteKind::PreVote, VoteKind::Vote, VoteKind::TransferVote]
                    [rng.range(0, 3) as usize],
                last_index: idx(&mut rng),
                last_term: idx(&mut rng),
            },
            1 => MessageBody::RequestVoteResponse {
                pre_vote: rng.range(0, 2) == 0,
                granted: rng.range(0, 2) == 0,
            },
            2 => {
                let prev = idx(&mut rng);
                let n = rng.range(0, 3);
                let t = rng.range(0, 4);
                let entries = (0..n)
                    .map(|k| raft_core::Entry {
                        index: prev + 1 + k + rng.range(0, 2),
                        term: t,
                        payload: raft_core::EntryPayload::Normal(vec![step as u8]),
                    })
                    .collect();
                MessageBody::Append {
                    prev_index: prev,
                    prev_term: idx(&mut rng),
                    entries,
                    commit: rng.range(0, 100),
                }
            }
            3 => MessageBody::AppendResponse {
                accepted: rng.range(0, 2) == 0,
                index: rng.range(0, 100),
                hint_index: idx(&mut rng),
                hint_term: idx(&mut rng),
            },
            4 => MessageBody::Heartbeat {
                commit: rng.range(0, 100),
                read_round: rng.range(0, 5),
            },
            5 => MessageBody::HeartbeatResponse {
                read_round: rng.range(0, 5),
            },
            6 => MessageBody::ReadIndexResponse {
                request: rng.range(0, 5),
                index: rng.range(0, 100),
            },
            7 => MessageBody::ReadIndex {
                request: rng.range(0, 5),
            },
            _ => MessageBody::TimeoutNow,
        };
        net.node(to)
            .step(msg(from, to, term, body))
            .expect("step never errors");
        net.settle();
        if step % 7 == 0 {
            net.tick_all(1);
        }
    }
}

/// A vote request at a higher term that the follower rejects (its log is more
/// up to date) moves it to that term but does not restart its election timer;
/// one that it grants does (the paper's follower rule). Otherwise candidates
/// that cannot win keep the one node that can from ever timing out.
#[test]
fn only_a_granted_vote_restarts_the_election_timer() {
    let node = || RawNode::new(config(1), storage_with_log(&[1, 2, 3], &[1, 1], 1)).expect("node");
    let timeout = {
        let mut raw = node();
        let mut ticks = 0;
        while raw.raft().role() == Role::Follower {
            raw.tick();
            ticks += 1;
        }
        ticks
    };
    let vote = |last_index, last_term| {
        msg(
            2,
            1,
            5,
            MessageBody::RequestVote {
                kind: VoteKind::Vote,
                last_index,
                last_term,
            },
        )
    };
    for (last_index, granted) in [(0, false), (2, true)] {
        let mut raw = node();
        for _ in 1..timeout {
            raw.tick();
        }
        raw.step(vote(last_index, 1)).expect("step");
        assert_eq!(raw.raft().term(), 5);
        assert_eq!(
            raw.raft().vote(),
            granted.then_some(2),
            "granted: {granted}"
        );
        raw.tick();
        assert_eq!(
            raw.raft().role() == Role::Follower,
            granted,
            "after {timeout} ticks, a node that {} campaigns",
            if granted {
                "granted a vote never"
            } else {
                "rejected the vote"
            }
        );
    }
}

#[test]
fn single_voter_leader_serves_reads_without_a_heartbeat_round() {
    let mut net = Net::new(1);
    net.campaign(1);
    assert_eq!(net.role(1), Role::Leader);
    net.propose(1, b"a");
    net.delivered.clear();
    net.node(1).read_index(3).expect("leader accepts reads");
    net.settle();
    let reads = &net.nodes[&1].reads;
    assert_eq!(reads.len(), 1, "no other voter to confirm: served at once");
    assert_eq!((reads[0].request, reads[0].index), (3, 2));
    assert!(net.delivered.is_empty(), "nothing to send on one node");
}

#[test]
fn an_ack_of_a_heartbeat_sent_before_a_read_does_not_confirm_it() {
    let mut net = Net::new(3);
    net.campaign(1);
    let term = net.term(1);
    net.node(1).read_index(7).expect("read queued");
    // The read's heartbeat round goes out, and its answers are lost.
    net.drop_kinds.insert("Heartbeat");
    net.settle();
    // Answers to heartbeats without a read round (sent before the read) arrive.
    for from in [2, 3] {
        net.node(1)
            .step(msg(
                from,
                1,
                term,
                MessageBody::HeartbeatResponse { read_round: 0 },
            ))
            .expect("step");
    }
    net.settle();
    assert!(
        net.nodes[&1].reads.is_empty(),
        "only acks of the read's own round (or later) confirm it"
    );
    net.drop_kinds.clear();
    net.tick_all(1);
    assert_eq!(net.nodes[&1].reads.len(), 1, "a fresh round confirms it");
}

#[test]
fn a_departed_member_hears_the_commit_only_of_what_it_acknowledged() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.propose(1, b"x");
    let term = net.term(1);
    drain(net.node(1));
    let response = |accepted| {
        msg(
            4,
            1,
            term,
            MessageBody::AppendResponse {
                accepted,
                index: 2,
                hint_index: 0,
                hint_term: 0,
            },
        )
    };
    // Node 4 is in no configuration: a rejection says nothing it could commit.
    net.node(1).step(response(false)).expect("step");
    assert_eq!(
        drain(net.node(1)),
        vec![],
        "no commit for a rejected append"
    );
    net.node(1).step(response(true)).expect("step");
    let out = drain(net.node(1));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, 4);
    assert!(
        matches!(out[0].body, MessageBody::Heartbeat { commit: 2, .. }),
        "{out:?}"
    );
}

#[test]
fn a_departed_member_asking_for_votes_is_told_the_commit_and_never_counted() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.propose(1, b"x");
    let term = net.term(1);
    drain(net.node(1));
    let vote = |kind, at: u64, last_index| {
        msg(
            4,
            1,
            at,
            MessageBody::RequestVote {
                kind,
                last_index,
                last_term: term,
            },
        )
    };
    // Node 4 is in no configuration, its log ends at entry 1: it is sent the
    // rest with the commit index, so that it learns what committed.
    net.node(1)
        .step(vote(VoteKind::PreVote, term + 1, 1))
        .expect("step");
    let out = drain(net.node(1));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, 4);
    match &out[0].body {
        MessageBody::Append {
            prev_index: 1,
            entries,
            commit: 2,
            ..
        } => assert_eq!(entries.iter().map(|e| e.index).collect::<Vec<_>>(), [2]),
        other => panic!("expected an append after entry 1, got {other:?}"),
    }
    // A real vote at a newer term: no answer (the leader is stale for it),
    // and the leader neither steps down nor changes its term.
    net.node(1)
        .step(vote(VoteKind::Vote, term + 1, 2))
        .expect("step");
    assert_eq!(drain(net.node(1)), vec![]);
    assert_eq!(net.role(1), Role::Leader);
    assert_eq!(net.term(1), term);
    // A log past the leader's says nothing it could match: no answer.
    net.node(1)
        .step(vote(VoteKind::PreVote, term + 1, 9))
        .expect("step");
    assert_eq!(drain(net.node(1)), vec![]);
}

/// Node 3 misses five writes, the leader compacts them away, and once
/// heartbeats show node 3 behind the leader sends it a snapshot (which the
/// network drops). Returns the cluster and the snapshot's index.
fn leader_sending_a_snapshot_to_node_3() -> (Net, u64) {
    let mut net = Net::new(3);
    net.campaign(1);
    net.isolate(3);
    for i in 0..5u8 {
        net.propose(1, &[i]);
    }
    let committed = net.committed(1);
    net.nodes[&1]
        .storage
        .create_snapshot(committed, ConfState::with_voters([1, 2, 3]), vec![])
        .expect("snapshot");
    net.heal();
    net.drop_kinds.insert("InstallSnapshot");
    for _ in 0..5 {
        if net.nodes[&1].raw.status().progress[&3].state == ProgressState::Snapshot {
            return (net, committed);
        }
        net.tick(1, 1);
    }
    panic!("node 3 never entered the Snapshot state");
}

#[test]
fn a_snapshot_in_flight_is_retried_only_after_the_snapshot_timeout() {
    let (mut net, _) = leader_sending_a_snapshot_to_node_3();
    let state = |net: &Net| net.nodes[&1].raw.status().progress[&3].state;
    let timeout = config(1).snapshot_timeout_ticks;
    for _ in 1..timeout {
        net.node(1).tick();
        net.settle();
        assert_eq!(state(&net), ProgressState::Snapshot, "still waiting");
    }
    net.node(1).tick();
    net.settle();
    assert_ne!(
        state(&net),
        ProgressState::Snapshot,
        "retried after the timeout"
    );
}

#[test]
fn the_ack_of_a_snapshot_resumes_replication_but_an_older_ack_does_not() {
    let (mut net, committed) = leader_sending_a_snapshot_to_node_3();
    let progress = |net: &Net| net.nodes[&1].raw.status().progress[&3];
    let term = net.term(1);
    let ack = |index| {
        msg(
            3,
            1,
            term,
            MessageBody::AppendResponse {
                accepted: true,
                index,
                hint_index: 0,
                hint_term: 0,
            },
        )
    };
    // Node 3 held the first entry before it was cut off: an ack of it is
    // news, but it is below the snapshot being sent.
    let matched = progress(&net).matched;
    assert!(matched < committed);
    net.node(1).step(ack(matched + 1)).expect("step");
    assert_eq!(
        progress(&net).state,
        ProgressState::Snapshot,
        "still sending"
    );
    let resent: Vec<_> = drain(net.node(1))
        .into_iter()
        .filter(|m| matches!(m.body, MessageBody::InstallSnapshot { .. }))
        .collect();
    assert!(
        resent.is_empty(),
        "the snapshot in flight is not sent again"
    );
    net.node(1).step(ack(committed)).expect("step");
    assert_eq!(
        progress(&net).state,
        ProgressState::Replicate,
        "the snapshot is acknowledged"
    );
}

#[test]
fn a_commit_does_not_confirm_a_read_its_round_has_not() {
    let mut net = Net::new(3);
    net.campaign(1);
    net.drop_kinds.insert("Heartbeat");
    net.node(1).read_index(7).expect("read queued");
    net.propose(1, b"w");
    assert_eq!(net.committed(1), 2, "the write commits");
    assert!(
        net.nodes[&1].reads.is_empty(),
        "only the read's heartbeat round confirms it"
    );
    net.drop_kinds.clear();
    net.tick_all(1);
    assert_eq!(net.nodes[&1].reads.len(), 1);
}
