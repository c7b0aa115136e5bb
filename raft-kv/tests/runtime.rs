//! The node runtime, whole nodes in one process over the memory network:
//! request outcomes under leader changes, partitions, loss, membership changes,
//! snapshots and shutdown.

mod fixtures;

use fixtures::faulty::{Failure, FaultPlan, Faulty, Op};
use fixtures::{Cluster, File, Settings, addr, bulk, in_background, set, wait_for};
use fixtures::{call, words};
use raft_core::{ConfChangeStep, Role};
use raft_kv::{ErrorCode, Reply, RequestError};
use std::time::Duration;

fn others(c: &Cluster<impl fixtures::Backend>, not: u64) -> Vec<u64> {
    c.running().into_iter().filter(|id| *id != not).collect()
}

/// Stops every node but the leader and waits until CheckQuorum deposes it;
/// returns it and the stopped nodes.
fn leave_one_without_a_quorum(c: &mut Cluster<fixtures::Mem>) -> (u64, Vec<u64>) {
    let survivor = c.leader();
    let down = others(c, survivor);
    for id in &down {
        c.stop(*id);
    }
    let h = c.handle(survivor);
    wait_for(Duration::from_secs(5), || {
        h.status().leader_id.is_none().then_some(())
    })
    .expect("CheckQuorum deposes the lone leader");
    (survivor, down)
}

#[test]
fn a_write_through_the_leader_is_applied_on_every_node() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    assert_eq!(c.set(leader, "k", "v"), Ok(Reply::ok()));
    for id in c.running() {
        c.wait_local(id, "k", &bulk("v"));
    }
}

#[test]
fn a_write_through_a_follower_is_forwarded_and_answered_there() {
    let c = Cluster::mem(3);
    let follower = others(&c, c.leader())[0];
    assert_eq!(c.set(follower, "k", "v"), Ok(Reply::ok()));
    let incr = call(&["INCRBY", "n", "5"]);
    assert_eq!(c.handle(follower).write(incr).wait(), Ok(Reply::Int(5)));
}

#[test]
fn a_linearizable_read_on_a_follower_sees_the_latest_acknowledged_write() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    for i in 0..20 {
        let value = i.to_string();
        assert_eq!(c.set(leader, "k", &value), Ok(Reply::ok()));
        for follower in others(&c, leader) {
            assert_eq!(
                c.get(follower, "k"),
                Ok(bulk(&value)),
                "read {i} on {follower}"
            );
        }
    }
}

#[test]
fn an_isolated_leader_serves_no_linearizable_read_but_a_stale_one() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    assert_eq!(c.set(leader, "k", "old"), Ok(Reply::ok()));
    c.net.isolate(leader);
    let rest = others(&c, leader);
    let new_leader = c.leader_among(&rest);
    assert_eq!(c.set(new_leader, "k", "new"), Ok(Reply::ok()));
    let read = c.get(leader, "k");
    assert!(
        matches!(
            read,
            Err(RequestError::ReadTimedOut | RequestError::ReadAborted | RequestError::NotProposed)
        ),
        "a deposed leader must not answer a linearizable read: {read:?}"
    );
    let stale = c.handle(leader).stale_read(&words(&["GET", "k"]));
    assert_eq!(stale, bulk("old"), "READONLY reads the local state");
}

#[test]
fn a_write_with_no_leader_reachable_is_not_proposed_and_never_applied() {
    let settings = Settings {
        request_timeout: Duration::from_millis(600),
        ..Settings::default()
    };
    let mut c = Cluster::mem_with(3, settings);
    let (survivor, down) = leave_one_without_a_quorum(&mut c);
    let outcome = c.set(survivor, "ghost", "x");
    assert_eq!(outcome, Err(RequestError::NotProposed));
    assert_eq!(outcome.unwrap_err().code(), ErrorCode::NoLeader);
    for id in down {
        c.start_node(id, false);
    }
    let leader = c.leader();
    assert_eq!(c.set(leader, "after", "heal"), Ok(Reply::ok()));
    for id in c.running() {
        assert_eq!(c.get(id, "ghost"), Ok(Reply::Bulk(None)), "on node {id}");
    }
}

#[test]
fn a_write_waiting_for_a_leader_is_proposed_once_one_is_elected() {
    let settings = Settings {
        request_timeout: Duration::from_secs(5),
        ..Settings::default()
    };
    let mut c = Cluster::mem_with(3, settings);
    let (survivor, down) = leave_one_without_a_quorum(&mut c);
    let h = c.handle(survivor);
    let waiting = in_background(h.write(set("k", "v")));
    std::thread::sleep(Duration::from_millis(200));
    c.start_node(down[0], false);
    assert_eq!(waiting.join().expect("no panic"), Ok(Reply::ok()));
    assert_eq!(c.get(survivor, "k"), Ok(bulk("v")));
}

#[test]
fn a_leader_change_answers_proposed_writes_with_timeout() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    c.net.isolate(leader);
    let outcome = c.set(leader, "k", "maybe");
    let err = outcome.expect_err("an isolated leader cannot commit");
    assert!(
        matches!(
            err,
            RequestError::LeaderChanged | RequestError::OutcomeUnknown
        ),
        "proposed, then the leader stepped down: {err:?}"
    );
    assert_eq!(err.code(), ErrorCode::Timeout);
    c.net.heal();
    let leader = c.leader();
    assert_eq!(c.set(leader, "k", "sure"), Ok(Reply::ok()));
}

#[test]
fn a_learner_joins_is_promoted_and_an_old_voter_is_removed() {
    let mut c = Cluster::mem(3);
    let leader = c.leader();
    assert_eq!(c.set(leader, "before", "join"), Ok(Reply::ok()));
    c.start_node(4, true);
    let h = c.handle(leader);
    let add = h.conf_change(ConfChangeStep::AddLearner(4), Some(addr(4)));
    assert_eq!(add.wait(), Ok(Reply::ok()));
    c.wait_local(4, "before", &bulk("join"));
    let promote = h.conf_change(ConfChangeStep::AddVoter(4), Some(addr(4)));
    assert_eq!(promote.wait(), Ok(Reply::ok()));
    let victim = others(&c, leader)
        .into_iter()
        .find(|id| *id != 4)
        .expect("a follower");
    let remove = h.conf_change(ConfChangeStep::Remove(victim), None);
    assert_eq!(remove.wait(), Ok(Reply::ok()));
    let status = c.handle(leader).status();
    assert!(
        status.voters.contains(&4) && !status.voters.contains(&victim),
        "{status:?}"
    );
    assert!(
        !status.members.contains_key(&victim),
        "the removed member's address is forgotten: {:?}",
        status.members
    );
    assert_eq!(c.get(4, "before"), Ok(bulk("join")));
}

#[test]
fn removing_the_leader_is_answered_after_the_leadership_moves() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    let remove = c
        .handle(leader)
        .conf_change(ConfChangeStep::Remove(leader), None);
    assert_eq!(remove.wait(), Ok(Reply::ok()));
    let rest = others(&c, leader);
    let new_leader = c.leader_among(&rest);
    assert_ne!(new_leader, leader);
    assert_eq!(c.set(new_leader, "k", "v"), Ok(Reply::ok()));
    assert!(!c.handle(new_leader).status().voters.contains(&leader));
}

#[test]
fn a_membership_change_sent_to_a_follower_waits_through_a_leader_removal() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    let follower = others(&c, leader)[0];
    let remove = c
        .handle(follower)
        .conf_change(ConfChangeStep::Remove(leader), None);
    assert_eq!(
        remove.wait(),
        Ok(Reply::ok()),
        "forwarded, and answered once C(new) applied here"
    );
    let status = c.handle(follower).status();
    assert!(!status.voters.contains(&leader) && status.voters_outgoing.is_empty());
}

#[test]
fn a_follower_refuses_to_remove_itself() {
    let c = Cluster::mem(3);
    let follower = others(&c, c.leader())[0];
    let remove = c
        .handle(follower)
        .conf_change(ConfChangeStep::Remove(follower), None);
    assert_eq!(remove.wait(), Err(RequestError::RemoveSelfAsFollower));
}

#[test]
fn transfer_moves_leadership_and_only_the_leader_accepts_it() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    let target = others(&c, leader)[0];
    assert_eq!(
        c.handle(target).transfer(leader),
        Err(RequestError::NotLeader {
            leader: Some(leader)
        })
    );
    assert_eq!(
        c.handle(leader).transfer(99),
        Err(RequestError::NotVoter(99))
    );
    assert_eq!(c.handle(leader).transfer(target), Ok(()));
    assert_eq!(c.leader(), target);
    assert_eq!(c.handle(leader).status().role, Role::Follower);
}

#[test]
fn shutdown_answers_waiting_requests_and_refuses_new_ones() {
    let settings = Settings {
        request_timeout: Duration::from_secs(10),
        ..Settings::default()
    };
    let mut c = Cluster::mem_with(3, settings);
    let (survivor, _) = leave_one_without_a_quorum(&mut c);
    let h = c.handle(survivor);
    let write = in_background(h.write(set("k", "v")));
    let read = in_background(h.read(words(&["GET", "k"])));
    std::thread::sleep(Duration::from_millis(100));
    c.stop(survivor);
    assert_eq!(write.join().expect("no panic"), Err(RequestError::Shutdown));
    assert_eq!(read.join().expect("no panic"), Err(RequestError::Shutdown));
    assert_eq!(h.write(set("k", "v")).wait(), Err(RequestError::Shutdown));
    assert_eq!(RequestError::Shutdown.code(), ErrorCode::Shutdown);
}

#[test]
fn a_lagging_follower_catches_up_by_snapshot_while_reads_run() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    let lagging = others(&c, leader)[0];
    c.net.isolate(lagging);
    let rest = others(&c, lagging);
    let leader = c.leader_among(&rest);
    for i in 0..200 {
        assert_eq!(
            c.set(leader, &format!("k{i}"), &i.to_string()),
            Ok(Reply::ok())
        );
    }
    for id in &rest {
        assert_eq!(c.handle(*id).snapshot(), Ok(()), "snapshot on {id}");
    }
    let h = c.handle(lagging);
    let reader = std::thread::spawn(move || {
        (0..20)
            .map(|_| h.read(words(&["GET", "k199"])).wait())
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(50));
    c.net.heal();
    let reads = reader.join().expect("no panic");
    for r in reads.iter().filter(|r| r.is_ok()) {
        assert_eq!(
            r,
            &Ok(bulk("199")),
            "a read that succeeds sees every earlier write"
        );
    }
    assert_eq!(c.get(lagging, "k0"), Ok(bulk("0")));
    assert_eq!(c.get(lagging, "k199"), Ok(bulk("199")));
    let installed = c.handle(lagging).metrics().snapshots();
    assert!(installed >= 1, "the follower caught up by snapshot");
}

#[test]
fn writes_commit_and_replicas_converge_under_message_loss() {
    let c = Cluster::mem(3);
    c.net.set_loss(100, 42);
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        let key = format!("k{i}");
        let via = c.running()[i % 3];
        if c.set(via, &key, "v") == Ok(Reply::ok()) {
            acknowledged.push(key);
        }
    }
    c.net.heal();
    let leader = c.leader();
    assert!(
        acknowledged.len() >= 20,
        "most writes commit at 10% loss: {}",
        acknowledged.len()
    );
    assert_eq!(c.set(leader, "last", "v"), Ok(Reply::ok()));
    let sizes: Vec<Reply> = c
        .running()
        .into_iter()
        .map(|id| {
            c.wait_local(id, "last", &bulk("v"));
            c.handle(id).stale_read(&words(&["DBSIZE"]))
        })
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] == w[1]),
        "replicas agree: {sizes:?}"
    );
    for key in &acknowledged {
        assert_eq!(
            c.get(leader, key),
            Ok(bulk("v")),
            "acknowledged {key} is kept"
        );
    }
}

#[test]
fn acknowledged_writes_survive_a_restart_of_every_node_on_file_storage() {
    let mut c = Cluster::start(3, File, Settings::default());
    let leader = c.leader();
    for i in 0..30 {
        assert_eq!(
            c.set(leader, &format!("k{i}"), &i.to_string()),
            Ok(Reply::ok())
        );
    }
    c.stop_all();
    for id in 1..=3 {
        c.start_node(id, false);
    }
    let leader = c.leader();
    for i in 0..30 {
        assert_eq!(c.get(leader, &format!("k{i}")), Ok(bulk(&i.to_string())));
    }
}

#[test]
fn automatic_snapshots_compact_and_a_restarted_node_recovers_from_one() {
    let settings = Settings {
        snapshot_every: 50,
        ..Settings::default()
    };
    let mut c = Cluster::start(3, File, settings);
    let leader = c.leader();
    for i in 0..120 {
        assert_eq!(c.set(leader, &format!("k{i}"), "v"), Ok(Reply::ok()));
    }
    let follower = others(&c, leader)[0];
    let h = c.handle(follower);
    wait_for(Duration::from_secs(10), || {
        (h.metrics().snapshots() >= 1).then_some(())
    })
    .expect("an automatic snapshot");
    c.stop(follower);
    c.start_node(follower, false);
    assert_eq!(c.get(follower, "k0"), Ok(bulk("v")));
    assert_eq!(c.get(follower, "k119"), Ok(bulk("v")));
}

#[test]
fn a_node_whose_newest_snapshot_is_damaged_recovers_from_the_previous_one() {
    let settings = Settings {
        snapshot_every: 40,
        ..Settings::default()
    };
    let mut c = Cluster::start(3, File, settings);
    let leader = c.leader();
    let follower = others(&c, leader)[0];
    let incr = || call(&["INCR", "counter"]);
    let h = c.handle(follower);
    let snapshots = || h.metrics().snapshots();
    let mut writes = 0;
    while snapshots() < 2 || writes < 150 {
        assert_eq!(
            c.handle(leader).write(incr()).wait(),
            Ok(Reply::Int(writes + 1))
        );
        writes += 1;
        assert!(writes < 2_000, "the follower takes two snapshots");
    }
    c.wait_local(
        follower,
        "counter",
        &Reply::Bulk(Some(writes.to_string().into_bytes())),
    );
    c.stop(follower);
    let snapshot = c.node_dir(follower).join("raft").join("snapshot");
    let mut bytes = std::fs::read(&snapshot).expect("the follower has a snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&snapshot, bytes).expect("damage it");
    c.start_node(follower, false);
    // The previous snapshot plus the log since it rebuild the same state: every
    // increment applied exactly once.
    let expected = Reply::Bulk(Some(writes.to_string().into_bytes()));
    c.wait_local(follower, "counter", &expected);
    assert_eq!(c.get(follower, "counter"), Ok(expected));
}

#[test]
fn every_node_agrees_on_one_leader_and_reports_its_role() {
    let c = Cluster::mem(5);
    let leader = c.leader();
    let statuses: Vec<_> = c
        .running()
        .into_iter()
        .map(|id| c.handle(id).status())
        .collect();
    assert_eq!(statuses.iter().filter(|s| s.is_leader()).count(), 1);
    for s in &statuses {
        assert_eq!(s.leader_id, Some(leader));
        assert_eq!(s.voters, vec![1, 2, 3, 4, 5]);
        assert!(s.is_healthy());
    }
}

#[test]
fn reads_and_writes_through_every_node_stay_linearizable_across_a_transfer() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    assert_eq!(c.set(leader, "k", "1"), Ok(Reply::ok()));
    let target = others(&c, leader)[1];
    assert_eq!(c.handle(leader).transfer(target), Ok(()));
    assert_eq!(
        c.set(leader, "k", "2"),
        Ok(Reply::ok()),
        "the old leader forwards"
    );
    for id in c.running() {
        assert_eq!(c.get(id, "k"), Ok(bulk("2")), "on node {id}");
    }
}

#[test]
fn a_removed_follower_learns_it_and_stops_serving() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    let victim = others(&c, leader)[0];
    let remove = c
        .handle(leader)
        .conf_change(ConfChangeStep::Remove(victim), None);
    assert_eq!(remove.wait(), Ok(Reply::ok()));
    let removed = wait_for(Duration::from_secs(5), || {
        c.runtime_removed(victim).then_some(())
    });
    assert!(removed.is_some(), "node {victim} learns it was removed");
    assert_eq!(
        c.handle(victim).write(set("k", "v")).wait(),
        Err(RequestError::Shutdown),
        "a removed node serves nothing"
    );
    assert!(!c.runtime_removed(leader), "the others stay members");
    assert_eq!(c.set(leader, "k", "v"), Ok(Reply::ok()));
    let members = c.handle(leader).status().members;
    assert!(!members.contains_key(&victim), "{members:?}");
}

#[test]
fn a_removed_leader_answers_its_client_then_stops_serving() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    let remove = c
        .handle(leader)
        .conf_change(ConfChangeStep::Remove(leader), None);
    assert_eq!(remove.wait(), Ok(Reply::ok()));
    let removed = wait_for(Duration::from_secs(5), || {
        c.runtime_removed(leader).then_some(())
    });
    assert!(removed.is_some(), "the old leader learns it was removed");
    let rest = others(&c, leader);
    let new_leader = c.leader_among(&rest);
    assert_eq!(c.set(new_leader, "k", "v"), Ok(Reply::ok()));
}

#[test]
fn a_failing_snapshot_is_retried_an_interval_later_not_after_every_batch() {
    let settings = Settings {
        snapshot_every: 20,
        ..Settings::default()
    };
    let plan = FaultPlan::default();
    plan.arm(1, Op::Snapshot, Failure::Write, 0, true);
    let c = Cluster::start(1, Faulty::new(fixtures::Mem::default(), &plan), settings);
    let leader = c.leader();
    for i in 0..200 {
        assert_eq!(
            c.set(leader, &format!("k{i}"), "v"),
            Ok(Reply::ok()),
            "writes go on"
        );
    }
    // The attempts run on a background thread: on a loaded machine the
    // first may start only after the writes returned.
    let first = wait_for(Duration::from_secs(10), || {
        (plan.calls(1, Op::Snapshot) >= 1).then_some(())
    });
    assert!(first.is_some(), "a snapshot was attempted");
    let tried = plan.calls(1, Op::Snapshot);
    assert!(
        (1..=12).contains(&tried),
        "about one attempt per 20 entries, not one per batch: {tried}"
    );
    plan.disarm(1);
    for i in 0..40 {
        assert_eq!(c.set(leader, &format!("m{i}"), "v"), Ok(Reply::ok()));
    }
    let h = c.handle(leader);
    wait_for(Duration::from_secs(5), || {
        (h.metrics().snapshots() >= 1).then_some(())
    })
    .expect("a snapshot once the disk recovers");
}

#[test]
fn removing_a_node_that_is_not_a_member_is_refused() {
    let c = Cluster::mem(3);
    let leader = c.leader();
    for via in c.running() {
        let outcome = c
            .handle(via)
            .conf_change(ConfChangeStep::Remove(77), None)
            .wait();
        assert!(
            matches!(&outcome, Err(RequestError::Refused(e)) if e.to_string().ends_with("node 77 is not a member")),
            "through node {via}: {outcome:?}"
        );
    }
    assert_eq!(c.handle(leader).status().voters, vec![1, 2, 3]);
}

/// Acknowledged writes, then node `victim`'s disk fails at `op`: the node must
/// stop with a line naming the failure, answer no waiting client with success,
/// never touch that operation again, and after a restart on a working disk
/// hold every write the cluster acknowledged.
fn a_disk_fault_stops_the_node_and_a_restart_recovers(
    victim_is_leader: bool,
    op: Op,
    failure: Failure,
) {
    let plan = FaultPlan::default();
    let mut c = Cluster::start(3, Faulty::new(File, &plan), Settings::default());
    let leader = c.leader();
    let victim = if victim_is_leader {
        leader
    } else {
        others(&c, leader)[0]
    };
    let mut acked = Vec::new();
    for i in 0..20 {
        assert_eq!(c.set(leader, &format!("k{i}"), "v"), Ok(Reply::ok()));
        acked.push(format!("k{i}"));
    }
    plan.arm(victim, op, failure, 0, true);
    if op == Op::HardState {
        // A term change makes every node write its hard state.
        let target = others(&c, leader)
            .into_iter()
            .find(|&n| n != victim)
            .unwrap_or(leader);
        let _ = c
            .handle(leader)
            .transfer(if target == leader { victim } else { target });
    }
    let mut i = 20;
    let failed = wait_for(Duration::from_secs(10), || {
        let key = format!("k{i}");
        i += 1;
        let via = c
            .running()
            .into_iter()
            .find(|&n| n != victim)
            .expect("a healthy node");
        if c.set(via, &key, "v") == Ok(Reply::ok()) {
            acked.push(key);
        }
        c.has_failed(victim).then_some(())
    });
    assert!(
        failed.is_some(),
        "node {victim} stops after the {op:?} {failure:?} fault"
    );
    let line = c.fatal_error(victim).expect("a fatal error");
    assert!(line.contains("injected"), "names the failure: {line}");
    let attempts = plan.calls(victim, op);
    assert!(
        c.handle(victim).write(set("after", "v")).wait().is_err(),
        "a failed node acknowledges nothing"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        plan.calls(victim, op),
        attempts,
        "the failed operation is never retried"
    );
    c.reap_failed(victim);
    plan.disarm(victim);
    c.start_node(victim, false);
    let leader = c.leader();
    assert_eq!(c.set(leader, "after-restart", "v"), Ok(Reply::ok()));
    for key in &acked {
        assert_eq!(c.get(victim, key), Ok(bulk("v")), "{key} on node {victim}");
    }
    c.wait_local(victim, "after-restart", &bulk("v"));
}

#[test]
fn a_failed_wal_fsync_on_the_leader_stops_it_and_loses_no_acknowledged_write() {
    a_disk_fault_stops_the_node_and_a_restart_recovers(true, Op::Append, Failure::Fsync);
}

#[test]
fn a_refused_wal_write_on_a_follower_stops_it_and_loses_no_acknowledged_write() {
    a_disk_fault_stops_the_node_and_a_restart_recovers(false, Op::Append, Failure::Write);
}

#[test]
fn a_failed_hard_state_rename_stops_the_node_and_loses_no_acknowledged_write() {
    a_disk_fault_stops_the_node_and_a_restart_recovers(false, Op::HardState, Failure::Write);
}

#[test]
fn a_leader_whose_disk_stalls_still_commits_on_its_followers() {
    let plan = FaultPlan::default();
    let c = Cluster::start(3, Faulty::new(File, &plan), Settings::default());
    let leader = c.leader();
    assert_eq!(c.set(leader, "before", "v"), Ok(Reply::ok()));
    let appends = plan.calls(leader, Op::Append);
    plan.arm(leader, Op::Append, Failure::Stall, 0, true);
    assert_eq!(
        c.set(leader, "during", "v"),
        Ok(Reply::ok()),
        "the followers are a quorum while the leader's own write is stalled"
    );
    assert_eq!(
        plan.calls(leader, Op::Append),
        appends + 1,
        "the leader's write of it is the one stalled in its disk"
    );
    assert_eq!(c.get(leader, "during"), Ok(bulk("v")));
    let later = in_background(c.handle(leader).write(set("later", "v")));
    plan.disarm(leader);
    assert_eq!(later.join().expect("no panic"), Ok(Reply::ok()));
    assert_eq!(c.set(leader, "after", "v"), Ok(Reply::ok()));
    for id in c.running() {
        c.wait_local(id, "after", &bulk("v"));
    }
}

#[test]
fn an_entry_of_an_unknown_state_machine_version_stops_the_node_before_it_is_applied() {
    use raft_core::{Entry, EntryPayload, Storage};
    use raft_kv_state::entry::STATE_MACHINE_VERSION;
    use raft_kv_state::{Entry as LogEntry, ProposalId};
    use raft_storage::{HardStateStore, LogStore};
    let mut c = Cluster::mem(1);
    assert_eq!(c.set(1, "k", "before"), Ok(Reply::ok()));
    c.stop(1);
    // What a newer binary's leader would have committed: a SET at the next
    // state machine version, which this binary cannot read.
    let storage = c.storage(1);
    let index = storage.last_index().expect("a log") + 1;
    let mut hard = storage.hard_state();
    let mut newer = LogEntry::new(
        ProposalId {
            node: 9,
            nonce: 1,
            seq: 1,
        },
        0,
        call(&["SET", "k", "after"]),
    );
    newer.version = STATE_MACHINE_VERSION + 1;
    storage
        .append(&[Entry {
            term: hard.term,
            index,
            payload: EntryPayload::Normal(newer.encode()),
        }])
        .expect("append");
    hard.commit = index;
    storage.set_hard_state(hard).expect("commit it");
    c.start_node(1, false);
    wait_for(Duration::from_secs(5), || c.has_failed(1).then_some(()))
        .expect("the node stops at the entry");
    let line = c.fatal_error(1).expect("a fatal error");
    assert!(
        line.contains(&format!("{index}"))
            && line.contains(&format!("version {}", STATE_MACHINE_VERSION + 1)),
        "one line naming the entry and its version: {line}"
    );
    let status = c.handle(1).status();
    assert!(
        status.applied_index < index,
        "nothing of it is applied: {status:?}"
    );
    assert_eq!(
        c.handle(1).stale_read(&words(&["GET", "k"])),
        bulk("before")
    );
    c.reap_failed(1);
}
