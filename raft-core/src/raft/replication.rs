//! Log replication: proposals, appends with flow control, fast conflict
//! backtracking, heartbeats, commitment (Figure 8) and snapshots to followers.

use super::Raft;
use crate::error::{Error, Result, StorageError};
use crate::message::{Message, MessageBody, VoteKind};
use crate::progress::ProgressState;
use crate::storage::Storage;
use crate::types::{ConfChange, Entry, EntryPayload, LogIndex, NodeId, Role, Snapshot, Term};

impl<S: Storage> Raft<S> {
    /// Proposes payloads: appended as one batch on a leader, forwarded by a follower
    /// that knows the leader. Errors if no leader is known or a transfer is running.
    pub fn propose_payloads(&mut self, payloads: Vec<EntryPayload>) -> Result<()> {
        if payloads.is_empty() {
            return Ok(());
        }
        match self.role {
            Role::Leader => {
                if self.lead_transferee.is_some() {
                    return Err(Error::ProposalDropped("leadership transfer in progress"));
                }
                if !self.tracker.is_voter(self.id) {
                    return Err(Error::ProposalDropped(
                        "leader was removed from the cluster",
                    ));
                }
                let conf_changes: Vec<&ConfChange> = payloads
                    .iter()
                    .filter_map(|p| match p {
                        EntryPayload::ConfChange(cc) => Some(cc),
                        _ => None,
                    })
                    .collect();
                match conf_changes.as_slice() {
                    [] => {}
                    [cc] => self.check_conf_change(cc)?,
                    _ => {
                        return Err(crate::confchange::ConfChangeError::SeveralInOneProposal.into());
                    }
                }
                // Membership entries carry their resulting configuration.
                let conf = self.conf_in_force().clone();
                let payloads: Vec<EntryPayload> = payloads
                    .into_iter()
                    .map(|p| match p {
                        EntryPayload::ConfChange(mut cc) => {
                            cc.result = crate::confchange::apply(&conf, &cc).ok();
                            EntryPayload::ConfChange(cc)
                        }
                        other => other,
                    })
                    .collect();
                let mut index = self.log.last_index();
                let term = self.term;
                let ents: Vec<Entry> = payloads
                    .into_iter()
                    .map(|payload| {
                        index += 1;
                        Entry {
                            term,
                            index,
                            payload,
                        }
                    })
                    .collect();
                self.log.append(&ents);
                self.on_entries_appended(&ents);
                self.bcast_append();
                Ok(())
            }
            _ => match self.leader_id {
                Some(leader) => {
                    for p in &payloads {
                        if let EntryPayload::ConfChange(cc) = p {
                            self.check_conf_change(cc)?;
                        }
                    }
                    let entries = payloads
                        .into_iter()
                        .map(|payload| Entry {
                            term: 0,
                            index: 0,
                            payload,
                        })
                        .collect();
                    self.send(leader, MessageBody::Propose { entries });
                    Ok(())
                }
                None => Err(Error::ProposalDropped("no leader")),
            },
        }
    }

    /// Sends appends to every follower that is not paused.
    pub(super) fn bcast_append(&mut self) {
        for id in self.tracker.ids() {
            if id != self.id {
                self.send_append(id, true);
            }
        }
    }

    /// The commit index moved: sends every follower what it needs, an empty
    /// append carrying the commit index included only with
    /// `Config::broadcast_commit` or for a follower whose forwarded proposals
    /// just committed (otherwise the next append or heartbeat carries it).
    pub(super) fn announce_commit(&mut self) {
        let committed = self.log.committed();
        for id in self.tracker.ids() {
            if id == self.id {
                continue;
            }
            let waits = self.forwarded.get(&id).is_some_and(|&i| i <= committed);
            if waits {
                self.forwarded.remove(&id);
            }
            self.send_append(id, self.config.broadcast_commit || waits);
        }
    }

    /// Leader: `from` forwarded the proposals just appended (see `forwarded`).
    pub(super) fn note_forwarded(&mut self, from: NodeId) {
        if !self.config.broadcast_commit && from != self.id {
            self.forwarded.insert(from, self.log.last_index());
        }
    }

    /// Sends `to` the entries it needs (or a snapshot if they are compacted). With
    /// `allow_empty`, sends an append even with no entries (to carry the commit
    /// index). Returns true if something was sent.
    pub(super) fn send_append(&mut self, to: NodeId, allow_empty: bool) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let Some(p) = self.tracker.get(to) else {
            return false;
        };
        if p.is_paused() {
            return false;
        }
        let next = p.next();
        let prev_index = next - 1;
        let prev_term = self.log.term(prev_index);
        let entries = self
            .log
            .entries_from(next, Some(self.config.max_size_per_msg));
        let (prev_term, entries) = match (prev_term, entries) {
            (Ok(t), Ok(e)) => (t, e),
            (Err(StorageError::Compacted), _) | (_, Err(StorageError::Compacted)) => {
                return self.send_snapshot(to);
            }
            (Err(e), _) | (_, Err(e)) => {
                log::error!("raft {} cannot read entries for {to}: {e}", self.id);
                return false;
            }
        };
        if entries.is_empty() && !allow_empty {
            return false;
        }
        let last = entries.last().map_or(prev_index, |e| e.index);
        let bytes: u64 = entries.iter().map(Entry::size_hint).sum();
        let count = entries.len();
        let commit = self.log.committed();
        if let Some(p) = self.tracker.get_mut(to) {
            p.sent_entries(last, count, bytes);
        }
        self.send(
            to,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
        true
    }

    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let snapshot = match self
            .log
            .snapshot(self.tracker.get(to).map_or(0, |p| p.next()))
        {
            Ok(s) => s,
            Err(StorageError::SnapshotTemporarilyUnavailable) => {
                log::debug!("raft {} delays a snapshot to {to}: not ready", self.id);
                return false;
            }
            Err(e) => {
                log::error!("raft {} cannot read a snapshot for {to}: {e}", self.id);
                return false;
            }
        };
        if snapshot.is_empty() {
            log::error!(
                "raft {} needs a snapshot for {to} but storage has none",
                self.id
            );
            return false;
        }
        log::info!(
            "raft {} sends snapshot at {} (term {}) to {to}",
            self.id,
            snapshot.meta.index,
            snapshot.meta.term
        );
        if let Some(p) = self.tracker.get_mut(to) {
            p.become_snapshot(snapshot.meta.index);
        }
        self.snapshot_ticks.insert(to, 0);
        self.send(to, MessageBody::InstallSnapshot { snapshot });
        true
    }

    /// A follower in the Snapshot state that has not acknowledged within the
    /// snapshot timeout is probed again (the snapshot may have been lost).
    pub(super) fn tick_snapshot_timeouts(&mut self) {
        let limit = self.config.snapshot_timeout_ticks.max(1);
        let mut expired = Vec::new();
        for (id, ticks) in self.snapshot_ticks.iter_mut() {
            *ticks += 1;
            if *ticks >= limit {
                expired.push(*id);
            }
        }
        for id in expired {
            self.report_snapshot(id, false);
        }
    }

    /// The snapshot sent to `to` is done with (acknowledged, or timed out):
    /// probe the follower again.
    pub(super) fn report_snapshot(&mut self, to: NodeId, success: bool) {
        self.snapshot_ticks.remove(&to);
        if let Some(p) = self.tracker.get_mut(to)
            && p.state() == ProgressState::Snapshot
        {
            log::debug!(
                "raft {} snapshot to {to} finished (success {success})",
                self.id
            );
            p.become_probe();
        }
    }

    /// A node no longer in the configuration acknowledged entries up to
    /// `index`: tell it what is committed of them, so that a removed member
    /// learns its removal committed (the leader sends it nothing else). Its
    /// acknowledgement makes `index` a safe commit bound for it.
    fn answer_departed_member(&mut self, from: NodeId, accepted: bool, index: LogIndex) {
        if !accepted || from == self.id {
            return;
        }
        let commit = index.min(self.log.committed());
        let read_round = self.reads.latest_round();
        self.send(from, MessageBody::Heartbeat { commit, read_round });
    }

    /// True for a leader's view of a vote request from a node it does not
    /// track: a member removed by a configuration it has moved to. Such a node
    /// cannot win an election here, so the request is never counted; it only
    /// shows that the node still runs without knowing its removal committed.
    pub(super) fn is_vote_request_from_departed_member(&self, m: &Message) -> bool {
        self.role == Role::Leader
            && m.from != self.id
            && self.tracker.get(m.from).is_none()
            && matches!(m.body, MessageBody::RequestVote { .. })
    }

    /// Answers a departed member's vote request (see
    /// [`Raft::is_vote_request_from_departed_member`]) with an append after
    /// its last entry, carrying the commit index: if its log matches ours
    /// there, it learns what committed (its removal included) and stops; if
    /// not, it refuses and nothing changes. A real vote at a newer term gets
    /// no answer, as the leader would be stale for it.
    pub(super) fn catch_up_departed_member(&mut self, m: &Message) {
        let MessageBody::RequestVote {
            kind, last_index, ..
        } = m.body
        else {
            return;
        };
        if kind != VoteKind::PreVote && m.term > self.term {
            return;
        }
        let prev_term = self.log.term(last_index);
        let entries = self
            .log
            .entries_from(last_index + 1, Some(self.config.max_size_per_msg));
        let (Ok(prev_term), Ok(entries)) = (prev_term, entries) else {
            log::debug!(
                "raft {} cannot catch up departed member {} from {last_index}",
                self.id,
                m.from
            );
            return;
        };
        log::debug!(
            "raft {} tells departed member {} the commit index {}",
            self.id,
            m.from,
            self.log.committed()
        );
        let commit = self.log.committed();
        self.send(
            m.from,
            MessageBody::Append {
                prev_index: last_index,
                prev_term,
                entries,
                commit,
            },
        );
    }

    /// Sends a heartbeat to every follower.
    pub(super) fn bcast_heartbeat(&mut self) {
        let read_round = self.reads.latest_round();
        for id in self.tracker.ids() {
            if id == self.id {
                continue;
            }
            let matched = self.tracker.get(id).map_or(0, |p| p.matched());
            let commit = matched.min(self.log.committed());
            self.send(id, MessageBody::Heartbeat { commit, read_round });
        }
    }

    /// Follower: handles an append from the leader.
    pub(super) fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: LogIndex,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
    ) {
        let contiguous = entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == prev_index + 1 + i as u64 && e.term <= self.term);
        if !contiguous {
            log::error!("raft {} drops a malformed append from {from}", self.id);
            return;
        }
        if prev_index < self.log.committed() {
            let committed = self.log.committed();
            self.send_append_ok(from, committed);
            return;
        }
        match self
            .log
            .maybe_append(prev_index, prev_term, commit, &entries)
        {
            Ok(Some((last, start))) => {
                self.on_entries_appended(&entries[start..]);
                self.send_append_ok(from, last);
            }
            Ok(None) => {
                let (hint_index, hint_term) = self
                    .log
                    .find_conflict_by_term(prev_index.min(self.log.last_index()), prev_term);
                log::debug!(
                    "raft {} rejects append at {prev_index}/{prev_term} from {from}; hint {hint_index}/{hint_term}",
                    self.id
                );
                self.send(
                    from,
                    MessageBody::AppendResponse {
                        accepted: false,
                        index: prev_index,
                        hint_index,
                        hint_term,
                    },
                );
            }
            Err(reason) => log::error!("raft {} drops an append from {from}: {reason}", self.id),
        }
    }

    fn send_append_ok(&mut self, to: NodeId, index: LogIndex) {
        self.send(
            to,
            MessageBody::AppendResponse {
                accepted: true,
                index,
                hint_index: 0,
                hint_term: 0,
            },
        );
    }

    /// Leader: handles a follower's answer to an append.
    pub(super) fn handle_append_response(
        &mut self,
        from: NodeId,
        accepted: bool,
        index: LogIndex,
        hint_index: LogIndex,
        hint_term: Term,
    ) {
        let last_index = self.log.last_index();
        let Some(p) = self.tracker.get_mut(from) else {
            self.answer_departed_member(from, accepted, index);
            return;
        };
        p.set_recent_active(true);
        let was_paused = p.is_paused();
        if !accepted {
            let mut next_probe = hint_index;
            if hint_term > 0 {
                next_probe = self.log.find_conflict_by_term(hint_index, hint_term).0;
            }
            let Some(p) = self.tracker.get_mut(from) else {
                return;
            };
            if p.maybe_decr_to(index, next_probe) {
                self.send_append(from, false);
            }
            return;
        }
        if index > last_index {
            log::error!(
                "raft {} ignores an ack from {from} beyond its log ({index})",
                self.id
            );
            return;
        }
        if !p.maybe_update(index) {
            return;
        }
        match p.state() {
            ProgressState::Probe => p.become_replicate(),
            ProgressState::Snapshot if p.matched() >= p.pending_snapshot() => {
                self.snapshot_ticks.remove(&from);
                let p = self
                    .tracker
                    .get_mut(from)
                    .expect("progress exists: checked above");
                p.become_probe();
                p.become_replicate();
            }
            ProgressState::Snapshot => {}
            ProgressState::Replicate => p.free_inflights_to(index),
        }
        if self.maybe_commit() {
            self.announce_commit();
        } else if was_paused {
            // The follower may not know the commit index yet: tell it, even empty.
            self.send_append(from, true);
        }
        // Keep streaming while the window allows and entries remain.
        while self.send_append(from, false) {}
        if self.lead_transferee == Some(from) && index == self.log.last_index() {
            log::info!(
                "raft {} sends TimeoutNow to {from}: it is up to date",
                self.id
            );
            self.send(from, MessageBody::TimeoutNow);
        }
    }

    /// Leader: commits what a quorum holds, if it is of the current term. Returns true
    /// if the commit index moved.
    pub(super) fn maybe_commit(&mut self) -> bool {
        let index = self.tracker.committed_index();
        if !self.log.maybe_commit(index, self.term) {
            return false;
        }
        self.reads.on_commit_in_term();
        self.release_reads();
        self.after_commit();
        true
    }

    /// Follower: handles a heartbeat.
    pub(super) fn handle_heartbeat(&mut self, from: NodeId, commit: LogIndex, read_round: u64) {
        let last = self.log.last_index();
        if commit > last {
            log::error!(
                "raft {} clamps heartbeat commit {commit} from {from} to its last index {last}",
                self.id
            );
        }
        self.log.commit_to(commit.min(last));
        self.send(from, MessageBody::HeartbeatResponse { read_round });
    }

    /// Leader: handles a heartbeat answer (liveness, reads, stuck probes).
    pub(super) fn handle_heartbeat_response(&mut self, from: NodeId, read_round: u64) {
        let last_index = self.log.last_index();
        let Some(p) = self.tracker.get_mut(from) else {
            return;
        };
        p.set_recent_active(true);
        p.on_heartbeat_response(last_index);
        let behind = p.matched() < last_index;
        if behind {
            self.send_append(from, false);
        }
        if self.reads.ack(from, read_round) {
            self.release_reads();
        }
    }

    /// Follower: installs (or skips) a snapshot from the leader.
    pub(super) fn handle_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        if index <= self.log.committed() {
            log::debug!("raft {} ignores a stale snapshot at {index}", self.id);
            let committed = self.log.committed();
            self.send_append_ok(from, committed);
            return;
        }
        if self.log.match_term(index, term) {
            // We already hold the snapshot's last entry: just move commit forward.
            self.log.commit_to(index);
            let committed = self.log.committed();
            self.send_append_ok(from, committed);
            return;
        }
        log::info!(
            "raft {} restores snapshot at {index} (term {term}) from {from}",
            self.id
        );
        let conf = snapshot.meta.conf_state.clone();
        self.log.restore(snapshot);
        self.reset_conf(conf.clone());
        let next = self.log.last_index() + 1;
        self.tracker.apply_conf(conf, next);
        self.send_append_ok(from, index);
    }

    /// The caller persisted entries up to (`index`, `term`).
    pub(crate) fn on_persisted(&mut self, index: LogIndex, term: Term) {
        self.log.stable_to(index, term);
        if self.role == Role::Leader && self.log.match_term(index, term) {
            let id = self.id;
            if let Some(p) = self.tracker.get_mut(id) {
                p.maybe_update(index);
            }
            if self.maybe_commit() {
                self.announce_commit();
            }
        }
    }
}
