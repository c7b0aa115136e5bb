//! What the simulator does to the cluster: the chaos schedule, partitions,
//! crashes and restarts, snapshots, campaign storms, and the final heal.

use super::{ELECTION_TICK, Sim, TICK_EVERY, ready::decode_state, ready::encode_state};
use raft_core::{Config, RawNode, Role, Storage};
use raft_storage::LogStore;

impl Sim {
    pub(super) fn chaos_step(&mut self) {
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

    pub(super) fn random_partition(&mut self) {
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
    pub(super) fn new_leader_fault(&mut self, i: usize, id: u64) {
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

    pub(super) fn start_node(&mut self, i: usize) {
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

    pub(super) fn crash_node(&mut self, i: usize, why: &str) {
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

    pub(super) fn take_snapshot(&mut self, i: usize) {
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

    /// Two followers campaign at the same moment: competing candidates.
    pub(super) fn campaign_storm(&mut self) {
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

    pub(super) fn heal_all(&mut self) {
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
}
