//! Real `raft-cli node` processes on loopback: replication through followers,
//! failover after kill -9, restart and catch-up, graceful stop.

mod common;

use common::{Cluster, http_get};
use raft_kv::Reply;
use std::time::{Duration, Instant};

#[test]
fn a_write_through_a_follower_is_read_through_the_other_follower() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let followers: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    c.client_of(followers[0])
        .set(b"greeting", b"hello")
        .expect("write via follower");
    let got = c
        .client_of(followers[1])
        .get(b"greeting")
        .expect("linearizable read via the other follower");
    assert_eq!(got.as_deref(), Some(&b"hello"[..]));
}

#[test]
fn kill_9_of_the_leader_loses_no_acknowledged_write_and_a_new_leader_serves_in_time() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let mut client = c.client();
    for i in 0..200 {
        client
            .set(format!("k{i}").as_bytes(), format!("v{i}").as_bytes())
            .expect("acknowledged write");
    }
    c.kill9(leader);
    let killed = Instant::now();
    let others: Vec<String> = (1..=3)
        .filter(|&i| i != leader)
        .map(|i| c.client[i - 1].clone())
        .collect();
    let mut survivors = raft_kv_server::Client::new(others).expect("endpoints");
    let mut served = None;
    while killed.elapsed() < Duration::from_secs(10) {
        if survivors.set(b"after", b"failover").is_ok() {
            served = Some(killed.elapsed());
            break;
        }
    }
    let served = served.expect("a new leader serves writes");
    assert!(
        served < Duration::from_secs(3),
        "new leader served writes after {served:?}"
    );
    for i in 0..200 {
        let v = survivors.get(format!("k{i}").as_bytes()).expect("read");
        assert_eq!(
            v,
            Some(format!("v{i}").into_bytes()),
            "acknowledged write k{i} survived"
        );
    }
    // The old leader restarts with the same command line and catches up.
    c.start_node(leader);
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.local_get(leader, "after").as_deref() != Some(&b"failover"[..]) {
        assert!(Instant::now() < deadline, "restarted node did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.local_get(leader, "k199").as_deref(), Some(&b"v199"[..]));
}

#[test]
fn sigterm_of_the_leader_hands_leadership_over_before_exiting() {
    let mut c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    c.client().set(b"x", b"1").expect("write");
    assert_eq!(c.sigterm(leader).code(), Some(0));
    let log = std::fs::read_to_string(c.log_path(leader)).expect("leader's log");
    assert!(
        log.contains("handed leadership to node"),
        "no hand-over in:\n{log}"
    );
    let others: Vec<String> = (1..=3)
        .filter(|&i| i != leader)
        .map(|i| c.client[i - 1].clone())
        .collect();
    if let Err(e) = raft_kv_server::Client::new(others)
        .expect("endpoints")
        .set(b"y", b"2")
    {
        panic!("the new leader does not serve: {e}\n{}", c.logs());
    }
}

#[test]
fn sigterm_stops_a_node_gracefully_with_exit_code_0() {
    let mut c = Cluster::start(3);
    c.client().set(b"x", b"1").expect("write");
    for i in 1..=3 {
        let status = c.sigterm(i);
        assert_eq!(status.code(), Some(0), "node {i} exit status");
    }
}

#[test]
fn metrics_and_health_endpoints_answer() {
    let metrics = format!("127.0.0.1:{}", common::free_port());
    // A single-node cluster with --metrics.
    let dir = tempfile::tempdir().expect("temp dir");
    let peer = format!("127.0.0.1:{}", common::free_port());
    let client = format!("127.0.0.1:{}", common::free_port());
    let _node = common::Reaped(
        std::process::Command::new(common::BIN)
            .args(["node", "--id", "1", "--data-dir"])
            .arg(dir.path())
            .args([
                "--listen-peer",
                &peer,
                "--listen-client",
                &client,
                "--initial-cluster",
                &format!("1={peer}"),
            ])
            .args(["--metrics", &metrics])
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut health = String::new();
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(&metrics).is_ok() {
            health = http_get(&metrics, "/health");
            if health.starts_with("HTTP/1.0 200") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(health.starts_with("HTTP/1.0 200"), "{health}");
    raft_kv_server::Client::new(vec![client.clone()])
        .expect("endpoint")
        .set(b"m", b"1")
        .expect("write");
    let body = http_get(&metrics, "/metrics");
    for name in [
        "raft_term 1",
        "raft_role{role=\"leader\"} 1",
        "raft_commit_index",
        "raft_wal_append_fsync_seconds_bucket",
        "raft_peer_messages_sent_total",
    ] {
        assert!(body.contains(name), "missing {name} in:\n{body}");
    }
    assert!(http_get(&metrics, "/nope").starts_with("HTTP/1.0 404"));
}

/// Kills every node of a 3-node cluster but one follower, and waits until that
/// follower knows no leader; returns it.
fn leave_one_follower_alone(c: &mut Cluster) -> usize {
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let survivor = (1..=3).find(|&i| i != leader).expect("three nodes");
    for i in (1..=3).filter(|&i| i != survivor) {
        c.kill9(i);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.info(survivor, "leader_id").as_deref() != Some("0") {
        assert!(
            Instant::now() < deadline,
            "node {survivor} still knows a leader"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    survivor
}

#[test]
fn a_write_no_leader_could_take_is_refused_and_never_applied_later() {
    let mut c = Cluster::start_with(3, &["--request-timeout-ms", "1000"]);
    let survivor = leave_one_follower_alone(&mut c);
    let reply = c
        .client_of(survivor)
        .call_here(&[b"SET", b"orphan", b"1"])
        .expect("the survivor answers");
    match &reply {
        Reply::Error(e) => assert!(e.line().starts_with("NOLEADER"), "reply: {e}"),
        other => panic!("a write without a quorum was answered {other:?}"),
    }
    // The refused write must not be proposed once a leader exists again.
    for i in (1..=3).filter(|&i| i != survivor) {
        c.start_node(i);
    }
    c.client()
        .set(b"after", b"1")
        .expect("the healed cluster serves");
    for i in 1..=3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.local_get(i, "after").is_none() {
            assert!(Instant::now() < deadline, "node {i} did not apply `after`");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            c.local_get(i, "orphan"),
            None,
            "node {i} applied a refused write"
        );
    }
}

#[test]
fn a_write_waiting_for_a_leader_is_proposed_when_one_emerges() {
    let mut c = Cluster::start_with(3, &["--request-timeout-ms", "20000"]);
    let survivor = leave_one_follower_alone(&mut c);
    let mut client = c.client_of(survivor);
    let writer = std::thread::spawn(move || client.call_here(&[b"SET", b"patient", b"1"]));
    std::thread::sleep(Duration::from_millis(300));
    for i in (1..=3).filter(|&i| i != survivor) {
        c.start_node(i);
    }
    let reply = writer.join().expect("writer thread").expect("an answer");
    assert_eq!(reply, Reply::Simple("OK".into()), "{}", c.logs());
    assert_eq!(c.local_get(survivor, "patient").as_deref(), Some(&b"1"[..]));
}
