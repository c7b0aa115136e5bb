//! Linearizable reads (ReadIndex, Raft dissertation §6.4).
//!
//! A read is safe at index `i` (the commit index when it arrived) once the leader
//! has confirmed it was still leader after the read arrived, by a quorum of
//! heartbeat answers, and the serving node has applied `i`. Reads are batched into
//! rounds: all reads queued before a round's heartbeat share its quorum. Heartbeats
//! carry the latest round number, so any answer to a heartbeat sent after round `r`
//! started also confirms every round up to `r`. A new leader answers no read before
//! it has committed an entry of its own term (its commit index may lag until then).

use super::Raft;
use crate::error::{Error, Result};
use crate::message::MessageBody;
use crate::storage::Storage;
use crate::types::{LogIndex, NodeId, Role};
use std::collections::{BTreeSet, VecDeque};

/// A read that became safe: serve `request` from state at index `index` or later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The caller's request id.
    pub request: u64,
    /// The applied index the read reflects (already applied when this is released).
    pub index: LogIndex,
}

#[derive(Clone, Copy, Debug)]
struct PendingRead {
    request: u64,
    from: NodeId,
    index: LogIndex,
}

#[derive(Debug)]
struct Round {
    id: u64,
    reads: Vec<PendingRead>,
    acks: BTreeSet<NodeId>,
}

/// Read bookkeeping of one node.
#[derive(Debug, Default)]
pub(super) struct ReadOnly {
    /// Leader: the current term has a committed entry (reads may be served).
    committed_in_term: bool,
    /// Leader: reads waiting for the first commit in the term.
    waiting_for_commit: Vec<(u64, NodeId)>,
    /// Leader: reads not yet covered by a heartbeat round.
    unsent: Vec<PendingRead>,
    /// Leader: rounds awaiting a quorum, oldest first.
    rounds: VecDeque<Round>,
    last_round: u64,
    /// Any node: confirmed reads waiting for the apply index to reach them.
    confirmed: VecDeque<ReadState>,
    /// Local reads that can no longer complete here (leadership lost).
    failed: Vec<u64>,
}

impl ReadOnly {
    /// The latest round id, for heartbeats.
    pub(super) fn latest_round(&self) -> u64 {
        self.last_round
    }

    /// Leadership changed: every local read still waiting on a quorum fails; reads
    /// already confirmed stay valid (their index came from a legitimate leader).
    /// Reads forwarded by followers are dropped silently (their clients time out).
    pub(super) fn abandon(&mut self, me: NodeId) {
        let waiting = self
            .waiting_for_commit
            .drain(..)
            .map(|(request, from)| PendingRead {
                request,
                from,
                index: 0,
            });
        let queued = self.unsent.drain(..);
        let in_rounds = self.rounds.drain(..).flat_map(|r| r.reads);
        let local: Vec<u64> = waiting
            .chain(queued)
            .chain(in_rounds)
            .filter(|r| r.from == me)
            .map(|r| r.request)
            .collect();
        self.failed.extend(local);
        self.committed_in_term = false;
    }

    pub(super) fn on_commit_in_term(&mut self) {
        self.committed_in_term = true;
    }

    /// A follower's read came back from the leader.
    pub(super) fn follower_ready(&mut self, request: u64, index: LogIndex) {
        self.confirmed.push_back(ReadState { request, index });
    }

    /// Records `from`'s answer to a heartbeat of round `round`. Returns true if some
    /// round may now have a quorum.
    pub(super) fn ack(&mut self, from: NodeId, round: u64) -> bool {
        let mut any = false;
        for r in self.rounds.iter_mut().take_while(|r| r.id <= round) {
            any |= r.acks.insert(from);
        }
        any
    }

    /// True if reads are queued for a round that has not been sent.
    pub(super) fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Takes the reads confirmed and applied up to `applied`.
    pub(super) fn take_ready(&mut self, applied: LogIndex) -> Vec<ReadState> {
        let mut out = Vec::new();
        // Confirmed reads arrive in index order per leader; stop at the first that
        // still waits so that later reads are never served before earlier ones.
        while self.confirmed.front().is_some_and(|r| r.index <= applied) {
            out.extend(self.confirmed.pop_front());
        }
        out
    }

    /// True if a confirmed read can be released at `applied`.
    pub(super) fn has_ready(&self, applied: LogIndex) -> bool {
        self.confirmed.front().is_some_and(|r| r.index <= applied)
    }

    /// Takes local reads that failed.
    pub(super) fn take_failed(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.failed)
    }

    /// True if failed reads wait to be reported.
    pub(super) fn has_failed(&self) -> bool {
        !self.failed.is_empty()
    }
}

impl<S: Storage> Raft<S> {
    /// Requests a linearizable read with the caller's `request` id. It is released
    /// in a later `Ready` once safe, or reported failed if leadership is lost.
    pub fn read_index(&mut self, request: u64) -> Result<()> {
        match self.role {
            Role::Leader => {
                self.leader_read_index(self.id, request);
                Ok(())
            }
            _ => match self.leader_id {
                Some(leader) => {
                    self.send(leader, MessageBody::ReadIndex { request });
                    Ok(())
                }
                None => Err(Error::ProposalDropped("no leader")),
            },
        }
    }

    /// Leader: queues a read from `from` (itself or a follower).
    pub(super) fn leader_read_index(&mut self, from: NodeId, request: u64) {
        if !self.reads.committed_in_term {
            self.reads.waiting_for_commit.push((request, from));
            return;
        }
        let read = PendingRead {
            request,
            from,
            index: self.log.committed(),
        };
        if self.tracker.is_single_voter(self.id) {
            self.finish_read(read);
        } else {
            self.reads.unsent.push(read);
        }
    }

    /// Leader: after the first commit of the term, queues the reads that waited.
    pub(super) fn release_reads(&mut self) {
        for (request, from) in std::mem::take(&mut self.reads.waiting_for_commit) {
            self.leader_read_index(from, request);
        }
        // Release every round covered by the newest round that has a quorum.
        let id = self.id;
        let newest_ok = self
            .reads
            .rounds
            .iter()
            .rev()
            .find(|r| self.tracker.has_quorum(|n| n == id || r.acks.contains(&n)))
            .map(|r| r.id);
        if let Some(ok) = newest_ok {
            while self.reads.rounds.front().is_some_and(|r| r.id <= ok) {
                let round = self
                    .reads
                    .rounds
                    .pop_front()
                    .expect("front exists: checked");
                for read in round.reads {
                    self.finish_read(read);
                }
            }
        }
    }

    /// Leader: starts one heartbeat round for every read queued since the last one.
    pub fn flush_reads(&mut self) {
        if self.role != Role::Leader || !self.reads.has_unsent() {
            return;
        }
        self.reads.last_round += 1;
        let reads = std::mem::take(&mut self.reads.unsent);
        let mut acks = BTreeSet::new();
        acks.insert(self.id);
        self.reads.rounds.push_back(Round {
            id: self.reads.last_round,
            reads,
            acks,
        });
        self.bcast_heartbeat();
    }

    fn finish_read(&mut self, read: PendingRead) {
        if read.from == self.id {
            self.reads.follower_ready(read.request, read.index);
        } else {
            self.send(
                read.from,
                MessageBody::ReadIndexResponse {
                    request: read.request,
                    index: read.index,
                },
            );
        }
    }

    /// Reads confirmed and applied: safe to serve now.
    pub fn take_ready_reads(&mut self) -> Vec<ReadState> {
        let applied = self.log.applied();
        self.reads.take_ready(applied)
    }

    /// Local reads that failed because leadership was lost.
    pub fn take_failed_reads(&mut self) -> Vec<u64> {
        self.reads.take_failed()
    }

    /// True if reads are ready, failed, or waiting for a round to be sent.
    pub(crate) fn has_read_work(&self) -> bool {
        self.reads.has_ready(self.log.applied())
            || self.reads.has_failed()
            || (self.role == Role::Leader && self.reads.has_unsent())
    }
}
