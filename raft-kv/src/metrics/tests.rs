use super::*;
use raft_core::Role;
use raft_net::PeerTraffic;
use std::collections::{BTreeMap, BTreeSet};

struct FakeNode {
    status: NodeStatus,
    metrics: Metrics,
}

impl MetricsSource for FakeNode {
    fn status(&self) -> NodeStatus {
        self.status.clone()
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    fn transport_stats(&self) -> TransportStats {
        TransportStats {
            sent: 10,
            dropped: 1,
            received: 9,
            refused: 0,
            compressed_frames: 2,
            compression_saved_bytes: 4096,
            peers: vec![PeerTraffic {
                id: 2,
                sent_bytes: 300,
                received_bytes: 200,
            }],
        }
    }
    fn pending_requests(&self) -> (usize, usize) {
        (3, 4)
    }
}

fn leader() -> FakeNode {
    let members = BTreeMap::from([(1, "a:1".to_string()), (2, "b:1".to_string())]);
    let mut status = NodeStatus::starting(1, 77, members);
    status.role = Role::Leader;
    status.term = 5;
    status.leader_id = Some(1);
    let metrics = Metrics::default();
    metrics.entries_appended(4, Duration::from_micros(300));
    metrics.entries_applied(4, Duration::from_micros(50));
    metrics.leader_changed();
    metrics.snapshot_sent(1000);
    metrics.client_connected();
    let index = |name: &str| {
        let r = raft_kv_state::registry::registry();
        r.all().iter().position(|n| n == name).expect("a command")
    };
    metrics.command_ran(index("set"), "set", None);
    metrics.command_ran(index("set"), "set", None);
    metrics.command_ran(index("get"), "get", Some("WRONGTYPE"));
    metrics.command_refused(Some(index("get")), "get", "ERR");
    FakeNode { status, metrics }
}

/// The value of the one sample named exactly `series` (labels included).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_family_has_help_and_type_and_every_sample_belongs_to_one() {
    let text = render(&leader());
    let mut helped = BTreeSet::new();
    let mut typed = BTreeMap::new();
    for l in text.lines() {
        let words: Vec<&str> = l.split(' ').collect();
        match words.as_slice() {
            ["#", "HELP", name, ..] => assert!(helped.insert(name.to_string()), "{l}"),
            ["#", "TYPE", name, kind] => assert!(typed.insert(name.to_string(), *kind).is_none()),
            _ => {}
        }
    }
    assert_eq!(helped, typed.keys().cloned().collect::<BTreeSet<_>>());
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = l.split(['{', ' ']).next().unwrap_or("");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f) == Some(&"histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "no TYPE for {l}");
    }
    for (name, kind) in &typed {
        assert_eq!(
            name.ends_with("_total"),
            *kind == "counter",
            "{name} {kind}"
        );
    }
}

#[test]
fn the_series_an_operator_needs_carry_the_recorded_values() {
    let text = render(&leader());
    let expect = [
        ("raft_term", 5.0),
        ("raft_role{role=\"leader\"}", 1.0),
        ("raft_role{role=\"follower\"}", 0.0),
        ("raft_leader_id", 1.0),
        ("raft_members", 2.0),
        ("raft_pending_proposals", 3.0),
        ("raft_pending_reads", 4.0),
        ("raft_leader_changes_total", 1.0),
        ("raft_entries_appended_total", 4.0),
        ("raft_apply_latency_seconds_count", 1.0),
        ("raft_wal_append_fsync_seconds_bucket{le=\"0.0005\"}", 1.0),
        ("raft_wal_append_fsync_seconds_bucket{le=\"0.00025\"}", 0.0),
        ("raft_snapshot_sends_total", 1.0),
        ("raft_snapshot_sent_bytes_total", 1000.0),
        ("raft_client_connections", 1.0),
        ("raft_client_connections_accepted_total", 1.0),
        ("raft_commands_total{command=\"set\",result=\"ok\"}", 2.0),
        ("raft_commands_total{command=\"get\",result=\"error\"}", 1.0),
        (
            "raft_commands_total{command=\"get\",result=\"rejected\"}",
            1.0,
        ),
        ("raft_peer_messages_dropped_total", 1.0),
        ("raft_peer_frames_compressed_total", 2.0),
        ("raft_peer_compression_saved_bytes_total", 4096.0),
        ("raft_peer_sent_bytes_total{peer=\"2\"}", 300.0),
        ("raft_peer_received_bytes_total{peer=\"2\"}", 200.0),
    ];
    for (series, value) in expect {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
}

#[test]
fn a_closed_connection_leaves_the_open_gauge() {
    let m = Metrics::default();
    m.client_connected();
    m.client_connected();
    m.client_disconnected();
    m.client_rejected();
    let node = FakeNode {
        metrics: m,
        ..leader()
    };
    let text = render(&node);
    assert_eq!(sample(&text, "raft_client_connections"), Some(1.0));
    assert_eq!(
        sample(&text, "raft_client_connections_rejected_total"),
        Some(1.0)
    );
}

#[test]
fn fsync_buckets_are_cumulative_and_end_with_infinity() {
    let m = Metrics::default();
    m.entries_appended(1, Duration::from_micros(50));
    m.entries_appended(1, Duration::from_micros(700));
    m.entries_appended(1, Duration::from_secs(9));
    let b = m.fsync_buckets();
    assert_eq!(b.len(), LATENCY_BUCKETS.len() + 1);
    assert_eq!(b[0], (0.0001, 1));
    assert_eq!(b[3], (0.001, 2));
    assert_eq!(b[b.len() - 2], (5.0, 2));
    assert_eq!(b[b.len() - 1], (f64::INFINITY, 3));
}
