//! The consensus thread: owns the Raft node and its log. It waits for events
//! (peer messages, client proposals and reads, membership and transfer requests,
//! apply progress, ticks), drains everything waiting before it builds one
//! `Ready` (group commit), then sends, persists and hands work to the applier.

use crate::applier::ApplyMsg;
use crate::command::{ProposalId, Reply};
use crate::node::{Event, Shared, shutdown_reply};
use crate::store::KvStore;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use raft_core::{EntryPayload, NodeId, RawNode, Role, Storage};
use raft_net::{TcpTransport, Transport};
use raft_storage::{FileStorage, HardStateStore, LogStore};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub(crate) struct Consensus {
    raw: RawNode<FileStorage>,
    storage: FileStorage,
    transport: Arc<TcpTransport>,
    shared: Arc<Shared>,
    apply_tx: Sender<ApplyMsg>,
    /// Requests that found no leader, retried until their deadline.
    waiting: Vec<Event>,
    was_leader: bool,
    known_leader: Option<NodeId>,
}

/// Most events handled before one `Ready` (bounds latency under load).
const MAX_EVENTS_PER_READY: usize = 8192;

impl Consensus {
    pub(crate) fn new(
        raw: RawNode<FileStorage>,
        storage: FileStorage,
        transport: Arc<TcpTransport>,
        shared: Arc<Shared>,
        apply_tx: Sender<ApplyMsg>,
    ) -> Self {
        Consensus {
            raw,
            storage,
            transport,
            shared,
            apply_tx,
            waiting: Vec::new(),
            was_leader: false,
            known_leader: None,
        }
    }

    pub(crate) fn run(mut self, events: Receiver<Event>) {
        let tick = self.shared.cfg.tick;
        let mut next_tick = Instant::now() + tick;
        let mut stop = false;
        while !stop {
            let mut batch: Vec<Event> = Vec::new();
            match events.recv_deadline(next_tick) {
                Ok(ev) => batch.push(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            batch.extend(events.try_iter().take(MAX_EVENTS_PER_READY));
            let mut proposals = Vec::new();
            for ev in batch {
                match ev {
                    Event::Peer(m) => {
                        if let Err(e) = self.raw.step(m) {
                            log::debug!("node {} ignores a message: {e}", self.shared.cfg.id);
                        }
                    }
                    Event::Propose { .. } => proposals.push(ev),
                    Event::Read { id, deadline } => self.read(id, deadline),
                    Event::Applied(index) => {
                        self.raw.advance_apply_to(index);
                        self.shared.status.lock().applied_index = index;
                    }
                    Event::Shutdown => stop = true,
                    Event::ConfChange { id, cc } => self.conf_change(id, cc),
                    Event::Transfer { to, reply } => self.transfer(to, &reply),
                    Event::ShutdownTransfer { reply } => {
                        let _ = reply.send(self.transfer_for_shutdown());
                    }
                }
            }
            if self.shared.stopping.load(Ordering::SeqCst) && self.shared.fatal.lock().is_some() {
                break;
            }
            self.propose(proposals);
            let now = Instant::now();
            if now >= next_tick {
                self.raw.tick();
                next_tick += tick;
                if next_tick < now {
                    next_tick = now + tick; // we fell behind (slow disk): do not burst ticks
                }
                self.retry_waiting(now);
            }
            if let Err(e) = self.handle_readies() {
                log::error!("node {}: {e}; stopping", self.shared.cfg.id);
                *self.shared.fatal.lock() = Some(e);
                self.shared.stopping.store(true, Ordering::SeqCst);
                break;
            }
        }
        self.shared.fail_all(shutdown_reply());
        let _ = self.apply_tx.send(ApplyMsg::Stop);
    }

    fn conf_change(&mut self, id: ProposalId, cc: raft_core::ConfChange) {
        if !self.shared.mark_proposed(id) {
            return; // the client gave up before the change could be proposed
        }
        if let Err(e) = self.raw.propose_conf_change(cc) {
            let reply = match e {
                raft_core::Error::ProposalDropped(why) => {
                    Reply::error("NOLEADER", format!("the change was not proposed: {why}"))
                }
                other => Reply::error("ERR", other),
            };
            self.shared.complete_write(id, reply);
        }
    }

    fn transfer(&mut self, to: NodeId, reply: &Sender<Reply>) {
        let r = self.raw.raft();
        let answer = if r.role() != Role::Leader {
            Reply::error(
                "ERR",
                format!(
                    "this node is not the leader (leader: {:?}); send RAFT.TRANSFER to the leader",
                    r.leader_id()
                ),
            )
        } else if !r.tracker().is_voter(to) {
            Reply::error("ERR", format!("node {to} is not a voter"))
        } else {
            self.raw.transfer_leader(to);
            Reply::ok()
        };
        let _ = reply.send(answer);
    }

    /// Picks the most up-to-date other voter and starts a transfer to it.
    fn transfer_for_shutdown(&mut self) -> Option<NodeId> {
        if self.raw.raft().role() != Role::Leader {
            return None;
        }
        let me = self.shared.cfg.id;
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
    pub(crate) fn learn_addresses_from_log(&mut self) {
        let (Ok(first), Ok(last)) = (self.storage.first_index(), self.storage.last_index()) else {
            return;
        };
        if first > last {
            return;
        }
        match self.storage.entries(first, last + 1, None) {
            Ok(ents) => self.learn_addresses(&ents),
            Err(e) => log::warn!("cannot scan the log for member addresses: {e}"),
        }
    }

    fn learn_addresses(&mut self, ents: &[raft_core::Entry]) {
        for e in ents {
            if let EntryPayload::ConfChange(cc) = &e.payload
                && let Some(ctx) = crate::admin::AdminContext::decode(&cc.context)
            {
                self.shared.record_members(&ctx.members);
                let me = self.shared.cfg.id;
                if cc
                    .result
                    .as_ref()
                    .is_some_and(|c| c.all_nodes().contains(&me))
                {
                    self.transport.refuse_unknown_peers();
                }
            }
        }
    }

    fn propose(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if self.raw.raft().leader_id().is_none() {
            self.waiting.extend(events);
            return;
        }
        // Only writes whose client still waits are proposed, and they are marked
        // proposed under the same lock: a client that gave up at its deadline was
        // told its write was not proposed, so it never is.
        let mut data = Vec::with_capacity(events.len());
        let mut ids = Vec::with_capacity(events.len());
        {
            let mut writes = self.shared.writes.lock();
            for ev in events {
                if let Event::Propose { id, data: d, .. } = ev
                    && let Some(w) = writes.get_mut(&id)
                {
                    w.proposed = true;
                    ids.push(id);
                    data.push(d);
                }
            }
        }
        if data.is_empty() {
            return;
        }
        let n = data.len() as u64;
        match self.raw.propose_batch(data) {
            Ok(()) => self.shared.status.lock().proposals += n,
            Err(e) => {
                let reply = Reply::error("NOLEADER", format!("the command was not proposed: {e}"));
                for id in ids {
                    self.shared.complete_write(id, reply.clone());
                }
            }
        }
    }

    fn read(&mut self, id: u64, deadline: Instant) {
        if self.raw.read_index(id).is_err() {
            self.waiting.push(Event::Read { id, deadline });
        }
    }

    /// Retries requests that waited for a leader; fails those past their deadline.
    fn retry_waiting(&mut self, now: Instant) {
        if self.waiting.is_empty() {
            return;
        }
        let (expired, alive): (Vec<Event>, Vec<Event>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|ev| match ev {
                Event::Propose { deadline, .. } | Event::Read { deadline, .. } => *deadline <= now,
                _ => true,
            });
        let reply = Reply::error(
            "NOLEADER",
            "no leader could be reached in time; the command was not proposed",
        );
        for ev in expired {
            match ev {
                Event::Propose { id, .. } => self.shared.complete_write(id, reply.clone()),
                Event::Read { id, .. } => {
                    if let Some((_, tx)) = self.shared.reads.lock().remove(&id) {
                        let _ = tx.try_send(reply.clone());
                    }
                }
                _ => {}
            }
        }
        if self.raw.raft().leader_id().is_none() {
            self.waiting = alive;
            return;
        }
        let (proposals, reads): (Vec<Event>, Vec<Event>) = alive
            .into_iter()
            .partition(|ev| matches!(ev, Event::Propose { .. }));
        self.propose(proposals);
        for ev in reads {
            if let Event::Read { id, deadline } = ev {
                self.read(id, deadline);
            }
        }
    }

    fn handle_readies(&mut self) -> Result<(), String> {
        while self.raw.has_ready() {
            self.handle_ready()?;
        }
        Ok(())
    }

    fn handle_ready(&mut self) -> Result<(), String> {
        let id = self.shared.cfg.id;
        let rd = self.raw.ready();
        if let Some(ss) = rd.soft_state {
            let leader = ss.role == Role::Leader;
            if self.known_leader.is_some() && self.known_leader != ss.leader_id {
                // Writes proposed to (or forwarded to) the old leader may be lost or
                // may still commit: their outcome is unknown, so say so now rather
                // than at the request deadline.
                log::info!(
                    "node {id}: leader changed from {:?} to {:?}; pending writes (not membership changes) get -TIMEOUT",
                    self.known_leader,
                    ss.leader_id
                );
                self.shared.fail_proposed_writes(Reply::error(
                    "TIMEOUT",
                    "leadership changed; the write may or may not be applied",
                ));
            }
            self.known_leader = ss.leader_id;
            if leader && !self.was_leader {
                self.shared.status.lock().leader_elections += 1;
            }
            self.was_leader = leader;
        }
        // Addresses of members added by entries in this ready, before anything is sent.
        self.learn_addresses(&rd.entries);
        for m in rd.messages {
            self.transport.send(m);
        }
        if let Some(snap) = rd.snapshot {
            // Install the leader's snapshot: durable first, then the state machine
            // (the applier handles it before any later entry).
            self.storage.apply_snapshot(snap.clone()).map_err(|e| {
                format!("installing the snapshot at {} failed: {e}", snap.meta.index)
            })?;
            if let Ok(store) = KvStore::decode_snapshot(&snap.data) {
                self.shared.record_members(store.members());
            }
            self.apply_tx
                .send(ApplyMsg::Restore(snap))
                .map_err(|_| "the applier stopped".to_string())?;
        }
        // Committed entries are durable on a quorum already: apply them while this
        // node's own fsync runs (Raft dissertation §10.2.1), off the write path.
        if !rd.committed_entries.is_empty() {
            self.apply_tx
                .send(ApplyMsg::Entries(rd.committed_entries))
                .map_err(|_| "the applier stopped".to_string())?;
        }
        if !rd.read_states.is_empty() {
            self.apply_tx
                .send(ApplyMsg::Reads(rd.read_states))
                .map_err(|_| "the applier stopped".to_string())?;
        }
        let m = &self.shared.metrics;
        m.readies.fetch_add(1, Ordering::Relaxed);
        if !rd.entries.is_empty() {
            let t0 = Instant::now();
            self.storage
                .append(&rd.entries)
                .map_err(|e| format!("WAL append failed: {e}"))?;
            m.append_fsync.observe(t0.elapsed());
            m.entries_appended
                .fetch_add(rd.entries.len() as u64, Ordering::Relaxed);
        }
        if let Some(hs) = rd.hard_state {
            let t0 = Instant::now();
            self.storage
                .set_hard_state(hs)
                .map_err(|e| format!("hard state write failed: {e}"))?;
            m.hard_state_write.observe(t0.elapsed());
        }
        for m in rd.persisted_messages {
            self.transport.send(m);
        }
        if !rd.failed_reads.is_empty() {
            let reply = Reply::error(
                "NOLEADER",
                "leadership changed before the read was confirmed",
            );
            let mut reads = self.shared.reads.lock();
            for r in rd.failed_reads {
                if let Some((_, tx)) = reads.remove(&r) {
                    let _ = tx.try_send(reply.clone());
                }
            }
        }
        self.raw.advance_append().map_err(|e| e.to_string())?;
        self.publish_status();
        Ok(())
    }

    fn publish_status(&self) {
        let st = self.raw.status();
        let mut s = self.shared.status.lock();
        s.role = st.soft_state.role.as_str().to_string();
        s.term = st.hard_state.term;
        s.leader_id = st.soft_state.leader_id.unwrap_or(0);
        s.commit_index = st.hard_state.commit;
        s.applied_index = st.applied;
        s.last_index = st.last_index;
        s.voters = st.conf_state.voters.iter().copied().collect();
        s.learners = st.conf_state.learners.iter().copied().collect();
        s.voters_outgoing = st.conf_state.voters_outgoing.iter().copied().collect();
    }
}
