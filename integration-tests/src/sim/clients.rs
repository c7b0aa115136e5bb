//! The clients: reads and writes through chosen nodes, their completion or
//! loss, the leader's expiry ticks, and the end-of-run checks of the
//! history (linearizability) and of the healed cluster (liveness).

use super::{Client, ELECTION_TICK, Pending, PendingOp, Sim, TICK_EVERY};
use crate::expiry::{MS_PER_UNIT, ReadSeen};
use crate::kv::Write;
use crate::linearizability::{Op, OpKind, check_register};
use std::collections::BTreeMap;

impl Sim {
    /// As the runtime's leader does (`runtime/expiry_tick.rs`): when a key is
    /// due by its clock, an empty entry moves the state machine's clock, so
    /// that every replica deletes the key; at most every 100 ms, and not
    /// while its last tick is unapplied there (for up to a second).
    pub(super) fn propose_tick_if_due(&mut self) {
        let Some(l) = self.leader_index() else { return };
        let at_ms = self.clock_ms(self.nodes[l].id);
        let kv = &self.nodes[l].kv;
        let due = kv.next_expiry_ms().is_some_and(|t| t <= at_ms);
        let (last, last_ms) = self.last_tick;
        let unapplied = kv.clock_ms() < last_ms && self.now < last + 1000 / MS_PER_UNIT;
        if !due || unapplied || self.now < last + 100 / MS_PER_UNIT {
            return;
        }
        let Some(raw) = self.nodes[l].raw.as_mut() else {
            return;
        };
        if raw.propose(Write::tick(at_ms).encode()).is_ok() {
            self.last_tick = (self.now, at_ms);
            self.process_ready_or_defer(l);
        }
    }

    pub(super) fn complete_write(&mut self, node: u64, w: &Write) {
        let Some(c) = self.clients.get_mut(w.client as usize) else {
            return;
        };
        let matches = c.pending.as_ref().is_some_and(|p| {
            p.node == node && matches!(p.op, Pending::Write { seq, .. } if seq == w.seq)
        });
        if !matches {
            return;
        }
        if let Some(PendingOp {
            op: Pending::Write { history, .. },
            ..
        }) = c.pending.take()
        {
            self.clock += 1;
            self.history[history].1.ret = Some(self.clock);
            self.completed_ops += 1;
        }
    }

    pub(super) fn complete_read(&mut self, node: u64, request: u64) {
        let found = self.clients.iter().position(|c| {
            c.pending.as_ref().is_some_and(|p| {
                p.node == node && matches!(p.op, Pending::Read { request: r, .. } if r == request)
            })
        });
        let Some(ci) = found else { return };
        let Some(PendingOp {
            op: Pending::Read { key, call, .. },
            ..
        }) = self.clients[ci].pending.take()
        else {
            return;
        };
        let n = &self.nodes[(node - 1) as usize];
        let value = n.regs.get(key);
        let reader_ms = self.clock_ms(node);
        match n.kv.check_read(key, value, reader_ms, &self.expiry_of) {
            Ok(ReadSeen::Current) => {}
            Ok(ReadSeen::HiddenByReaderClock) => self.cov.expired_by_reader_clock += 1,
            Ok(ReadSeen::RemovedByStateMachine) => self.cov.expired_by_state_machine += 1,
            Err(e) => self.inv.fail(format!("expiry: n{node}: {e}")),
        }
        let ret = self.tick_clock();
        self.history.push((
            key,
            Op {
                client: ci as u64,
                kind: OpKind::Read(value),
                call,
                ret: Some(ret),
            },
        ));
        self.completed_ops += 1;
    }

    pub(super) fn drop_read(&mut self, request: u64) {
        for c in &mut self.clients {
            if c.pending
                .as_ref()
                .is_some_and(|p| matches!(p.op, Pending::Read { request: r, .. } if r == request))
            {
                c.pending = None;
            }
        }
    }

    pub(super) fn run_clients(&mut self) {
        for ci in 0..self.clients.len() {
            if let Some(p) = &self.clients[ci].pending {
                if p.deadline <= self.now {
                    // A write stays in the history with an unknown outcome.
                    self.clients[ci].pending = None;
                }
                continue;
            }
            if !self.chance(self.swarm.op) {
                continue;
            }
            let key = self.rng.range(0, self.opts.keys);
            let write = self.rng.range(0, 2) == 0;
            let any = 1 + self.rng.range(0, self.nodes.len() as u64);
            // While a leader is cut off, its reads race the others' writes.
            let node = match self.focus {
                _ if write && let Some(n) = self.stalled_split_writer() => n,
                Some((n, until)) if self.now < until && !write => n,
                Some((n, until)) if self.now < until && any == n => 1 + n % self.nodes.len() as u64,
                _ => any,
            };
            self.issue(ci, node, key, write);
        }
    }

    pub(super) fn issue(&mut self, ci: usize, node: u64, key: u64, write: bool) {
        let deadline = self.now + 4 * ELECTION_TICK * TICK_EVERY;
        let i = (node - 1) as usize;
        if write {
            let seq = self.clients[ci].seq + 1;
            let value = self.next_value;
            let at_ms = self.clock_ms(node);
            let expires_at_ms = match self.expiry_rng.range(0, 2) {
                0 => 0,
                _ => at_ms + self.expiry_rng.range(1, 3_000),
            };
            let w = Write {
                client: ci as u64,
                seq,
                key,
                value,
                at_ms,
                expires_at_ms,
            };
            let Some(raw) = self.nodes[i].raw.as_mut() else {
                return;
            };
            if raw.propose(w.encode()).is_err() {
                return; // refused: definitely not applied, not part of the history
            }
            self.next_value += 1;
            self.expiry_of.insert(value, expires_at_ms);
            self.clients[ci].seq = seq;
            let call = self.tick_clock();
            self.history.push((
                key,
                Op {
                    client: ci as u64,
                    kind: OpKind::Write(value),
                    call,
                    ret: None,
                },
            ));
            let history = self.history.len() - 1;
            self.clients[ci].pending = Some(PendingOp {
                node,
                op: Pending::Write { seq, history },
                deadline,
            });
        } else {
            let request = self.next_request;
            let Some(raw) = self.nodes[i].raw.as_mut() else {
                return;
            };
            if raw.read_index(request).is_err() {
                return;
            }
            self.next_request += 1;
            let call = self.tick_clock();
            self.clients[ci].pending = Some(PendingOp {
                node,
                op: Pending::Read { request, key, call },
                deadline,
            });
        }
        self.process_ready_or_defer(i);
    }

    /// Heals everything and requires a leader and a new committed write on every
    /// node within a bounded time.
    pub(super) fn check_liveness(&mut self) {
        self.heal_all();
        let bound = self.now + self.liveness_ticks() * TICK_EVERY;
        let marker_client = self.clients.len() as u64;
        self.clients.push(Client::default());
        let mut proposed_at = None;
        while self.now < bound && self.inv.violation().is_none() {
            self.step_time(false);
            if self.marker_applied_everywhere() {
                self.note("liveness: the marker write is applied on every node".into());
                return;
            }
            if let Some(l) = self.leader_index()
                && proposed_at.is_none_or(|t| self.now > t + 5 * ELECTION_TICK * TICK_EVERY)
                && self.propose_marker(l, marker_client)
            {
                proposed_at = Some(self.now);
            }
        }
        if self.inv.violation().is_none() {
            let states = self.describe_nodes();
            self.inv.fail(format!(
                "liveness: no write committed on every node within {} ticks of healing; {states}",
                self.liveness_ticks()
            ));
        }
    }

    /// Ticks the healed cluster has to commit a write everywhere: 30 election
    /// timeouts at the default delays (up to 16 time units, a tick and a half),
    /// more in proportion on seeds whose messages take longer (a follower far
    /// behind catches up one round trip at a time).
    pub(super) fn liveness_ticks(&self) -> u64 {
        30 * ELECTION_TICK * self.swarm.max_delay.div_ceil(16).max(1)
    }

    /// Every member of the leader's configuration applied the marker; removed
    /// nodes may never hear of their removal.
    pub(super) fn marker_applied_everywhere(&self) -> bool {
        let members = match self.leader_index() {
            Some(l) => self.nodes[l]
                .raw
                .as_ref()
                .expect("leader is up")
                .status()
                .conf_state
                .all_nodes(),
            None => self.nodes.iter().map(|n| n.id).collect(),
        };
        self.nodes
            .iter()
            .filter(|n| members.contains(&n.id))
            .all(|n| n.regs.get(u64::MAX) == Some(u64::MAX))
    }

    /// Proposes the liveness marker on leader `l`; true if it was accepted.
    pub(super) fn propose_marker(&mut self, l: usize, marker_client: u64) -> bool {
        let w = Write {
            client: marker_client,
            seq: self.now + 1,
            key: u64::MAX,
            value: u64::MAX,
            at_ms: self.clock_ms(self.nodes[l].id),
            expires_at_ms: 0,
        };
        let raw = self.nodes[l].raw.as_mut().expect("leader is up");
        match raw.propose(w.encode()) {
            Ok(()) => {
                self.process_ready(l);
                true
            }
            Err(e) => {
                let line = format!(
                    "liveness: leader n{} refuses the marker: {e}",
                    self.nodes[l].id
                );
                self.note(line);
                false
            }
        }
    }

    pub(super) fn check_linearizability(&mut self) {
        let mut per_key: BTreeMap<u64, Vec<Op>> = BTreeMap::new();
        for (key, op) in &self.history {
            per_key.entry(*key).or_default().push(op.clone());
        }
        for (key, ops) in per_key {
            if let Err(e) = check_register(&ops, 2_000_000) {
                self.inv.fail(format!("key {key}: {e}"));
                return;
            }
        }
    }
}
