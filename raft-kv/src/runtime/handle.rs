//! [`NodeHandle`]: how the server (and in-process callers) submit requests to a
//! running node.

use super::consensus::{ApplyMsg, Event};
use super::lifecycle::Lifecycle;
use super::members::{AdminContext, Members};
pub use super::pending::PendingReply;
use super::requests::{Notifier, ReplySender, Requests, WriteKind};
use super::script_status::ScriptStatus;
use super::waiters::{BlockTicket, Unblock, Waiters};
use crate::command::{Command, Proposal, ProposalId, ReadCommand, Reply};
use crate::config::NodeConfig;
use crate::error::RequestError;
use crate::metrics::{Metrics, MetricsSource};
use crate::status::NodeStatus;
use crate::store::KvStore;
use crossbeam_channel::{RecvTimeoutError, bounded};
use parking_lot::{Mutex, RwLock};
use raft_core::{ConfChangeStep, NodeId};
use raft_net::mailbox::MailSender;
use raft_net::{Transport, TransportStats};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a handle reaches. Built once by the runtime.
pub(crate) struct HandleParts {
    pub(crate) cfg: NodeConfig,
    pub(crate) events: MailSender<Event>,
    pub(crate) apply_tx: MailSender<ApplyMsg>,
    pub(crate) requests: Arc<Requests>,
    pub(crate) store: Arc<RwLock<KvStore>>,
    pub(crate) waiters: Arc<Waiters>,
    pub(crate) status: Arc<Mutex<NodeStatus>>,
    pub(crate) members: Arc<Members>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) script_status: Arc<ScriptStatus>,
    pub(crate) script_cache: Arc<crate::script::ScriptCache>,
}

/// A cheap, cloneable handle for submitting requests to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    parts: Arc<HandleParts>,
    /// Told when a reply of a request submitted through this handle is ready.
    notify: Option<Notifier>,
}

impl NodeHandle {
    pub(crate) fn new(parts: HandleParts) -> Self {
        NodeHandle {
            parts: Arc::new(parts),
            notify: None,
        }
    }

    /// A handle to the same node whose requests tell `notify` when their
    /// replies are ready (for an event loop that never blocks on a reply).
    pub fn notifying(&self, notify: Notifier) -> NodeHandle {
        NodeHandle {
            parts: self.parts.clone(),
            notify: Some(notify),
        }
    }

    /// Runs `work` (which may block, with timeouts of its own) off the
    /// caller's thread when this handle notifies, so that an event loop is
    /// never blocked by it; inline otherwise.
    pub fn in_background(
        &self,
        work: impl FnOnce() -> Result<Reply, RequestError> + Send + 'static,
    ) -> PendingReply {
        let Some(notify) = self.notify.clone() else {
            return PendingReply::ready(work());
        };
        let (tx, rx) = ReplySender::new(Some(notify));
        let spawned = std::thread::Builder::new()
            .name("raft-kv-admin".into())
            .spawn(move || tx.send(work()));
        match spawned {
            Ok(_) => PendingReply::background(rx),
            Err(e) => {
                log::error!("cannot start a thread for an admin command: {e}");
                PendingReply::ready(Err(RequestError::Overloaded))
            }
        }
    }

    /// Proposes a write; the reply comes once it is applied on this node
    /// (a script's waits as long as this node's applier runs a script).
    pub fn write(&self, command: Command) -> PendingReply {
        let script = matches!(command, Command::Eval(_));
        let waits = script.then(|| self.parts.script_status.clone());
        self.submit(WriteKind::Command, waits, |id, deadline| Event::Propose {
            id,
            data: Proposal {
                id,
                command,
                at_ms: crate::command::unix_ms_now(),
            }
            .encode(),
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
        self.submit(WriteKind::Membership, None, |id, _| {
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
    /// and returns the reply to wait for (past its deadline while a script
    /// runs, with `scripts`).
    fn submit(
        &self,
        kind: WriteKind,
        scripts: Option<Arc<ScriptStatus>>,
        event: impl FnOnce(ProposalId, Instant) -> Event,
    ) -> PendingReply {
        let p = &self.parts;
        if p.lifecycle.is_stopping() {
            return PendingReply::ready(Err(RequestError::Shutdown));
        }
        let (id, rx) = p.requests.register_write(kind, self.notify.clone());
        let deadline = Instant::now() + p.cfg.request_timeout;
        if p.events
            .send_deadline(event(id, deadline), deadline)
            .is_err()
        {
            p.requests.expire_write(id);
            return PendingReply::ready(Err(RequestError::Overloaded));
        }
        PendingReply::waiting_write(id, rx, deadline, p.requests.clone(), scripts)
    }

    /// A linearizable read (ReadIndex); the reply comes once it is safe.
    pub fn read(&self, command: ReadCommand) -> PendingReply {
        let p = &self.parts;
        if p.lifecycle.is_stopping() {
            return PendingReply::ready(Err(RequestError::Shutdown));
        }
        let (id, rx) = p.requests.register_read(command, self.notify.clone());
        let deadline = Instant::now() + p.cfg.request_timeout;
        if p.events
            .send_deadline(Event::Read { id, deadline }, deadline)
            .is_err()
        {
            p.requests.expire_read(id);
            return PendingReply::ready(Err(RequestError::Overloaded));
        }
        PendingReply::waiting_read(id, rx, deadline, p.requests.clone())
    }

    /// The versions of `keys` in this node's applied state (possibly stale),
    /// for WATCH: a stale version only makes EXEC fail, never pass wrongly.
    /// `Err` (the `BUSY` reply) while a script holds the state past the
    /// busy threshold.
    pub fn key_versions(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<u64>>, Reply> {
        let now = crate::command::unix_ms_now();
        let store = self
            .read_store()
            .ok_or_else(super::script_status::busy_reply)?;
        Ok(store.versions_at(keys, now))
    }

    /// The applied state, unless a script holds it past the busy threshold.
    fn read_store(&self) -> Option<parking_lot::RwLockReadGuard<'_, KvStore>> {
        super::script_status::read_unless_busy(&self.parts.store, &self.parts.script_status)
    }

    /// The script this node's applier is running, if any.
    pub fn running_script(&self) -> Option<super::script_status::RunningScript> {
        self.parts.script_status.running()
    }

    /// True while a script has run past the busy threshold (`BUSY` time).
    pub fn script_busy(&self) -> bool {
        self.parts.script_status.busy()
    }

    /// The busy threshold (`lua-time-limit`, `busy-reply-threshold`), in ms.
    pub fn busy_threshold_ms(&self) -> u64 {
        self.parts.script_status.busy_after_ms()
    }

    /// Sets the busy threshold of this node.
    pub fn set_busy_threshold_ms(&self, ms: u64) {
        self.parts.script_status.set_busy_after_ms(ms);
    }

    /// The scripts this node knows by SHA1.
    pub fn scripts(&self) -> &crate::script::ScriptCache {
        &self.parts.script_cache
    }

    /// Blocks `client` on `keys` until one may hold `awaits` (a blocking
    /// command's attempt took nothing); the ticket says when to try again
    /// (this handle's notifier is told) and leaves the queues when dropped.
    /// `None` if the node's limit of blocked clients is reached.
    pub fn block_on(
        &self,
        client: u64,
        keys: &[Vec<u8>],
        awaits: crate::store::blocking::Awaited,
    ) -> Option<BlockTicket> {
        self.parts
            .waiters
            .join(client, keys, awaits, self.notify.clone())
    }

    /// `CLIENT UNBLOCK`: ends the wait of a blocked `client`; false if it
    /// is not blocked.
    pub fn unblock(&self, client: u64, how: Unblock) -> bool {
        self.parts.waiters.unblock(client, how)
    }

    /// Clients blocked on keys now, and the keys they wait on.
    pub fn blocked_clients(&self) -> (usize, usize) {
        (self.parts.waiters.blocked(), self.parts.waiters.keys())
    }

    /// A read of this node's applied state, possibly stale (`BUSY` while a
    /// script holds the state past the busy threshold).
    pub fn stale_read(&self, command: &ReadCommand) -> Reply {
        let now = crate::command::unix_ms_now();
        match self.read_store() {
            Some(store) => store.read_at(command, now),
            None => super::script_status::busy_reply(),
        }
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
        // Without the client addresses while a script holds the state.
        let clients = self
            .read_store()
            .map(|store| store.clients().clone())
            .unwrap_or_default();
        status.clients = clients
            .into_iter()
            .filter(|(id, _)| status.members.contains_key(id))
            .collect();
        status
    }

    /// Asks the node's owner to stop it gracefully (`SHUTDOWN`), as SIGTERM
    /// does; the owner's stop refuses new requests from then on.
    pub fn request_stop(&self) {
        self.parts.lifecycle.ask_owner_to_stop();
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
