//! The deterministic cluster simulator.
//!
//! A run is a pure function of its seed: one [`DetRng`] draws the fault rates,
//! message delays, drops, duplicates, partitions, crashes, restarts, snapshots and
//! client operations. Each node is a real [`RawNode`] over a [`MemStorage`] that
//! holds only what the node persisted: a crash throws away the `RawNode` (its
//! unstable entries and any ready not yet persisted) and a restart rebuilds it from
//! storage. Every ready is checked against the safety invariants (see
//! [`crate::invariants`]); at the end the client history is checked for
//! linearizability and the healed cluster for liveness.

use crate::coverage::Coverage;
use crate::expiry::{EPOCH_MS, KvMirror, MAX_SKEW_MS, MS_PER_UNIT, ReadSeen};
use crate::invariants::Invariants;
use crate::kv::{Registers, Write};
use crate::linearizability::{Op, OpKind, check_register};
use crate::network::{NetFaults, Network};
use crate::swarm::Swarm;
use raft_core::{ConfState, Config, DetRng, Entry, EntryPayload, Message, RawNode, Role, Storage};
use raft_storage::{LogStore, MemStorage};
use raft_testkit::{CrashPoint, Driven, ReadyHooks, drive_ready};
use std::collections::{BTreeMap, BTreeSet};

mod background;
mod stall;

use background::{BackgroundDisk, PendingWrite};

/// Time units per Raft tick; messages take 1..=~1.5 ticks.
const TICK_EVERY: u64 = 10;
/// Election timeout in ticks.
const ELECTION_TICK: u64 = 10;

/// How long the slow disk of a swarm stays on one node (time units).
const SLOW_DISK_MOVES_EVERY: u64 = 1500;

/// The shape of one run.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Cluster size (3 or 5).
    pub nodes: u64,
    /// Time units of chaos before healing.
    pub chaos_time: u64,
    /// Concurrent clients.
    pub clients: u64,
    /// Registers the clients contend on.
    pub keys: u64,
    /// Record a readable trace.
    pub trace: bool,
}

impl SimOptions {
    /// The default run for `seed`: 3 or 5 nodes, 5000 time units of chaos.
    pub fn for_seed(seed: u64) -> Self {
        SimOptions {
            nodes: if seed.is_multiple_of(3) { 5 } else { 3 },
            chaos_time: 8000,
            clients: 3 + seed % 6,
            keys: 3,
            trace: false,
        }
    }
}

struct SimNode {
    id: u64,
    storage: MemStorage,
    raw: Option<RawNode<MemStorage>>,
    regs: Registers,
    /// The store's state machine on the same entries (expiry).
    kv: KvMirror,
    /// This node's clock minus the simulation's (ms), fixed per run.
    skew_ms: u64,
    incarnation: u64,
    /// Sent a vote grant and has not written durably since.
    vote_unpersisted: bool,
    /// When this node last saw its leader change.
    leader_changed_at: u64,
    /// Writes handed to its background disk, oldest first.
    background: std::collections::VecDeque<PendingWrite>,
}

#[derive(Debug, Clone)]
enum Pending {
    Write { seq: u64, history: usize },
    Read { request: u64, key: u64, call: u64 },
}

#[derive(Debug, Clone)]
struct PendingOp {
    node: u64,
    op: Pending,
    deadline: u64,
}

#[derive(Debug, Default)]
struct Client {
    seq: u64,
    pending: Option<PendingOp>,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct SimReport {
    /// The first safety or liveness violation, if any.
    pub violation: Option<String>,
    /// The readable trace (empty unless tracing).
    pub trace: Vec<String>,
    /// Operations completed (writes acknowledged, reads served).
    pub completed_ops: u64,
    /// Entries committed by the end.
    pub committed: u64,
    /// Leaders elected.
    pub elections: u64,
    /// How often the rare situations happened.
    pub coverage: Coverage,
}

/// One simulated cluster run.
pub struct Sim {
    opts: SimOptions,
    seed: u64,
    rng: DetRng,
    now: u64,
    clock: u64,
    nodes: Vec<SimNode>,
    net: Network,
    faults: NetFaults,
    /// This seed's features and fault rates.
    swarm: Swarm,
    /// This seed's background disk for leaders' log writes.
    background: BackgroundDisk,
    /// Committed entries up to here were checked durable on a quorum.
    durable_checked: u64,
    /// Leaders announce each commit at once (`Config::broadcast_commit`).
    broadcast_commit: bool,
    cov: Coverage,
    /// The first candidate seen in each term.
    candidates: BTreeMap<u64, u64>,
    /// Terms already counted as having competing candidates.
    competing_terms: BTreeSet<u64>,
    /// A node cut off while it led, and until when clients favour it (a stale
    /// leader must not serve what it no longer knows).
    focus: Option<(u64, u64)>,
    /// The stalled split in progress, if any (see [`stall`]).
    stalled_split: Option<stall::StalledSplit>,
    /// The client a stalled split writes through, once one has run.
    split_client: Option<usize>,
    /// Crashes scheduled as (time, node index, incarnation).
    scheduled_crashes: Vec<(u64, usize, u64)>,
    clients: Vec<Client>,
    /// (key, op) in call order; writes' `ret` is set when acknowledged.
    history: Vec<(u64, Op)>,
    next_request: u64,
    next_value: u64,
    inv: Invariants,
    trace: Vec<String>,
    completed_ops: u64,
    /// Faults (crashes inside readies included) are injected only during chaos.
    chaos: bool,
    /// Draws the expiry times (apart from `rng`: see [`Sim::new`]).
    expiry_rng: DetRng,
    /// Each written value's expiry time (Unix ms; 0: none).
    expiry_of: BTreeMap<u64, u64>,
    /// When the leader last proposed a tick, and the time it carried.
    last_tick: (u64, u64),
}

impl Sim {
    /// A cluster for `seed`, every node a fresh voter.
    pub fn new(seed: u64, opts: SimOptions) -> Sim {
        let mut rng = DetRng::new(seed);
        let swarm = Swarm::draw(&mut rng);
        let faults = NetFaults {
            drop_per_mille: swarm.drop_per_mille,
            dup_per_mille: swarm.dup_per_mille,
            min_delay: 1,
            max_delay: swarm.max_delay,
        };
        // Five-node runs sometimes start with three voters and two empty nodes that
        // membership changes may add.
        let initial = if opts.nodes == 5 && rng.range(0, 2) == 0 {
            3
        } else {
            opts.nodes
        };
        let voters: Vec<u64> = (1..=initial).collect();
        // Expiry draws from a generator of its own: the main schedule of a
        // seed is what it was before expiry was simulated.
        let mut expiry_rng = DetRng::new(seed ^ 0x5eed_e791_2e5a);
        let nodes = (1..=opts.nodes)
            .map(|id| SimNode {
                id,
                storage: if id <= initial {
                    MemStorage::with_conf_state(ConfState::with_voters(voters.clone()))
                } else {
                    MemStorage::new()
                },
                raw: None,
                regs: Registers::default(),
                kv: KvMirror::default(),
                skew_ms: expiry_rng.range(0, MAX_SKEW_MS + 1),
                incarnation: 0,
                vote_unpersisted: false,
                leader_changed_at: 0,
                background: Default::default(),
            })
            .collect();
        let mut sim = Sim {
            background: BackgroundDisk::for_seed(seed),
            durable_checked: 0,
            // A generator of its own: the main schedule of a seed stays put.
            broadcast_commit: DetRng::new(seed ^ 0xb_c0_77_17).range(0, 2) == 0,
            swarm,
            cov: Coverage::default(),
            candidates: BTreeMap::new(),
            competing_terms: BTreeSet::new(),
            focus: None,
            stalled_split: None,
            split_client: None,
            scheduled_crashes: Vec::new(),
            clients: (0..opts.clients).map(|_| Client::default()).collect(),
            expiry_rng,
            expiry_of: BTreeMap::new(),
            last_tick: (0, 0),
            opts,
            seed,
            rng,
            now: 0,
            clock: 0,
            nodes,
            net: Network::default(),
            faults,
            history: Vec::new(),
            next_request: 1,
            next_value: 1,
            inv: Invariants::default(),
            trace: Vec::new(),
            completed_ops: 0,
            chaos: true,
        };
        sim.note_setup();
        for i in 0..sim.nodes.len() {
            sim.start_node(i);
        }
        sim
    }

    /// The trace's first lines: the seed's shape, faults and switches.
    fn note_setup(&mut self) {
        let line = format!(
            "seed {}: {} nodes, {}",
            self.seed,
            self.opts.nodes,
            self.swarm.describe()
        );
        self.note(line);
        let line = format!(
            "{}; broadcast_commit {}",
            self.background.describe(),
            self.broadcast_commit
        );
        self.note(line);
    }

    fn note(&mut self, line: String) {
        if self.opts.trace {
            self.trace.push(format!("t={:>5} {line}", self.now));
        }
    }

    /// Node `id`'s wall clock (Unix ms): the simulation's time and its skew.
    fn clock_ms(&self, id: u64) -> u64 {
        EPOCH_MS + self.now * MS_PER_UNIT + self.nodes[(id - 1) as usize].skew_ms
    }

    /// As the runtime's leader does (`runtime/expiry_tick.rs`): when a key is
    /// due by its clock, an empty entry moves the state machine's clock, so
    /// that every replica deletes the key; at most every 100 ms, and not
    /// while its last tick is unapplied there (for up to a second).
    fn propose_tick_if_due(&mut self) {
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

    /// As the runtime's leader does: proposals a follower forwards carry the
    /// leader's clock once it appends them.
    fn stamp_forwarded(&self, m: &mut Message) {
        let leading = self
            .nodes
            .get((m.to - 1) as usize)
            .and_then(|n| n.raw.as_ref())
            .is_some_and(|r| r.raft().role() == Role::Leader);
        let raft_core::MessageBody::Propose { entries } = &mut m.body else {
            return;
        };
        if !leading {
            return;
        }
        let now = self.clock_ms(m.to);
        for e in entries {
            if let EntryPayload::Normal(data) = &mut e.payload
                && let Some(mut w) = Write::decode(data)
            {
                w.at_ms = now;
                *data = w.encode();
            }
        }
    }

    fn tick_clock(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn start_node(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.incarnation += 1;
        let snap = n
            .storage
            .snapshot(0)
            .expect("MemStorage always has a snapshot");
        let mut cfg = Config::new(n.id);
        cfg.election_tick = ELECTION_TICK;
        cfg.heartbeat_tick = 1;
        cfg.seed = self.seed ^ (n.id << 32) ^ n.incarnation;
        cfg.max_size_per_msg = self.swarm.max_size_per_msg;
        cfg.max_inflight_msgs = 8;
        cfg.pre_vote = self.swarm.pre_vote;
        cfg.check_quorum = self.swarm.check_quorum;
        cfg.applied = snap.meta.index;
        cfg.snapshot_timeout_ticks = ELECTION_TICK;
        cfg.broadcast_commit = self.broadcast_commit;
        (n.regs, n.kv) = decode_state(&snap.data, snap.meta.index);
        match RawNode::new(cfg, n.storage.clone()) {
            Ok(raw) => n.raw = Some(raw),
            Err(e) => panic!("node {} cannot restart from its own storage: {e}", n.id),
        }
        let line = format!(
            "n{} starts (incarnation {}), snapshot at {}",
            n.id, n.incarnation, snap.meta.index
        );
        self.note(line);
    }

    fn crash_node(&mut self, i: usize, why: &str) {
        if self.nodes[i].raw.take().is_none() {
            return;
        }
        if std::mem::take(&mut self.nodes[i].vote_unpersisted) {
            self.cov.crash_after_vote += 1;
        }
        let id = self.nodes[i].id;
        self.note(format!("n{id} crashes ({why}); unpersisted state is lost"));
        self.lose_background_writes(i);
        for c in 0..self.clients.len() {
            if self.clients[c]
                .pending
                .as_ref()
                .is_some_and(|p| p.node == id)
            {
                self.clients[c].pending = None; // writes stay unknown, reads vanish
            }
        }
    }

    /// Runs chaos, then heals and checks liveness and linearizability.
    /// A panic inside the run (an assertion of the core, say) is reported as
    /// the violation, with the trace up to it.
    pub fn run(mut self) -> SimReport {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_to_the_end()));
        let violation = match outcome {
            Ok(()) => self.inv.violation().map(str::to_string),
            Err(payload) => Some(format!("panicked: {}", panic_message(payload.as_ref()))),
        };
        SimReport {
            violation,
            trace: self.trace,
            completed_ops: self.completed_ops,
            committed: self.inv.committed_count(),
            elections: self.inv.elections(),
            coverage: self.cov,
        }
    }

    fn run_to_the_end(&mut self) {
        let end = self.opts.chaos_time;
        while self.now < end && self.inv.violation().is_none() {
            self.chaos_step();
            self.step_time(true);
        }
        if self.inv.violation().is_none() {
            self.check_liveness();
        }
        if self.inv.violation().is_none() {
            self.check_linearizability();
        }
    }

    fn chance(&mut self, per_million: u64) -> bool {
        self.rng.range(0, 1_000_000) < per_million
    }

    fn chaos_step(&mut self) {
        let n = self.nodes.len();
        let now = self.now;
        let due: Vec<(u64, usize, u64)> = self
            .scheduled_crashes
            .iter()
            .copied()
            .filter(|c| c.0 <= now)
            .collect();
        self.scheduled_crashes.retain(|c| c.0 > now);
        for (_, i, incarnation) in due {
            if self.nodes[i].incarnation == incarnation {
                self.crash_node(i, "scheduled crash");
            }
        }
        // A stalled split owns the network and its two nodes while it runs.
        let split = self.stalled_split.is_some();
        if !split && self.chance(self.swarm.crash) {
            let i = self.rng.range(0, n as u64) as usize;
            self.crash_node(i, "random");
        }
        if !split
            && self.chance(self.swarm.leader_crash)
            && let Some(l) = self.nodes.iter().position(|n| {
                n.raw
                    .as_ref()
                    .is_some_and(|r| r.raft().role() == Role::Leader)
            })
        {
            self.crash_node(l, "leader crash");
        }
        for i in 0..n {
            if self.nodes[i].raw.is_none() && self.chance(self.swarm.restart) {
                self.start_node(i);
            }
        }
        if !split && self.chance(self.swarm.partition) {
            self.random_partition();
        }
        if !split && self.net.is_partitioned() && self.chance(self.swarm.heal) {
            self.note("network heals".into());
            self.net.heal();
        }
        if !split && self.chance(self.swarm.conf_change) {
            self.random_conf_change();
        }
        if self.chance(self.swarm.campaign_storm) {
            self.campaign_storm();
        }
        if !split && self.chance(self.swarm.remove_transferring_leader) {
            self.remove_transferring_leader();
        }
        if self.chance(self.swarm.snapshot) {
            let i = self.rng.range(0, n as u64) as usize;
            self.take_snapshot(i);
        }
        self.stalled_split_step();
    }

    fn random_partition(&mut self) {
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        // Isolating the leader (a stale leader still serving) half the time.
        match [0, 1, 1, 2][self.rng.range(0, 4) as usize] {
            0 => {
                let mut a = Vec::new();
                let mut b = Vec::new();
                for &id in &ids {
                    if self.rng.range(0, 2) == 0 {
                        a.push(id)
                    } else {
                        b.push(id)
                    }
                }
                self.note(format!("partition {a:?} | {b:?}"));
                self.net.partition(&a, &b);
            }
            1 => {
                let leader = self.nodes.iter().find_map(|n| {
                    n.raw
                        .as_ref()
                        .filter(|r| r.raft().role() == Role::Leader)
                        .map(|_| n.id)
                });
                if let Some(l) = leader {
                    let rest: Vec<u64> = ids.iter().copied().filter(|&x| x != l).collect();
                    self.note(format!("isolate leader n{l}"));
                    self.net.partition(&[l], &rest);
                    self.focus = Some((l, self.now + 3 * ELECTION_TICK * TICK_EVERY));
                }
            }
            _ => {
                let from = ids[self.rng.range(0, ids.len() as u64) as usize];
                let to = ids[self.rng.range(0, ids.len() as u64) as usize];
                if from != to {
                    self.note(format!("cut one-way link n{from} -> n{to}"));
                    self.net.cut(from, to);
                }
            }
        }
    }

    /// A fault that strikes a node just elected: it crashes within a few ticks,
    /// or its network fails before its first appends leave.
    fn new_leader_fault(&mut self, i: usize, id: u64) {
        if self.rng.range(0, 2) == 0 {
            let at = self.now + self.rng.range(1, 4 * TICK_EVERY);
            self.scheduled_crashes
                .push((at, i, self.nodes[i].incarnation));
        } else {
            let rest: Vec<u64> = self
                .nodes
                .iter()
                .map(|n| n.id)
                .filter(|&x| x != id)
                .collect();
            self.note(format!("isolate new leader n{id}"));
            self.net.partition(&[id], &rest);
            self.focus = Some((id, self.now + 3 * ELECTION_TICK * TICK_EVERY));
        }
    }

    /// Asks the leader for a random membership change or leadership transfer.
    fn random_conf_change(&mut self) {
        use raft_core::ConfChangeStep;
        let Some(l) = self.leader_index() else { return };
        let conf = self.nodes[l]
            .raw
            .as_ref()
            .expect("leader is up")
            .status()
            .conf_state;
        let slots: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        let pick = |rng: &mut DetRng, from: Vec<u64>| -> Option<u64> {
            (!from.is_empty()).then(|| from[rng.range(0, from.len() as u64) as usize])
        };
        let non_voters: Vec<u64> = slots
            .iter()
            .copied()
            .filter(|id| !conf.voters.contains(id))
            .collect();
        let non_members: Vec<u64> = slots
            .iter()
            .copied()
            .filter(|id| !conf.all_nodes().contains(id))
            .collect();
        let voters: Vec<u64> = conf.voters.iter().copied().collect();
        let learners: Vec<u64> = conf.learners.iter().copied().collect();
        let step = match self.rng.range(0, 5) {
            0 => pick(&mut self.rng, non_voters).map(ConfChangeStep::AddVoter),
            1 => pick(&mut self.rng, non_members).map(ConfChangeStep::AddLearner),
            2 if voters.len() >= 3 => pick(&mut self.rng, voters).map(ConfChangeStep::Remove),
            3 => pick(&mut self.rng, learners).map(ConfChangeStep::Remove),
            4 => {
                let leader_id = self.nodes[l].id;
                let others: Vec<u64> = voters.into_iter().filter(|&v| v != leader_id).collect();
                if let Some(to) = pick(&mut self.rng, others) {
                    self.note(format!("n{leader_id} transfers leadership to n{to}"));
                    self.nodes[l]
                        .raw
                        .as_mut()
                        .expect("leader is up")
                        .transfer_leader(to);
                    self.process_ready(l);
                }
                None
            }
            _ => None,
        };
        let Some(step) = step else { return };
        self.propose_conf_change(l, step);
    }

    /// Proposes `step` on leader `l`, and traces the answer.
    fn propose_conf_change(&mut self, l: usize, step: raft_core::ConfChangeStep) {
        let cc = raft_core::ConfChange {
            changes: vec![step],
            ..raft_core::ConfChange::default()
        };
        let raw = self.nodes[l].raw.as_mut().expect("leader is up");
        let result = raw.propose_conf_change(cc);
        let line = format!(
            "n{} proposes {step:?}: {}",
            self.nodes[l].id,
            if result.is_ok() {
                "accepted".to_string()
            } else {
                format!("{result:?}")
            }
        );
        self.note(line);
        self.process_ready(l);
    }

    /// The leader of the highest term (a removed or partitioned node may still
    /// believe it leads an older term).
    fn leader_index(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i]
                    .raw
                    .as_ref()
                    .is_some_and(|r| r.raft().role() == Role::Leader)
            })
            .max_by_key(|&i| self.nodes[i].raw.as_ref().map_or(0, |r| r.raft().term()))
    }

    fn take_snapshot(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let Some(raw) = n.raw.as_ref() else { return };
        let applied = raw.raft().log().applied();
        let first = n.storage.first_index().expect("mem storage");
        if applied < first {
            return;
        }
        let conf = raw.conf_state_at(applied);
        let data = encode_state(&n.regs, &n.kv);
        match n.storage.create_snapshot(applied, conf, data) {
            Ok(_) => {}
            // A leader applies what its followers made durable before its
            // own background write is done: the runtime retries later too.
            Err(raft_storage::StoreError::NotYetDurable { .. }) if !n.background.is_empty() => {
                self.cov.snapshot_before_own_write += 1;
                return;
            }
            Err(e) => panic!("n{}: snapshot at applied {applied} failed: {e}", n.id),
        }
        let line = format!("n{} snapshots at {applied} and compacts", n.id);
        self.note(line);
    }

    /// One time unit: deliver due messages, tick, run clients.
    fn step_time(&mut self, clients: bool) {
        for m in self.net.due(self.now) {
            self.deliver(m);
        }
        self.complete_due_background_writes();
        if self.now.is_multiple_of(TICK_EVERY) {
            for i in 0..self.nodes.len() {
                if let Some(raw) = self.nodes[i].raw.as_mut() {
                    raw.tick();
                    self.process_ready_or_defer(i);
                }
            }
            self.propose_tick_if_due();
        }
        if clients {
            self.run_clients();
        }
        self.process_deferred_readies();
        self.now += 1;
    }

    fn deliver(&mut self, mut m: Message) {
        self.note_append_below_conflict(&m);
        self.note_append_over_unpersisted(&m);
        self.stamp_forwarded(&mut m);
        let i = (m.to - 1) as usize;
        let Some(raw) = self.nodes.get_mut(i).and_then(|n| n.raw.as_mut()) else {
            return;
        };
        let line = self.opts.trace.then(|| {
            format!(
                "n{} -> n{}: {} (term {})",
                m.from,
                m.to,
                describe(&m),
                m.term
            )
        });
        if let Err(e) = raw.step(m) {
            self.inv.fail(format!("step returned an error: {e}"));
        }
        if let Some(l) = line {
            self.note(l);
        }
        self.process_ready_or_defer(i);
    }

    /// Runs node `i`'s ready now, or (as the swarm says) leaves it for the next
    /// ready period, so that more messages land on its unstable entries first.
    fn process_ready_or_defer(&mut self, i: usize) {
        if self.has_slow_disk(i) {
            return;
        }
        let defer = self.swarm.deferred_ready_per_mille;
        if defer == 0 || !self.chance(defer * 1_000) {
            self.process_ready(i);
        }
    }

    /// True if node `i` has the swarm's slow disk and the chaos goes on. The
    /// disk moves to the next node every [`SLOW_DISK_MOVES_EVERY`] time units,
    /// so leaders and followers alike get it.
    fn has_slow_disk(&self, i: usize) -> bool {
        let slow = (self.seed + self.now / SLOW_DISK_MOVES_EVERY) % self.nodes.len() as u64;
        self.chaos && self.swarm.slow_disk_period > 0 && i as u64 == slow
    }

    /// Runs every deferred ready, once per ready period (the slow disk's ready
    /// once per its own period).
    fn process_deferred_readies(&mut self) {
        for i in 0..self.nodes.len() {
            let period = if self.has_slow_disk(i) {
                self.swarm.slow_disk_period
            } else if self.swarm.deferred_ready_per_mille > 0 {
                self.swarm.ready_period
            } else {
                continue;
            };
            if self.now.is_multiple_of(period)
                && self.nodes[i].raw.as_ref().is_some_and(RawNode::has_ready)
            {
                self.process_ready(i);
            }
        }
    }

    fn send_all(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            let why = self
                .net
                .send(self.now, m.clone(), &self.faults, &mut self.rng);
            if let (Some(why), true) = (why, self.opts.trace) {
                self.note(format!("n{} -> n{}: {} {why}", m.from, m.to, m.body.name()));
            }
        }
    }

    /// One ready of node `i` through the shared driver, with the invariant
    /// checks and the crash points of [`SimReady`].
    fn process_ready(&mut self, i: usize) {
        if self.disk_stalled(i) {
            return;
        }
        let id = self.nodes[i].id;
        self.inv.check_role(&self.nodes[i].raw, id);
        let Some(mut raw) = self.nodes[i].raw.take() else {
            return;
        };
        let storage = self.nodes[i].storage.clone();
        let mut hooks = SimReady {
            sim: self,
            i,
            id,
            sends: 0,
            crash_first: false,
        };
        let driven = drive_ready(&mut raw, &storage, &mut hooks);
        self.nodes[i].raw = Some(raw);
        match driven {
            Ok(Driven::Crashed(point)) => self.crash_node(i, point.describe()),
            Ok(Driven::Idle | Driven::Handled) => {}
            Err(e) => self.inv.fail(format!("advance failed: {e}")),
        }
    }

    fn complete_write(&mut self, node: u64, w: &Write) {
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

    fn complete_read(&mut self, node: u64, request: u64) {
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

    fn drop_read(&mut self, request: u64) {
        for c in &mut self.clients {
            if c.pending
                .as_ref()
                .is_some_and(|p| matches!(p.op, Pending::Read { request: r, .. } if r == request))
            {
                c.pending = None;
            }
        }
    }

    fn run_clients(&mut self) {
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

    fn issue(&mut self, ci: usize, node: u64, key: u64, write: bool) {
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

    /// Two followers campaign at the same moment: competing candidates.
    fn campaign_storm(&mut self) {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i]
                    .raw
                    .as_ref()
                    .is_some_and(|r| r.raft().role() != Role::Leader)
            })
            .collect();
        if up.len() < 2 {
            return;
        }
        let a = up[self.rng.range(0, up.len() as u64) as usize];
        let b = up[self.rng.range(0, up.len() as u64) as usize];
        if a == b {
            return;
        }
        self.note(format!(
            "n{} and n{} campaign at once",
            self.nodes[a].id, self.nodes[b].id
        ));
        for i in [a, b] {
            if let Some(raw) = self.nodes[i].raw.as_mut() {
                raw.campaign();
            }
        }
        self.process_ready(a);
        self.process_ready(b);
    }

    /// The leader proposes its own removal and, before that commits, starts a
    /// leadership transfer (the core refuses proposals during a transfer, so
    /// this is the order in which both can be in flight).
    fn remove_transferring_leader(&mut self) {
        let Some(l) = self.leader_index() else { return };
        let me = self.nodes[l].id;
        let raw = self.nodes[l].raw.as_mut().expect("leader is up");
        let voters: Vec<u64> = raw.status().conf_state.voters.iter().copied().collect();
        let Some(&to) = voters.iter().find(|&&v| v != me) else {
            return;
        };
        if voters.len() < 3 {
            return;
        }
        let cc = raft_core::ConfChange {
            changes: vec![raft_core::ConfChangeStep::Remove(me)],
            ..raft_core::ConfChange::default()
        };
        if raw.propose_conf_change(cc).is_err() {
            return;
        }
        raw.transfer_leader(to);
        if raw.raft().lead_transferee() == Some(to) {
            self.cov.leader_removed_during_transfer += 1;
        }
        self.note(format!(
            "n{me} proposes its own removal and transfers to n{to}"
        ));
        self.process_ready(l);
    }

    /// Coverage: an append to a follower whose log goes on past the append's
    /// last entry, where the next entry conflicts with the sender's log.
    fn note_append_below_conflict(&mut self, m: &Message) {
        let raft_core::MessageBody::Append {
            prev_index,
            entries,
            ..
        } = &m.body
        else {
            return;
        };
        let last = prev_index + entries.len() as u64;
        let node = |id: u64| {
            self.nodes
                .get((id - 1) as usize)
                .and_then(|n| n.raw.as_ref())
        };
        let (Some(follower), Some(leader)) = (node(m.to), node(m.from)) else {
            return;
        };
        let flog = follower.raft().log();
        if flog.last_index() <= last {
            return;
        }
        let theirs = flog.term(last + 1).ok();
        let ours = leader.raft().log().term(last + 1).ok();
        if theirs.is_some() && theirs != ours {
            self.cov.append_below_conflicting_suffix += 1;
        }
    }

    /// Coverage: an append the receiver accepts (current term, matching
    /// `prev`) whose first conflicting entry lies past the first entry it holds
    /// beyond its storage (not yet handed out for persistence): the unstable
    /// suffix is cut in its middle.
    fn note_append_over_unpersisted(&mut self, m: &Message) {
        let raft_core::MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            ..
        } = &m.body
        else {
            return;
        };
        let Some(n) = self.nodes.get((m.to - 1) as usize) else {
            return;
        };
        let Some(raw) = n.raw.as_ref() else {
            return;
        };
        let log = raw.raft().log();
        let Ok(stable_last) = n.storage.last_index() else {
            return;
        };
        let accepted =
            m.term >= raw.raft().term() && log.term(*prev_index).ok() == Some(*prev_term);
        let first_conflict = entries
            .iter()
            .find(|e| e.index <= log.last_index() && log.term(e.index).is_ok_and(|t| t != e.term));
        if accepted && first_conflict.is_some_and(|e| e.index > stable_last + 1) {
            self.cov.append_over_unpersisted_entries += 1;
        }
    }

    /// Heals everything and requires a leader and a new committed write on every
    /// node within a bounded time.
    fn check_liveness(&mut self) {
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
    fn liveness_ticks(&self) -> u64 {
        30 * ELECTION_TICK * self.swarm.max_delay.div_ceil(16).max(1)
    }

    fn heal_all(&mut self) {
        self.note(
            "heal: network restored and FIFO per link, every node restarted, no more faults".into(),
        );
        self.chaos = false;
        self.net.heal();
        self.net.keep_link_order();
        self.faults.drop_per_mille = 0;
        self.faults.dup_per_mille = 0;
        for i in 0..self.nodes.len() {
            if self.nodes[i].raw.is_none() {
                self.start_node(i);
            }
        }
    }

    /// Every member of the leader's configuration applied the marker; removed
    /// nodes may never hear of their removal.
    fn marker_applied_everywhere(&self) -> bool {
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
    fn propose_marker(&mut self, l: usize, marker_client: u64) -> bool {
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

    fn describe_nodes(&self) -> String {
        let states: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|n| n.raw.as_ref())
            .map(|r| {
                let st = r.status();
                format!(
                    "n{} {} term {} commit {} last {} voters {:?} learners {:?}",
                    st.id,
                    st.soft_state.role.as_str(),
                    st.hard_state.term,
                    st.hard_state.commit,
                    st.last_index,
                    st.conf_state.voters,
                    st.conf_state.learners
                )
            })
            .collect();
        states.join("; ")
    }

    fn check_linearizability(&mut self) {
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

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

fn describe(m: &Message) -> String {
    use raft_core::MessageBody as B;
    match &m.body {
        B::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => format!(
            "Append prev {prev_index}/{prev_term} +{} commit {commit}",
            entries.len()
        ),
        B::AppendResponse {
            accepted,
            index,
            hint_index,
            hint_term,
        } => {
            format!("AppendResponse ok={accepted} index {index} hint {hint_index}/{hint_term}")
        }
        B::RequestVote {
            kind,
            last_index,
            last_term,
        } => format!("{kind:?} last {last_index}/{last_term}"),
        B::RequestVoteResponse { pre_vote, granted } => {
            format!("VoteResponse pre={pre_vote} granted={granted}")
        }
        B::Heartbeat { commit, read_round } => {
            format!("Heartbeat commit {commit} round {read_round}")
        }
        B::InstallSnapshot { snapshot } => format!("InstallSnapshot at {}", snapshot.meta.index),
        other => other.name().to_string(),
    }
}

/// A snapshot's data: the registers and the store.
fn encode_state(regs: &Registers, kv: &KvMirror) -> Vec<u8> {
    postcard::to_stdvec(&(regs.encode(), kv.encode())).expect("state always encodes")
}

/// The registers and the store of a snapshot at `index` (empty: the
/// bootstrap snapshot).
fn decode_state(data: &[u8], index: u64) -> (Registers, KvMirror) {
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
struct SimReady<'a> {
    sim: &'a mut Sim,
    i: usize,
    id: u64,
    /// Calls of `send` so far: the first is step 2 (non-durable messages).
    sends: u32,
    /// A crash already decided for the first crash point.
    crash_first: bool,
}

impl SimReady<'_> {
    fn node(&mut self) -> &mut SimNode {
        &mut self.sim.nodes[self.i]
    }
}

/// True for a granted real (not pre-) vote.
fn grants_vote(m: &Message) -> bool {
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

    fn send(&mut self, mut messages: Vec<Message>) {
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
