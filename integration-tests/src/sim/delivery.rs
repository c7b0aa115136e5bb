//! The network and the disks: message delivery, each node's readies
//! (deferred behind a slow disk), and the coverage notes on appends.

use super::{SLOW_DISK_MOVES_EVERY, Sim, ready::SimReady};
use crate::kv::Write;
use raft_core::{EntryPayload, Message, RawNode, Role, Storage};
use raft_testkit::{Driven, drive_ready};

impl Sim {
    /// As the runtime's leader does: proposals a follower forwards carry the
    /// leader's clock once it appends them.
    pub(super) fn stamp_forwarded(&self, m: &mut Message) {
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

    pub(super) fn deliver(&mut self, mut m: Message) {
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
    pub(super) fn process_ready_or_defer(&mut self, i: usize) {
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
    pub(super) fn has_slow_disk(&self, i: usize) -> bool {
        let slow = (self.seed + self.now / SLOW_DISK_MOVES_EVERY) % self.nodes.len() as u64;
        self.chaos && self.swarm.slow_disk_period > 0 && i as u64 == slow
    }

    /// Runs every deferred ready, once per ready period (the slow disk's ready
    /// once per its own period).
    pub(super) fn process_deferred_readies(&mut self) {
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

    pub(super) fn send_all(&mut self, msgs: Vec<Message>) {
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
    pub(super) fn process_ready(&mut self, i: usize) {
        if self.disk_stalled(i) {
            return;
        }
        let id = self.nodes[i].id;
        self.inv.check_role(&self.nodes[i].raw, id);
        let Some(mut raw) = self.nodes[i].raw.take() else {
            return;
        };
        let storage = self.nodes[i].storage.clone();
        let mut hooks = SimReady::new(self, i, id);
        let driven = drive_ready(&mut raw, &storage, &mut hooks);
        self.nodes[i].raw = Some(raw);
        match driven {
            Ok(Driven::Crashed(point)) => self.crash_node(i, point.describe()),
            Ok(Driven::Idle | Driven::Handled) => {}
            Err(e) => self.inv.fail(format!("advance failed: {e}")),
        }
    }

    /// Coverage: an append to a follower whose log goes on past the append's
    /// last entry, where the next entry conflicts with the sender's log.
    pub(super) fn note_append_below_conflict(&mut self, m: &Message) {
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
    pub(super) fn note_append_over_unpersisted(&mut self, m: &Message) {
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
}

pub(super) fn describe(m: &Message) -> String {
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
