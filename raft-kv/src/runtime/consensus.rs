//! The consensus thread: owns the Raft node, its storage and its transport. It
//! waits for [`Event`]s (peer messages, client proposals and reads, membership
//! and transfer requests, apply progress), drains everything waiting before it
//! builds one `Ready` (group commit), then sends, persists and hands committed
//! work to the applier as [`ApplyMsg`]s.

use super::lifecycle::Lifecycle;
use super::members::{Members, RemovalWatch};
use super::requests::{ReadId, Requests};
use super::storage::NodeStorage;
use crate::command::ProposalId;
use crate::error::{FatalError, RequestError};
use crate::metrics::Metrics;
use crate::status::NodeStatus;
use crate::store::KvStore;
use crossbeam_channel::Sender;
use parking_lot::Mutex;
use raft_core::{Entry, Message, MessageBody, NodeId, RawNode, ReadState, Ready, Role, Snapshot};
use raft_net::Transport;
use raft_net::mailbox::{MailReceiver, MailSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything the consensus thread reacts to, from one bounded channel.
pub(crate) enum Event {
    /// A message from a peer.
    Peer(Message),
    /// A client write, registered in the request registry.
    Propose {
        id: ProposalId,
        data: Vec<u8>,
        deadline: Instant,
    },
    /// A membership change, registered in the request registry.
    ConfChange {
        id: ProposalId,
        cc: raft_core::ConfChange,
    },
    /// A linearizable read, registered in the request registry.
    Read { id: ReadId, deadline: Instant },
    /// Hand leadership to `to` (on the leader).
    Transfer {
        to: NodeId,
        reply: Sender<Result<(), RequestError>>,
    },
    /// A leader stopping gracefully hands leadership to its most up-to-date voter.
    ShutdownTransfer { reply: Sender<Option<NodeId>> },
    /// The applier applied everything up to this index.
    Applied(u64),
    /// Stop the thread.
    Shutdown,
}

/// Work for the applier thread, in log order.
pub(crate) enum ApplyMsg {
    /// Committed entries to apply, and when they were handed over.
    Entries(Vec<Entry>, Instant),
    /// Reads that are safe to serve once their index is applied.
    Reads(Vec<ReadState>),
    /// A snapshot from the leader replaces the state.
    Restore(Snapshot),
    /// Take a snapshot now and compact; the reply says how it went.
    SnapshotNow(Sender<Result<(), RequestError>>),
    /// The consensus thread stopped: finish.
    Stop,
}

/// The shared pieces the consensus thread updates.
pub(crate) struct ConsensusLinks {
    pub(crate) requests: Arc<Requests>,
    pub(crate) status: Arc<Mutex<NodeStatus>>,
    pub(crate) members: Arc<Members>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) apply_tx: MailSender<ApplyMsg>,
    /// The state machine, read (never waited for) to see when a key is due.
    pub(crate) store: Arc<parking_lot::RwLock<KvStore>>,
}

/// A request that found no leader, retried until its deadline.
enum Waiting {
    Write {
        id: ProposalId,
        data: Vec<u8>,
        deadline: Instant,
    },
    Read {
        id: ReadId,
        deadline: Instant,
    },
}

impl Waiting {
    fn deadline(&self) -> Instant {
        match self {
            Waiting::Write { deadline, .. } | Waiting::Read { deadline, .. } => *deadline,
        }
    }
}

/// The consensus thread's state.
pub(crate) struct Consensus<S: NodeStorage> {
    id: NodeId,
    tick: Duration,
    raw: RawNode<S>,
    storage: S,
    transport: Arc<dyn Transport>,
    links: ConsensusLinks,
    waiting: Vec<Waiting>,
    removal: RemovalWatch,
    was_leader: bool,
    known_leader: Option<NodeId>,
    expiry: super::expiry_tick::ExpiryTicker,
}

/// Most events handled before one `Ready` (bounds latency under load).
const MAX_EVENTS_PER_READY: usize = 8192;

impl<S: NodeStorage> Consensus<S> {
    pub(crate) fn new(
        raw: RawNode<S>,
        storage: S,
        transport: Arc<dyn Transport>,
        tick: Duration,
        links: ConsensusLinks,
        removal: RemovalWatch,
    ) -> Self {
        Consensus {
            removal,
            id: raw.raft().id(),
            tick,
            raw,
            storage,
            transport,
            waiting: Vec::new(),
            was_leader: false,
            known_leader: None,
            expiry: super::expiry_tick::ExpiryTicker::new(links.store.clone()),
            links,
        }
    }

    /// Runs until [`Event::Shutdown`] or a fatal error.
    pub(crate) fn run(mut self, events: MailReceiver<Event>) {
        let mut next_tick = Instant::now() + self.tick;
        loop {
            let mut batch = Vec::new();
            if events
                .recv_batch(&mut batch, MAX_EVENTS_PER_READY, Some(next_tick))
                .is_err()
            {
                break;
            }
            if self.handle_events(batch) || self.links.lifecycle.has_failed() {
                break;
            }
            let now = Instant::now();
            if now >= next_tick {
                self.raw.tick();
                next_tick += self.tick;
                if next_tick < now {
                    next_tick = now + self.tick; // fell behind (slow disk): no tick bursts
                }
                self.retry_waiting(now);
                self.links.members.drop_departed_links(now);
                let leading = self.raw.raft().role() == Role::Leader;
                if let Some(tick) = self.expiry.due(self.id, now, leading) {
                    let _ = self.raw.propose(tick); // lost if leadership just moved: the next leader ticks
                }
                let applied = self.raw.conf_state_at(self.raw.raft().log().applied());
                if self.removal.removed(&applied, leading) {
                    self.links.lifecycle.mark_removed();
                }
            }
            if let Err(e) = self.handle_readies() {
                self.links.lifecycle.fail(e);
                break;
            }
        }
        self.links.requests.fail_all(&RequestError::Shutdown);
        let _ = self.links.apply_tx.send(ApplyMsg::Stop);
    }

    /// Steps every event of `batch`, proposing its writes as one batch; true
    /// if it asked the thread to stop.
    fn handle_events(&mut self, batch: Vec<Event>) -> bool {
        let mut stop = false;
        let mut writes = Vec::new();
        for ev in batch {
            match ev {
                Event::Peer(mut m) => {
                    if let MessageBody::InstallSnapshot { snapshot } = &m.body {
                        self.links.metrics.snapshot_received(snapshot.data.len());
                    }
                    let leading = self.raw.raft().role() == Role::Leader;
                    super::expiry_tick::stamp_forwarded(&mut m, leading);
                    if let Err(e) = self.raw.step(m) {
                        log::debug!("node {} ignores a message: {e}", self.id);
                    }
                }
                Event::Propose { id, data, deadline } => {
                    writes.push(Waiting::Write { id, data, deadline })
                }
                Event::Read { id, deadline } => self.read(id, deadline),
                Event::Applied(index) => {
                    self.raw.advance_apply_to(index);
                    self.links.status.lock().applied_index = index;
                }
                Event::Shutdown => stop = true,
                Event::ConfChange { id, cc } => self.conf_change(id, cc),
                Event::Transfer { to, reply } => {
                    let _ = reply.send(self.transfer(to));
                }
                Event::ShutdownTransfer { reply } => {
                    let _ = reply.send(self.transfer_for_shutdown());
                }
            }
        }
        self.propose(writes);
        stop
    }

    fn conf_change(&mut self, id: ProposalId, cc: raft_core::ConfChange) {
        if !self.links.requests.mark_proposed(id) {
            return; // the client gave up before the change could be proposed
        }
        if let Err(e) = self.raw.propose_conf_change(cc) {
            let error = match e {
                raft_core::Error::ProposalDropped(_) => RequestError::Dropped(e),
                other => RequestError::Refused(other),
            };
            self.links.requests.complete_write(id, Err(error));
        }
    }

    fn transfer(&mut self, to: NodeId) -> Result<(), RequestError> {
        let r = self.raw.raft();
        if r.role() != Role::Leader {
            return Err(RequestError::NotLeader {
                leader: r.leader_id(),
            });
        }
        if !r.tracker().is_voter(to) {
            return Err(RequestError::NotVoter(to));
        }
        self.raw.transfer_leader(to);
        Ok(())
    }

    /// Picks the most up-to-date other voter and starts a transfer to it.
    fn transfer_for_shutdown(&mut self) -> Option<NodeId> {
        if self.raw.raft().role() != Role::Leader {
            return None;
        }
        let me = self.id;
        let st = self.raw.status();
        let target = st
            .progress
            .iter()
            .filter(|(id, _)| **id != me && st.conf_state.voters.contains(id))
            .max_by_key(|(_, p)| p.matched)
            .map(|(id, _)| *id)?;
        log::info!("node {me} is stopping: transferring leadership to node {target}");
        self.raw.transfer_leader(target);
        Some(target)
    }

    /// Learns member addresses from the membership entries still in the log.
    pub(crate) fn learn_addresses_from_log(&mut self) -> Result<(), FatalError> {
        self.links.members.learn_from_log(&self.storage)
    }

    /// Proposes the writes whose clients still wait, as one batch; without a
    /// leader they wait (see [`Consensus::retry_waiting`]).
    fn propose(&mut self, writes: Vec<Waiting>) {
        if writes.is_empty() {
            return;
        }
        if self.raw.raft().leader_id().is_none() {
            self.waiting.extend(writes);
            return;
        }
        // Marked proposed under the registry's lock: a client that gave up at
        // its deadline was told its write was not proposed, so it never is.
        let batch = writes.into_iter().filter_map(|w| match w {
            Waiting::Write { id, data, .. } => Some((id, data)),
            Waiting::Read { .. } => None,
        });
        let (ids, data): (Vec<ProposalId>, Vec<Vec<u8>>) = self
            .links
            .requests
            .mark_batch_proposed(batch)
            .into_iter()
            .unzip();
        if data.is_empty() {
            return;
        }
        let n = data.len() as u64;
        match self.raw.propose_batch(data) {
            Ok(()) => self.links.status.lock().proposals += n,
            Err(e) => {
                for id in ids {
                    let error = RequestError::Dropped(e.clone());
                    self.links.requests.complete_write(id, Err(error));
                }
            }
        }
    }

    fn read(&mut self, id: ReadId, deadline: Instant) {
        if self.raw.read_index(id).is_err() {
            self.waiting.push(Waiting::Read { id, deadline });
        }
    }

    /// Retries requests that waited for a leader; fails those past their deadline.
    fn retry_waiting(&mut self, now: Instant) {
        if self.waiting.is_empty() {
            return;
        }
        let (expired, alive): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.deadline() <= now);
        let requests = &self.links.requests;
        for w in expired {
            match w {
                Waiting::Write { id, .. } => {
                    requests.complete_write(id, Err(RequestError::NotProposed))
                }
                Waiting::Read { id, .. } => requests.fail_read(id, RequestError::NotProposed),
            }
        }
        if self.raw.raft().leader_id().is_none() {
            self.waiting = alive;
            return;
        }
        let (writes, reads): (Vec<Waiting>, Vec<Waiting>) = alive
            .into_iter()
            .partition(|w| matches!(w, Waiting::Write { .. }));
        self.propose(writes);
        for w in reads {
            if let Waiting::Read { id, deadline } = w {
                self.read(id, deadline);
            }
        }
    }

    fn handle_readies(&mut self) -> Result<(), FatalError> {
        while self.raw.has_ready() {
            let rd = self.raw.ready();
            self.handle_ready(rd)?;
        }
        Ok(())
    }

    /// One `Ready`, in the order the contract in `raw_node.rs` prescribes.
    fn handle_ready(&mut self, rd: Ready) -> Result<(), FatalError> {
        if let Some(ss) = rd.soft_state {
            self.on_soft_state(ss);
        }
        // Addresses of members added by entries in this ready, before anything is sent.
        self.links.members.learn_from_entries(&rd.entries)?;
        for m in rd.messages {
            self.send(m);
        }
        if let Some(snap) = rd.snapshot {
            self.install_snapshot(snap)?;
        }
        self.hand_to_applier(rd.committed_entries, rd.read_states)?;
        self.persist(&rd.entries, rd.hard_state)?;
        for m in rd.persisted_messages {
            self.send(m);
        }
        for id in rd.failed_reads {
            self.links.requests.fail_read(id, RequestError::ReadAborted);
        }
        self.raw.advance_append()?;
        self.publish_status();
        Ok(())
    }

    /// Hands `m` to the transport (counting snapshots for the metrics).
    fn send(&self, m: Message) {
        if let MessageBody::InstallSnapshot { snapshot } = &m.body {
            self.links.metrics.snapshot_sent(snapshot.data.len());
        }
        self.transport.send(m);
    }

    fn on_soft_state(&mut self, ss: raft_core::SoftState) {
        if self.known_leader.is_some() && self.known_leader != ss.leader_id {
            // Writes proposed to (or forwarded to) the old leader may be lost or
            // may still commit: their outcome is unknown, so say so now rather
            // than at the request deadline.
            log::info!(
                "node {}: leader changed from {:?} to {:?}; pending writes (not membership changes) get -TIMEOUT",
                self.id,
                self.known_leader,
                ss.leader_id
            );
            self.links
                .requests
                .fail_proposed_writes(&RequestError::LeaderChanged);
        }
        if self.known_leader != ss.leader_id {
            self.links.metrics.leader_changed();
        }
        self.known_leader = ss.leader_id;
        let leader = ss.role == Role::Leader;
        if leader && !self.was_leader {
            self.links.status.lock().leader_elections += 1;
        }
        self.was_leader = leader;
    }

    /// Installs the leader's snapshot: durable first, then the state machine
    /// (the applier handles it before any later entry).
    fn install_snapshot(&mut self, snap: Snapshot) -> Result<(), FatalError> {
        self.storage
            .apply_snapshot(snap.clone())
            .map_err(|source| FatalError::Storage {
                what: "installing the leader's snapshot",
                source,
            })?;
        if let Ok(store) = KvStore::decode_snapshot(&snap.data) {
            self.links.members.learn_applied(store.members())?;
        }
        self.to_applier(ApplyMsg::Restore(snap))
    }

    /// Committed entries are durable on a quorum already: apply them while this
    /// node's own fsync runs (Raft dissertation §10.2.1), off the write path.
    fn hand_to_applier(
        &mut self,
        committed: Vec<Entry>,
        reads: Vec<ReadState>,
    ) -> Result<(), FatalError> {
        if !committed.is_empty() {
            self.to_applier(ApplyMsg::Entries(committed, Instant::now()))?;
        }
        if !reads.is_empty() {
            self.to_applier(ApplyMsg::Reads(reads))?;
        }
        Ok(())
    }

    fn to_applier(&self, msg: ApplyMsg) -> Result<(), FatalError> {
        self.links
            .apply_tx
            .send(msg)
            .map_err(|_| FatalError::ApplierStopped)
    }

    fn persist(
        &mut self,
        entries: &[Entry],
        hard_state: Option<raft_core::HardState>,
    ) -> Result<(), FatalError> {
        let m = &self.links.metrics;
        m.ready_processed();
        if !entries.is_empty() {
            let t0 = Instant::now();
            self.storage
                .append(entries)
                .map_err(|source| FatalError::Storage {
                    what: "WAL append",
                    source,
                })?;
            m.entries_appended(entries.len(), t0.elapsed());
        }
        if let Some(hs) = hard_state {
            let t0 = Instant::now();
            self.storage
                .set_hard_state(hs)
                .map_err(|source| FatalError::Storage {
                    what: "hard state write",
                    source,
                })?;
            m.hard_state_written(t0.elapsed());
        }
        Ok(())
    }

    fn publish_status(&self) {
        let st = self.raw.status();
        let mut s = self.links.status.lock();
        s.role = st.soft_state.role;
        s.term = st.hard_state.term;
        s.leader_id = st.soft_state.leader_id;
        s.commit_index = st.hard_state.commit;
        s.applied_index = st.applied;
        s.last_index = st.last_index;
        s.voters = st.conf_state.voters.iter().copied().collect();
        s.learners = st.conf_state.learners.iter().copied().collect();
        s.voters_outgoing = st.conf_state.voters_outgoing.iter().copied().collect();
    }
}
