//! [`NodeHandle`]: how the server (and in-process callers) submit requests to a
//! running node, and [`PendingReply`]: a reply that arrives later.

use super::consensus::{ApplyMsg, Event};
use super::lifecycle::Lifecycle;
use super::members::{AdminContext, Members};
use super::requests::{Outcome, ReadId, Requests, WriteKind};
use crate::command::{Command, Proposal, ProposalId, ReadCommand, Reply};
use crate::config::NodeConfig;
use crate::error::RequestError;
use crate::metrics::{Metrics, MetricsSource};
use crate::status::NodeStatus;
use crate::store::KvStore;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use parking_lot::{Mutex, RwLock};
use raft_core::{ConfChangeStep, NodeId};
use raft_net::{Transport, TransportStats};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a handle reaches. Built once by the runtime.
pub(crate) struct HandleParts {
    pub(crate) cfg: NodeConfig,
    pub(crate) events: Sender<Event>,
    pub(crate) apply_tx: Sender<ApplyMsg>,
    pub(crate) requests: Arc<Requests>,
    pub(crate) store: Arc<RwLock<KvStore>>,
    pub(crate) status: Arc<Mutex<NodeStatus>>,
    pub(crate) members: Arc<Members>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) transport: Arc<dyn Transport>,
}

/// A cheap, cloneable handle for submitting requests to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    parts: Arc<HandleParts>,
}

/// A reply that will arrive later; [`PendingReply::wait`] blocks for it.
pub struct PendingReply {
    inner: PendingInner,
}

enum PendingInner {
    Ready(Outcome),
    Waiting {
        key: Registration,
        rx: Receiver<Outcome>,
        deadline: Instant,
        requests: Arc<Requests>,
    },
}

/// Where a waiting request is registered, so that a timeout can unregister it.
enum Registration {
    Write(ProposalId),
    Read(ReadId),
}

impl PendingReply {
    /// A reply that is already known.
    pub fn ready(outcome: Result<Reply, RequestError>) -> Self {
        PendingReply {
            inner: PendingInner::Ready(outcome),
        }
    }

    /// Waits for the outcome. At the deadline a write not yet proposed is
    /// [`RequestError::NotProposed`] (and never will be), a proposed one
    /// [`RequestError::OutcomeUnknown`], a read [`RequestError::ReadTimedOut`].
    pub fn wait(self) -> Result<Reply, RequestError> {
        let (key, rx, deadline, requests) = match self.inner {
            PendingInner::Ready(r) => return r,
            PendingInner::Waiting {
                key,
                rx,
                deadline,
                requests,
            } => (key, rx, deadline, requests),
        };
        if let Ok(r) = rx.recv_deadline(deadline) {
            return r;
        }
        match key {
            // Removing the registration under the registry's lock settles the
            // race with the consensus thread.
            Registration::Write(id) => match requests.expire_write(id) {
                Some(error) => Err(error),
                // Answered just after the deadline: the answer stands.
                None => rx.try_recv().unwrap_or(Err(RequestError::OutcomeUnknown)),
            },
            Registration::Read(id) => {
                requests.expire_read(id);
                rx.try_recv().unwrap_or(Err(RequestError::ReadTimedOut))
            }
        }
    }
}

impl NodeHandle {
    pub(crate) fn new(parts: HandleParts) -> Self {
        NodeHandle {
            parts: Arc::new(parts),
        }
    }

    /// Proposes a write; the reply comes once it is applied on this node.
    pub fn write(&self, command: Command) -> PendingReply {
        self.submit(WriteKind::Command, |id, deadline| Event::Propose {
            id,
            data: Proposal { id, command }.encode(),
            deadline,
        })
    }

    /// Proposes a membership change; the reply (`+OK`) comes once the whole
    /// change (C(new) too) is applied here. `addr` is the peer address of a
    /// node being added.
    pub fn conf_change(&self, step: ConfChangeStep, addr: Option<String>) -> PendingReply {
        if let ConfChangeStep::Remove(n) = step
            && n == self.parts.cfg.id
            && !self.status().is_leader()
        {
            return PendingReply::ready(Err(RequestError::RemoveSelfAsFollower));
        }
        let mut members = self.parts.members.addresses();
        match (step, addr) {
            (ConfChangeStep::AddVoter(n) | ConfChangeStep::AddLearner(n), Some(a)) => {
                members.insert(n, a);
            }
            (ConfChangeStep::Remove(n), _) => {
                members.remove(&n);
            }
            _ => {}
        }
        self.submit(WriteKind::Membership, |id, _| {
            let context = AdminContext {
                proposal: id,
                members,
            }
            .encode();
            let cc = raft_core::ConfChange {
                changes: vec![step],
                context,
                result: None,
            };
            Event::ConfChange { id, cc }
        })
    }

    /// Registers a write, hands `event(id, deadline)` to the consensus thread
    /// and returns the reply to wait for.
    fn submit(
        &self,
        kind: WriteKind,
        event: impl FnOnce(ProposalId, Instant) -> Event,
    ) -> PendingReply {
        let p = &self.parts;
        if p.lifecycle.is_stopping() {
            return PendingReply::ready(Err(RequestError::Shutdown));
        }
        let (id, rx) = p.requests.register_write(kind);
        let deadline = Instant::now() + p.cfg.request_timeout;
        if p.events
            .send_deadline(event(id, deadline), deadline)
            .is_err()
        {
            p.requests.expire_write(id);
            return PendingReply::ready(Err(RequestError::Overloaded));
        }
        PendingReply {
            inner: PendingInner::Waiting {
                key: Registration::Write(id),
                rx,
                deadline,
                requests: p.requests.clone(),
            },
        }
    }

    /// A linearizable read (ReadIndex); the reply comes once it is safe.
    pub fn read(&self, command: ReadCommand) -> PendingReply {
        let p = &self.parts;
        if p.lifecycle.is_stopping() {
            return PendingReply::ready(Err(RequestError::Shutdown));
        }
        let (id, rx) = p.requests.register_read(command);
        let deadline = Instant::now() + p.cfg.request_timeout;
        if p.events
            .send_deadline(Event::Read { id, deadline }, deadline)
            .is_err()
        {
            p.requests.expire_read(id);
            return PendingReply::ready(Err(RequestError::Overloaded));
        }
        PendingReply {
            inner: PendingInner::Waiting {
                key: Registration::Read(id),
                rx,
                deadline,
                requests: p.requests.clone(),
            },
        }
    }

    /// A read of this node's applied state, possibly stale.
    pub fn stale_read(&self, command: &ReadCommand) -> Reply {
        self.parts.store.read().read(command)
    }

    /// Transfers leadership to `to` (on the leader); `Ok` once `to` leads.
    pub fn transfer(&self, to: NodeId) -> Result<(), RequestError> {
        let p = &self.parts;
        let (tx, rx) = bounded(1);
        let deadline = Instant::now() + p.cfg.request_timeout;
        if p.events
            .send_deadline(Event::Transfer { to, reply: tx }, deadline)
            .is_err()
        {
            return Err(RequestError::Overloaded);
        }
        match rx.recv_deadline(deadline) {
            Ok(started) => started?,
            Err(RecvTimeoutError::Timeout) => return Err(RequestError::TransferTimedOut(to)),
            Err(RecvTimeoutError::Disconnected) => return Err(RequestError::Shutdown),
        }
        if self.wait_for_leader(to, deadline) {
            Ok(())
        } else {
            Err(RequestError::TransferTimedOut(to))
        }
    }

    /// Polls the status until `leader` leads or `deadline` passes.
    pub(crate) fn wait_for_leader(&self, leader: NodeId, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            if self.parts.status.lock().leader_id == Some(leader) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Takes a snapshot now and compacts the log; `Ok` when done. If one is
    /// already being taken, waits for it and takes a fresh one.
    pub fn snapshot(&self) -> Result<(), RequestError> {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (tx, rx) = bounded(1);
            if self.parts.apply_tx.send(ApplyMsg::SnapshotNow(tx)).is_err() {
                return Err(RequestError::Shutdown);
            }
            match rx.recv_deadline(deadline) {
                Err(_) => return Err(RequestError::SnapshotTimedOut),
                Ok(Err(RequestError::SnapshotBusy)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(outcome) => return outcome,
            }
        }
    }

    /// The node's current status.
    pub fn status(&self) -> NodeStatus {
        let mut status = self.parts.status.lock().clone();
        let clients = self.parts.store.read().clients().clone();
        status.clients = clients
            .into_iter()
            .filter(|(id, _)| status.members.contains_key(id))
            .collect();
        status
    }

    /// True once a graceful stop has begun (or a fatal error stopped the node).
    pub fn is_stopping(&self) -> bool {
        self.parts.lifecycle.is_stopping()
    }

    /// The runtime's counters and histograms.
    pub fn metrics(&self) -> &Metrics {
        &self.parts.metrics
    }

    /// The peer transport's counters.
    pub fn transport_stats(&self) -> TransportStats {
        self.parts.transport.stats()
    }

    /// The node's configuration (limits included).
    pub fn config(&self) -> &NodeConfig {
        &self.parts.cfg
    }

    /// How many writes and reads wait for an outcome.
    pub fn pending_requests(&self) -> (usize, usize) {
        self.parts.requests.pending()
    }

    /// Answers every waiting request with `-SHUTDOWN` (the threads stopped).
    pub(crate) fn fail_all_requests(&self) {
        self.parts.requests.fail_all(&RequestError::Shutdown);
    }

    pub(crate) fn send_event(&self, event: Event, timeout: Duration) -> bool {
        self.parts.events.send_timeout(event, timeout).is_ok()
    }
}

impl MetricsSource for NodeHandle {
    fn status(&self) -> NodeStatus {
        NodeHandle::status(self)
    }

    fn metrics(&self) -> &Metrics {
        NodeHandle::metrics(self)
    }

    fn transport_stats(&self) -> TransportStats {
        NodeHandle::transport_stats(self)
    }

    fn pending_requests(&self) -> (usize, usize) {
        NodeHandle::pending_requests(self)
    }
}
