//! The simulated network: every message gets a delivery time drawn from the
//! run's seeded RNG, and may be dropped, duplicated or held back by a partition.

use raft_core::{DetRng, Message, NodeId};
use std::collections::BTreeSet;

/// Fault rates of one run, drawn from its seed.
#[derive(Clone, Debug)]
pub struct NetFaults {
    /// Chance in 1000 that a message is dropped.
    pub drop_per_mille: u64,
    /// Chance in 1000 that a message is delivered twice.
    pub dup_per_mille: u64,
    /// Delivery delay range in time units (reordering comes from the spread).
    pub min_delay: u64,
    /// Upper bound (exclusive) of the delay.
    pub max_delay: u64,
}

/// Messages in flight and the links that are cut.
#[derive(Debug, Default)]
pub struct Network {
    in_flight: Vec<(u64, u64, Message)>,
    cut: BTreeSet<(NodeId, NodeId)>,
    seq: u64,
}

impl Network {
    /// Sends `m` at `now` under `faults`; returns a trace note if it was dropped.
    pub fn send(
        &mut self,
        now: u64,
        m: Message,
        faults: &NetFaults,
        rng: &mut DetRng,
    ) -> Option<&'static str> {
        if self.cut.contains(&(m.from, m.to)) {
            return Some("cut");
        }
        if rng.range(0, 1000) < faults.drop_per_mille {
            return Some("dropped");
        }
        if rng.range(0, 1000) < faults.dup_per_mille {
            let at = now + rng.range(faults.min_delay, faults.max_delay);
            self.seq += 1;
            self.in_flight.push((at, self.seq, m.clone()));
        }
        let at = now + rng.range(faults.min_delay, faults.max_delay);
        self.seq += 1;
        self.in_flight.push((at, self.seq, m));
        None
    }

    /// Takes the messages due at `now`, in delivery order. Messages on a link cut
    /// while they were in flight are lost.
    pub fn due(&mut self, now: u64) -> Vec<Message> {
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 <= now {
                due.push(self.in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|(at, seq, _)| (*at, *seq));
        due.into_iter()
            .filter(|(_, _, m)| !self.cut.contains(&(m.from, m.to)))
            .map(|(_, _, m)| m)
            .collect()
    }

    /// Cuts the one-way link `from -> to`.
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&mut self, a: &[NodeId], b: &[NodeId]) {
        for &x in a {
            for &y in b {
                self.cut.insert((x, y));
                self.cut.insert((y, x));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// True if any link is cut.
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }
}
