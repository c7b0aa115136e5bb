//! `MULTI`/`EXEC` on real nodes: a transaction's commands are one log entry,
//! applied together (through the leader or a follower), refused whole when
//! queuing fails, and never applied in part, even when the leader is killed.

mod common;

use common::{Cluster, connect};
use raft_kv::Reply;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn reply(r: &mut BufReader<TcpStream>) -> Reply {
    raft_kv_server::client::read_reply(r).expect("a reply")
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

fn queued() -> Reply {
    Reply::Simple("QUEUED".into())
}

#[test]
fn a_transaction_applies_its_commands_in_order_and_answers_each_through_any_node() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    for (round, node) in [(1, leader), (2, follower)] {
        let (mut s, mut r) = connect(&c.client[node - 1]);
        s.write_all(
            b"MULTI\r\nSET t 1\r\nINCR n\r\nGET t\r\nPING\r\nSET k v BADOPT\r\nMGET t n\r\nEXEC\r\nGET n\r\n",
        )
        .expect("send");
        assert_eq!(reply(&mut r), Reply::ok());
        for _ in 0..6 {
            assert_eq!(reply(&mut r), queued());
        }
        let Reply::Array(replies) = reply(&mut r) else {
            panic!("EXEC answers an array");
        };
        let n = round.to_string();
        assert_eq!(
            replies[..4],
            [
                Reply::ok(),
                Reply::Int(round),
                bulk("1"),
                Reply::Simple("PONG".into())
            ]
        );
        assert!(
            matches!(&replies[4], Reply::Error(e) if e.line().starts_with("ERR syntax error")),
            "a command's own error is its reply: {:?}",
            replies[4]
        );
        assert_eq!(replies[5], Reply::Array(vec![bulk("1"), bulk(&n)]));
        assert_eq!(replies.len(), 6);
        assert_eq!(reply(&mut r), bulk(&n), "applied, node {node}");
    }
    // An empty transaction, and one of replies known at once, need no entry.
    let (mut s, mut r) = connect(&c.client[leader - 1]);
    s.write_all(b"MULTI\r\nEXEC\r\nMULTI\r\nECHO hi\r\nEXEC\r\n")
        .expect("send");
    assert_eq!(reply(&mut r), Reply::ok());
    assert_eq!(reply(&mut r), Reply::Array(Vec::new()));
    assert_eq!(reply(&mut r), Reply::ok());
    assert_eq!(reply(&mut r), queued());
    assert_eq!(reply(&mut r), Reply::Array(vec![bulk("hi")]));
}

#[test]
fn an_error_while_queuing_aborts_the_transaction_and_nothing_is_applied() {
    let c = Cluster::start(1);
    let (mut s, mut r) = connect(&c.client[0]);
    s.write_all(
        b"MULTI\r\nSET a 1\r\nNOSUCH x\r\nINCR\r\nRAFT.SNAPSHOT\r\nMULTI\r\nEXEC\r\nGET a\r\n\
          EXEC\r\nDISCARD\r\nMULTI\r\nSET b 1\r\nDISCARD\r\nGET b\r\n",
    )
    .expect("send");
    assert_eq!(reply(&mut r), Reply::ok());
    assert_eq!(reply(&mut r), queued());
    assert!(
        matches!(reply(&mut r), Reply::Error(e) if e.line().starts_with("ERR unknown command"))
    );
    assert!(
        matches!(reply(&mut r), Reply::Error(e) if e.line().contains("wrong number of arguments"))
    );
    assert!(
        matches!(reply(&mut r), Reply::Error(e) if e.line().contains("not allowed inside a transaction"))
    );
    assert_eq!(
        reply(&mut r),
        Reply::Error("ERR MULTI calls can not be nested".into())
    );
    assert_eq!(
        reply(&mut r),
        Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert_eq!(reply(&mut r), Reply::Bulk(None), "nothing was applied");
    assert_eq!(reply(&mut r), Reply::Error("ERR EXEC without MULTI".into()));
    assert_eq!(
        reply(&mut r),
        Reply::Error("ERR DISCARD without MULTI".into())
    );
    assert_eq!(reply(&mut r), Reply::ok());
    assert_eq!(reply(&mut r), queued());
    assert_eq!(reply(&mut r), Reply::ok(), "DISCARD");
    assert_eq!(
        reply(&mut r),
        Reply::Bulk(None),
        "a discarded transaction is not applied"
    );
}

/// Runs `MULTI; INCR a; INCR b; EXEC` against any of `endpoints` until
/// `until`; returns how many EXECs were acknowledged. Every acknowledged EXEC
/// must show both counters equal: nothing else ever increments one alone.
fn increment_both(endpoints: Vec<String>, until: Instant) -> u64 {
    let mut acked = 0;
    let mut at = 0;
    while Instant::now() < until {
        at += 1;
        let Ok(s) = TcpStream::connect(&endpoints[at % endpoints.len()]) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut s = s;
        while Instant::now() < until {
            if s.write_all(b"MULTI\r\nINCR a\r\nINCR b\r\nEXEC\r\n")
                .is_err()
            {
                break;
            }
            let replies: Vec<_> = (0..4)
                .map(|_| raft_kv_server::client::read_reply(&mut r))
                .collect();
            match replies.last() {
                Some(Ok(Reply::Array(pair))) => {
                    assert_eq!(pair.len(), 2, "{pair:?}");
                    assert_eq!(pair[0], pair[1], "INCR a and INCR b applied apart");
                    acked += 1;
                }
                Some(Ok(Reply::Error(_))) => std::thread::sleep(Duration::from_millis(20)),
                _ => break, // connection lost: the node died
            }
        }
    }
    acked
}

#[test]
fn transactions_stay_whole_when_the_leader_is_killed() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let until = Instant::now() + Duration::from_secs(5);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let mut endpoints = c.client.clone();
            endpoints.rotate_left(w % 3);
            std::thread::spawn(move || increment_both(endpoints, until))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    c.kill9(leader);
    let acked: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert!(acked > 0, "some transactions were acknowledged");
    let survivors: Vec<String> = (1..=3)
        .filter(|&i| i != leader)
        .map(|i| c.client[i - 1].clone())
        .collect();
    let mut client = raft_kv_server::Client::new(survivors).expect("endpoints");
    let int = |v: Option<Vec<u8>>| -> u64 {
        String::from_utf8(v.unwrap_or_default())
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    };
    let a = int(client.get(b"a").expect("read a"));
    let b = int(client.get(b"b").expect("read b"));
    assert_eq!(a, b, "a transaction was applied in part");
    assert!(
        a >= acked,
        "{acked} acknowledged, {a} applied: one was lost"
    );
}
