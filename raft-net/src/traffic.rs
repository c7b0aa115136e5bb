//! Bytes on the wire per peer: what the TCP transport wrote to and read from
//! each peer's connections, frames and length prefixes included.

use parking_lot::RwLock;
use raft_core::NodeId;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The traffic with one peer so far (monotonic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerTraffic {
    /// The peer.
    pub id: NodeId,
    /// Bytes written to the peer (successful writes only).
    pub sent_bytes: u64,
    /// Bytes read from the peer's connections (accepted handshakes only).
    pub received_bytes: u64,
}

/// One peer's counters, shared by its sender and receiver threads.
#[derive(Debug, Default)]
pub(crate) struct PeerBytes {
    sent: AtomicU64,
    received: AtomicU64,
}

impl PeerBytes {
    pub(crate) fn add_sent(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_received(&self, bytes: usize) {
        self.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Every peer's counters. A peer stays listed after it is removed (its
/// counters are monotonic for as long as the process runs); the list is
/// bounded by the peers the node ever had, and a node only accepts members.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    peers: RwLock<BTreeMap<NodeId, Arc<PeerBytes>>>,
}

impl Traffic {
    /// The counters of `id`, created on first use.
    pub(crate) fn of(&self, id: NodeId) -> Arc<PeerBytes> {
        if let Some(p) = self.peers.read().get(&id) {
            return p.clone();
        }
        self.peers.write().entry(id).or_default().clone()
    }

    /// Every peer's totals, by id.
    pub(crate) fn totals(&self) -> Vec<PeerTraffic> {
        self.peers
            .read()
            .iter()
            .map(|(&id, p)| PeerTraffic {
                id,
                sent_bytes: p.sent.load(Ordering::Relaxed),
                received_bytes: p.received.load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_per_peer_in_id_order() {
        let t = Traffic::default();
        t.of(3).add_sent(10);
        t.of(2).add_received(7);
        t.of(3).add_sent(5);
        t.of(3).add_received(1);
        assert_eq!(
            t.totals(),
            vec![
                PeerTraffic {
                    id: 2,
                    sent_bytes: 0,
                    received_bytes: 7
                },
                PeerTraffic {
                    id: 3,
                    sent_bytes: 15,
                    received_bytes: 1
                },
            ]
        );
    }
}
