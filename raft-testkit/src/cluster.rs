//! A fault-free cluster of `raft-core` nodes with instant, in-order message
//! delivery: for benchmarks and scenario tests that need a whole cluster but
//! no chaos.

use crate::ready::{ReadyHooks, drive_ready};
use raft_core::{ConfState, Config, Entry, EntryPayload, Message, RawNode, Role};
use raft_storage::MemStorage;
use std::collections::VecDeque;

/// A fault-free in-memory cluster.
pub struct Cluster {
    nodes: Vec<RawNode<MemStorage>>,
    storages: Vec<MemStorage>,
    queue: VecDeque<Message>,
    applied: Vec<u64>,
}

/// Queues messages and counts applied normal entries.
struct Collect<'a> {
    queue: &'a mut VecDeque<Message>,
    applied: &'a mut u64,
}

impl ReadyHooks<MemStorage> for Collect<'_> {
    fn send(&mut self, _raw: &RawNode<MemStorage>, messages: Vec<Message>) {
        self.queue.extend(messages);
    }

    fn apply(&mut self, entry: &Entry) {
        if matches!(entry.payload, EntryPayload::Normal(_)) {
            *self.applied += 1;
        }
    }
}

impl Cluster {
    /// `n` voters with ids 1..=n and default configs.
    pub fn new(n: u64) -> Cluster {
        let voters: Vec<u64> = (1..=n).collect();
        let storages: Vec<MemStorage> = voters
            .iter()
            .map(|_| MemStorage::with_conf_state(ConfState::with_voters(voters.clone())))
            .collect();
        let nodes = voters
            .iter()
            .zip(&storages)
            .map(|(&id, s)| RawNode::new(Config::new(id), s.clone()).expect("valid config"))
            .collect();
        Cluster {
            nodes,
            storages,
            queue: VecDeque::new(),
            applied: vec![0; n as usize],
        }
    }

    /// Node `id` (1-based).
    pub fn node(&mut self, id: u64) -> &mut RawNode<MemStorage> {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Makes node `id` campaign and delivers until quiet; returns true if it leads.
    pub fn elect(&mut self, id: u64) -> bool {
        self.node(id).campaign();
        self.settle();
        self.node(id).raft().role() == Role::Leader
    }

    /// Normal entries applied by node `id`.
    pub fn applied_normal(&self, id: u64) -> u64 {
        self.applied[(id - 1) as usize]
    }

    /// Processes readies and delivers messages until nothing is left to do.
    pub fn settle(&mut self) {
        loop {
            let mut progressed = false;
            for i in 0..self.nodes.len() {
                progressed |= self.process_ready(i);
            }
            while let Some(m) = self.queue.pop_front() {
                progressed = true;
                let to = (m.to - 1) as usize;
                if let Some(node) = self.nodes.get_mut(to) {
                    // Errors on stale messages are impossible here: delivery is in order.
                    node.step(m).expect("in-order delivery never errors");
                    self.process_ready(to);
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn process_ready(&mut self, i: usize) -> bool {
        let mut hooks = Collect {
            queue: &mut self.queue,
            applied: &mut self.applied[i],
        };
        let driven = drive_ready(&mut self.nodes[i], &self.storages[i], &mut hooks)
            .expect("the ready was just taken");
        driven != crate::Driven::Idle
    }
}
