//! The series read at scrape time: one consistent copy of the node's status,
//! transport counters and request queues, encoded as constant gauges and
//! counters (nothing here is updated on the hot path).

use super::MetricsSource;
use crate::status::NodeStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use raft_net::TransportStats;
use std::fmt;

/// The roles `raft_role` has a series for, one of them 1.
const ROLES: [&str; 4] = ["follower", "precandidate", "candidate", "leader"];

/// Reads one direction's bytes from a peer's traffic.
type PeerValue = fn(&raft_net::PeerTraffic) -> u64;

/// What one scrape read from the node.
#[derive(Debug)]
pub(super) struct Scrape {
    status: NodeStatus,
    transport: TransportStats,
    pending_writes: usize,
    pending_reads: usize,
}

impl Scrape {
    /// Reads the node now.
    pub(super) fn of(node: &dyn MetricsSource) -> Self {
        let (pending_writes, pending_reads) = node.pending_requests();
        Scrape {
            status: node.status(),
            transport: node.transport_stats(),
            pending_writes,
            pending_reads,
        }
    }

    fn gauges(&self) -> [(&'static str, &'static str, u64); 9] {
        let s = &self.status;
        [
            ("raft_term", "Current Raft term.", s.term),
            (
                "raft_leader_id",
                "Known leader id (0: none).",
                s.leader_id.unwrap_or(0),
            ),
            ("raft_commit_index", "Commit index.", s.commit_index),
            ("raft_applied_index", "Applied index.", s.applied_index),
            ("raft_last_index", "Last log index.", s.last_index),
            (
                "raft_members",
                "Members whose address this node knows.",
                s.members.len() as u64,
            ),
            (
                "raft_voters",
                "Voters in the configuration in force.",
                s.voters.len() as u64,
            ),
            (
                "raft_pending_proposals",
                "Writes proposed or forwarded through this node that wait for their outcome.",
                self.pending_writes as u64,
            ),
            (
                "raft_pending_reads",
                "Linearizable reads through this node that wait for their read index.",
                self.pending_reads as u64,
            ),
        ]
    }

    fn counters(&self) -> [(&'static str, &'static str, u64); 8] {
        let (s, t) = (&self.status, &self.transport);
        [
            (
                "raft_proposals",
                "Proposals submitted through this node.",
                s.proposals,
            ),
            (
                "raft_leader_elections_won",
                "Elections this node won.",
                s.leader_elections,
            ),
            (
                "raft_peer_messages_sent",
                "Messages handed to the peer transport.",
                t.sent,
            ),
            (
                "raft_peer_messages_dropped",
                "Messages dropped (queue full, peer down).",
                t.dropped,
            ),
            (
                "raft_peer_messages_received",
                "Messages received from peers.",
                t.received,
            ),
            (
                "raft_peer_frames_compressed",
                "Peer frames sent LZ4-compressed.",
                t.compressed_frames,
            ),
            (
                "raft_peer_compression_saved_bytes",
                "Bytes LZ4 compression kept off the peer wire.",
                t.compression_saved_bytes,
            ),
            (
                "raft_peer_connections_refused",
                "Peer handshakes refused (wrong cluster, unknown node, bad credentials).",
                t.refused,
            ),
        ]
    }

    fn encode_roles(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut family = encoder.encode_descriptor(
            "raft_role",
            "1 for this node's Raft role, 0 for the others.",
            None,
            MetricType::Gauge,
        )?;
        for role in ROLES {
            let value = u64::from(self.status.role.as_str() == role);
            ConstGauge::new(value).encode(family.encode_family(&[("role", role)])?)?;
        }
        Ok(())
    }

    fn encode_peer_bytes(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let directions: [(&str, &str, PeerValue); 2] = [
            (
                "raft_peer_sent_bytes",
                "Bytes written to each peer, frames included.",
                |p| p.sent_bytes,
            ),
            (
                "raft_peer_received_bytes",
                "Bytes read from each peer, frames included.",
                |p| p.received_bytes,
            ),
        ];
        for (name, help, value) in directions {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for p in &self.transport.peers {
                let peer = p.id.to_string();
                let labels = [("peer", peer.as_str())];
                ConstCounter::new(value(p)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for (name, help, value) in self.gauges() {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        for (name, help, value) in self.counters() {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        self.encode_roles(&mut encoder)?;
        self.encode_peer_bytes(&mut encoder)
    }
}
