//! [`NodeHandle`]: how the server (and in-process callers) submit requests to a
//! running node.

use super::clock::unix_ms_now;
use super::consensus::{ApplyMsg, Event};
use super::lifecycle::Lifecycle;
use super::members::{AdminContext, Members};
pub use super::pending::PendingReply;
use super::propose::Proposer;
use super::pubsub::{PubSub, Subscriber};
use super::requests::{Notifier, ReplySender, WriteKind};
use super::script_cache::ScriptCache;
use super::script_status::ScriptStatus;
use super::waiters::{BlockTicket, Unblock, Waiters};
use crate::config::NodeConfig;
use crate::error::RequestError;
use crate::metrics::{Metrics, MetricsSource};
use crate::status::{Membership, NodeStatus};
use crossbeam_channel::{RecvTimeoutError, bounded};
use parking_lot::{Mutex, RwLock};
use raft_core::{ConfChangeStep, NodeId};
use raft_kv_state::registry::plan::Awaited;
use raft_kv_state::{CommandError, KvStore, Op, Reply};
use raft_net::mailbox::MailSender;
use raft_net::{Transport, TransportStats};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a handle reaches. Built once by the runtime.
pub(crate) struct HandleParts {
    pub(crate) cfg: NodeConfig,
    pub(crate) proposer: Proposer,
    pub(crate) apply_tx: MailSender<ApplyMsg>,
    pub(crate) store: Arc<RwLock<KvStore>>,
    pub(crate) waiters: Arc<Waiters>,
    pub(crate) status: Arc<Mutex<NodeStatus>>,
    pub(crate) members: Arc<Members>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) script_status: Arc<ScriptStatus>,
    pub(crate) script_cache: Arc<ScriptCache>,
    pub(crate) pubsub: Arc<PubSub>,
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

    /// Proposes `op` (a command's words, a transaction, a script); the
    /// reply comes once it is applied on this node (a script's waits as
    /// long as this node's applier runs a script).
    pub fn write(&self, op: Op) -> PendingReply {
        if let Some(refused) = self.refuse_unless_member() {
            return refused;
        }
        if let Some(newer) = self.needs_newer_cluster(&op) {
            return PendingReply::ready(Ok(newer.into()));
        }
        let waits = matches!(op, Op::Script(_)).then(|| self.parts.script_status.clone());
        self.parts.proposer.propose(op, self.notify.clone(), waits)
    }

    /// Proposes a membership change; the reply (`+OK`) comes once the whole
    /// change (C(new) too) is applied here. `addr` is the peer address of a
    /// node being added.
    pub fn conf_change(&self, step: ConfChangeStep, addr: Option<String>) -> PendingReply {
        if let Some(refused) = self.refuse_unless_member() {
            return refused;
        }
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
        let proposer = &self.parts.proposer;
        proposer.submit(WriteKind::Membership, self.notify.clone(), None, |id, _| {
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

    /// An answer at once if this node's configuration does not name it
    /// (joining, or removed): no leader will take its requests, so none
    /// waits for one.
    fn refuse_unless_member(&self) -> Option<PendingReply> {
        if self.parts.lifecycle.is_stopping() {
            return None; // answered `-SHUTDOWN` by the usual path
        }
        let membership = self.parts.status.lock().membership();
        (membership != Membership::Member)
            .then(|| PendingReply::ready(Err(RequestError::NotAMember(membership))))
    }

    /// A linearizable read (ReadIndex) of the command `argv` (the name
    /// first, a read of the registry); the reply comes once it is safe.
    pub fn read(&self, argv: Vec<Vec<u8>>) -> PendingReply {
        let p = &self.parts;
        if p.lifecycle.is_stopping() {
            return PendingReply::ready(Err(RequestError::Shutdown));
        }
        if let Some(refused) = self.refuse_unless_member() {
            return refused;
        }
        let requests = &p.proposer.requests;
        let (id, rx) = requests.register_read(argv, self.notify.clone());
        let deadline = Instant::now() + p.cfg.request_timeout;
        if p.proposer
            .events
            .send_deadline(Event::Read { id, deadline }, deadline)
            .is_err()
        {
            requests.expire_read(id);
            return PendingReply::ready(Err(RequestError::Overloaded));
        }
        PendingReply::waiting_read(id, rx, deadline, requests.clone())
    }

    /// The versions of `keys` in this node's applied state (possibly stale),
    /// for WATCH: a stale version only makes EXEC fail, never pass wrongly.
    /// `Err` (the `BUSY` reply) while a script holds the state past the
    /// busy threshold.
    pub fn key_versions(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<u64>>, CommandError> {
        let store = self.read_store().ok_or(CommandError::Busy)?;
        Ok(store.versions_at(keys, unix_ms_now()))
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
    pub fn scripts(&self) -> &ScriptCache {
        &self.parts.script_cache
    }

    /// Why `op` may not be proposed yet: a command it calls (itself, or one
    /// queued in its transaction) is newer than the state machine version
    /// the cluster runs, so an older member would answer it as unknown.
    fn needs_newer_cluster(&self, op: &Op) -> Option<CommandError> {
        let runs = self.state_machine_version();
        if runs >= raft_kv_state::entry::STATE_MACHINE_VERSION {
            // Every command this binary has is known: no lookup on the
            // write path of an upgraded cluster.
            return None;
        }
        let calls: Vec<&Vec<Vec<u8>>> = match op {
            Op::Call(c) => vec![&c.argv],
            Op::Transaction(tx) => tx
                .queued
                .iter()
                .filter_map(|q| match q {
                    raft_kv_state::entry::Queued::Call(c) => Some(&c.argv),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        calls.into_iter().find_map(|argv| {
            let c = raft_kv_state::registry::registry().lookup(argv).ok()?;
            (c.since_version() > runs).then(|| CommandError::NeedsNewerCluster {
                command: c.name().to_string(),
                needs: c.since_version(),
                runs,
            })
        })
    }

    /// Blocks `client` on `keys` until one may hold `awaits` (a blocking
    /// command's attempt took nothing); the ticket says when to try again
    /// (this handle's notifier is told) and leaves the queues when dropped.
    /// `None` if the node's limit of blocked clients is reached.
    pub fn block_on(&self, client: u64, keys: &[Vec<u8>], awaits: Awaited) -> Option<BlockTicket> {
        self.parts
            .waiters
            .join(client, keys, awaits, self.notify.clone())
    }

    /// `CLIENT UNBLOCK`: ends the wait of a blocked `client`; false if it
    /// is not blocked.
    pub fn unblock(&self, client: u64, how: Unblock) -> bool {
        self.parts.waiters.unblock(client, how)
    }

    /// A subscriber for client `client` (no subscription yet): the messages
    /// this node delivers to it wait in its inbox, and this handle's
    /// notifier is told when they come.
    pub fn subscriber(&self, client: u64) -> Subscriber {
        Subscriber::new(self.parts.pubsub.clone(), client, self.notify.clone())
    }

    /// This node's subscriptions (`PUBSUB`'s answers, the output limit).
    pub fn pubsub(&self) -> &PubSub {
        &self.parts.pubsub
    }

    /// Clients blocked on keys now, and the keys they wait on.
    pub fn blocked_clients(&self) -> (usize, usize) {
        (self.parts.waiters.blocked(), self.parts.waiters.keys())
    }

    /// The read `argv` of this node's applied state, possibly stale (`BUSY`
    /// while a script holds the state past the busy threshold).
    pub fn stale_read(&self, argv: &[Vec<u8>]) -> Reply {
        match self.read_store() {
            Some(store) => store.read_at(argv, unix_ms_now()),
            None => CommandError::Busy.into(),
        }
    }

    /// How many keys this node's applied state holds (0 while a script
    /// holds the state past the busy threshold).
    pub fn key_count(&self) -> usize {
        self.read_store().map_or(0, |s| s.len())
    }

    /// Transfers leadership to `to` (on the leader); `Ok` once `to` leads.
    pub fn transfer(&self, to: NodeId) -> Result<(), RequestError> {
        let p = &self.parts;
        let (tx, rx) = bounded(1);
        let deadline = Instant::now() + p.cfg.request_timeout;
        if p.proposer
            .events
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
        // Without the members' advertisements while a script holds the state.
        let (clients, versions) = self
            .read_store()
            .map(|store| (store.clients().clone(), store.state_versions().clone()))
            .unwrap_or_default();
        status.clients = clients
            .into_iter()
            .filter(|(id, _)| status.members.contains_key(id))
            .collect();
        status.state_versions = versions
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
        self.parts.proposer.requests.pending()
    }

    /// The state machine version this node proposes at.
    pub fn state_machine_version(&self) -> u32 {
        self.parts.proposer.version.get()
    }

    /// Answers every waiting request with `-SHUTDOWN` (the threads stopped).
    pub(crate) fn fail_all_requests(&self) {
        self.parts
            .proposer
            .requests
            .fail_all(&RequestError::Shutdown);
    }

    pub(crate) fn send_event(&self, event: Event, timeout: Duration) -> bool {
        self.parts
            .proposer
            .events
            .send_timeout(event, timeout)
            .is_ok()
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
