//! The registry of client requests waiting for an outcome: writes (and
//! membership changes) until their entry is applied here, reads until ReadIndex
//! says they are safe. Writes and reads have separate id spaces.
//!
//! The one rule this module keeps: a write is either answered by the runtime or
//! expired by its client, never both, and a write its client gave up on before
//! it was proposed is never proposed afterwards (so `-NOLEADER` stays true).

use crate::error::RequestError;
use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;
use raft_core::NodeId;
use raft_kv_state::KvStore;
use raft_kv_state::{ProposalId, Reply};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The outcome a waiting client receives.
pub(crate) type Outcome = Result<Reply, RequestError>;

/// Told when a reply is ready, so that an event loop which never blocks on
/// a reply learns which of its requests to collect. Called on the consensus
/// or applier thread, after the reply was sent and outside every lock of the
/// registry: it must be quick and must not block.
pub trait ReplyNotify: Send + Sync {
    /// The reply of a request submitted with `tag` is ready to collect.
    fn reply_ready(&self, tag: u64);
}

/// Whom to tell, and with which tag, when a reply is ready.
pub type Notifier = (Arc<dyn ReplyNotify>, u64);

/// Where one request's reply goes: its channel, then its notifier.
pub(crate) struct ReplySender {
    tx: Sender<Outcome>,
    notify: Option<Notifier>,
}

impl ReplySender {
    /// A channel for one reply, and its sender.
    pub(crate) fn new(notify: Option<Notifier>) -> (ReplySender, Receiver<Outcome>) {
        let (tx, rx) = bounded(1);
        (ReplySender { tx, notify }, rx)
    }

    /// Sends the reply and tells the notifier.
    pub(crate) fn send(self, outcome: Outcome) {
        let _ = self.tx.try_send(outcome);
        if let Some((n, tag)) = self.notify {
            n.reply_ready(tag);
        }
    }
}

/// What kind of write waits: ordinary commands fail on a leader change, a
/// membership change waits through it (removing the leader changes the leader
/// as a matter of course) and is answered when C(new) is applied here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteKind {
    Command,
    Membership,
}

struct PendingWrite {
    reply: ReplySender,
    /// True once handed to Raft (appended as leader or forwarded).
    proposed: bool,
    kind: WriteKind,
}

struct PendingRead {
    /// The read's words, its name first.
    argv: Vec<Vec<u8>>,
    reply: ReplySender,
    /// True once a leader took it (this node leading, or forwarded to the
    /// leader it knows): only then can its deadline mean "not confirmed".
    handed: bool,
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

    /// Registers a write; its client waits on the receiver (and is told by
    /// `notify`, if given, once the reply is there).
    pub(crate) fn register_write(
        &self,
        kind: WriteKind,
        notify: Option<Notifier>,
    ) -> (ProposalId, Receiver<Outcome>) {
        let id = ProposalId {
            node: self.node,
            nonce: self.nonce,
            seq: self.next_write.fetch_add(1, Ordering::Relaxed),
        };
        let (tx, rx) = ReplySender::new(notify);
        let pending = PendingWrite {
            reply: tx,
            proposed: false,
            kind,
        };
        self.writes.lock().insert(id, pending);
        (id, rx)
    }

    /// Registers the read `argv`; its client waits on the receiver (and is
    /// told by `notify`, if given).
    pub(crate) fn register_read(
        &self,
        argv: Vec<Vec<u8>>,
        notify: Option<Notifier>,
    ) -> (ReadId, Receiver<Outcome>) {
        let id = self.next_read.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = ReplySender::new(notify);
        self.reads.lock().insert(
            id,
            PendingRead {
                argv,
                reply: tx,
                handed: false,
            },
        );
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
        let removed = self.writes.lock().remove(&id);
        if let Some(w) = removed {
            w.reply.send(outcome);
        }
    }

    /// Serves read `id` from `store`, if its client still waits.
    pub(crate) fn complete_read(&self, id: ReadId, store: &KvStore) {
        let removed = self.reads.lock().remove(&id);
        if let Some(r) = removed {
            r.reply
                .send(Ok(store.read_at(&r.argv, super::clock::unix_ms_now())));
        }
    }

    /// Answers read `id` with `error`, if its client still waits.
    pub(crate) fn fail_read(&self, id: ReadId, error: RequestError) {
        let removed = self.reads.lock().remove(&id);
        if let Some(r) = removed {
            r.reply.send(Err(error));
        }
    }

    /// The client of write `id` stops waiting at its deadline. `None` if the
    /// write was answered meanwhile (the answer is in the client's channel, or
    /// on its way there); otherwise what the client is told: never proposed,
    /// or outcome unknown.
    pub(crate) fn expire_write(&self, id: ProposalId) -> Option<RequestError> {
        let w = self.writes.lock().remove(&id)?;
        Some(if w.proposed {
            RequestError::OutcomeUnknown
        } else {
            RequestError::NotProposed
        })
    }

    /// Marks read `id` as taken by a leader.
    pub(crate) fn mark_read_handed(&self, id: ReadId) {
        if let Some(r) = self.reads.lock().get_mut(&id) {
            r.handed = true;
        }
    }

    /// The client of read `id` stops waiting at its deadline. `None` if the
    /// read was answered meanwhile (the answer is on its way); otherwise what
    /// the client is told: no leader ever took it, or a leader could not
    /// confirm it in time.
    pub(crate) fn expire_read(&self, id: ReadId) -> Option<RequestError> {
        let r = self.reads.lock().remove(&id)?;
        Some(if r.handed {
            RequestError::ReadTimedOut
        } else {
            RequestError::ReadNotServed
        })
    }

    /// Answers every proposed ordinary write with `error` (a leader change);
    /// writes still waiting for a leader, and membership changes, keep waiting.
    pub(crate) fn fail_proposed_writes(&self, error: &RequestError) {
        let failed: Vec<PendingWrite> = {
            let mut writes = self.writes.lock();
            let ids: Vec<ProposalId> = writes
                .iter()
                .filter(|(_, w)| w.proposed && w.kind == WriteKind::Command)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| writes.remove(id)).collect()
        };
        for w in failed {
            w.reply.send(Err(error.clone()));
        }
    }

    /// Answers every waiting write and read with `error` (the node stops).
    pub(crate) fn fail_all(&self, error: &RequestError) {
        let writes: Vec<PendingWrite> = self.writes.lock().drain().map(|(_, w)| w).collect();
        for w in writes {
            w.reply.send(Err(error.clone()));
        }
        let reads: Vec<PendingRead> = self.reads.lock().drain().map(|(_, r)| r).collect();
        for r in reads {
            r.reply.send(Err(error.clone()));
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
        let (id, _rx) = r.register_write(WriteKind::Command, None);
        assert_eq!(r.expire_write(id), Some(RequestError::NotProposed));
        assert!(
            !r.mark_proposed(id),
            "a given-up write must not be proposed"
        );
    }

    #[test]
    fn a_proposed_write_that_expires_has_an_unknown_outcome() {
        let r = registry();
        let (id, _rx) = r.register_write(WriteKind::Command, None);
        assert!(r.mark_proposed(id));
        assert_eq!(r.expire_write(id), Some(RequestError::OutcomeUnknown));
    }

    #[test]
    fn an_answer_that_raced_the_deadline_stands() {
        let r = registry();
        let (id, rx) = r.register_write(WriteKind::Command, None);
        r.complete_write(id, Ok(Reply::ok()));
        assert_eq!(r.expire_write(id), None);
        assert_eq!(rx.try_recv().ok(), Some(Ok(Reply::ok())));
    }

    #[test]
    fn a_leader_change_fails_only_proposed_ordinary_writes() {
        let r = registry();
        let (waiting, waiting_rx) = r.register_write(WriteKind::Command, None);
        let (proposed, proposed_rx) = r.register_write(WriteKind::Command, None);
        let (membership, membership_rx) = r.register_write(WriteKind::Membership, None);
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
        let (w, _) = r.register_write(WriteKind::Command, None);
        let (first, _) = r.register_read(vec![b"DBSIZE".to_vec()], None);
        let (second, _) = r.register_read(vec![b"DBSIZE".to_vec()], None);
        assert_eq!(w.seq, 0);
        assert_eq!((first, second), (1000, 1001));
    }

    #[test]
    fn reads_are_served_from_the_store_or_failed() {
        let r = registry();
        let (a, a_rx) = r.register_read(vec![b"DBSIZE".to_vec()], None);
        let (b, b_rx) = r.register_read(vec![b"DBSIZE".to_vec()], None);
        r.complete_read(a, &KvStore::new());
        r.fail_read(b, RequestError::ReadAborted);
        assert_eq!(a_rx.try_recv().ok(), Some(Ok(Reply::Int(0))));
        assert_eq!(b_rx.try_recv().ok(), Some(Err(RequestError::ReadAborted)));
        r.fail_all(&RequestError::Shutdown);
        assert_eq!(r.pending(), (0, 0));
    }

    /// Records the tags it was told, and whether the reply was already there.
    struct Recorder {
        told: Mutex<Vec<u64>>,
    }

    impl ReplyNotify for Recorder {
        fn reply_ready(&self, tag: u64) {
            self.told.lock().push(tag);
        }
    }

    #[test]
    fn a_notifier_is_told_once_per_reply_after_the_reply_is_there() {
        let r = registry();
        let rec = Arc::new(Recorder {
            told: Mutex::new(Vec::new()),
        });
        let notify = || Some((rec.clone() as Arc<dyn ReplyNotify>, 7));
        let (w, w_rx) = r.register_write(WriteKind::Command, notify());
        let (read, read_rx) = r.register_read(vec![b"DBSIZE".to_vec()], notify());
        let (gone, _) = r.register_write(WriteKind::Command, notify());
        assert!(rec.told.lock().is_empty(), "nothing is ready yet");
        r.complete_write(w, Ok(Reply::ok()));
        assert_eq!(*rec.told.lock(), [7]);
        assert_eq!(w_rx.try_recv().ok(), Some(Ok(Reply::ok())));
        r.complete_read(read, &KvStore::new());
        assert_eq!(read_rx.try_recv().ok(), Some(Ok(Reply::Int(0))));
        assert_eq!(r.expire_write(gone), Some(RequestError::NotProposed));
        r.complete_write(gone, Ok(Reply::ok()));
        assert_eq!(
            *rec.told.lock(),
            [7, 7],
            "an expired request is not answered, so not notified"
        );
    }
}
