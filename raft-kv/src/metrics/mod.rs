//! The node's metrics on `prometheus-client`: the instruments the runtime and
//! the client port update as they work ([`Metrics`]), the series read from the
//! node's status and transport at scrape time (`collector`), and the endpoint
//! that serves both (`http`): `GET /metrics` in the Prometheus text format and
//! `GET /health`.
//!
//! Names are in base units (`_seconds`, `_bytes`) and counters end in `_total`
//! (the encoder appends it); every series has `# HELP` and `# TYPE` lines.

mod collector;
mod command_stats;
mod http;
#[cfg(test)]
mod tests;

pub use command_stats::CommandLine;
pub use http::{MetricsServer, serve};

use crate::status::NodeStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use raft_net::TransportStats;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets: 100 µs (a fast
/// fdatasync) to 2.5 s (a disk that stalls).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The label set of `raft_commands_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    /// The command's full name as the registry spells it (`get`,
    /// `config|get`), or `unknown`.
    command: &'static str,
    /// `ok`, `error` (it ran and answered an error) or `rejected` (refused
    /// before it ran).
    result: &'static str,
}

/// Counters, gauges and histograms the runtime and the client port update.
/// Every recording method is cheap (atomic adds; one read lock for a command
/// count) and never blocks on the endpoint.
#[derive(Debug)]
pub struct Metrics {
    append_fsync: Histogram,
    hard_state_write: Histogram,
    apply_latency: Histogram,
    readies: Counter,
    entries_appended: Counter,
    entries_applied: Counter,
    snapshots: Counter,
    leader_changes: Counter,
    snapshot_sends: Counter,
    snapshot_sent_bytes: Counter,
    snapshot_receives: Counter,
    snapshot_received_bytes: Counter,
    client_connections: Gauge,
    connections_accepted: Counter,
    connections_rejected: Counter,
    commands: Family<CommandLabels, Counter>,
    /// Every command answered, and those answered with an error (for INFO,
    /// which cannot iterate the family cheaply).
    commands_processed: Counter,
    error_replies: Counter,
    command_stats: command_stats::CommandStats,
    started: std::time::Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        let latency = || Histogram::new(LATENCY_BUCKETS);
        Metrics {
            append_fsync: latency(),
            hard_state_write: latency(),
            apply_latency: latency(),
            readies: Counter::default(),
            entries_appended: Counter::default(),
            entries_applied: Counter::default(),
            snapshots: Counter::default(),
            leader_changes: Counter::default(),
            snapshot_sends: Counter::default(),
            snapshot_sent_bytes: Counter::default(),
            snapshot_receives: Counter::default(),
            snapshot_received_bytes: Counter::default(),
            client_connections: Gauge::default(),
            connections_accepted: Counter::default(),
            connections_rejected: Counter::default(),
            commands: Family::default(),
            commands_processed: Counter::default(),
            error_replies: Counter::default(),
            command_stats: command_stats::CommandStats::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl Metrics {
    /// One `Ready` cycle processed.
    pub(crate) fn ready_processed(&self) {
        self.readies.inc();
    }

    /// `entries` written to the WAL and fsynced in `took`.
    pub(crate) fn entries_appended(&self, entries: usize, took: Duration) {
        self.append_fsync.observe(took.as_secs_f64());
        self.entries_appended.inc_by(entries as u64);
    }

    /// The hard state (term, vote, commit) written durably in `took`.
    pub(crate) fn hard_state_written(&self, took: Duration) {
        self.hard_state_write.observe(took.as_secs_f64());
    }

    /// `entries` applied, `waited` after the consensus thread handed them over.
    pub(crate) fn entries_applied(&self, entries: usize, waited: Duration) {
        self.entries_applied.inc_by(entries as u64);
        self.apply_latency.observe(waited.as_secs_f64());
    }

    /// A snapshot taken locally or installed from the leader.
    pub(crate) fn snapshot_made(&self) {
        self.snapshots.inc();
    }

    /// Snapshots taken or installed since start.
    pub fn snapshots(&self) -> u64 {
        self.snapshots.get()
    }

    /// The leader this node knows changed (to another node or to none).
    pub(crate) fn leader_changed(&self) {
        self.leader_changes.inc();
    }

    /// Leader changes this node saw since start.
    pub fn leader_changes(&self) -> u64 {
        self.leader_changes.get()
    }

    /// WAL append+fsync latencies so far, as cumulative counts per bucket:
    /// (upper bound in seconds, observations at or below it), the last bound
    /// infinite. `INFO` carries it so that `raft-cli top` can compute a p99
    /// over any interval from two readings.
    pub fn fsync_buckets(&self) -> Vec<(f64, u64)> {
        let mut registry = Registry::default();
        registry.register("h", "", self.append_fsync.clone());
        let mut text = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).is_err() {
            return Vec::new();
        }
        text.lines().filter_map(bucket_of_line).collect()
    }

    /// An `InstallSnapshot` of `bytes` handed to the transport for a follower.
    pub(crate) fn snapshot_sent(&self, bytes: usize) {
        self.snapshot_sends.inc();
        self.snapshot_sent_bytes.inc_by(bytes as u64);
    }

    /// An `InstallSnapshot` of `bytes` received from the leader.
    pub(crate) fn snapshot_received(&self, bytes: usize) {
        self.snapshot_receives.inc();
        self.snapshot_received_bytes.inc_by(bytes as u64);
    }

    /// A client connection accepted (it counts as open until
    /// [`Metrics::client_disconnected`]).
    pub fn client_connected(&self) {
        self.connections_accepted.inc();
        self.client_connections.inc();
    }

    /// An accepted client connection closed.
    pub fn client_disconnected(&self) {
        self.client_connections.dec();
    }

    /// A client connection refused (`maxclients` reached).
    pub fn client_rejected(&self) {
        self.connections_rejected.inc();
    }

    /// The command `name` (registry index `index`) ran and was answered;
    /// `error` is the reply's code word if it was an error.
    pub fn command_ran(&self, index: usize, name: &'static str, error: Option<&str>) {
        let result = if error.is_some() { "error" } else { "ok" };
        self.count(name, result, error.is_some());
        self.command_stats.ran(index, error);
    }

    /// A request was refused before it ran, with an error of code word
    /// `code`: the command at `index` (`None`: an unknown name).
    pub fn command_refused(&self, index: Option<usize>, name: &'static str, code: &str) {
        self.count(name, "rejected", true);
        self.command_stats.refused(index, code);
    }

    fn count(&self, command: &'static str, result: &'static str, error: bool) {
        self.commands
            .get_or_create(&CommandLabels { command, result })
            .inc();
        self.commands_processed.inc();
        if error {
            self.error_replies.inc();
        }
    }

    /// `INFO commandstats`: the commands called or refused so far.
    pub fn command_lines(&self) -> Vec<CommandLine> {
        self.command_stats.lines()
    }

    /// `INFO errorstats`: error replies by code word.
    pub fn error_counts(&self) -> Vec<(String, u64)> {
        self.command_stats.errors()
    }

    /// `CONFIG RESETSTAT`: forgets the per-command and per-error counts.
    pub fn reset_command_stats(&self) {
        self.command_stats.reset();
    }

    /// Time since the node started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Client connections open now.
    pub fn connected_clients(&self) -> i64 {
        self.client_connections.get()
    }

    /// Client connections accepted so far.
    pub fn connections_received(&self) -> u64 {
        self.connections_accepted.get()
    }

    /// Client connections refused at the limit so far.
    pub fn connections_rejected(&self) -> u64 {
        self.connections_rejected.get()
    }

    /// Commands answered so far.
    pub fn commands_processed(&self) -> u64 {
        self.commands_processed.get()
    }

    /// Commands answered with an error so far.
    pub fn error_replies(&self) -> u64 {
        self.error_replies.get()
    }

    /// Registers every instrument (clones share the values) in `registry`.
    fn register(&self, r: &mut Registry) {
        let histograms = [
            (
                "raft_wal_append_fsync_seconds",
                "WAL append plus fsync latency per Ready",
                &self.append_fsync,
            ),
            (
                "raft_hard_state_write_seconds",
                "Hard state (term, vote, commit) write latency",
                &self.hard_state_write,
            ),
            (
                "raft_apply_latency_seconds",
                "Time from commit (entries handed to the applier) to applied, per batch",
                &self.apply_latency,
            ),
        ];
        for (name, help, h) in histograms {
            r.register(name, help, h.clone());
        }
        self.register_counters(r);
        r.register(
            "raft_client_connections",
            "Client connections open",
            self.client_connections.clone(),
        );
        r.register(
            "raft_commands",
            "Commands answered, by command name and result (ok or error)",
            self.commands.clone(),
        );
    }

    /// Registers the unlabelled counters (the encoder appends `_total`).
    fn register_counters(&self, r: &mut Registry) {
        let counters = [
            ("raft_readies", "Ready cycles processed", &self.readies),
            (
                "raft_entries_appended",
                "Entries written to the WAL",
                &self.entries_appended,
            ),
            (
                "raft_entries_applied",
                "Entries applied to the state machine",
                &self.entries_applied,
            ),
            (
                "raft_snapshots",
                "Snapshots taken or installed",
                &self.snapshots,
            ),
            (
                "raft_leader_changes",
                "Times the leader this node knows changed (to another node or to none)",
                &self.leader_changes,
            ),
            (
                "raft_snapshot_sends",
                "InstallSnapshot messages handed to the transport for followers",
                &self.snapshot_sends,
            ),
            (
                "raft_snapshot_sent_bytes",
                "Snapshot data handed to the transport for followers, in bytes",
                &self.snapshot_sent_bytes,
            ),
            (
                "raft_snapshot_receives",
                "InstallSnapshot messages received from the leader",
                &self.snapshot_receives,
            ),
            (
                "raft_snapshot_received_bytes",
                "Snapshot data received from the leader, in bytes",
                &self.snapshot_received_bytes,
            ),
            (
                "raft_client_connections_accepted",
                "Client connections accepted",
                &self.connections_accepted,
            ),
            (
                "raft_client_connections_rejected",
                "Client connections refused because maxclients was reached",
                &self.connections_rejected,
            ),
        ];
        for (name, help, c) in counters {
            r.register(name, help, c.clone());
        }
    }
}

/// One `h_bucket{le="B"} N` line of an encoded histogram as (B, N).
fn bucket_of_line(line: &str) -> Option<(f64, u64)> {
    let rest = line.strip_prefix("h_bucket{le=\"")?;
    let (bound, count) = rest.split_once("\"} ")?;
    let bound = match bound {
        "+Inf" => f64::INFINITY,
        b => b.parse().ok()?,
    };
    Some((bound, count.parse().ok()?))
}

/// What the metrics endpoint reads from a running node.
pub trait MetricsSource: Send + Sync + 'static {
    /// The node's status.
    fn status(&self) -> NodeStatus;
    /// The runtime's instruments.
    fn metrics(&self) -> &Metrics;
    /// The transport's counters.
    fn transport_stats(&self) -> TransportStats;
    /// Writes and reads waiting for an outcome.
    fn pending_requests(&self) -> (usize, usize);
}

/// Every series of the node in the Prometheus text format (version 0.0.4).
pub fn render(node: &dyn MetricsSource) -> String {
    let mut registry = Registry::default();
    node.metrics().register(&mut registry);
    registry.register_collector(Box::new(collector::Scrape::of(node)));
    let mut out = String::with_capacity(16 << 10);
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        // Writing to a String cannot fail; a failing encoder is a bug worth a line.
        log::error!("encoding the metrics failed: {e}");
    }
    out
}

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
