//! The metrics endpoint: `GET /metrics` in the Prometheus text format and
//! `GET /health` (200 when the node knows a leader and keeps up applying, 503
//! otherwise), over a minimal HTTP/1.0 responder.

use crate::status::NodeStatus;
use raft_net::TransportStats;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// A fixed-bucket latency histogram, safe to update from one thread and read
/// from another.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; 14],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            out.push_str(&format!("{name}_bucket{{le=\"{b}\"}} {cumulative}\n"));
        }
        cumulative += self.counts[BUCKETS.len()].load(Ordering::Relaxed);
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {cumulative}\n"));
        out.push_str(&format!(
            "{name}_sum {}\n",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out.push_str(&format!("{name}_count {cumulative}\n"));
    }
}

/// Counters and histograms the runtime updates.
#[derive(Debug, Default)]
pub struct Metrics {
    /// WAL append + fsync latency per ready.
    pub append_fsync: Histogram,
    /// Hard-state write latency (term or vote changes).
    pub hard_state_write: Histogram,
    /// Entries appended to the WAL.
    pub entries_appended: AtomicU64,
    /// Entries applied to the state machine.
    pub entries_applied: AtomicU64,
    /// Readies processed.
    pub readies: AtomicU64,
    /// Snapshots taken or installed.
    pub snapshots: AtomicU64,
}

fn gauge(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
    ));
}

/// What the metrics endpoint reads from a running node.
pub trait MetricsSource: Send + Sync + 'static {
    /// The node's status.
    fn status(&self) -> NodeStatus;
    /// The runtime's counters.
    fn metrics(&self) -> &Metrics;
    /// The transport's counters.
    fn transport_stats(&self) -> TransportStats;
    /// True once the node stops (the endpoint stops too).
    fn is_stopping(&self) -> bool;
}

/// One series: name, help, type, value.
type Series = (&'static str, &'static str, &'static str, u64);

fn g(name: &'static str, help: &'static str, value: u64) -> Series {
    (name, help, "gauge", value)
}

fn c(name: &'static str, help: &'static str, value: u64) -> Series {
    (name, help, "counter", value)
}

fn status_series(s: &NodeStatus) -> Vec<Series> {
    vec![
        g(
            "raft_leader_id",
            "Known leader id (0: none).",
            s.leader_id.unwrap_or(0),
        ),
        g("raft_commit_index", "Commit index.", s.commit_index),
        g("raft_applied_index", "Applied index.", s.applied_index),
        g("raft_last_index", "Last log index.", s.last_index),
        g(
            "raft_members",
            "Members whose address this node knows.",
            s.members.len() as u64,
        ),
        g(
            "raft_voters",
            "Voters in the configuration in force.",
            s.voters.len() as u64,
        ),
        c(
            "raft_proposals_total",
            "Proposals submitted through this node.",
            s.proposals,
        ),
        c(
            "raft_leader_elections_won_total",
            "Elections this node won.",
            s.leader_elections,
        ),
    ]
}

fn runtime_series(m: &Metrics, t: &TransportStats) -> Vec<Series> {
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    vec![
        c(
            "raft_readies_total",
            "Ready cycles processed.",
            load(&m.readies),
        ),
        c(
            "raft_entries_appended_total",
            "Entries written to the WAL.",
            load(&m.entries_appended),
        ),
        c(
            "raft_entries_applied_total",
            "Entries applied.",
            load(&m.entries_applied),
        ),
        c(
            "raft_snapshots_total",
            "Snapshots taken or installed.",
            load(&m.snapshots),
        ),
        c(
            "raft_peer_messages_sent_total",
            "Messages written to peers.",
            t.sent,
        ),
        c(
            "raft_peer_messages_dropped_total",
            "Messages dropped (queue full, peer down).",
            t.dropped,
        ),
        c(
            "raft_peer_messages_received_total",
            "Messages received from peers.",
            t.received,
        ),
        c(
            "raft_peer_connections_refused_total",
            "Peer handshakes refused.",
            t.refused,
        ),
    ]
}

/// Renders every metric of the node.
pub fn render(node: &dyn MetricsSource) -> String {
    let s = node.status();
    let m = node.metrics();
    let t = node.transport_stats();
    let mut out = String::new();
    gauge(&mut out, "raft_term", "Current Raft term.", "gauge", s.term);
    out.push_str(
        "# HELP raft_role 1 for this node's Raft role, 0 for the others.\n# TYPE raft_role gauge\n",
    );
    for role in ["follower", "precandidate", "candidate", "leader"] {
        out.push_str(&format!(
            "raft_role{{role=\"{role}\"}} {}\n",
            u8::from(s.role.as_str() == role)
        ));
    }
    for (name, help, kind, value) in status_series(&s).into_iter().chain(runtime_series(m, &t)) {
        gauge(&mut out, name, help, kind, value);
    }
    m.append_fsync.render(
        "raft_wal_append_fsync_seconds",
        "WAL append plus fsync latency per ready.",
        &mut out,
    );
    m.hard_state_write.render(
        "raft_hard_state_write_seconds",
        "Hard state write latency.",
        &mut out,
    );
    out
}

/// Serves the endpoint on `listener` until the node stops.
pub fn serve(
    listener: TcpListener,
    node: impl MetricsSource,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("raft-kv-metrics".into())
        .spawn(move || {
            while !node.is_stopping() {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(e) = answer(stream, &node) {
                            log::debug!("metrics request failed: {e}");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(e) => {
                        log::warn!("metrics accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })
}

fn answer(stream: TcpStream, node: &impl MetricsSource) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.by_ref().take(8192).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match (line.split_whitespace().next(), path) {
        (Some("GET"), "/metrics") => ("200 OK", render(node)),
        (Some("GET"), "/health") if node.status().is_healthy() => ("200 OK", "ok\n".to_string()),
        (Some("GET"), "/health") => (
            "503 Service Unavailable",
            "no leader or applying behind\n".to_string(),
        ),
        (Some("GET"), _) => ("404 Not Found", "try /metrics or /health\n".to_string()),
        _ => ("405 Method Not Allowed", "GET only\n".to_string()),
    };
    let mut w = stream;
    write!(
        w,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

use std::io::Read as _;
