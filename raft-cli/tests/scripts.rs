//! Lua scripts on real nodes: `EVAL` through any node, `EVALSHA` after it
//! anywhere, `SCRIPT` and its errors, and a script that never ends: `BUSY`
//! meanwhile, `SCRIPT KILL` through a follower, even after the leader is
//! killed -9, with every replica left the same.

mod common;

use common::{Cluster, wait_until};
use raft_kv::Reply;
use std::time::Duration;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

/// One command to node `i` (a new connection).
fn call(c: &Cluster, i: usize, args: &[&str]) -> Reply {
    let words: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.client_of(i).call_here(&words).expect("a reply")
}

trait NoScript {
    /// Node `i` answers a command that needs its state (no script holds it).
    fn running_script_free(&self, i: usize) -> bool;
}

impl NoScript for Cluster {
    fn running_script_free(&self, i: usize) -> bool {
        !is_error(&call(self, i, &["DBSIZE"]), "BUSY")
    }
}

fn is_error(reply: &Reply, code: &str) -> bool {
    matches!(reply, Reply::Error(e) if e.line().split_ascii_whitespace().next() == Some(code))
}

#[test]
fn scripts_run_through_any_node_and_evalsha_finds_them_on_every_node() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    let body = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('INCR', KEYS[2])";
    assert_eq!(
        call(&c, follower, &["EVAL", body, "2", "k", "n", "v"]),
        Reply::Int(1)
    );
    let sha = raft_kv_state::script::sha1_hex(body.as_bytes());
    for node in 1..=3 {
        // Every replica cached the script when it applied it.
        let again = call(&c, node, &["EVALSHA", &sha, "2", "k", "n", "w"]);
        assert_eq!(again, Reply::Int(node as i64 + 1), "EVALSHA on node {node}");
    }
    for node in 1..=3 {
        wait_until(
            "every replica applied the scripts",
            Duration::from_secs(10),
            || c.local_get(node, "n") == Some(b"4".to_vec()),
        );
        assert_eq!(c.local_get(node, "k"), Some(b"w".to_vec()), "node {node}");
    }
    let unknown = call(&c, leader, &["EVALSHA", &"0".repeat(40), "0"]);
    assert!(is_error(&unknown, "NOSCRIPT"), "{unknown:?}");
    let loaded = call(&c, leader, &["SCRIPT", "LOAD", "return 'loaded'"]);
    let Reply::Bulk(Some(loaded_sha)) = loaded else {
        panic!("SCRIPT LOAD answers the SHA1: {loaded:?}")
    };
    let loaded_sha = String::from_utf8(loaded_sha).expect("hex");
    assert_eq!(
        call(
            &c,
            leader,
            &["SCRIPT", "EXISTS", &loaded_sha, &"1".repeat(40)]
        ),
        Reply::Array(vec![Reply::Int(1), Reply::Int(0)])
    );
    assert_eq!(
        call(&c, leader, &["EVALSHA", &loaded_sha, "0"]),
        bulk("loaded")
    );
    assert_eq!(call(&c, leader, &["SCRIPT", "FLUSH"]), Reply::ok());
    assert!(is_error(
        &call(&c, leader, &["EVALSHA", &loaded_sha, "0"]),
        "NOSCRIPT"
    ));
    for bad in [
        vec!["EVAL", "return 1", "x"],
        vec!["EVAL", "return 1", "-1"],
        vec!["EVAL", "return 1", "2", "only-one"],
        vec!["EVAL", "return +", "0"],
        vec!["SCRIPT", "LOAD", "return +"],
        vec!["EVAL_RO", "return redis.call('SET', 'x', 1)", "0"],
        vec!["EVAL", "return redis.call('RAFT.ADDNODE', 9, 'h:1')", "0"],
    ] {
        assert!(is_error(&call(&c, leader, &bad), "ERR"), "{bad:?}");
    }
    assert_eq!(
        c.local_get(leader, "x"),
        None,
        "a read-only script wrote nothing"
    );
}

#[test]
fn a_script_that_never_ends_answers_busy_and_dies_by_script_kill_through_a_follower() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    let other = (1..=3)
        .find(|&i| i != leader && i != follower)
        .expect("a third");
    assert_eq!(call(&c, leader, &["SET", "xx", "1"]), Reply::ok());
    for node in 1..=3 {
        assert_eq!(
            call(&c, node, &["CONFIG", "SET", "lua-time-limit", "10"]),
            Reply::ok()
        );
    }
    let looping = {
        let addr = c.client[leader - 1].clone();
        std::thread::spawn(move || {
            let mut client = raft_kv_server::Client::new(vec![addr]).expect("endpoint");
            client.call_here(&[b"EVAL", b"while true do end", b"0"])
        })
    };
    wait_until("BUSY on the follower", Duration::from_secs(10), || {
        is_error(&call(&c, follower, &["GET", "xx"]), "BUSY")
    });
    // A transaction that meets BUSY is discarded whole, as in Redis.
    let mut tx = c.client_of(follower);
    assert_eq!(tx.call_here(&[b"MULTI"]).expect("MULTI"), Reply::ok());
    assert!(is_error(
        &tx.call_here(&[b"INCR", b"xx"]).expect("INCR"),
        "BUSY"
    ));
    let exec = tx.call_here(&[b"EXEC"]).expect("EXEC");
    assert!(
        matches!(&exec, Reply::Error(e) if e.line().starts_with("EXECABORT Transaction discarded because of: BUSY")),
        "{exec:?}"
    );
    // The leader dies; the survivors still run the script, and still obey
    // a kill, which the new leader commits.
    c.kill9(leader);
    // Until a new leader commits it, a kill is refused as any write is
    // (TIMEOUT, NOLEADER) and the client retries; an attempt that was
    // applied after all leaves the next one NOTBUSY.
    let mut killed = Reply::Int(0);
    wait_until("SCRIPT KILL committed", Duration::from_secs(20), || {
        killed = call(&c, follower, &["SCRIPT", "KILL"]);
        killed == Reply::ok() || is_error(&killed, "NOTBUSY")
    });
    let _ = looping.join();
    // Each node stops the script when it applies the kill: the node that
    // answered has, the other within a heartbeat.
    wait_until(
        "the script stopped everywhere",
        Duration::from_secs(10),
        || c.running_script_free(follower) && c.running_script_free(other),
    );
    assert_eq!(
        call(&c, other, &["INCR", "xx"]),
        Reply::Int(2),
        "the log moves on"
    );
    assert!(is_error(&call(&c, other, &["SCRIPT", "KILL"]), "NOTBUSY"));
    c.start_node(leader);
    // The restarted node replays the script and the kill from its log.
    wait_until(
        "the restarted node catches up",
        Duration::from_secs(20),
        || {
            let mut client = c.client_of(leader);
            let _ = client.call_here(&[b"READONLY"]);
            client.call_here(&[b"GET", b"xx"]).ok() == Some(bulk("2"))
        },
    );
    for node in 1..=3 {
        assert_eq!(c.local_get(node, "xx"), Some(b"2".to_vec()), "node {node}");
    }
}
