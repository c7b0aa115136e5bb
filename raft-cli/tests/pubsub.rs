//! Pub/sub on real nodes: a message is an entry of the log, and every node
//! delivers it to its own subscribers as it applies the entry. So
//! subscribers on different nodes receive the same messages in the same
//! order, a publish through a follower reaches the leader's subscribers,
//! and a leader's kill -9 loses no acknowledged message for a subscriber
//! that stayed connected.

mod common;

use common::{Cluster, connect, wait_until};
use raft_kv::Reply;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn reply(r: &mut BufReader<TcpStream>) -> Reply {
    raft_kv_server::client::read_reply(r).expect("a reply")
}

fn send(s: &mut TcpStream, line: &str) {
    s.write_all(format!("{line}\r\n").as_bytes()).expect("send");
}

/// Sends `words` as a RESP array (inline requests stop at 64 KiB).
fn send_words(s: &mut TcpStream, words: &[&str]) {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    s.write_all(&out).expect("send");
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Some(s.as_bytes().to_vec()))
}

/// A subscriber of `channel` on node `i`: its messages arrive on the
/// channel it returns until its connection ends.
fn subscribe(c: &Cluster, i: usize, channel: &str) -> mpsc::Receiver<String> {
    let (mut s, mut r) = connect(&c.client[i - 1]);
    send(&mut s, &format!("SUBSCRIBE {channel}"));
    assert_eq!(
        reply(&mut r),
        Reply::Array(vec![bulk("subscribe"), bulk(channel), Reply::Int(1)])
    );
    s.set_read_timeout(None).expect("no timeout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _keep = s;
        while let Ok(Reply::Array(words)) = raft_kv_server::client::read_reply(&mut r) {
            if let [_, _, Reply::Bulk(Some(m))] = words.as_slice()
                && tx.send(String::from_utf8_lossy(m).into_owned()).is_err()
            {
                return;
            }
        }
    });
    rx
}

/// What a subscriber received within `quiet` of the last message.
fn drain(rx: &mpsc::Receiver<String>, got: &mut Vec<String>, quiet: Duration) {
    while let Ok(m) = rx.recv_timeout(quiet) {
        got.push(m);
    }
}

#[test]
fn a_publish_through_a_follower_reaches_subscribers_on_every_node_in_one_order() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    let subscribers: Vec<_> = (1..=3).map(|i| subscribe(&c, i, "news")).collect();
    let (mut p, mut pr) = connect(&c.client[follower - 1]);
    for n in 0..50 {
        // Pipelined, so that the entries interleave with nothing in order.
        send(&mut p, &format!("PUBLISH news m{n}"));
    }
    for _ in 0..50 {
        assert_eq!(
            reply(&mut pr),
            Reply::Int(1),
            "the follower counts its own subscriber"
        );
    }
    let expected: Vec<String> = (0..50).map(|n| format!("m{n}")).collect();
    for (i, rx) in subscribers.iter().enumerate() {
        let mut got = Vec::new();
        drain(rx, &mut got, Duration::from_secs(2));
        assert_eq!(got, expected, "node {}'s subscriber", i + 1);
    }
}

#[test]
fn every_acknowledged_message_reaches_every_subscriber_that_stayed_across_a_leader_kill() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let stayed: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    let subscribers: Vec<_> = stayed.iter().map(|&i| subscribe(&c, i, "jobs")).collect();
    let _doomed = subscribe(&c, leader, "jobs");

    // One publisher per surviving node, one message at a time: a message
    // answered with a count was applied; any other answer is unknown.
    let publishers: Vec<_> = stayed
        .iter()
        .map(|&i| {
            let addr = c.client[i - 1].clone();
            std::thread::spawn(move || {
                let (mut s, mut r) = connect(&addr);
                let mut acked = Vec::new();
                let until = Instant::now() + Duration::from_secs(6);
                let mut n = 0;
                while Instant::now() < until {
                    let m = format!("n{i}-{n}");
                    n += 1;
                    send(&mut s, &format!("PUBLISH jobs {m}"));
                    if let Ok(Reply::Int(_)) = raft_kv_server::client::read_reply(&mut r) {
                        acked.push(m);
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    c.kill9(leader);
    std::thread::sleep(Duration::from_millis(1500));
    c.start_node(leader);
    let acked: Vec<Vec<String>> = publishers
        .into_iter()
        .map(|p| p.join().expect("publisher"))
        .collect();
    assert!(
        acked.iter().all(|a| a.len() > 10),
        "both publishers got answers before and after the kill: {:?}",
        acked.iter().map(Vec::len).collect::<Vec<_>>()
    );

    let mut received: Vec<Vec<String>> = vec![Vec::new(); subscribers.len()];
    wait_until(
        "every subscriber has every acknowledged message",
        Duration::from_secs(15),
        || {
            for (rx, got) in subscribers.iter().zip(received.iter_mut()) {
                drain(rx, got, Duration::from_millis(200));
            }
            received
                .iter()
                .all(|got| acked.iter().flatten().all(|m| got.contains(m)))
        },
    );
    for (rx, got) in subscribers.iter().zip(received.iter_mut()) {
        drain(rx, got, Duration::from_millis(500));
    }
    assert_eq!(
        received[0], received[1],
        "subscribers on two nodes received the same messages in the same order"
    );
    let got = &received[0];
    let mut seen = std::collections::HashSet::new();
    assert!(got.iter().all(|m| seen.insert(m)), "no message twice");
    for a in &acked {
        // One publisher's messages, each acknowledged before the next was
        // sent, are in the log in the order sent.
        let places: Vec<usize> = a
            .iter()
            .map(|m| got.iter().position(|g| g == m).expect("received"))
            .collect();
        assert!(places.windows(2).all(|w| w[0] < w[1]), "publish order kept");
    }
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_off_at_the_output_limit_and_others_go_on() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let (mut admin, mut admin_r) = connect(&c.client[leader - 1]);
    send(
        &mut admin,
        "CONFIG SET client-output-buffer-limit \"pubsub 256kb 0 0\"",
    );
    assert_eq!(reply(&mut admin_r), Reply::Simple("OK".into()));
    // Subscribed, then never reads again.
    let (mut slow, mut slow_r) = connect(&c.client[leader - 1]);
    send(&mut slow, "SUBSCRIBE firehose");
    reply(&mut slow_r);
    let reader = subscribe(&c, leader, "firehose");
    let payload = "x".repeat(64 << 10);
    let mut delivered_to = Vec::new();
    for _ in 0..120 {
        send_words(&mut admin, &["PUBLISH", "firehose", &payload]);
        match reply(&mut admin_r) {
            Reply::Int(n) => delivered_to.push(n),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delivered_to[0], 2, "both subscribers at first");
    assert_eq!(
        *delivered_to.last().expect("published"),
        1,
        "the slow one was cut off: {delivered_to:?}"
    );
    let mut got = Vec::new();
    drain(&reader, &mut got, Duration::from_secs(2));
    assert_eq!(got.len(), 120, "the subscriber that reads missed nothing");
    // What the slow one was sent before the cut, then the end.
    slow_r
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut rest = Vec::new();
    let end = std::io::Read::read_to_end(&mut slow_r, &mut rest);
    assert!(end.is_ok(), "the connection was closed: {end:?}");
    assert!(
        rest.len() < 120 * payload.len(),
        "it was not sent everything"
    );
    assert!(
        c.logs()
            .contains("closed for overcoming of the pub/sub output buffer limit"),
        "the node says why"
    );
}

#[test]
fn monitor_on_a_follower_shows_what_its_clients_send_in_redis_format() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("a follower");
    let (mut m, mut mr) = connect(&c.client[follower - 1]);
    send(&mut m, "MONITOR");
    assert_eq!(reply(&mut mr), Reply::Simple("OK".into()));
    let (mut s, mut r) = connect(&c.client[follower - 1]);
    for line in ["SET greeting \"hi there\"", "GET greeting", "AUTH secret"] {
        send(&mut s, line);
        reply(&mut r);
    }
    let (mut other, mut other_r) = connect(&c.client[leader - 1]);
    send(&mut other, "SET elsewhere 1");
    reply(&mut other_r);
    let lines: Vec<String> = (0..3)
        .map(|_| match reply(&mut mr) {
            Reply::Simple(l) => l,
            other => panic!("{other:?}"),
        })
        .collect();
    let shape = |l: &str| l.split_once(' ').map(|(_, rest)| rest.to_string());
    let addr = s.local_addr().expect("addr").to_string();
    assert_eq!(
        lines.iter().filter_map(|l| shape(l)).collect::<Vec<_>>(),
        vec![
            format!(r#"[0 {addr}] "SET" "greeting" "hi there""#),
            format!(r#"[0 {addr}] "GET" "greeting""#),
            format!(r#"[0 {addr}] "AUTH" "(redacted)""#),
        ],
        "the leader's client is not this node's"
    );
}
