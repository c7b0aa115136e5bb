//! The simulator's part in each step of a ready ([`SimReady`]), and the
//! snapshot format of the simulated state machine.

use super::{ELECTION_TICK, Sim, SimNode, TICK_EVERY};
use crate::expiry::KvMirror;
use crate::kv::{Registers, Write};
use crate::promises::unbacked_promise;
use raft_core::{Entry, EntryPayload, Message, RawNode, Role, Storage};
use raft_storage::MemStorage;
use raft_testkit::{CrashPoint, ReadyHooks};

/// A snapshot's data: the registers and the store.
pub(super) fn encode_state(regs: &Registers, kv: &KvMirror) -> Vec<u8> {
    postcard::to_stdvec(&(regs.encode(), kv.encode())).expect("state always encodes")
}

/// The registers and the store of a snapshot at `index` (empty: the
/// bootstrap snapshot).
pub(super) fn decode_state(data: &[u8], index: u64) -> (Registers, KvMirror) {
    if data.is_empty() {
        return (Registers::default(), KvMirror::default());
    }
    let (regs, kv): (Vec<u8>, Vec<u8>) =
        postcard::from_bytes(data).expect("snapshots hold the registers and the store");
    let regs = Registers::decode(&regs).expect("snapshots hold encoded registers");
    (regs, KvMirror::restore(&kv, index))
}

/// The simulator's part in each step of a ready: trace, invariant checks,
/// crash points (the swarm's rates, raised after a vote grant), the
/// registers, the clients and the coverage counters.
pub(super) struct SimReady<'a> {
    sim: &'a mut Sim,
    i: usize,
    id: u64,
    /// Calls of `send` so far: the first is step 2 (non-durable messages).
    sends: u32,
    /// A crash already decided for the first crash point.
    crash_first: bool,
}

impl<'a> SimReady<'a> {
    /// The hooks for one ready of node `id` (index `i`).
    pub(super) fn new(sim: &'a mut Sim, i: usize, id: u64) -> Self {
        SimReady {
            sim,
            i,
            id,
            sends: 0,
            crash_first: false,
        }
    }

    fn node(&mut self) -> &mut SimNode {
        &mut self.sim.nodes[self.i]
    }
}

/// True for a granted real (not pre-) vote.
pub(super) fn grants_vote(m: &Message) -> bool {
    matches!(
        m.body,
        raft_core::MessageBody::RequestVoteResponse {
            pre_vote: false,
            granted: true
        }
    )
}

impl ReadyHooks<MemStorage> for SimReady<'_> {
    fn soft_state(&mut self, raw: &RawNode<MemStorage>, ss: raft_core::SoftState) {
        let (sim, id, i) = (&mut *self.sim, self.id, self.i);
        sim.note(format!(
            "n{id} is {} (leader {:?})",
            ss.role.as_str(),
            ss.leader_id
        ));
        let term = raw.raft().term();
        if ss.role == Role::Candidate {
            let first = *sim.candidates.entry(term).or_insert(id);
            if first != id && sim.competing_terms.insert(term) {
                sim.cov.competing_candidates += 1;
            }
        }
        // Any soft-state change: a new role or a new (or no) leader.
        sim.nodes[i].leader_changed_at = sim.now;
        if ss.role == Role::Leader
            && sim.chaos
            && sim.rng.range(0, 1000) < sim.swarm.new_leader_fault_per_mille
        {
            sim.new_leader_fault(i, id);
        }
    }

    fn send(&mut self, raw: &RawNode<MemStorage>, mut messages: Vec<Message>) {
        self.sends += 1;
        if self.sends == 1 && self.sim.chaos {
            let rate = self.sim.swarm.ready_crash_at(CrashPoint::BeforePersist);
            self.crash_first = rate > 0 && self.sim.chance(rate);
            if self.crash_first
                && !messages.is_empty()
                && self.sim.rng.range(0, 1000) < self.sim.swarm.partial_send_per_mille
            {
                let keep = self.sim.rng.range(0, messages.len() as u64) as usize;
                messages.truncate(keep);
                self.sim.cov.partial_sends += 1;
            }
        }
        if messages.iter().any(grants_vote) {
            self.node().vote_unpersisted = true;
        }
        let storage = &self.sim.nodes[self.i].storage;
        if let Some(broken) = unbacked_promise(raw, storage, &messages) {
            self.sim.inv.fail(broken);
        }
        self.sim.send_all(messages);
    }

    fn crash_at(&mut self, point: CrashPoint) -> bool {
        if !self.sim.chaos {
            return false;
        }
        let crash = if point == CrashPoint::BeforePersist {
            self.crash_first
        } else {
            let rate = self.sim.swarm.ready_crash_at(point);
            rate > 0 && self.sim.chance(rate)
        };
        let after_vote = self.sim.swarm.crash_after_vote_per_mille;
        let crash = crash
            || (self.sim.nodes[self.i].vote_unpersisted
                && after_vote > 0
                && self.sim.rng.range(0, 1000) < after_vote);
        if crash {
            self.sim.cov.ready_crash(point);
        }
        crash
    }

    fn persist_in_background(
        &mut self,
        raw: &RawNode<MemStorage>,
        entries: &[Entry],
        hard_state: Option<raft_core::HardState>,
    ) -> bool {
        self.sim
            .take_background_write(self.i, raw, entries, hard_state)
    }

    fn finish_background(&mut self, raw: &mut RawNode<MemStorage>) {
        self.sim.finish_background_writes(self.i, raw);
    }

    fn snapshot(&mut self, snap: &raft_core::Snapshot) {
        let (index, term) = (snap.meta.index, snap.meta.term);
        let n = &mut self.sim.nodes[self.i];
        if n.storage.term(index).is_ok_and(|t| t != term) {
            self.sim.cov.snapshot_over_divergent_log += 1;
        }
        let n = &mut self.sim.nodes[self.i];
        (n.regs, n.kv) = decode_state(&snap.data, index);
        let fingerprint = n.regs.fingerprint() ^ n.kv.fingerprint().rotate_left(1);
        self.sim.inv.check_state(self.id, index, fingerprint);
    }

    fn entries(&mut self, raw: &RawNode<MemStorage>, entries: &[Entry]) {
        if !entries.is_empty() {
            self.node().vote_unpersisted = false;
        }
        self.sim.inv.check_new_entries(self.id, raw, entries);
    }

    fn hard_state(&mut self, raw: &RawNode<MemStorage>, hs: &raft_core::HardState) {
        self.node().vote_unpersisted = false;
        self.sim.inv.check_commit(self.id, raw, hs.commit);
    }

    fn apply(&mut self, e: &Entry) {
        let (sim, id, i) = (&mut *self.sim, self.id, self.i);
        sim.inv.check_apply(id, e);
        let n = &mut sim.nodes[i];
        if let EntryPayload::Normal(data) = &e.payload {
            let w = Write::decode(data).expect("sim entries hold writes");
            let is_new = n.regs.apply(&w);
            n.kv.apply(e.index, &w, is_new);
            sim.complete_write(id, &w);
        } else {
            n.kv.apply(e.index, &Write::tick(0), false);
        }
        let n = &sim.nodes[i];
        let fingerprint = n.regs.fingerprint() ^ n.kv.fingerprint().rotate_left(1);
        sim.inv.check_state(id, e.index, fingerprint);
    }

    fn read_ready(&mut self, rs: &raft_core::ReadState) {
        let sim = &mut *self.sim;
        if sim.now <= sim.nodes[self.i].leader_changed_at + ELECTION_TICK * TICK_EVERY {
            sim.cov.read_after_leader_change += 1;
        }
        sim.complete_read(self.id, rs.request);
    }

    fn read_failed(&mut self, request: u64) {
        self.sim.drop_read(request);
    }

    fn advanced(&mut self, raw: &RawNode<MemStorage>) {
        self.sim.inv.check_applied(self.id, raw);
        self.sim.check_committed_durable(raw);
    }
}
