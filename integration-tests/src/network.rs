//! The simulated network: every message gets a delivery time drawn from the
//! run's seeded RNG, and may be dropped, duplicated or held back by a partition.
//! During chaos messages on one link overtake each other freely; once healed the
//! network is FIFO per link, as the TCP and in-memory transports are.

use raft_core::{DetRng, Message, NodeId};
use std::collections::{BTreeMap, BTreeSet};

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
    /// Per-link latest delivery time; `Some` once the network keeps link order.
    fifo: Option<BTreeMap<(NodeId, NodeId), u64>>,
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
            let at = self.delivery_time(&m, now + rng.range(faults.min_delay, faults.max_delay));
            self.seq += 1;
            self.in_flight.push((at, self.seq, m.clone()));
        }
        let at = self.delivery_time(&m, now + rng.range(faults.min_delay, faults.max_delay));
        self.seq += 1;
        self.in_flight.push((at, self.seq, m));
        None
    }

    /// `drawn`, or later if the link keeps order and an earlier message on it is
    /// due later (equal times keep send order: `due` sorts by sequence).
    fn delivery_time(&mut self, m: &Message, drawn: u64) -> u64 {
        let Some(latest) = &mut self.fifo else {
            return drawn;
        };
        let last = latest.entry((m.from, m.to)).or_insert(0);
        *last = (*last).max(drawn);
        *last
    }

    /// From now on messages on one link arrive in the order they were sent.
    /// Messages already in flight keep their times.
    pub fn keep_link_order(&mut self) {
        self.fifo.get_or_insert_with(BTreeMap::new);
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

#[cfg(test)]
mod tests {
    use super::*;
    use raft_core::MessageBody;

    fn heartbeat_response(from: NodeId, to: NodeId, term: u64) -> Message {
        Message {
            from,
            to,
            term,
            body: MessageBody::HeartbeatResponse { read_round: 0 },
        }
    }

    /// Sends 200 messages on two links at one instant and returns the receive order
    /// of the terms (the send order) on link 1 -> 2.
    fn order_on_one_link(net: &mut Network) -> Vec<u64> {
        let faults = NetFaults {
            drop_per_mille: 0,
            dup_per_mille: 0,
            min_delay: 0,
            max_delay: 14,
        };
        let mut rng = DetRng::new(7);
        for term in 0..100 {
            net.send(0, heartbeat_response(1, 2, term), &faults, &mut rng);
            net.send(0, heartbeat_response(3, 2, term), &faults, &mut rng);
        }
        (0..20)
            .flat_map(|now| net.due(now))
            .filter(|m| m.from == 1)
            .map(|m| m.term)
            .collect()
    }

    #[test]
    fn chaos_reorders_a_link_and_a_healed_network_keeps_its_order() {
        let sent: Vec<u64> = (0..100).collect();
        let mut chaos = Network::default();
        let received = order_on_one_link(&mut chaos);
        assert_eq!(received.len(), 100, "nothing is lost without faults");
        assert_ne!(received, sent, "random delays reorder a link during chaos");

        let mut healed = Network::default();
        healed.keep_link_order();
        assert_eq!(order_on_one_link(&mut healed), sent);
    }
}
