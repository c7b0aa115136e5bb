//! Which voter a stopping leader hands leadership to: the most up-to-date
//! one that still answers. A voter not heard from for a few heartbeats is
//! stopping too (the whole cluster stops, as `raft-cli local` does) or gone,
//! and a transfer to it could only time out.

use raft_core::{NodeId, Status};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Heartbeat intervals of silence after which a peer no longer counts as
/// one that could take over.
const SILENT_HEARTBEATS_BEFORE_UNREACHABLE: u32 = 3;

/// When each peer was last heard from.
pub(super) struct Reachability {
    heard_from: BTreeMap<NodeId, Instant>,
    silent_after: Duration,
}

impl Reachability {
    /// Peers of a node that heartbeats every `heartbeat`.
    pub(super) fn new(heartbeat: Duration) -> Self {
        Reachability {
            heard_from: BTreeMap::new(),
            silent_after: heartbeat * SILENT_HEARTBEATS_BEFORE_UNREACHABLE,
        }
    }

    /// A message from `peer` arrived at `at`.
    pub(super) fn heard(&mut self, peer: NodeId, at: Instant) {
        self.heard_from.insert(peer, at);
    }

    fn answers(&self, peer: NodeId) -> bool {
        self.heard_from
            .get(&peer)
            .is_some_and(|t| t.elapsed() <= self.silent_after)
    }

    /// The voter leader `me` (whose status is `st`) should hand over to:
    /// the most up-to-date of those that answer; `None` (logged) if none does.
    pub(super) fn handover_target(&self, me: NodeId, st: &Status) -> Option<NodeId> {
        let mut voters = st
            .progress
            .iter()
            .filter(|(id, _)| **id != me && st.conf_state.voters.contains(id))
            .peekable();
        let any_voter = voters.peek().is_some();
        let target = voters
            .filter(|(id, _)| self.answers(**id))
            .max_by_key(|(_, p)| p.matched)
            .map(|(id, _)| *id);
        if target.is_none() && any_voter {
            log::info!(
                "node {me} is stopping: no other voter answered in the last {:?}; \
                 stopping without a leadership hand-over",
                self.silent_after
            );
        }
        target
    }
}
