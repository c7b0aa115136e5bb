//! Scripts on whole in-process nodes: every replica runs each `EVAL` entry,
//! and `SCRIPT KILL` (a marker entry) ends a script the same way on all of
//! them, whenever each replica reads the marker.

mod fixtures;

use fixtures::words;
use fixtures::{Cluster, Settings, bulk, in_background, wait_for};
use raft_kv::{Limits, NodeHandle, Op, Reply};
use raft_kv_state::CommandError;
use std::time::Duration;

fn eval(body: &str, keys: &[&str], seed: u64) -> Op {
    Op::Script(Box::new(raft_kv_state::entry::ScriptCall {
        body: body.as_bytes().to_vec(),
        keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
        args: Vec::new(),
        seed,
        read_only: false,
        limits: Limits::default(),
    }))
}

fn patient() -> Cluster<fixtures::Mem> {
    Cluster::mem_with(
        3,
        Settings {
            request_timeout: Duration::from_secs(30),
            ..Settings::default()
        },
    )
}

/// Every node's own (stale) read of `key`, once all agree or 10 s passed.
fn agreed(c: &Cluster<fixtures::Mem>, key: &str) -> Vec<Reply> {
    let read = words(&["GET", key]);
    let reads = || -> Vec<Reply> {
        c.running()
            .iter()
            .map(|id| c.handle(*id).stale_read(&read))
            .collect()
    };
    wait_for(Duration::from_secs(10), || {
        let r = reads();
        r.iter().all(|x| *x == r[0]).then_some(r)
    })
    .unwrap_or_else(reads)
}

/// Waits until `node` runs a script, and returns its entry's index.
fn running_on(node: &NodeHandle) -> u64 {
    wait_for(Duration::from_secs(10), || node.running_script())
        .expect("the script starts within 10 s")
        .index
}

#[test]
fn a_script_computes_the_same_on_every_replica_randomness_included() {
    let c = Cluster::mem(3);
    let follower = *c
        .running()
        .iter()
        .find(|id| **id != c.leader())
        .expect("one");
    let setup = "for i = 1, 50 do redis.call('SADD', 'pool', i) end return 1";
    let h = c.handle(follower);
    assert_eq!(h.write(eval(setup, &[], 1)).wait(), Ok(Reply::Int(1)));
    let draw = "local a = redis.call('SPOP', 'pool') \
                local b = math.random(1000000) \
                redis.call('SET', KEYS[1], a .. ':' .. b) \
                return redis.call('GET', KEYS[1])";
    let reply = h.write(eval(draw, &["drawn"], 77)).wait().expect("applied");
    let Reply::Bulk(Some(value)) = &reply else {
        panic!("a bulk: {reply:?}")
    };
    let reads = agreed(&c, "drawn");
    assert!(reads.iter().all(|r| *r == reply), "{reads:?} vs {value:?}");
}

#[test]
fn script_kill_stops_a_script_that_never_ends_and_it_changes_nothing_anywhere() {
    let c = patient();
    let leader = c.leader();
    let follower = *c.running().iter().find(|id| **id != leader).expect("one");
    let loops = "local i = 0 while true do i = i + 1 \
                 if i == 400000000 then redis.call('SET', 'late', 'yes') end end";
    let pending = in_background(c.handle(leader).write(eval(loops, &[], 1)));
    let h = c.handle(follower);
    let index = running_on(&h);
    h.set_busy_threshold_ms(10);
    assert!(wait_for(Duration::from_secs(5), || h.script_busy().then_some(())).is_some());
    assert!(
        matches!(h.stale_read(&words(&["DBSIZE"])), Reply::Error(e) if e.line().starts_with("BUSY")),
        "a port thread is told BUSY instead of waiting on the script"
    );
    std::thread::sleep(Duration::from_millis(100));
    let kill = Op::ScriptMarker {
        script: index,
        kill: true,
    };
    assert_eq!(
        h.write(kill.clone()).wait(),
        Ok(Reply::ok()),
        "the kill's own reply"
    );
    let killed = pending.join().expect("joins");
    assert!(
        matches!(&killed, Ok(Reply::Error(e)) if e.line().ends_with("Script killed by user with SCRIPT KILL...")),
        "{killed:?}"
    );
    assert_eq!(h.write(kill).wait(), Ok(CommandError::NotBusy.into()));
    assert_eq!(
        c.set(follower, "after", "1"),
        Ok(Reply::ok()),
        "the log moves on"
    );
    assert_eq!(agreed(&c, "after"), vec![bulk("1"); 3]);
    assert_eq!(agreed(&c, "late"), vec![Reply::Bulk(None); 3]);
    assert!(
        c.running()
            .iter()
            .all(|id| c.handle(*id).running_script().is_none())
    );
}

#[test]
fn a_script_that_writes_after_its_fast_phase_goes_on_everywhere() {
    let c = patient();
    let slow = "local i = 0 while i < 3000000 do i = i + 1 end \
                redis.call('SET', 'slow', i) return i";
    let leader = c.leader();
    assert_eq!(
        c.handle(leader).write(eval(slow, &[], 1)).wait(),
        Ok(Reply::Int(3_000_000))
    );
    assert_eq!(agreed(&c, "slow"), vec![bulk("3000000"); 3]);
}

/// The property the markers exist for: killed at any moment, a script
/// that writes only late either wrote on every replica or on none.
#[test]
fn a_kill_at_any_moment_leaves_every_replica_with_the_same_outcome() {
    let c = patient();
    let leader = c.leader();
    let nodes = c.running();
    for (round, delay_ms) in [0u64, 10, 30, 60, 200].into_iter().enumerate() {
        let key = format!("late{round}");
        let body = format!(
            "local i = 0 while i < 8000000 do i = i + 1 end redis.call('SET', '{key}', 'yes') return 1"
        );
        let via = nodes[round % nodes.len()];
        let pending = in_background(c.handle(leader).write(eval(&body, &[], 1)));
        let h = c.handle(via);
        if let Some(script) = wait_for(Duration::from_secs(10), || h.running_script()) {
            std::thread::sleep(Duration::from_millis(delay_ms));
            let _ = h
                .write(Op::ScriptMarker {
                    script: script.index,
                    kill: true,
                })
                .wait();
        }
        let outcome = pending.join().expect("joins").expect("an outcome");
        let reads = agreed(&c, &key);
        let expected = match &outcome {
            Reply::Int(1) => bulk("yes"),
            Reply::Error(e)
                if e.line()
                    .ends_with("Script killed by user with SCRIPT KILL...") =>
            {
                Reply::Bulk(None)
            }
            other => panic!("round {round}: {other:?}"),
        };
        assert_eq!(
            reads,
            vec![expected; 3],
            "round {round} (kill after {delay_ms} ms)"
        );
    }
}

#[test]
fn a_replica_stopped_during_a_script_stops_and_replays_it_after_a_restart() {
    let mut c = patient();
    let leader = c.leader();
    let follower = *c.running().iter().find(|id| **id != leader).expect("one");
    let loops = "while true do end";
    let pending = in_background(c.handle(leader).write(eval(loops, &[], 1)));
    let index = running_on(&c.handle(follower));
    let t0 = std::time::Instant::now();
    c.stop(follower);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the stop does not wait for the script"
    );
    c.start_node(follower, false);
    let h = c.handle(follower);
    assert_eq!(
        running_on(&h),
        index,
        "the restarted replica runs the script again"
    );
    let kill = Op::ScriptMarker {
        script: index,
        kill: true,
    };
    assert_eq!(c.handle(leader).write(kill).wait(), Ok(Reply::ok()));
    let _ = pending.join();
    assert_eq!(c.set(follower, "after", "1"), Ok(Reply::ok()));
    assert_eq!(agreed(&c, "after"), vec![bulk("1"); 3]);
}

#[test]
fn a_script_at_the_libraries_nesting_limits_gets_their_errors_and_every_replica_goes_on() {
    // A 5000-deep table: cjson refuses it past 1000 levels, as Redis does,
    // and cmsgpack packs the first 16; it once overflowed every applier's
    // stack at once, which took the whole cluster down.
    let c = Cluster::mem(3);
    let h = c.handle(c.leader());
    let deep = "local t = {} local c = t for i = 1, 5000 do c[1] = {} c = c[1] end ";
    let encode = format!("{deep} return cjson.encode(t)");
    let reply = h.write(eval(&encode, &[], 1)).wait().expect("applied");
    assert!(
        matches!(&reply, Reply::Error(e) if e.line().contains("Cannot serialise, excessive nesting (1001)")),
        "{reply:?}"
    );
    let pack = format!("{deep} redis.call('SET', 'packed', cmsgpack.pack(t)) return 1");
    assert_eq!(h.write(eval(&pack, &[], 1)).wait(), Ok(Reply::Int(1)));
    let reads = agreed(&c, "packed");
    assert_eq!(reads.len(), 3, "every replica still runs");
    assert!(
        reads
            .iter()
            .all(|r| matches!(r, Reply::Bulk(Some(b)) if b.len() == 17)),
        "{reads:?}"
    );
}
