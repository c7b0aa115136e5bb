//! A tiny cluster driver for scenario tests: nodes over `MemStorage`, messages
//! delivered synchronously until the cluster is quiet, links that can be cut.

#![allow(dead_code)]

use raft_core::{
    ConfState, Config, Entry, EntryPayload, HardState, Message, MessageBody, RawNode, ReadState,
    Role,
};
use raft_storage::{HardStateStore, LogStore, MemStorage};
use raft_testkit::{ReadyHooks, drive_ready};
use std::collections::{BTreeMap, BTreeSet};

pub fn config(id: u64) -> Config {
    let mut c = Config::new(id);
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    c
}

/// A storage preloaded with entries of the given terms (index 1..) and a term.
pub fn storage_with_log(voters: &[u64], terms: &[u64], term: u64) -> MemStorage {
    let s = MemStorage::with_conf_state(ConfState::with_voters(voters.iter().copied()));
    let ents: Vec<Entry> = terms
        .iter()
        .enumerate()
        .map(|(i, &t)| Entry {
            index: i as u64 + 1,
            term: t,
            payload: EntryPayload::Normal(vec![t as u8, i as u8]),
        })
        .collect();
    s.append(&ents).expect("append");
    s.set_hard_state(HardState {
        term,
        vote: None,
        commit: 0,
    })
    .expect("hs");
    s
}

pub struct Node {
    pub raw: RawNode<MemStorage>,
    pub storage: MemStorage,
    pub reads: Vec<ReadState>,
    pub failed_reads: Vec<u64>,
    pub applied: Vec<Entry>,
}

impl Node {
    /// A node over `storage` with the test configuration.
    pub fn new(id: u64, storage: MemStorage) -> Node {
        Node::with_config(config(id), storage)
    }

    /// A node over `storage` with `cfg`.
    pub fn with_config(cfg: Config, storage: MemStorage) -> Node {
        let raw = RawNode::new(cfg, storage.clone()).expect("node");
        Node {
            raw,
            storage,
            reads: vec![],
            failed_reads: vec![],
            applied: vec![],
        }
    }
}

/// Collects what one ready sends, applies and reads.
struct Record<'a> {
    out: Vec<Message>,
    applied: &'a mut Vec<Entry>,
    reads: &'a mut Vec<ReadState>,
    failed_reads: &'a mut Vec<u64>,
}

impl ReadyHooks<MemStorage> for Record<'_> {
    fn send(&mut self, _raw: &RawNode<MemStorage>, messages: Vec<Message>) {
        self.out.extend(messages);
    }

    fn apply(&mut self, entry: &Entry) {
        self.applied.push(entry.clone());
    }

    fn read_ready(&mut self, read: &ReadState) {
        self.reads.push(*read);
    }

    fn read_failed(&mut self, request: u64) {
        self.failed_reads.push(request);
    }
}

pub struct Net {
    pub nodes: BTreeMap<u64, Node>,
    cut: BTreeSet<(u64, u64)>,
    /// Every message delivered, in order (for assertions).
    pub delivered: Vec<Message>,
    /// Message kinds to drop everywhere.
    pub drop_kinds: BTreeSet<&'static str>,
}

impl Net {
    /// `n` fresh voters 1..=n.
    pub fn new(n: u64) -> Net {
        let voters: Vec<u64> = (1..=n).collect();
        Net::with_logs(&voters.iter().map(|&id| (id, vec![], 0)).collect::<Vec<_>>())
    }

    /// `n` fresh voters 1..=n, each with the test configuration changed by `tweak`.
    pub fn with_config(n: u64, tweak: impl Fn(&mut Config)) -> Net {
        let mut net = Net::new(n);
        let voters: Vec<u64> = (1..=n).collect();
        for id in 1..=n {
            let mut cfg = config(id);
            tweak(&mut cfg);
            let node = Node::with_config(cfg, storage_with_log(&voters, &[], 0));
            net.nodes.insert(id, node);
        }
        net
    }

    /// Voters with preloaded logs: (id, entry terms, current term).
    pub fn with_logs(spec: &[(u64, Vec<u64>, u64)]) -> Net {
        let voters: Vec<u64> = spec.iter().map(|s| s.0).collect();
        let nodes = spec
            .iter()
            .map(|(id, terms, term)| (*id, Node::new(*id, storage_with_log(&voters, terms, *term))))
            .collect();
        Net {
            nodes,
            cut: BTreeSet::new(),
            delivered: vec![],
            drop_kinds: BTreeSet::new(),
        }
    }

    /// Adds a node that knows no configuration (to be added by a membership change).
    pub fn add_empty_node(&mut self, id: u64) {
        self.nodes.insert(id, Node::new(id, MemStorage::new()));
    }

    pub fn node(&mut self, id: u64) -> &mut RawNode<MemStorage> {
        &mut self.nodes.get_mut(&id).expect("node exists").raw
    }

    pub fn role(&self, id: u64) -> Role {
        self.nodes[&id].raw.raft().role()
    }

    pub fn term(&self, id: u64) -> u64 {
        self.nodes[&id].raw.raft().term()
    }

    pub fn leader_of(&self, id: u64) -> Option<u64> {
        self.nodes[&id].raw.raft().leader_id()
    }

    pub fn committed(&self, id: u64) -> u64 {
        self.nodes[&id].raw.raft().log().committed()
    }

    pub fn last_index(&self, id: u64) -> u64 {
        self.nodes[&id].raw.raft().log().last_index()
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: u64) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for other in ids {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&mut self, a: u64, b: u64) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Runs readies and delivers until no node has anything left to do.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.round() {
                return;
            }
        }
        let tail: Vec<String> = self
            .delivered
            .iter()
            .rev()
            .take(12)
            .map(|m| format!("{m:?}"))
            .collect();
        panic!(
            "the cluster never went quiet; last messages:\n{}",
            tail.join("\n")
        );
    }

    /// One round: every node runs its ready, then what they sent is delivered.
    /// Returns false if the cluster was quiet.
    pub fn round(&mut self) -> bool {
        let mut msgs = Vec::new();
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            msgs.extend(self.process_ready(id));
        }
        // A lone voter sends nothing but may still have readies to run
        // (its own ack commits; the commit releases reads).
        if msgs.is_empty() && !self.nodes.values().any(|n| n.raw.has_ready()) {
            return false;
        }
        for m in msgs {
            if self.cut.contains(&(m.from, m.to)) || self.drop_kinds.contains(m.body.name()) {
                continue;
            }
            self.delivered.push(m.clone());
            if let Some(n) = self.nodes.get_mut(&m.to) {
                n.raw
                    .step(m)
                    .expect("step never fails on a well-formed message");
            }
        }
        true
    }

    /// One ready cycle of `id`, returning the messages it sends.
    pub fn process_ready(&mut self, id: u64) -> Vec<Message> {
        let n = self.nodes.get_mut(&id).expect("node exists");
        let mut hooks = Record {
            out: Vec::new(),
            applied: &mut n.applied,
            reads: &mut n.reads,
            failed_reads: &mut n.failed_reads,
        };
        drive_ready(&mut n.raw, &n.storage, &mut hooks).expect("advance");
        hooks.out
    }

    /// Ticks `id` `n` times, settling after each tick.
    pub fn tick(&mut self, id: u64, n: u64) {
        for _ in 0..n {
            self.node(id).tick();
            self.settle();
        }
    }

    /// Ticks every node `n` times.
    pub fn tick_all(&mut self, n: u64) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for _ in 0..n {
            for &id in &ids {
                self.node(id).tick();
            }
            self.settle();
        }
    }

    pub fn campaign(&mut self, id: u64) {
        self.node(id).campaign();
        self.settle();
    }

    pub fn propose(&mut self, id: u64, data: &[u8]) {
        self.node(id)
            .propose(data.to_vec())
            .expect("proposal accepted");
        self.settle();
    }

    /// Application data applied by `id`, in order.
    pub fn applied_data(&self, id: u64) -> Vec<Vec<u8>> {
        self.nodes[&id]
            .applied
            .iter()
            .filter_map(|e| match &e.payload {
                EntryPayload::Normal(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    /// Delivered messages of one kind.
    pub fn delivered_named(&self, name: &str) -> Vec<&Message> {
        self.delivered
            .iter()
            .filter(|m| m.body.name() == name)
            .collect()
    }
}

/// One node with the test configuration over a log of the given terms.
pub fn single_node(id: u64, voters: &[u64], terms: &[u64], term: u64) -> RawNode<MemStorage> {
    RawNode::new(config(id), storage_with_log(voters, terms, term)).expect("node")
}

/// Takes every message a node wants to send now or after persisting.
pub fn drain(raw: &mut RawNode<MemStorage>) -> Vec<Message> {
    if !raw.has_ready() {
        return vec![];
    }
    let rd = raw.ready();
    let mut out = rd.messages;
    out.extend(rd.persisted_messages);
    raw.advance().expect("advance");
    out
}

/// A message for `to` from `from` at `term`.
pub fn msg(from: u64, to: u64, term: u64, body: MessageBody) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}
