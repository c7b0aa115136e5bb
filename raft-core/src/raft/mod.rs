//! The Raft state machine: one node's term, vote, role, log and (as leader) the
//! progress of every follower. Pure: input is `tick`, `step` and the API calls;
//! output is queued messages and state the [`crate::RawNode`] turns into a `Ready`.
//!
//! Split by concern: [`election`](self::election) (terms, votes, PreVote,
//! CheckQuorum, transfer), [`replication`](self::replication) (appends,
//! heartbeats, commit, snapshots to followers) and [`read`](self::read) (ReadIndex).

mod election;
mod membership;
mod read;
mod replication;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::log::RaftLog;
use crate::message::{Message, MessageBody};
use crate::rng::DetRng;
use crate::storage::Storage;
use crate::tracker::ProgressTracker;
use crate::types::{ConfState, HardState, LogIndex, NodeId, Role, SoftState, Term};
use read::ReadOnly;
pub use read::ReadState;

/// One Raft node's consensus state.
pub struct Raft<S: Storage> {
    id: NodeId,
    term: Term,
    vote: Option<NodeId>,
    role: Role,
    leader_id: Option<NodeId>,
    log: RaftLog<S>,
    tracker: ProgressTracker,
    config: Config,
    election_elapsed: u64,
    heartbeat_elapsed: u64,
    randomized_election_timeout: u64,
    rng: DetRng,
    /// Messages that may leave before this ready's state is persisted (a leader's).
    msgs: Vec<Message>,
    /// Messages that may leave only after this ready's state is persisted.
    msgs_after_persist: Vec<Message>,
    reads: ReadOnly,
    lead_transferee: Option<NodeId>,
    /// Ticks the current snapshot to each follower has been outstanding.
    snapshot_ticks: std::collections::BTreeMap<NodeId, u64>,
    /// Leader without `broadcast_commit`: followers that forwarded proposals,
    /// with the last index they were appended at. Such a follower waits to
    /// answer its client, so it hears of their commit at once.
    forwarded: std::collections::BTreeMap<NodeId, LogIndex>,
    /// The membership before the first membership entry in the log (the
    /// snapshot's, or the bootstrap configuration).
    conf_base: ConfState,
    /// (index, resulting configuration) of every membership entry in the log.
    conf_history: Vec<(LogIndex, ConfState)>,
}

impl<S: Storage> Raft<S> {
    /// A follower at the persisted state of `storage`.
    pub fn new(config: Config, storage: S) -> Result<Self> {
        config.validate()?;
        let (hard, conf) = storage.initial_state()?;
        let mut log = RaftLog::new(storage)?;
        let mut tracker = ProgressTracker::new(config.max_inflight_msgs, config.max_inflight_bytes);
        tracker.apply_conf(conf.clone(), log.last_index() + 1);
        if hard.commit > log.last_index() {
            return Err(Error::Config(format!(
                "hard state commit {} is beyond the last log index {}",
                hard.commit,
                log.last_index()
            )));
        }
        log.commit_to(hard.commit);
        if config.applied > 0 {
            log.applied_to(config.applied.min(hard.commit));
        }
        let mut raft = Raft {
            id: config.id,
            term: hard.term,
            vote: hard.vote,
            role: Role::Follower,
            leader_id: None,
            log,
            tracker,
            rng: DetRng::new(config.seed),
            config,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout: 0,
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            reads: ReadOnly::default(),
            lead_transferee: None,
            snapshot_ticks: Default::default(),
            forwarded: Default::default(),
            conf_base: conf,
            conf_history: Vec::new(),
        };
        raft.load_conf_history()?;
        raft.become_follower(hard.term, None);
        log::info!(
            "raft {} starts: term {}, commit {}, last index {}, voters {:?}",
            raft.id,
            raft.term,
            raft.log.committed(),
            raft.log.last_index(),
            raft.tracker.conf().voters
        );
        Ok(raft)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }
    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }
    /// The vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }
    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The known leader.
    pub fn leader_id(&self) -> Option<NodeId> {
        self.leader_id
    }
    /// The log.
    pub fn log(&self) -> &RaftLog<S> {
        &self.log
    }
    /// The log, for the persistence and apply callbacks of [`crate::RawNode`].
    pub(crate) fn log_mut(&mut self) -> &mut RaftLog<S> {
        &mut self.log
    }
    /// The progress tracker (meaningful on a leader).
    pub fn tracker(&self) -> &ProgressTracker {
        &self.tracker
    }
    /// The current leadership-transfer target, if any.
    pub fn lead_transferee(&self) -> Option<NodeId> {
        self.lead_transferee
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state that must be persisted.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed(),
        }
    }

    /// The state worth reporting on change.
    pub fn soft_state(&self) -> SoftState {
        SoftState {
            leader_id: self.leader_id,
            role: self.role,
        }
    }

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        match self.role {
            Role::Leader => self.tick_heartbeat(),
            _ => self.tick_election(),
        }
    }

    /// Queues `body` for `to` in the current term.
    fn send(&mut self, to: NodeId, body: MessageBody) {
        let term = match body {
            // Forwarded requests are not bound to a term.
            MessageBody::Propose { .. } | MessageBody::ReadIndex { .. } => 0,
            _ => self.term,
        };
        self.send_with_term(to, term, body);
    }

    fn send_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        let m = Message {
            from: self.id,
            to,
            term,
            body,
        };
        log::debug!(
            "raft {} -> {}: {} term {}",
            self.id,
            to,
            m.body.name(),
            term
        );
        if self.role == Role::Leader {
            self.msgs.push(m);
        } else {
            self.msgs_after_persist.push(m);
        }
    }

    /// Takes the queued messages: (send now, send after persisting).
    pub fn take_messages(&mut self) -> (Vec<Message>, Vec<Message>) {
        (
            std::mem::take(&mut self.msgs),
            std::mem::take(&mut self.msgs_after_persist),
        )
    }

    /// Drops the accepted appends still waiting for the disk from a term
    /// this node has left. Such an ack promises entries the new term's
    /// leader may replace before the ready that would make them durable
    /// (readies deferred behind a slow disk, or several messages stepped
    /// before one ready): sent after that ready, it would tell the old
    /// leader of a log the disk never held, and it could count it toward a
    /// commit. Dropping a message is always safe; the old leader has been
    /// replaced anyway. Found by the simulator's promise check (seed 15).
    fn drop_unsent_acks_of_older_terms(&mut self) {
        let before = self.msgs_after_persist.len();
        self.msgs_after_persist
            .retain(|m| !matches!(m.body, MessageBody::AppendResponse { accepted: true, .. }));
        let dropped = before - self.msgs_after_persist.len();
        if dropped > 0 {
            log::debug!(
                "raft {} drops {dropped} unsent append acks of term {} on entering a later term",
                self.id,
                self.term
            );
        }
    }

    /// True if messages are queued.
    pub fn has_messages(&self) -> bool {
        !self.msgs.is_empty() || !self.msgs_after_persist.is_empty()
    }

    /// Resets the per-term volatile state when entering `term`.
    fn reset(&mut self, term: Term) {
        if self.term != term {
            self.drop_unsent_acks_of_older_terms();
            self.term = term;
            self.vote = None;
        }
        self.leader_id = None;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.randomized_election_timeout = self
            .rng
            .range(self.config.election_tick, 2 * self.config.election_tick);
        self.lead_transferee = None;
        self.tracker.reset_votes();
        self.snapshot_ticks.clear();
        self.forwarded.clear();
        let next = self.log.last_index() + 1;
        let persisted = self.persisted_index();
        let id = self.id;
        let conf = self.tracker.conf().clone();
        // Rebuild progress from scratch: nothing is known about followers in a new term.
        self.tracker = ProgressTracker::new(
            self.config.max_inflight_msgs,
            self.config.max_inflight_bytes,
        );
        self.tracker.apply_conf(conf, next);
        if let Some(p) = self.tracker.get_mut(id) {
            p.maybe_update(persisted);
            p.set_recent_active(true);
        }
        self.reads.abandon(self.id);
    }

    /// The last index known durable here and part of the current log.
    fn persisted_index(&self) -> LogIndex {
        let stored = self.log.storage().last_index().unwrap_or(0);
        let unstable_from = self.log.last_index() + 1 - self.log.unstable_entries().len() as u64;
        if self.log.unstable_snapshot().is_some() {
            return 0;
        }
        stored.min(unstable_from - 1)
    }

    /// Becomes a follower of `leader` (or of no known leader) in `term`.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        let was = (self.role, self.leader_id);
        self.reset(term);
        self.role = Role::Follower;
        self.leader_id = leader;
        if was.0 != Role::Follower || (was.1 != leader && leader.is_some()) {
            log::info!(
                "raft {} became follower at term {} (leader {:?})",
                self.id,
                term,
                leader
            );
        }
    }

    /// Handles one message from a peer. Stale, duplicate and malformed messages are
    /// ignored (logged), never a panic.
    pub fn step(&mut self, m: Message) -> Result<()> {
        if m.to != self.id {
            log::debug!("raft {} ignores a message for {}", self.id, m.to);
            return Ok(());
        }
        if self.is_vote_request_from_departed_member(&m) {
            self.catch_up_departed_member(&m);
            return Ok(());
        }
        if m.term > 0 && m.term != self.term && !self.step_term(&m) {
            return Ok(());
        }
        match self.role {
            Role::Leader => self.step_leader(m),
            Role::Candidate | Role::PreCandidate => self.step_candidate(m),
            Role::Follower => self.step_follower(m),
        }
    }

    fn step_leader(&mut self, m: Message) -> Result<()> {
        let from = m.from;
        match m.body {
            MessageBody::AppendResponse {
                accepted,
                index,
                hint_index,
                hint_term,
            } => self.handle_append_response(from, accepted, index, hint_index, hint_term),
            MessageBody::HeartbeatResponse { read_round } => {
                self.handle_heartbeat_response(from, read_round)
            }
            MessageBody::Propose { entries } => {
                let data = entries.into_iter().map(|e| e.payload).collect();
                // A forwarded proposal the leader cannot take is dropped; the
                // follower's client times out, as with a lost message.
                match self.propose_payloads(data) {
                    Ok(()) => self.note_forwarded(from),
                    Err(e) => log::debug!("raft {} drops a forwarded proposal: {e}", self.id),
                }
            }
            MessageBody::ReadIndex { request } => self.leader_read_index(from, request),
            MessageBody::RequestVote { .. } => self.handle_vote_request(from, m.term, &m.body),
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => {
                log::error!(
                    "raft {} (leader, term {}) got {} from {} in its own term",
                    self.id,
                    self.term,
                    m.body.name(),
                    from
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn step_candidate(&mut self, m: Message) -> Result<()> {
        match m.body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => {
                self.become_follower(self.term, Some(m.from));
                self.step_follower(m)
            }
            MessageBody::RequestVoteResponse { pre_vote, granted } => {
                self.handle_vote_response(m.from, pre_vote, granted);
                Ok(())
            }
            MessageBody::RequestVote { .. } => {
                self.handle_vote_request(m.from, m.term, &m.body);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn step_follower(&mut self, m: Message) -> Result<()> {
        let from = m.from;
        match m.body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.election_elapsed = 0;
                self.leader_id = Some(from);
                self.handle_append(from, prev_index, prev_term, entries, commit);
            }
            MessageBody::Heartbeat { commit, read_round } => {
                self.election_elapsed = 0;
                self.leader_id = Some(from);
                self.handle_heartbeat(from, commit, read_round);
            }
            MessageBody::InstallSnapshot { snapshot } => {
                self.election_elapsed = 0;
                self.leader_id = Some(from);
                self.handle_snapshot(from, snapshot);
            }
            MessageBody::ReadIndexResponse { request, index } => {
                self.reads.follower_ready(request, index);
            }
            // Forwarded requests are never relayed a second time: two followers with
            // stale leader ids could bounce them forever. The requester times out.
            MessageBody::Propose { .. } | MessageBody::ReadIndex { .. } => {
                log::debug!(
                    "raft {} (not leader) drops a forwarded {}",
                    self.id,
                    m.body.name()
                );
            }
            MessageBody::TimeoutNow => self.handle_timeout_now(from),
            MessageBody::RequestVote { .. } => self.handle_vote_request(from, m.term, &m.body),
            _ => {}
        }
        Ok(())
    }
}
