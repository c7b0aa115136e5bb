//! Blocking commands (BLPOP and the like) on real nodes: a client blocked on
//! a follower is served by a push through the leader, clients of one node are
//! served in the order they blocked, a timeout answers nil, a client that
//! leaves (or whose node is killed) takes nothing with it, and a queue served
//! by blocking pops neither loses nor repeats a job across a leader's kill -9.

mod common;

use common::{Cluster, connect, wait_until};
use raft_kv::Reply;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn reply(r: &mut BufReader<TcpStream>) -> Reply {
    raft_kv_server::client::read_reply(r).expect("a reply")
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

fn send(s: &mut TcpStream, line: &str) {
    s.write_all(format!("{line}\r\n").as_bytes()).expect("send");
}

/// A command on node `i`'s client port, answered.
fn run(c: &Cluster, i: usize, line: &str) -> Reply {
    let (mut s, mut r) = connect(&c.client[i - 1]);
    send(&mut s, line);
    reply(&mut r)
}

fn blocked_on(c: &Cluster, i: usize) -> usize {
    c.info(i, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

#[test]
fn clients_blocked_on_a_follower_are_served_in_order_by_pushes_through_the_leader() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    let (mut first, mut first_r) = connect(&c.client[follower - 1]);
    send(&mut first, "BLPOP jobs 0");
    wait_until("the first client blocks", Duration::from_secs(5), || {
        blocked_on(&c, follower) == 1
    });
    let (mut second, mut second_r) = connect(&c.client[follower - 1]);
    send(&mut second, "BRPOP other jobs 0");
    wait_until("the second client blocks", Duration::from_secs(5), || {
        blocked_on(&c, follower) == 2
    });
    assert_eq!(run(&c, leader, "RPUSH jobs a b"), Reply::Int(2));
    assert_eq!(
        reply(&mut first_r),
        Reply::Array(vec![bulk("jobs"), bulk("a")])
    );
    assert_eq!(
        reply(&mut second_r),
        Reply::Array(vec![bulk("jobs"), bulk("b")])
    );
    wait_until("no client is blocked", Duration::from_secs(5), || {
        blocked_on(&c, follower) == 0
    });
    for i in 1..=3 {
        assert_eq!(run(&c, i, "EXISTS jobs"), Reply::Int(0), "node {i}");
    }
    // The connections go on as usual after being served.
    send(&mut first, "PING");
    assert_eq!(reply(&mut first_r), Reply::Simple("PONG".into()));
}

#[test]
fn a_timeout_answers_nil_and_inside_multi_a_blocking_pop_answers_at_once() {
    let c = Cluster::start(1);
    c.wait_for_leader(Duration::from_secs(10));
    let (mut s, mut r) = connect(&c.client[0]);
    let t0 = Instant::now();
    send(&mut s, "BLPOP nothing 0.2");
    assert_eq!(reply(&mut r), Reply::NullArray);
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "waited its timeout"
    );
    send(&mut s, "BLMOVE nothing dst LEFT RIGHT 0.05");
    assert_eq!(reply(&mut r), Reply::Bulk(None));
    send(&mut s, "MULTI");
    send(&mut s, "BZPOPMIN nothing 0");
    send(&mut s, "EXEC");
    assert_eq!(reply(&mut r), Reply::ok());
    assert_eq!(reply(&mut r), Reply::Simple("QUEUED".into()));
    assert_eq!(reply(&mut r), Reply::Array(vec![Reply::NullArray]));
    send(&mut s, "BLPOP k -1");
    assert_eq!(
        reply(&mut r),
        Reply::Error("ERR timeout is negative".into())
    );
    // CLIENT UNBLOCK ... ERROR ends a wait with an error.
    send(&mut s, "CLIENT ID");
    let Reply::Int(id) = reply(&mut r) else {
        panic!("CLIENT ID is an integer");
    };
    send(&mut s, "BLPOP k 0");
    wait_until("it blocks", Duration::from_secs(5), || {
        blocked_on(&c, 1) == 1
    });
    assert_eq!(
        run(&c, 1, &format!("CLIENT UNBLOCK {id} ERROR")),
        Reply::Int(1)
    );
    assert_eq!(
        reply(&mut r),
        Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    assert_eq!(run(&c, 1, &format!("CLIENT UNBLOCK {id}")), Reply::Int(0));
}

#[test]
fn a_blocked_client_that_leaves_or_whose_node_dies_takes_nothing() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let mut followers = (1..=3).filter(|&i| i != leader);
    let (gone, killed) = (
        followers.next().expect("a follower"),
        followers.next().expect("another"),
    );
    {
        let (mut s, _r) = connect(&c.client[gone - 1]);
        send(&mut s, "BLPOP q 0");
        wait_until("it blocks", Duration::from_secs(5), || {
            blocked_on(&c, gone) == 1
        });
    } // the client disconnects
    wait_until("the node forgets it", Duration::from_secs(5), || {
        blocked_on(&c, gone) == 0
    });
    let (mut s, _r) = connect(&c.client[killed - 1]);
    send(&mut s, "BLPOP q 0");
    wait_until("it blocks", Duration::from_secs(5), || {
        blocked_on(&c, killed) == 1
    });
    c.kill9(killed);
    assert_eq!(run(&c, leader, "RPUSH q kept"), Reply::Int(1));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        run(&c, leader, "LRANGE q 0 -1"),
        Reply::Array(vec![bulk("kept")]),
        "nobody took the element"
    );
}

/// One consumer: BRPOP on `addr` until `stop`, recording what it got and
/// how many of its calls ended without an answer (a pop that may have
/// happened unseen, as in Redis when a connection drops).
fn consume(addr: String, stop: Arc<AtomicBool>) -> (Vec<String>, usize) {
    let (mut got, mut unknown) = (Vec::new(), 0);
    while !stop.load(Ordering::SeqCst) {
        let Ok(s) = TcpStream::connect(&addr) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut w = s.try_clone().expect("clone");
        let mut r = BufReader::new(s);
        while !stop.load(Ordering::SeqCst) {
            if w.write_all(b"BRPOP jobs 0.3\r\n").is_err() {
                break;
            }
            match raft_kv_server::client::read_reply(&mut r) {
                Ok(Reply::Array(kv)) if kv.len() == 2 => match &kv[1] {
                    Reply::Bulk(Some(v)) => got.push(String::from_utf8_lossy(v).into_owned()),
                    other => panic!("BRPOP answered {other:?}"),
                },
                Ok(Reply::NullArray) => {}
                Ok(Reply::Error(_)) => unknown += 1,
                Ok(other) => panic!("BRPOP answered {other:?}"),
                Err(_) => {
                    unknown += 1;
                    break;
                }
            }
        }
    }
    (got, unknown)
}

#[test]
fn a_queue_served_by_blocking_pops_loses_and_repeats_nothing_when_the_leader_is_killed() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let stop = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..4)
        .map(|i| {
            let (addr, stop) = (c.client[i % 3].clone(), stop.clone());
            std::thread::spawn(move || consume(addr, stop))
        })
        .collect();
    // Pushes through any live node; only acknowledged ones must come out.
    let mut acked = Vec::new();
    let mut unknown_pushes = Vec::new();
    for n in 0..300 {
        if n == 100 {
            c.kill9(leader);
        }
        if n == 200 {
            c.start_node(leader);
        }
        let node = (0..3).map(|k| (n + k) % 3 + 1).find(|&i| c.is_running(i));
        let node = node.expect("a live node");
        let (mut s, mut r) = connect(&c.client[node - 1]);
        let job = format!("job{n}");
        send(&mut s, &format!("RPUSH jobs {job}"));
        match raft_kv_server::client::read_reply(&mut r) {
            Ok(Reply::Int(_)) => acked.push(job),
            _ => unknown_pushes.push(job),
        }
    }
    // Let the consumers drain what is there, then stop them.
    let l = c.wait_for_leader(Duration::from_secs(10));
    wait_until("the queue drains", Duration::from_secs(20), || {
        run(&c, l, "LLEN jobs") == Reply::Int(0)
    });
    stop.store(true, Ordering::SeqCst);
    let mut consumed = Vec::new();
    let mut unknown_pops = 0;
    for t in consumers {
        let (got, unknown) = t.join().expect("consumer");
        consumed.extend(got);
        unknown_pops += unknown;
    }
    let mut seen = std::collections::BTreeSet::new();
    for job in &consumed {
        assert!(seen.insert(job.clone()), "{job} was popped twice");
        assert!(
            acked.contains(job) || unknown_pushes.contains(job),
            "{job} was never pushed"
        );
    }
    let missing: Vec<_> = acked.iter().filter(|j| !seen.contains(*j)).collect();
    eprintln!(
        "{} pushes acknowledged, {} unknown; {} jobs popped, {unknown_pops} pops unanswered",
        acked.len(),
        unknown_pushes.len(),
        consumed.len()
    );
    assert!(
        missing.len() <= unknown_pops,
        "{} acknowledged jobs never came out ({missing:?}), with {unknown_pops} pops unanswered",
        missing.len()
    );
    assert!(
        acked.len() >= 150,
        "most pushes were acknowledged: {}",
        acked.len()
    );
}
