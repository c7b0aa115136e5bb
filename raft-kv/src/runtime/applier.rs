//! The applier thread: applies committed entries to the state machine in log
//! order, answers the clients waiting on them, serves reads that became safe,
//! installs snapshots received from the leader, and takes snapshots (when
//! [`snapshot_due`] says so, or on request) from a consistent copy of the
//! state, written by a background thread so that client writes never stall.

use super::consensus::{ApplyMsg, Event};
use super::lifecycle::Lifecycle;
use super::members::{AdminContext, Members};
use super::requests::Requests;
use super::scripts::{Feed, Interrupted, ScriptRunner};
use super::storage::NodeStorage;
use super::waiters::Waiters;
use crate::error::{FatalError, RequestError};
use crate::metrics::Metrics;
use crossbeam_channel::Sender;
use parking_lot::RwLock;
use raft_core::{ConfChange, ConfState, Entry, EntryPayload, NodeId, ReadState, Snapshot};
use raft_kv_state::entry::{EntryDecodeError, ScriptCall};
use raft_kv_state::{KvStore, Op, ProposalId, Reply};
use raft_net::mailbox::{MailReceiver, MailSender};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The shared pieces the applier updates.
pub(crate) struct ApplierLinks<S> {
    pub(crate) storage: S,
    pub(crate) store: Arc<RwLock<KvStore>>,
    pub(crate) requests: Arc<Requests>,
    pub(crate) members: Arc<Members>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) waiters: Arc<Waiters>,
    pub(crate) events: MailSender<Event>,
    pub(crate) scripts: ScriptRunner,
    /// The state machine version this node proposes at, learned as members
    /// advertise theirs.
    pub(crate) version: Arc<super::clock::ClusterVersion>,
    /// This node's subscribers, to whom every applied entry's messages go.
    pub(crate) pubsub: Arc<super::pubsub::PubSub>,
}

/// The applier thread's state.
pub(crate) struct Applier<S: NodeStorage> {
    id: NodeId,
    snapshot_every: u64,
    links: ApplierLinks<S>,
    /// Membership at the applied index (recorded in snapshots).
    conf: ConfState,
    /// Index of the newest snapshot taken or installed (updated by the writer
    /// thread only on success, so a failed attempt is retried at the next batch).
    last_snapshot: Arc<AtomicU64>,
    snapshotting: Arc<AtomicBool>,
    /// No automatic snapshot before this index (set after a failure).
    retry_at: Arc<AtomicU64>,
    /// Size of the newest snapshot taken or installed, in bytes.
    last_snapshot_bytes: Arc<AtomicU64>,
    /// Command bytes applied since the newest snapshot began.
    log_bytes_since: u64,
    /// This node's membership requests whose joint configuration is applied but
    /// not yet left: they are answered once the configuration is simple again,
    /// so that the next change a client sends is not refused as "in progress".
    awaiting_leave: Vec<ProposalId>,
}

impl<S: NodeStorage> Applier<S> {
    pub(crate) fn new(
        id: NodeId,
        snapshot_every: u64,
        links: ApplierLinks<S>,
        conf: ConfState,
        (last_snapshot, last_snapshot_bytes): (u64, u64),
    ) -> Self {
        Applier {
            id,
            snapshot_every,
            links,
            conf,
            last_snapshot: Arc::new(AtomicU64::new(last_snapshot)),
            snapshotting: Arc::new(AtomicBool::new(false)),
            retry_at: Arc::new(AtomicU64::new(0)),
            last_snapshot_bytes: Arc::new(AtomicU64::new(last_snapshot_bytes)),
            log_bytes_since: 0,
            awaiting_leave: Vec::new(),
        }
    }

    /// Runs until [`ApplyMsg::Stop`] or a fatal error.
    pub(crate) fn run(mut self, rx: MailReceiver<ApplyMsg>) {
        let feed = Feed::new(rx);
        while let Some(msg) = feed.next() {
            if !self.handle(msg, &feed) {
                return;
            }
        }
    }

    /// One message; false once the thread must stop.
    fn handle(&mut self, msg: ApplyMsg, feed: &Rc<Feed>) -> bool {
        let outcome = match msg {
            ApplyMsg::Entries(entries, handed) => self.apply(entries, handed, feed),
            ApplyMsg::Reads(states) => {
                self.serve_reads(states);
                Ok(())
            }
            ApplyMsg::Restore(snap) => self.restore(snap),
            ApplyMsg::SnapshotNow(reply) => {
                self.snapshot(Some(reply));
                Ok(())
            }
            ApplyMsg::Stop => return false,
        };
        match outcome {
            Ok(()) => true,
            Err(e) => {
                self.links.lifecycle.fail(e);
                false
            }
        }
    }

    fn apply(
        &mut self,
        mut entries: Vec<Entry>,
        handed: Instant,
        feed: &Rc<Feed>,
    ) -> Result<(), FatalError> {
        let Some(first) = entries.first().map(|e| e.index) else {
            return Ok(());
        };
        let mut last = first - 1;
        {
            let store_lock = self.links.store.clone();
            let mut store = store_lock.write();
            let mut pos = 0;
            while pos < entries.len() {
                let e = &entries[pos];
                let applied = store.applied_index();
                assert_eq!(
                    e.index,
                    applied + 1,
                    "node {}: entries are applied in log order, each once (applied {applied})",
                    self.id
                );
                let step = match &e.payload {
                    EntryPayload::Normal(data) => {
                        self.log_bytes_since += data.len() as u64;
                        self.apply_command(&mut store, e.index, data)?
                    }
                    EntryPayload::ConfChange(cc) => {
                        self.apply_conf_change(&mut store, cc)?;
                        Step::Next
                    }
                    EntryPayload::Noop => Step::Next,
                };
                match step {
                    Step::Next => {}
                    Step::Script(run) => {
                        // The rest of the batch goes back to the input, where
                        // the script's gate reads its markers.
                        let rest = entries.split_off(pos + 1);
                        if !rest.is_empty() {
                            feed.push_front(ApplyMsg::Entries(rest, handed));
                        }
                        let index = entries[pos].index;
                        if !self.run_script(&mut store, index, &run, feed)? {
                            break;
                        }
                    }
                }
                store.set_applied_index(entries[pos].index);
                last = entries[pos].index;
                pos += 1;
            }
        }
        if last < first {
            return Ok(());
        }
        self.links.waiters.after_apply();
        self.links
            .metrics
            .entries_applied(entries.len(), handed.elapsed());
        let _ = self.links.events.send(Event::Applied(last));
        let busy = self.snapshotting.load(Ordering::SeqCst);
        let due = snapshot_due(
            self.snapshot_every,
            last.saturating_sub(self.last_snapshot.load(Ordering::SeqCst)),
            self.log_bytes_since,
            self.last_snapshot_bytes.load(Ordering::SeqCst),
        ) && last >= self.retry_at.load(Ordering::SeqCst);
        if !busy && due {
            self.snapshot(None);
        }
        Ok(())
    }

    /// Runs the script of entry `index` and answers its client; false if it
    /// was interrupted (the entry stays unapplied: the node stops, or a
    /// snapshot replaces the state).
    fn run_script(
        &mut self,
        store: &mut KvStore,
        index: u64,
        run: &ScriptEntry,
        feed: &Rc<Feed>,
    ) -> Result<bool, FatalError> {
        match self.links.scripts.run(store, index, &run.call, feed) {
            Ok(reply) => {
                // A script's PUBLISH answered 0 inside it: its result is
                // the same on every replica, the receivers are not.
                self.links.pubsub.deliver(&store.take_published());
                if run.proposal.node == self.id {
                    self.links.requests.complete_write(run.proposal, Ok(reply));
                }
                Ok(true)
            }
            Err(Interrupted) => {
                feed.settle_interruption();
                Ok(false)
            }
        }
    }

    fn apply_command(
        &self,
        store: &mut KvStore,
        index: u64,
        data: &[u8],
    ) -> Result<Step, FatalError> {
        // An entry this binary cannot read stops the node before it applies
        // anything of it: skipping it would make this replica diverge.
        let e = raft_kv_state::Entry::decode(data).map_err(|e| match e {
            EntryDecodeError::UnknownVersion { version } => {
                FatalError::UnknownStateMachineVersion { index, version }
            }
            EntryDecodeError::Undecodable(reason) => FatalError::UnknownCommand { index, reason },
        })?;
        store.advance_clock(e.at_ms);
        store.set_entry_version(e.version);
        let reply = match e.op {
            Op::Script(call) => {
                return Ok(Step::Script(Box::new(ScriptEntry {
                    proposal: e.id,
                    call: *call,
                })));
            }
            Op::ScriptMarker { script, kill } => {
                self.links.scripts.marker_reply(script, kill, index)
            }
            op => {
                let reply = store.apply_op(&op);
                let published = store.take_published();
                let receivers = self.links.pubsub.deliver(&published);
                let reply = raft_kv_state::store::count_receivers(reply, &published, &receivers);
                if matches!(op, Op::Member(_)) {
                    self.links.version.learn(store);
                }
                reply
            }
        };
        if e.id.node == self.id {
            self.links.requests.complete_write(e.id, Ok(reply));
        }
        Ok(Step::Next)
    }

    fn apply_conf_change(
        &mut self,
        store: &mut KvStore,
        cc: &ConfChange,
    ) -> Result<(), FatalError> {
        if let Some(conf) = &cc.result {
            self.conf = conf.clone();
        }
        if let Some(ctx) = AdminContext::decode(&cc.context) {
            store.set_members(&ctx.members);
            self.links.members.learn_applied(&ctx.members)?;
            if ctx.proposal.node == self.id {
                self.awaiting_leave.push(ctx.proposal);
            }
        }
        if !self.conf.is_joint() {
            self.links.members.retire(&self.conf)?;
            let keep = self.links.members.addresses();
            store.retain_members(|id| keep.contains_key(&id));
            let conf = &self.conf;
            store.retain_clients(|id| conf.voters.contains(&id) || conf.learners.contains(&id));
            self.links.version.learn(store);
        }
        self.answer_if_left_joint();
        Ok(())
    }

    /// Answers the membership requests in `awaiting_leave` once the applied
    /// configuration is simple.
    fn answer_if_left_joint(&mut self) {
        if !self.conf.is_joint() {
            for id in self.awaiting_leave.drain(..) {
                self.links.requests.complete_write(id, Ok(Reply::ok()));
            }
        }
    }

    fn serve_reads(&self, states: Vec<ReadState>) {
        let store = self.links.store.read();
        for rs in states {
            self.links.requests.complete_read(rs.request, &store);
        }
    }

    fn restore(&mut self, snap: Snapshot) -> Result<(), FatalError> {
        // The core checked nothing about the data: a damaged snapshot stops the node.
        let mut store =
            KvStore::decode_snapshot(&snap.data).map_err(|source| FatalError::DamagedSnapshot {
                index: snap.meta.index,
                source,
            })?;
        store.set_applied_index(snap.meta.index);
        self.links.version.learn(&store);
        *self.links.store.write() = store;
        self.links.waiters.after_apply();
        self.conf = snap.meta.conf_state.clone();
        self.answer_if_left_joint();
        self.last_snapshot.store(snap.meta.index, Ordering::SeqCst);
        self.last_snapshot_bytes
            .store(snap.data.len() as u64, Ordering::SeqCst);
        self.log_bytes_since = 0;
        self.links.metrics.snapshot_made();
        log::info!(
            "node {} installed the leader's snapshot at {}",
            self.id,
            snap.meta.index
        );
        let _ = self.links.events.send(Event::Applied(snap.meta.index));
        Ok(())
    }

    /// Copies the state (consistent at the applied index) and writes the snapshot
    /// on a background thread, then compacts the log.
    fn snapshot(&mut self, reply: Option<Sender<Result<(), RequestError>>>) {
        if self.snapshotting.swap(true, Ordering::SeqCst) {
            if let Some(r) = reply {
                let _ = r.send(Err(RequestError::SnapshotBusy));
            }
            return;
        }
        self.log_bytes_since = 0;
        let job = SnapshotJob {
            id: self.id,
            every: self.snapshot_every.max(1),
            retry_at: self.retry_at.clone(),
            copy: self.links.store.read().clone(),
            conf: self.conf.clone(),
            storage: self.links.storage.clone(),
            metrics: self.links.metrics.clone(),
            busy: self.snapshotting.clone(),
            last_snapshot: self.last_snapshot.clone(),
            last_snapshot_bytes: self.last_snapshot_bytes.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("raft-kv-snapshot".into())
            .spawn(move || job.run(reply));
        if let Err(e) = spawned {
            self.snapshotting.store(false, Ordering::SeqCst);
            log::error!("cannot start the snapshot thread: {e}");
        }
    }
}

/// What applying one entry asks of the loop.
enum Step {
    /// Go on with the next entry.
    Next,
    /// Run this script first.
    Script(Box<ScriptEntry>),
}

/// A script entry to run.
struct ScriptEntry {
    proposal: ProposalId,
    call: ScriptCall,
}

/// One snapshot being written in the background.
struct SnapshotJob<S> {
    id: NodeId,
    every: u64,
    retry_at: Arc<AtomicU64>,
    copy: KvStore,
    conf: ConfState,
    storage: S,
    metrics: Arc<Metrics>,
    busy: Arc<AtomicBool>,
    last_snapshot: Arc<AtomicU64>,
    last_snapshot_bytes: Arc<AtomicU64>,
}

impl<S: NodeStorage> SnapshotJob<S> {
    fn run(self, reply: Option<Sender<Result<(), RequestError>>>) {
        let t0 = std::time::Instant::now();
        let index = self.copy.applied_index();
        let data = self.copy.encode_snapshot();
        let bytes = data.len();
        let outcome = match self.storage.create_snapshot(index, self.conf, data) {
            Ok(_) => {
                self.last_snapshot.fetch_max(index, Ordering::SeqCst);
                self.last_snapshot_bytes
                    .store(bytes as u64, Ordering::SeqCst);
                self.metrics.snapshot_made();
                log::info!(
                    "node {} took a snapshot at {index} ({bytes} bytes, {} keys) in {:?} and compacted its log",
                    self.id,
                    self.copy.len(),
                    t0.elapsed()
                );
                Ok(())
            }
            // The applier ran ahead of this node's own persistence: the
            // next batch (or the caller's retry) tries again.
            Err(e @ raft_storage::StoreError::NotYetDurable { .. }) => {
                log::debug!("node {}: snapshot deferred: {e}", self.id);
                Err(RequestError::SnapshotBusy)
            }
            Err(e) => {
                // Not again before another interval of entries: a failing disk
                // must not be hammered (and the log flooded) after every batch.
                self.retry_at
                    .fetch_max(index + self.every, Ordering::SeqCst);
                log::warn!(
                    "node {}: snapshot at {index} not taken (next attempt after {} more entries): {e}",
                    self.id,
                    self.every
                );
                Err(RequestError::SnapshotFailed {
                    index,
                    reason: e.to_string(),
                })
            }
        };
        self.busy.store(false, Ordering::SeqCst);
        if let Some(r) = reply {
            let _ = r.send(outcome);
        }
    }
}

/// Whether an automatic snapshot is due: at least `floor` entries (the
/// `--snapshot-every` setting; 0 disables automatic snapshots) and at least
/// as many command bytes as the last snapshot's size were applied since the
/// last one. Writing a snapshot then costs at most as many bytes as the log
/// since the one before, however large the state grows, so snapshots stay a
/// bounded share of the write cost (with a fixed interval they took over as
/// the data grew).
pub(crate) fn snapshot_due(
    floor: u64,
    entries_since: u64,
    bytes_since: u64,
    last_bytes: u64,
) -> bool {
    floor > 0 && entries_since >= floor && bytes_since >= last_bytes
}

#[cfg(test)]
mod tests {
    use super::snapshot_due;

    #[test]
    fn a_snapshot_waits_for_the_entry_floor_and_for_a_log_as_large_as_the_last_snapshot() {
        assert!(!snapshot_due(0, 1 << 30, 1 << 40, 0), "0 disables them");
        assert!(!snapshot_due(100, 99, 1 << 20, 0), "below the floor");
        assert!(
            snapshot_due(100, 100, 1, 0),
            "the first one: the floor alone"
        );
        assert!(
            !snapshot_due(100, 5000, 999_999, 1_000_000),
            "the log since is smaller than the last snapshot"
        );
        assert!(snapshot_due(100, 5000, 1_000_000, 1_000_000));
    }
}
