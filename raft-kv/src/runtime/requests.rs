//! The registry of client requests waiting for an outcome: writes (and
//! membership changes) until their entry is applied here, reads until ReadIndex
//! says they are safe. Writes and reads have separate id spaces.
//!
//! The one rule this module keeps: a write is either answered by the runtime or
//! expired by its client, never both, and a write its client gave up on before
//! it was proposed is never proposed afterwards (so `-NOLEADER` stays true).

use crate::command::{ProposalId, ReadCommand, Reply};
use crate::error::RequestError;
use crate::store::KvStore;
use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;
use raft_core::NodeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The outcome a waiting client receives.
pub(crate) type Outcome = Result<Reply, RequestError>;

/// What kind of write waits: ordinary commands fail on a leader change, a
/// membership change waits through it (removing the leader changes the leader
/// as a matter of course) and is answered when C(new) is applied here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteKind {
    Command,
    Membership,
}

struct PendingWrite {
    reply: Sender<Outcome>,
    /// True once handed to Raft (appended as leader or forwarded).
    proposed: bool,
    kind: WriteKind,
}

struct PendingRead {
    command: ReadCommand,
    reply: Sender<Outcome>,
}

/// The id of a pending linearizable read (the ReadIndex request id).
pub(crate) type ReadId = u64;

/// Pending writes and reads of one node.
pub(crate) struct Requests {
    node: NodeId,
    nonce: u64,
    next_write: AtomicU64,
    next_read: AtomicU64,
    writes: Mutex<HashMap<ProposalId, PendingWrite>>,
    reads: Mutex<HashMap<ReadId, PendingRead>>,
}

impl Requests {
    /// A registry for `node`. `nonce` keeps proposal ids of different process
    /// starts apart; read ids start at `first_read` (random), so an answer for a
    /// previous incarnation of this node never matches a new read.
    pub(crate) fn new(node: NodeId, nonce: u64, first_read: u64) -> Self {
        Requests {
            node,
            nonce,
            next_write: AtomicU64::new(0),
            next_read: AtomicU64::new(first_read),
            writes: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a write; its client waits on the receiver.
    pub(crate) fn register_write(&self, kind: WriteKind) -> (ProposalId, Receiver<Outcome>) {
        let id = ProposalId {
            node: self.node,
            nonce: self.nonce,
            seq: self.next_write.fetch_add(1, Ordering::Relaxed),
        };
        let (tx, rx) = bounded(1);
        let pending = PendingWrite {
            reply: tx,
            proposed: false,
            kind,
        };
        self.writes.lock().insert(id, pending);
        (id, rx)
    }

    /// Registers a read of `command`; its client waits on the receiver.
    pub(crate) fn register_read(&self, command: ReadCommand) -> (ReadId, Receiver<Outcome>) {
        let id = self.next_read.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = bounded(1);
        self.reads
            .lock()
            .insert(id, PendingRead { command, reply: tx });
        (id, rx)
    }

    /// Marks write `id` as handed to Raft; false if its client no longer waits,
    /// in which case it must not be proposed.
    pub(crate) fn mark_proposed(&self, id: ProposalId) -> bool {
        match self.writes.lock().get_mut(&id) {
            Some(w) => {
                w.proposed = true;
                true
            }
            None => false,
        }
    }

    /// Marks every write of `batch` whose client still waits as proposed, under
    /// one lock, and returns those (the others must not be proposed).
    pub(crate) fn mark_batch_proposed<T>(
        &self,
        batch: impl IntoIterator<Item = (ProposalId, T)>,
    ) -> Vec<(ProposalId, T)> {
        let mut writes = self.writes.lock();
        batch
            .into_iter()
            .filter(|(id, _)| match writes.get_mut(id) {
                Some(w) => {
                    w.proposed = true;
                    true
                }
                None => false,
            })
            .collect()
    }

    /// Answers the client of write `id`, if it still waits.
    pub(crate) fn complete_write(&self, id: ProposalId, outcome: Outcome) {
        if let Some(w) = self.writes.lock().remove(&id) {
            let _ = w.reply.try_send(outcome);
        }
    }

    /// Serves read `id` from `store`, if its client still waits.
    pub(crate) fn complete_read(&self, id: ReadId, store: &KvStore) {
        if let Some(r) = self.reads.lock().remove(&id) {
            let _ = r.reply.try_send(Ok(store.read(&r.command)));
        }
    }

    /// Answers read `id` with `error`, if its client still waits.
    pub(crate) fn fail_read(&self, id: ReadId, error: RequestError) {
        if let Some(r) = self.reads.lock().remove(&id) {
            let _ = r.reply.try_send(Err(error));
        }
    }

    /// The client of write `id` stops waiting at its deadline. `None` if the
    /// write was answered meanwhile (the answer is in the client's channel);
    /// otherwise what the client is told: never proposed, or outcome unknown.
    pub(crate) fn expire_write(&self, id: ProposalId) -> Option<RequestError> {
        let w = self.writes.lock().remove(&id)?;
        Some(if w.proposed {
            RequestError::OutcomeUnknown
        } else {
            RequestError::NotProposed
        })
    }

    /// The client of read `id` stops waiting at its deadline.
    pub(crate) fn expire_read(&self, id: ReadId) {
        self.reads.lock().remove(&id);
    }

    /// Answers every proposed ordinary write with `error` (a leader change);
    /// writes still waiting for a leader, and membership changes, keep waiting.
    pub(crate) fn fail_proposed_writes(&self, error: &RequestError) {
        self.writes.lock().retain(|_, w| {
            let fail = w.proposed && w.kind == WriteKind::Command;
            if fail {
                let _ = w.reply.try_send(Err(error.clone()));
            }
            !fail
        });
    }

    /// Answers every waiting write and read with `error` (the node stops).
    pub(crate) fn fail_all(&self, error: &RequestError) {
        for (_, w) in self.writes.lock().drain() {
            let _ = w.reply.try_send(Err(error.clone()));
        }
        for (_, r) in self.reads.lock().drain() {
            let _ = r.reply.try_send(Err(error.clone()));
        }
    }

    /// How many writes and reads wait.
    pub(crate) fn pending(&self) -> (usize, usize) {
        (self.writes.lock().len(), self.reads.lock().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Requests {
        Requests::new(1, 7, 1000)
    }

    #[test]
    fn a_write_expired_before_it_was_proposed_is_never_proposed() {
        let r = registry();
        let (id, _rx) = r.register_write(WriteKind::Command);
        assert_eq!(r.expire_write(id), Some(RequestError::NotProposed));
        assert!(
            !r.mark_proposed(id),
            "a given-up write must not be proposed"
        );
    }

    #[test]
    fn a_proposed_write_that_expires_has_an_unknown_outcome() {
        let r = registry();
        let (id, _rx) = r.register_write(WriteKind::Command);
        assert!(r.mark_proposed(id));
        assert_eq!(r.expire_write(id), Some(RequestError::OutcomeUnknown));
    }

    #[test]
    fn an_answer_that_raced_the_deadline_stands() {
        let r = registry();
        let (id, rx) = r.register_write(WriteKind::Command);
        r.complete_write(id, Ok(Reply::ok()));
        assert_eq!(r.expire_write(id), None);
        assert_eq!(rx.try_recv().ok(), Some(Ok(Reply::ok())));
    }

    #[test]
    fn a_leader_change_fails_only_proposed_ordinary_writes() {
        let r = registry();
        let (waiting, waiting_rx) = r.register_write(WriteKind::Command);
        let (proposed, proposed_rx) = r.register_write(WriteKind::Command);
        let (membership, membership_rx) = r.register_write(WriteKind::Membership);
        assert_eq!(
            r.mark_batch_proposed([(proposed, ()), (membership, ())])
                .len(),
            2
        );
        r.fail_proposed_writes(&RequestError::LeaderChanged);
        assert_eq!(
            proposed_rx.try_recv().ok(),
            Some(Err(RequestError::LeaderChanged))
        );
        assert!(
            waiting_rx.try_recv().is_err(),
            "not proposed: keeps waiting"
        );
        assert!(
            membership_rx.try_recv().is_err(),
            "membership keeps waiting"
        );
        assert_eq!(r.pending(), (2, 0));
        assert!(r.mark_proposed(waiting));
    }

    #[test]
    fn write_and_read_ids_are_separate_and_reads_start_at_the_given_point() {
        let r = registry();
        let (w, _) = r.register_write(WriteKind::Command);
        let (first, _) = r.register_read(ReadCommand::DbSize);
        let (second, _) = r.register_read(ReadCommand::DbSize);
        assert_eq!(w.seq, 0);
        assert_eq!((first, second), (1000, 1001));
    }

    #[test]
    fn reads_are_served_from_the_store_or_failed() {
        let r = registry();
        let (a, a_rx) = r.register_read(ReadCommand::DbSize);
        let (b, b_rx) = r.register_read(ReadCommand::DbSize);
        r.complete_read(a, &KvStore::new());
        r.fail_read(b, RequestError::ReadAborted);
        assert_eq!(a_rx.try_recv().ok(), Some(Ok(Reply::Int(0))));
        assert_eq!(b_rx.try_recv().ok(), Some(Err(RequestError::ReadAborted)));
        r.fail_all(&RequestError::Shutdown);
        assert_eq!(r.pending(), (0, 0));
    }
}
