//! The consensus thread: owns the Raft node, its storage and its transport. It
//! waits for [`Event`]s (peer messages, client proposals and reads, membership
//! and transfer requests, apply progress), drains everything waiting before it
//! builds one `Ready` (group commit), then sends, persists and hands committed
//! work to the applier as [`ApplyMsg`]s.

pub(crate) use super::events::{ApplyMsg, Event};
use super::handover::Reachability;
use super::lifecycle::Lifecycle;
use super::members::{Members, RemovalWatch};
use super::persist::Persistence;
use super::requests::{ReadId, Requests};
use super::storage::NodeStorage;
use crate::error::{FatalError, RequestError};
use crate::metrics::Metrics;
use crate::status::NodeStatus;
use parking_lot::Mutex;
use raft_core::{Entry, Message, MessageBody, NodeId, RawNode, ReadState, Ready, Role, Snapshot};
use raft_kv_state::KvStore;
use raft_kv_state::ProposalId;
use raft_net::Transport;
use raft_net::mailbox::{MailReceiver, MailSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The consensus thread's write side of `storage`: with `log_writer` (the
/// node's id comes first), a leader's entries go to a writer thread that
/// wakes the consensus thread through `events` when they are durable.
pub(crate) fn start_persistence<S: NodeStorage>(
    (id, log_writer): (NodeId, bool),
    storage: S,
    metrics: Arc<Metrics>,
    events: MailSender<Event>,
) -> std::io::Result<Persistence<S>> {
    // A full queue means the consensus thread is busy: it looks anyway.
    let wake: Box<dyn Fn() + Send> = Box::new(move || drop(events.try_send(Event::LogWritten)));
    Persistence::start(id, storage, metrics, log_writer.then_some(wake))
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
    /// The state machine version the leader stamps entries with.
    pub(crate) version: Arc<super::clock::ClusterVersion>,
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
    persistence: Persistence<S>,
    transport: Arc<dyn Transport>,
    links: ConsensusLinks,
    waiting: Vec<Waiting>,
    /// Writes held while the leader's own log write is in flight.
    held: Vec<Waiting>,
    removal: RemovalWatch,
    was_leader: bool,
    known_leader: Option<NodeId>,
    expiry: super::expiry_tick::ExpiryTicker,
    /// Which peers still answer (a stopping leader hands over to one).
    reachability: Reachability,
}

/// Most events handled before one `Ready` (bounds latency under load).
const MAX_EVENTS_PER_READY: usize = 8192;

impl<S: NodeStorage> Consensus<S> {
    pub(crate) fn new(
        raw: RawNode<S>,
        persistence: Persistence<S>,
        transport: Arc<dyn Transport>,
        tick: Duration,
        links: ConsensusLinks,
        removal: RemovalWatch,
    ) -> Self {
        let heartbeat = tick * raw.raft().config().heartbeat_tick as u32;
        Consensus {
            removal,
            id: raw.raft().id(),
            tick,
            raw,
            persistence,
            transport,
            waiting: Vec::new(),
            held: Vec::new(),
            was_leader: false,
            known_leader: None,
            reachability: Reachability::new(heartbeat),
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
            if let Err(e) = self.take_written() {
                self.links.lifecycle.fail(e);
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
                if let Some(tick) = self
                    .expiry
                    .due(self.id, now, leading, self.links.version.get())
                {
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
        if let Err(e) = self.persistence.stop() {
            log::error!("node {}: {e}", self.id);
        }
        self.links.requests.fail_all(&RequestError::Shutdown);
        let _ = self.links.apply_tx.send(ApplyMsg::Stop);
    }

    /// Tells the core what the log writer made durable; once nothing is in
    /// flight, proposes the writes held meanwhile.
    fn take_written(&mut self) -> Result<(), FatalError> {
        if let Some((index, term)) = self.persistence.take_written()? {
            self.raw.on_persisted(index, term);
        }
        if !self.held.is_empty() && !self.persistence.writer_in_flight() {
            let held = std::mem::take(&mut self.held);
            self.propose(held);
        }
        Ok(())
    }

    /// Steps every event of `batch`, proposing its writes as one batch; true
    /// if it asked the thread to stop.
    fn handle_events(&mut self, batch: Vec<Event>) -> bool {
        let mut stop = false;
        let mut writes = Vec::new();
        let now = Instant::now();
        for ev in batch {
            match ev {
                Event::Peer(mut m) => {
                    self.reachability.heard(m.from, now);
                    if let MessageBody::InstallSnapshot { snapshot } = &m.body {
                        self.links.metrics.snapshot_received(snapshot.data.len());
                    }
                    let leading = self.raw.raft().role() == Role::Leader;
                    super::expiry_tick::stamp_forwarded(&mut m, leading, self.links.version.get());
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
                Event::LogWritten => {} // taken after the batch
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
        let target = self.reachability.handover_target(me, &self.raw.status())?;
        log::info!("node {me} is stopping: transferring leadership to node {target}");
        self.raw.transfer_leader(target);
        Some(target)
    }

    /// Learns member addresses from the membership entries still in the log.
    pub(crate) fn learn_addresses_from_log(&mut self) -> Result<(), FatalError> {
        self.links
            .members
            .learn_from_log(self.persistence.storage())
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
        if self.persistence.writer_in_flight() {
            // One leader write in flight at a time: what arrives meanwhile
            // goes out as one batch, as it would behind a blocking fsync.
            self.held.extend(writes);
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
        match self.raw.read_index(id) {
            Ok(()) => self.links.requests.mark_read_handed(id),
            Err(_) => self.waiting.push(Waiting::Read { id, deadline }),
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
                Waiting::Read { id, .. } => requests.fail_read(id, RequestError::ReadNotServed),
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

    /// One `Ready`, in the order the contract in `raw_node.rs` prescribes; a
    /// leader's entries go to the log writer when the core allows it.
    fn handle_ready(&mut self, rd: Ready) -> Result<(), FatalError> {
        let background = self.persistence.has_writer() && self.raw.can_persist_in_background(&rd);
        if let Some(ss) = rd.soft_state {
            self.on_soft_state(ss);
        }
        // Addresses of members added by entries in this ready, before anything is sent.
        self.links.members.learn_from_entries(&rd.entries)?;
        for m in rd.messages {
            self.send(m);
        }
        if background {
            self.persistence.hand_over(rd.entries, rd.hard_state)?;
            self.hand_to_applier(rd.committed_entries, rd.read_states)?;
            self.fail_reads(rd.failed_reads);
            self.raw.advance_in_background()?;
            self.publish_status();
            return Ok(());
        }
        if let Some(snap) = rd.snapshot {
            self.install_snapshot(snap)?;
        }
        self.hand_to_applier(rd.committed_entries, rd.read_states)?;
        self.persistence.write(&rd.entries, rd.hard_state)?;
        for m in rd.persisted_messages {
            self.send(m);
        }
        self.fail_reads(rd.failed_reads);
        self.raw.advance_append()?;
        self.publish_status();
        Ok(())
    }

    fn fail_reads(&self, ids: Vec<ReadId>) {
        for id in ids {
            self.links.requests.fail_read(id, RequestError::ReadAborted);
        }
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
        self.persistence.install_snapshot(snap.clone())?;
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

    pub(super) fn publish_status(&self) {
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
