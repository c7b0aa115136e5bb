//! What an operator watches on a real 3-node cluster under load: `/metrics`
//! (every series there, with HELP and TYPE, its value fitting what the test
//! did) and `raft-cli top`'s one-line-per-refresh view.

mod common;

use common::{Cluster, WITH_METRICS, http_get};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The body of `GET /metrics` from node `i`.
fn scrape(c: &Cluster, i: usize) -> String {
    let response = http_get(&c.metrics[i - 1], "/metrics");
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.to_string()
}

/// The value of the sample named exactly `series`, labels included.
fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
}

/// Asserts every family has one HELP and one TYPE line, and every sample a
/// family; returns the families.
fn families(body: &str) -> BTreeMap<String, String> {
    let mut helped = BTreeSet::new();
    let mut typed = BTreeMap::new();
    for l in body.lines() {
        let words: Vec<&str> = l.splitn(4, ' ').collect();
        match words.as_slice() {
            ["#", "HELP", name, _] => assert!(helped.insert(name.to_string()), "twice: {l}"),
            ["#", "TYPE", name, kind] => {
                assert!(typed.insert(name.to_string(), kind.to_string()).is_none())
            }
            _ => {}
        }
    }
    assert_eq!(helped, typed.keys().cloned().collect::<BTreeSet<_>>());
    for l in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = l.split(['{', ' ']).next().unwrap_or("");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains_key(*f)))
            .unwrap_or(name);
        assert!(typed.contains_key(family), "no TYPE for {l}");
    }
    typed
}

/// Every family a node exposes.
const EXPECTED: [&str; 36] = [
    "raft_term",
    "raft_role",
    "raft_leader_id",
    "raft_commit_index",
    "raft_applied_index",
    "raft_last_index",
    "raft_members",
    "raft_voters",
    "raft_pending_proposals",
    "raft_pending_reads",
    "raft_proposals_total",
    "raft_leader_changes_total",
    "raft_leader_elections_won_total",
    "raft_readies_total",
    "raft_entries_appended_total",
    "raft_entries_applied_total",
    "raft_snapshots_total",
    "raft_snapshot_sends_total",
    "raft_snapshot_sent_bytes_total",
    "raft_snapshot_receives_total",
    "raft_snapshot_received_bytes_total",
    "raft_wal_append_fsync_seconds",
    "raft_hard_state_write_seconds",
    "raft_apply_latency_seconds",
    "raft_client_connections",
    "raft_client_connections_accepted_total",
    "raft_client_connections_rejected_total",
    "raft_commands_total",
    "raft_peer_messages_sent_total",
    "raft_peer_messages_dropped_total",
    "raft_peer_messages_received_total",
    "raft_peer_connections_refused_total",
    "raft_peer_frames_compressed_total",
    "raft_peer_compression_saved_bytes_total",
    "raft_peer_sent_bytes_total",
    "raft_peer_received_bytes_total",
];

#[test]
fn a_loaded_cluster_exposes_every_series_with_plausible_values() {
    let mut c = Cluster::start_with(3, &[WITH_METRICS, "--snapshot-every", "50"]);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let lagging = (1..=3).find(|&i| i != leader).expect("three nodes");
    let reader = (1..=3)
        .find(|&i| i != leader && i != lagging)
        .expect("three");
    // A follower misses enough writes that the leader compacts past it and
    // must send a snapshot when it returns.
    c.kill9(lagging);
    let mut writer = c.client_of(leader);
    let writes = 300;
    for i in 0..writes {
        writer
            .set(format!("k{i}").as_bytes(), b"value")
            .expect("write");
    }
    let mut via_follower = c.client_of(reader);
    for i in 0..20 {
        assert!(via_follower.get(format!("k{i}").as_bytes()).is_ok());
    }
    assert!(writer.call_here(&[b"NOSUCHCOMMAND"]).is_ok());
    c.start_node(lagging);
    common::wait_until(
        "the restarted follower catches up",
        Duration::from_secs(20),
        || c.local_get(lagging, &format!("k{}", writes - 1)).is_some(),
    );

    let bodies: Vec<String> = (1..=3).map(|i| scrape(&c, i)).collect();
    let on = |i: usize| bodies[i - 1].as_str();
    for i in 1..=3 {
        check_any_node(on(i), i, leader, writes);
    }
    check_leader(on(leader), writes);
    let r = on(reader);
    assert!(sample(r, "raft_commands_total{command=\"get\",result=\"ok\"}") >= 20.0);
    assert_eq!(sample(r, "raft_role{role=\"follower\"}"), 1.0);
    let f = on(lagging);
    assert!(sample(f, "raft_snapshot_receives_total") >= 1.0);
    assert!(sample(f, "raft_snapshot_received_bytes_total") > 0.0);
    assert!(sample(f, "raft_snapshots_total") >= 1.0, "it installed one");
    assert!(sample(f, "raft_pending_proposals") >= 0.0);
}

/// What every node must show: all families, the membership, the leader, and
/// traffic with the peers it talks to.
fn check_any_node(body: &str, i: usize, leader: usize, writes: usize) {
    let typed = families(body);
    for name in EXPECTED {
        assert!(typed.contains_key(name), "node {i} lacks {name}");
    }
    assert_eq!(sample(body, "raft_members"), 3.0);
    assert!(sample(body, "raft_leader_changes_total") >= 1.0, "node {i}");
    assert!(sample(body, "raft_applied_index") >= writes as f64);
    assert!(sample(body, "raft_apply_latency_seconds_count") >= 1.0);
    assert_eq!(sample(body, "raft_leader_id"), leader as f64);
    // Followers talk to the leader only; the leader to every follower.
    let peers: Vec<usize> = match i == leader {
        true => (1..=3).filter(|&p| p != i).collect(),
        false => vec![leader],
    };
    for peer in peers {
        let sent = format!("raft_peer_sent_bytes_total{{peer=\"{peer}\"}}");
        let received = format!("raft_peer_received_bytes_total{{peer=\"{peer}\"}}");
        assert!(sample(body, &sent) > 0.0, "node {i} {sent}");
        assert!(sample(body, &received) > 0.0, "node {i} {received}");
    }
}

/// What only the leader shows: the writes, the unknown command, the open
/// writer, the fsyncs and the snapshot it sent the lagging follower.
fn check_leader(l: &str, writes: usize) {
    assert_eq!(sample(l, "raft_role{role=\"leader\"}"), 1.0);
    assert_eq!(sample(l, "raft_role{role=\"follower\"}"), 0.0);
    let set_ok = "raft_commands_total{command=\"set\",result=\"ok\"}";
    assert!(sample(l, set_ok) >= writes as f64);
    let unknown = "raft_commands_total{command=\"unknown\",result=\"rejected\"}";
    assert_eq!(sample(l, unknown), 1.0);
    assert!(
        sample(l, "raft_client_connections") >= 1.0,
        "the writer is open"
    );
    assert!(sample(l, "raft_client_connections_accepted_total") >= 1.0);
    assert!(sample(l, "raft_wal_append_fsync_seconds_count") >= 1.0);
    assert!(sample(l, "raft_entries_appended_total") >= writes as f64);
    assert!(sample(l, "raft_snapshot_sends_total") >= 1.0);
    assert!(sample(l, "raft_snapshot_sent_bytes_total") > 0.0);
}

/// `raft-cli top` with stdout not a terminal prints one line per refresh,
/// found from one follower endpoint: the leader, every member, rates.
#[test]
fn top_without_a_terminal_prints_one_line_per_refresh_for_the_whole_cluster() {
    let c = Cluster::start(3);
    let leader = c.wait_for_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&i| i != leader).expect("three nodes");
    common::wait_until(
        "every member advertised its client address",
        Duration::from_secs(10),
        || {
            c.info(follower, "member_clients")
                .is_some_and(|m| m.matches('=').count() == 3)
        },
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (mut w, stop) = (c.client_of(leader), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                w.set(format!("k{n}").as_bytes(), b"v").expect("write");
                n += 1;
            }
        })
    };
    let endpoint = c.client[follower - 1].clone();
    let args = [
        "--endpoints",
        &endpoint,
        "top",
        "--count",
        "3",
        "--interval",
        "0.5",
    ];
    let out = common::run_cli(&args);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().expect("load thread");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for line in &lines {
        assert!(line.starts_with("t="), "{line}");
        let summary = format!("leader={leader} ");
        assert!(line.contains(&summary), "{line}");
        assert!(line.contains("members=3 healthy=3"), "{line}");
        assert_eq!(line.matches(" | ").count(), 3, "a part per member: {line}");
        assert!(!line.contains("fsync_p99=- "), "the leader fsyncs: {line}");
    }
    // From the second refresh on, the rates cover the interval.
    let rate = lines[2]
        .split("proposals/s=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|r| r.parse::<f64>().ok())
        .expect("a rate");
    assert!(rate > 0.0, "{}", lines[2]);
}

#[test]
fn top_with_a_count_fails_when_no_endpoint_answers() {
    let nobody = format!("127.0.0.1:{}", common::free_port());
    let out = common::run_cli(&["--endpoints", &nobody, "top", "--count", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("error: no endpoint answered"), "{stdout}");
    let bad = common::run_cli(&["top", "--interval", "0"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--interval 0 is out of range"));
}
