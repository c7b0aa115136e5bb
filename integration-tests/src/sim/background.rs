//! A leader's log write in the background (raft-core's "A leader's log write in
//! the background", the runtime's log writer): on a seed that enables it, a
//! leader hands the entries of a ready that qualifies to its disk, which makes
//! them durable some time units later, in order, and reports each write with
//! `RawNode::on_persisted`. Meanwhile the leader sends, steps acks and commits
//! on its followers alone. A crash keeps a random prefix of what was handed
//! over (a torn write keeps a prefix of one write's entries) and loses the rest.
//!
//! The decisions draw from a generator of their own, so a seed that does not
//! enable the background disk runs the schedule it ran before it existed.

use super::Sim;
use raft_core::{DetRng, Entry, HardState, RawNode, Storage};
use raft_storage::{HardStateStore, LogStore, MemStorage};
use std::collections::VecDeque;

/// One write handed to a node's background disk.
#[derive(Debug)]
pub(super) struct PendingWrite {
    entries: Vec<Entry>,
    hard_state: Option<HardState>,
    /// When the disk finishes it (simulator time units).
    due: u64,
}

/// This seed's background disk: how often a leader uses it and how slow it is.
#[derive(Debug)]
pub(super) struct BackgroundDisk {
    /// Per mille of qualifying readies handed to the disk (0: never).
    per_mille: u64,
    /// A write takes 1..=this many time units (a tick is 10).
    max_delay: u64,
    /// Per mille of writes handed over after which the leader crashes before
    /// the write is done (its followers may have committed the entries).
    crash_per_mille: u64,
    rng: DetRng,
}

impl BackgroundDisk {
    /// The background disk of `seed`, on for about two seeds in three.
    pub(super) fn for_seed(seed: u64) -> BackgroundDisk {
        let mut rng = DetRng::new(seed ^ 0xb0_7a_5e_d1_5c);
        let per_mille = if rng.range(0, 3) == 0 {
            0
        } else {
            rng.range(300, 1001)
        };
        let max_delay = rng.range(1, 40);
        let crash_per_mille = if rng.range(0, 2) == 0 {
            0
        } else {
            rng.range(5, 100)
        };
        BackgroundDisk {
            per_mille,
            max_delay,
            crash_per_mille,
            rng,
        }
    }

    /// One line for the trace.
    pub(super) fn describe(&self) -> String {
        format!(
            "background disk: {} per mille of a leader's readies, up to {} time units, \
             crash before one is done: {} per mille",
            self.per_mille, self.max_delay, self.crash_per_mille
        )
    }
}

/// Makes `w` durable in `storage`: its entries, then its hard state.
fn write_through(storage: &MemStorage, w: &PendingWrite) {
    if !w.entries.is_empty() {
        storage
            .append(&w.entries)
            .expect("background writes reach memory in log order");
    }
    if let Some(hs) = w.hard_state {
        storage
            .set_hard_state(hs)
            .expect("writing a hard state in memory succeeds");
    }
}

impl Sim {
    /// Node `i`'s ready qualifies for a background write: takes it (true) or
    /// leaves it to be persisted the usual way (false).
    pub(super) fn take_background_write(
        &mut self,
        i: usize,
        raw: &RawNode<MemStorage>,
        entries: &[Entry],
        hard_state: Option<HardState>,
    ) -> bool {
        let disk = &mut self.background;
        if disk.per_mille == 0 || disk.rng.range(0, 1000) >= disk.per_mille {
            return false;
        }
        let id = self.nodes[i].id;
        self.inv.check_new_entries(id, raw, entries);
        if entries.is_empty() && hard_state.is_none() {
            return true;
        }
        let delay = if self.has_slow_disk(i) {
            self.swarm.slow_disk_period
        } else {
            self.background.rng.range(1, self.background.max_delay + 1)
        };
        let queue = &mut self.nodes[i].background;
        // In order: a write is never done before one handed over earlier.
        let due = queue.back().map_or(0, |w| w.due).max(self.now + delay);
        let disk = &mut self.background;
        if self.chaos && disk.crash_per_mille > 0 && disk.rng.range(0, 1000) < disk.crash_per_mille
        {
            let at = self.now + disk.rng.range(0, due - self.now);
            self.scheduled_crashes
                .push((at, i, self.nodes[i].incarnation));
        }
        let queue = &mut self.nodes[i].background;
        queue.push_back(PendingWrite {
            entries: entries.to_vec(),
            hard_state,
            due,
        });
        self.cov.background_writes += 1;
        true
    }

    /// Before node `i` persists a ready the usual way: its disk finishes
    /// everything handed to it, and the node hears of it.
    pub(super) fn finish_background_writes(&mut self, i: usize, raw: &mut RawNode<MemStorage>) {
        while let Some(w) = self.nodes[i].background.pop_front() {
            self.complete_write_of(i, raw, &w);
        }
    }

    /// Every live node's disk finishes the writes due by now; a node that
    /// heard of one runs its ready (its commit may have moved).
    pub(super) fn complete_due_background_writes(&mut self) {
        for i in 0..self.nodes.len() {
            let due = |q: &VecDeque<PendingWrite>, now| q.front().is_some_and(|w| w.due <= now);
            if !due(&self.nodes[i].background, self.now) || self.disk_stalled(i) {
                continue;
            }
            let Some(mut raw) = self.nodes[i].raw.take() else {
                continue;
            };
            while due(&self.nodes[i].background, self.now) {
                let w = self.nodes[i]
                    .background
                    .pop_front()
                    .expect("a write is due: checked above");
                self.complete_write_of(i, &mut raw, &w);
            }
            self.nodes[i].raw = Some(raw);
            self.process_ready_or_defer(i);
        }
    }

    fn complete_write_of(&mut self, i: usize, raw: &mut RawNode<MemStorage>, w: &PendingWrite) {
        if let Some(hs) = &w.hard_state {
            // Checked once durable: a commit index lost in a crash may go back.
            let id = self.nodes[i].id;
            self.inv.check_commit(id, raw, hs.commit);
        }
        write_through(&self.nodes[i].storage, w);
        let Some(last) = w.entries.last() else {
            return;
        };
        if raw.raft().log().committed() >= w.entries[0].index {
            self.cov.committed_before_leader_wrote += 1;
        }
        let line = format!(
            "n{}: background write of {}..={} done",
            self.nodes[i].id, w.entries[0].index, last.index
        );
        self.note(line);
        if raw.raft().log().term(last.index) != Ok(last.term) {
            self.cov.persist_report_for_replaced_entries += 1;
            let line = format!(
                "n{}: the write's {}/{} is no longer in the log",
                self.nodes[i].id, last.index, last.term
            );
            self.note(line);
        }
        raw.on_persisted(last.index, last.term);
    }

    /// Node `i` crashed: a random prefix of its pending writes reached the
    /// disk (the last of them perhaps torn: a prefix of its entries, without
    /// its hard state); the rest is lost.
    pub(super) fn lose_background_writes(&mut self, i: usize) {
        let pending: Vec<PendingWrite> = self.nodes[i].background.drain(..).collect();
        if pending.is_empty() {
            return;
        }
        let rng = &mut self.background.rng;
        let kept = rng.range(0, pending.len() as u64 + 1) as usize;
        for w in &pending[..kept] {
            write_through(&self.nodes[i].storage, w);
        }
        if let Some(torn) = pending.get(kept) {
            let n = rng.range(0, torn.entries.len() as u64 + 1) as usize;
            let prefix = PendingWrite {
                entries: torn.entries[..n].to_vec(),
                hard_state: None,
                due: torn.due,
            };
            write_through(&self.nodes[i].storage, &prefix);
            self.cov.background_writes_lost += 1;
        }
        let line = format!(
            "n{}: {} of {} background writes reached the disk before the crash",
            self.nodes[i].id,
            kept,
            pending.len()
        );
        self.note(line);
    }
}

impl Sim {
    /// Every entry a leader newly committed is durable on a quorum: in the
    /// storage of a majority of each half of its configuration (the one it
    /// counts with now, or the one in force at the entry, since a membership
    /// change may be proposed between the commit and this check), or
    /// compacted into their snapshots. A leader that counted an ack, its own
    /// included, before the entry was durable breaks this at once, crash or
    /// no crash.
    pub(super) fn check_committed_durable(&mut self, raw: &RawNode<MemStorage>) {
        let r = raw.raft();
        let committed = r.log().committed();
        if r.role() != raft_core::Role::Leader || committed <= self.durable_checked {
            return;
        }
        let now = r.tracker().conf().clone();
        for index in (self.durable_checked + 1)..=committed {
            let Ok(term) = r.log().term(index) else {
                continue; // compacted here: checked when it was committed
            };
            let then = raw.conf_state_at(index);
            if self.quorum_holds(&now, index, term) || self.quorum_holds(&then, index, term) {
                continue;
            }
            return self.inv.fail(format!(
                "n{} committed {index}/{term}, durable on no quorum of {:?} or {:?}",
                r.id(),
                (&now.voters, &now.voters_outgoing),
                (&then.voters, &then.voters_outgoing),
            ));
        }
        self.durable_checked = committed;
    }

    /// True if a majority of every non-empty half of `conf` holds `index`/`term` durably.
    fn quorum_holds(&self, conf: &raft_core::ConfState, index: u64, term: u64) -> bool {
        [&conf.voters, &conf.voters_outgoing]
            .into_iter()
            .filter(|voters| !voters.is_empty())
            .all(|voters| {
                let durable = voters
                    .iter()
                    .filter(|&&v| self.durable_on(v, index, term))
                    .count();
                durable * 2 > voters.len()
            })
    }

    fn durable_on(&self, id: u64, index: u64, term: u64) -> bool {
        let Some(n) = self.nodes.get((id - 1) as usize) else {
            return false;
        };
        match n.storage.term(index) {
            Ok(t) => t == term,
            Err(raft_core::StorageError::Compacted) => true,
            Err(_) => false,
        }
    }
}
