//! An in-process transport for tests: every node's inbox in one hub, links that
//! can be cut.

use crate::{Inbox, Transport, TransportStats};
use parking_lot::Mutex;
use raft_core::{Message, NodeId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

#[derive(Default)]
struct Hub {
    inboxes: HashMap<NodeId, Inbox>,
    cut: BTreeSet<(NodeId, NodeId)>,
    stats: HashMap<NodeId, TransportStats>,
}

/// The shared network of a test: register nodes, cut and heal links.
#[derive(Clone, Default)]
pub struct MemNetwork {
    hub: Arc<Mutex<Hub>>,
}

impl MemNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers node `id` with its inbox and returns its transport.
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

    /// Restores every link.
    pub fn heal(&self) {
        self.hub.lock().cut.clear();
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
            let blocked = hub.cut.contains(&(msg.from, msg.to));
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
            .copied()
            .unwrap_or_default()
    }
}
