//! An in-process transport for tests: every node's inbox in one hub, links that
//! can be cut one way or both, and seeded message loss.

use crate::{Inbox, Transport, TransportStats};
use parking_lot::Mutex;
use raft_core::{DetRng, Message, NodeId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

struct Hub {
    cluster_id: u64,
    inboxes: HashMap<NodeId, Inbox>,
    cut: BTreeSet<(NodeId, NodeId)>,
    stats: HashMap<NodeId, TransportStats>,
    /// Per mille of messages dropped at random.
    drop_per_mille: u64,
    rng: DetRng,
}

/// The shared network of a test: register nodes, cut and heal links, lose
/// messages.
#[derive(Clone)]
pub struct MemNetwork {
    hub: Arc<Mutex<Hub>>,
}

impl Default for MemNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MemNetwork {
    /// An empty network of cluster 1 that loses nothing.
    pub fn new() -> Self {
        Self::with_cluster_id(1)
    }

    /// An empty network whose transports report `cluster_id`.
    pub fn with_cluster_id(cluster_id: u64) -> Self {
        let hub = Hub {
            cluster_id,
            inboxes: HashMap::new(),
            cut: BTreeSet::new(),
            stats: HashMap::new(),
            drop_per_mille: 0,
            rng: DetRng::new(cluster_id),
        };
        MemNetwork {
            hub: Arc::new(Mutex::new(hub)),
        }
    }

    /// Registers node `id` with its inbox (replacing an earlier one, as a
    /// restarted node does) and returns its transport.
    pub fn join(&self, id: NodeId, inbox: Inbox) -> MemTransport {
        self.hub.lock().inboxes.insert(id, inbox);
        MemTransport {
            id,
            hub: self.hub.clone(),
        }
    }

    /// Removes node `id` (messages to it are dropped).
    pub fn leave(&self, id: NodeId) {
        self.hub.lock().inboxes.remove(&id);
    }

    /// Cuts every link between `id` and the others, both ways.
    pub fn isolate(&self, id: NodeId) {
        let mut hub = self.hub.lock();
        let ids: Vec<NodeId> = hub.inboxes.keys().copied().collect();
        for other in ids {
            hub.cut.insert((id, other));
            hub.cut.insert((other, id));
        }
    }

    /// Cuts the link from `from` to `to` (one way).
    pub fn cut(&self, from: NodeId, to: NodeId) {
        self.hub.lock().cut.insert((from, to));
    }

    /// Loses `per_mille` of all messages at random (seeded, so replayable).
    pub fn set_loss(&self, per_mille: u64, seed: u64) {
        let mut hub = self.hub.lock();
        hub.drop_per_mille = per_mille.min(1000);
        hub.rng = DetRng::new(seed);
    }

    /// Restores every link and stops random loss.
    pub fn heal(&self) {
        let mut hub = self.hub.lock();
        hub.cut.clear();
        hub.drop_per_mille = 0;
    }
}

/// One node's handle on a [`MemNetwork`].
#[derive(Clone)]
pub struct MemTransport {
    id: NodeId,
    hub: Arc<Mutex<Hub>>,
}

impl Transport for MemTransport {
    fn send(&self, msg: Message) {
        let target = {
            let mut hub = self.hub.lock();
            let lost = hub.drop_per_mille > 0 && hub.rng.range(0, 1000) < hub.drop_per_mille;
            let blocked = lost || hub.cut.contains(&(msg.from, msg.to));
            let inbox = if blocked {
                None
            } else {
                hub.inboxes.get(&msg.to).cloned()
            };
            let stats = hub.stats.entry(self.id).or_default();
            if inbox.is_some() {
                stats.sent += 1;
            } else {
                stats.dropped += 1;
            }
            inbox
        };
        // Deliver outside the lock: the inbox may take time.
        if let Some(inbox) = target {
            inbox(msg);
        }
    }

    fn set_peer(&self, _id: NodeId, _addr: String) {}

    fn remove_peer(&self, _id: NodeId) {}

    fn stats(&self) -> TransportStats {
        self.hub
            .lock()
            .stats
            .get(&self.id)
            .cloned()
            .unwrap_or_default()
    }

    fn cluster_id(&self) -> u64 {
        self.hub.lock().cluster_id
    }

    fn refuse_unknown_peers(&self) {}

    fn shutdown(&self) {
        let mut hub = self.hub.lock();
        // Only this node's registration goes; a restarted node re-joins.
        hub.inboxes.remove(&self.id);
    }
}
