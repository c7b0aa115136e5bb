//! Terms, elections and leadership: PreVote, votes with the up-to-date check,
//! CheckQuorum and leader stickiness, and leadership transfer (TimeoutNow).

use super::Raft;
use crate::message::{Message, MessageBody, VoteKind};
use crate::quorum::VoteResult;
use crate::storage::Storage;
use crate::types::{Entry, EntryPayload, NodeId, Role, Term};

impl<S: Storage> Raft<S> {
    /// Handles a message whose term differs from ours. Returns false if the message
    /// must not be processed further.
    pub(super) fn step_term(&mut self, m: &Message) -> bool {
        if m.term > self.term {
            if let MessageBody::RequestVote { kind, .. } = m.body {
                let in_lease = self.config.check_quorum
                    && self.leader_id.is_some()
                    && self.election_elapsed < self.config.election_tick;
                if kind != VoteKind::TransferVote && in_lease {
                    log::debug!(
                        "raft {} ignores a vote request from {} at term {}: leader lease",
                        self.id,
                        m.from,
                        m.term
                    );
                    return false;
                }
                if kind == VoteKind::PreVote {
                    return true; // a pre-vote never changes our term
                }
                self.become_follower_keeping_timer(m.term);
                return true;
            }
            match m.body {
                MessageBody::RequestVoteResponse {
                    pre_vote: true,
                    granted: true,
                } => true, // granted pre-votes carry the future term
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. } => {
                    self.become_follower(m.term, Some(m.from));
                    true
                }
                _ => {
                    self.become_follower(m.term, None);
                    true
                }
            }
        } else {
            // A stale term.
            match m.body {
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                    if self.config.check_quorum || self.config.pre_vote =>
                {
                    // Tell a stale leader about the newer term so it steps down
                    // (it would otherwise never learn of it under PreVote/CheckQuorum).
                    self.send(
                        m.from,
                        MessageBody::AppendResponse {
                            accepted: false,
                            index: 0,
                            hint_index: 0,
                            hint_term: 0,
                        },
                    );
                }
                MessageBody::RequestVote {
                    kind: VoteKind::PreVote,
                    ..
                } => self.send(
                    m.from,
                    MessageBody::RequestVoteResponse {
                        pre_vote: true,
                        granted: false,
                    },
                ),
                _ => log::debug!(
                    "raft {} ignores {} from {} at stale term {}",
                    self.id,
                    m.body.name(),
                    m.from,
                    m.term
                ),
            }
            false
        }
    }

    /// Follower and candidate tick: campaign when the election timeout passes.
    pub(super) fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.promotable() && self.election_elapsed >= self.randomized_election_timeout {
            self.election_elapsed = 0;
            self.hup(false);
        }
    }

    /// Leader tick: heartbeats, CheckQuorum, transfer timeout, snapshot timeouts.
    pub(super) fn tick_heartbeat(&mut self) {
        debug_assert_eq!(self.role, Role::Leader, "only a leader ticks heartbeats");
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        self.tick_snapshot_timeouts();
        if self.election_elapsed >= self.config.election_tick {
            self.election_elapsed = 0;
            if self.config.check_quorum {
                if !self.tracker.quorum_active(self.id) {
                    log::info!(
                        "raft {} steps down at term {}: no quorum heard within an election timeout",
                        self.id,
                        self.term
                    );
                    self.become_follower(self.term, None);
                    return;
                }
                let id = self.id;
                for (&pid, p) in self.tracker.iter_mut() {
                    p.set_recent_active(pid == id);
                }
            }
            if let Some(target) = self.lead_transferee.take() {
                log::info!(
                    "raft {} abandons leadership transfer to {target}: timed out",
                    self.id
                );
            }
        }
        // Still the leader: stepping down above returns.
        if self.heartbeat_elapsed >= self.config.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.bcast_heartbeat();
        }
    }

    /// True if this node may campaign: it is a voter and has no pending snapshot.
    pub fn promotable(&self) -> bool {
        self.tracker.is_voter(self.id) && self.log.unstable_snapshot().is_none()
    }

    /// Starts an election now (a pre-election first if PreVote is on).
    pub fn hup(&mut self, transfer: bool) {
        if self.role == Role::Leader {
            return;
        }
        if !self.promotable() {
            log::debug!("raft {} is not promotable and does not campaign", self.id);
            return;
        }
        if transfer {
            self.campaign(VoteKind::TransferVote);
        } else if self.config.pre_vote {
            self.campaign(VoteKind::PreVote);
        } else {
            self.campaign(VoteKind::Vote);
        }
    }

    fn campaign(&mut self, kind: VoteKind) {
        let vote_term = if kind == VoteKind::PreVote {
            self.become_pre_candidate();
            self.term + 1
        } else {
            self.become_candidate();
            self.term
        };
        let pre = kind == VoteKind::PreVote;
        if self.tracker.record_vote(self.id, true) == VoteResult::Won {
            // A single-voter cluster wins at once.
            if pre {
                self.campaign(VoteKind::Vote);
            } else {
                self.become_leader();
            }
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let voters: Vec<NodeId> = self.tracker.conf().all_nodes().into_iter().collect();
        for id in voters {
            if id == self.id || !self.tracker.is_voter(id) {
                continue;
            }
            self.send_with_term(
                id,
                vote_term,
                MessageBody::RequestVote {
                    kind,
                    last_index,
                    last_term,
                },
            );
        }
    }

    fn become_pre_candidate(&mut self) {
        self.role = Role::PreCandidate;
        self.leader_id = None;
        self.tracker.reset_votes();
        self.reads.abandon(self.id);
        log::info!(
            "raft {} became pre-candidate at term {}",
            self.id,
            self.term
        );
    }

    fn become_candidate(&mut self) {
        assert!(
            self.role != Role::Leader,
            "a leader cannot become candidate directly"
        );
        let term = self.term + 1;
        self.reset(term);
        self.vote = Some(self.id);
        self.role = Role::Candidate;
        log::info!("raft {} became candidate at term {}", self.id, self.term);
    }

    pub(super) fn become_leader(&mut self) {
        assert!(
            self.role != Role::Follower,
            "a follower cannot become leader directly"
        );
        let term = self.term;
        self.reset(term);
        self.role = Role::Leader;
        self.leader_id = Some(self.id);
        // A new leader commits its predecessors' entries through an entry of its own term.
        let index = self.log.last_index() + 1;
        self.log.append(&[Entry {
            term,
            index,
            payload: EntryPayload::Noop,
        }]);
        log::info!("raft {} became leader at term {}", self.id, self.term);
        self.bcast_append();
    }

    /// Answers a RequestVote (or PreVote) from `from` at `term`.
    /// Follows `term` without restarting the election timer: only a granted
    /// vote restarts it (`handle_vote_request`), as the Raft paper's follower
    /// rule says. Otherwise candidates that cannot win (a stale log, a member
    /// on its way out) would keep restarting the timer of the one node that
    /// can, each with a new term, and no election would ever end (simulator
    /// seed 577704: two such candidates alternating for 300 ticks).
    fn become_follower_keeping_timer(&mut self, term: Term) {
        let timer = (self.election_elapsed, self.randomized_election_timeout);
        self.become_follower(term, None);
        (self.election_elapsed, self.randomized_election_timeout) = timer;
    }

    pub(super) fn handle_vote_request(&mut self, from: NodeId, term: Term, body: &MessageBody) {
        let MessageBody::RequestVote {
            kind,
            last_index,
            last_term,
        } = *body
        else {
            return;
        };
        let pre = kind == VoteKind::PreVote;
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader_id.is_none())
            || (pre && term > self.term);
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        log::debug!(
            "raft {} {} {} from {} (term {}, last {}/{})",
            self.id,
            if granted { "grants" } else { "rejects" },
            if pre { "pre-vote" } else { "vote" },
            from,
            term,
            last_index,
            last_term
        );
        let reply_term = if granted { term } else { self.term };
        if granted && !pre {
            self.election_elapsed = 0;
            self.vote = Some(from);
        }
        self.send_with_term(
            from,
            reply_term,
            MessageBody::RequestVoteResponse {
                pre_vote: pre,
                granted,
            },
        );
    }

    /// Counts a vote; wins or loses the election when decided.
    pub(super) fn handle_vote_response(&mut self, from: NodeId, pre_vote: bool, granted: bool) {
        if pre_vote != (self.role == Role::PreCandidate) {
            return; // an answer to an election we are no longer running
        }
        match self.tracker.record_vote(from, granted) {
            VoteResult::Won if pre_vote => self.campaign(VoteKind::Vote),
            VoteResult::Won => self.become_leader(),
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
    }

    /// Starts transferring leadership to `to` (leader only).
    pub fn transfer_leader(&mut self, to: NodeId) {
        if self.role != Role::Leader || to == self.id || !self.tracker.is_voter(to) {
            log::info!(
                "raft {} ignores a transfer to {to}: not leader or not a voter",
                self.id
            );
            return;
        }
        if self.lead_transferee == Some(to) {
            return;
        }
        log::info!("raft {} starts transferring leadership to {to}", self.id);
        self.lead_transferee = Some(to);
        self.election_elapsed = 0;
        let caught_up = self
            .tracker
            .get(to)
            .is_some_and(|p| p.matched() == self.log.last_index());
        if caught_up {
            self.send(to, MessageBody::TimeoutNow);
        } else {
            self.send_append(to, false);
        }
    }

    pub(super) fn handle_timeout_now(&mut self, from: NodeId) {
        log::info!(
            "raft {} got TimeoutNow from {from}: campaigning at once",
            self.id
        );
        self.hup(true);
    }
}
