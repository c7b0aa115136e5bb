//! Expiry and WATCH on real nodes: a key with a TTL disappears from every
//! replica through the log (also when nothing else is written), TTLs read
//! the same through any node, and `EXEC` after `WATCH` answers nil when a
//! watched key changed, through the leader and through a follower.

mod common;

use common::{Cluster, connect};
use raft_kv::Reply;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn reply(r: &mut BufReader<TcpStream>) -> Reply {
    raft_kv_server::client::read_reply(r).expect("a reply")
}

fn ask(s: &mut TcpStream, r: &mut BufReader<TcpStream>, cmd: &str) -> Reply {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = Vec::new();
    raft_kv_server::resp::encode_request(&words, &mut out);
    s.write_all(&out).expect("send");
    reply(r)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn a_key_with_a_ttl_is_deleted_on_every_replica_through_the_log() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    let (mut s, mut r) = connect(&c.client[follower - 1]);
    assert_eq!(ask(&mut s, &mut r, "SET short v PX 300"), Reply::ok());
    assert_eq!(ask(&mut s, &mut r, "SET long v EX 100"), Reply::ok());
    assert_eq!(ask(&mut s, &mut r, "SET plain v"), Reply::ok());
    let Reply::Int(ttl) = ask(&mut s, &mut r, "PTTL short") else {
        panic!("PTTL answers an integer")
    };
    assert!((1..=300).contains(&ttl), "ttl {ttl}");
    assert_eq!(ask(&mut s, &mut r, "TTL plain"), Reply::Int(-1));
    assert_eq!(ask(&mut s, &mut r, "TTL nosuch"), Reply::Int(-2));
    // Nothing more is written: the leader's tick deletes the key everywhere.
    let deadline = Instant::now() + Duration::from_secs(10);
    for node in 1..=3 {
        let (mut s, mut r) = connect(&c.client[node - 1]);
        s.write_all(b"READONLY\r\n").expect("send");
        assert_eq!(reply(&mut r), Reply::ok());
        loop {
            if ask(&mut s, &mut r, "DBSIZE") == Reply::Int(2) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {node} still holds the expired key"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(ask(&mut s, &mut r, "GET short"), Reply::Bulk(None));
        let Reply::Int(ttl) = ask(&mut s, &mut r, "TTL long") else {
            panic!("TTL answers an integer")
        };
        assert!((95..=100).contains(&ttl), "node {node}: ttl {ttl}");
    }
    let (mut s, mut r) = connect(&c.client[leader - 1]);
    assert_eq!(ask(&mut s, &mut r, "PERSIST long"), Reply::Int(1));
    assert_eq!(ask(&mut s, &mut r, "TTL long"), Reply::Int(-1));
    assert_eq!(ask(&mut s, &mut r, "EXPIRE long 0"), Reply::Int(1));
    assert_eq!(
        ask(&mut s, &mut r, "EXISTS long"),
        Reply::Int(0),
        "a past time deletes"
    );
}

#[test]
fn exec_after_watch_answers_nil_when_a_watched_key_changed() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    for node in [leader, follower] {
        let (mut s, mut r) = connect(&c.client[node - 1]);
        let (mut other, mut other_r) = connect(&c.client[leader - 1]);
        assert_eq!(ask(&mut s, &mut r, "SET w 1"), Reply::ok());
        // Unchanged: the transaction runs.
        assert_eq!(ask(&mut s, &mut r, "WATCH w"), Reply::ok());
        assert_eq!(ask(&mut s, &mut r, "MULTI"), Reply::ok());
        assert_eq!(
            ask(&mut s, &mut r, "INCR w"),
            Reply::Simple("QUEUED".into())
        );
        assert_eq!(
            ask(&mut s, &mut r, "EXEC"),
            Reply::Array(vec![Reply::Int(2)])
        );
        // Changed by another client between WATCH and EXEC: nothing runs.
        assert_eq!(ask(&mut s, &mut r, "WATCH w absent"), Reply::ok());
        assert_eq!(ask(&mut other, &mut other_r, "SET absent now"), Reply::ok());
        assert_eq!(ask(&mut s, &mut r, "MULTI"), Reply::ok());
        assert_eq!(
            ask(&mut s, &mut r, "SET w 100"),
            Reply::Simple("QUEUED".into())
        );
        assert_eq!(ask(&mut s, &mut r, "EXEC"), Reply::NullArray, "node {node}");
        assert_eq!(
            ask(&mut s, &mut r, "GET w"),
            bulk("2"),
            "node {node}: not applied"
        );
        // EXEC ended the watch; UNWATCH and DISCARD end it too.
        assert_eq!(ask(&mut s, &mut r, "WATCH w"), Reply::ok());
        assert_eq!(ask(&mut s, &mut r, "UNWATCH"), Reply::ok());
        assert_eq!(ask(&mut other, &mut other_r, "SET w 3"), Reply::ok());
        assert_eq!(ask(&mut s, &mut r, "MULTI"), Reply::ok());
        assert_eq!(ask(&mut s, &mut r, "GET w"), Reply::Simple("QUEUED".into()));
        assert_eq!(ask(&mut s, &mut r, "EXEC"), Reply::Array(vec![bulk("3")]));
        assert_eq!(ask(&mut other, &mut other_r, "DEL absent"), Reply::Int(1));
    }
}
