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
use crate::expiry::{EPOCH_MS, KvMirror, MAX_SKEW_MS, MS_PER_UNIT};
use crate::invariants::Invariants;
use crate::kv::Registers;
use crate::linearizability::Op;
use crate::network::{NetFaults, Network};
use crate::swarm::Swarm;
use raft_core::{ConfState, DetRng, RawNode, Role};
use raft_storage::MemStorage;
use std::collections::{BTreeMap, BTreeSet};

mod background;
mod clients;
mod delivery;
mod faults;
mod membership;
mod ready;
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

    fn tick_clock(&mut self) -> u64 {
        self.clock += 1;
        self.clock
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
