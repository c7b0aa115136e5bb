//! The applier thread: applies committed entries to the state machine in log
//! order, answers the clients waiting on them, serves reads that became safe,
//! installs snapshots received from the leader, and takes snapshots (every
//! `snapshot_every` entries or on request) from a consistent copy of the state,
//! written by a background thread so that client writes never stall.

use crate::command::{Proposal, Reply};
use crate::node::{Event, Shared};
use crate::store::KvStore;
use crossbeam_channel::{Receiver, Sender};
use raft_core::{ConfState, Entry, EntryPayload, ReadState, Snapshot};
use raft_storage::LogStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The error text while another snapshot is being written.
pub(crate) const SNAPSHOT_BUSY: &str = "a snapshot is already being taken";

/// Work for the applier, in log order.
pub(crate) enum ApplyMsg {
    /// Committed entries to apply.
    Entries(Vec<Entry>),
    /// Reads that are safe to serve (their index is applied).
    Reads(Vec<ReadState>),
    /// A snapshot from the leader replaces the state.
    Restore(Snapshot),
    /// Take a snapshot now and compact; the reply says how it went.
    SnapshotNow(Sender<Reply>),
    /// The consensus thread stopped: finish.
    Stop,
}

pub(crate) struct Applier {
    shared: Arc<Shared>,
    /// Membership at the applied index (recorded in snapshots).
    conf: ConfState,
    /// Index of the newest snapshot taken or installed (updated by the writer
    /// thread only on success, so a failed attempt is retried at the next batch).
    last_snapshot: Arc<AtomicU64>,
    snapshotting: Arc<AtomicBool>,
    /// This node's membership requests whose joint configuration is applied but
    /// not yet left: they are answered once the configuration is simple again,
    /// so that the next change a client sends is not refused as "in progress".
    awaiting_leave: Vec<crate::command::ProposalId>,
}

impl Applier {
    pub(crate) fn new(shared: Arc<Shared>, conf: ConfState, last_snapshot: u64) -> Self {
        Applier {
            shared,
            conf,
            last_snapshot: Arc::new(AtomicU64::new(last_snapshot)),
            snapshotting: Arc::new(AtomicBool::new(false)),
            awaiting_leave: Vec::new(),
        }
    }

    pub(crate) fn run(mut self, rx: Receiver<ApplyMsg>) {
        for msg in rx {
            match msg {
                ApplyMsg::Entries(entries) => self.apply(entries),
                ApplyMsg::Reads(states) => self.serve_reads(states),
                ApplyMsg::Restore(snap) => self.restore(snap),
                ApplyMsg::SnapshotNow(reply) => self.snapshot(Some(reply)),
                ApplyMsg::Stop => return,
            }
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        let Some(last) = entries.last().map(|e| e.index) else {
            return;
        };
        let me = self.shared.cfg.id;
        {
            let mut store = self.shared.store.write();
            for e in &entries {
                match &e.payload {
                    EntryPayload::Normal(data) => match Proposal::decode(data) {
                        Some(p) => {
                            let reply = store.apply(&p.command);
                            if p.id.node == me {
                                self.shared.complete_write(p.id, reply);
                            }
                        }
                        None => {
                            log::error!("entry {} does not hold a KV command; skipped", e.index)
                        }
                    },
                    EntryPayload::ConfChange(cc) => {
                        if let Some(conf) = &cc.result {
                            self.conf = conf.clone();
                        }
                        if let Some(ctx) = crate::admin::AdminContext::decode(&cc.context) {
                            store.set_members(&ctx.members);
                            self.shared.record_members(&ctx.members);
                            if ctx.proposal.node == me {
                                self.awaiting_leave.push(ctx.proposal);
                            }
                        }
                        answer_if_left_joint(&self.conf, &mut self.awaiting_leave, &self.shared);
                    }
                    EntryPayload::Noop => {}
                }
                store.set_applied_index(e.index);
            }
        }
        let m = &self.shared.metrics;
        m.entries_applied
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        let _ = self.shared.events.send(Event::Applied(last));
        let every = self.shared.cfg.snapshot_every;
        let busy = self.snapshotting.load(Ordering::SeqCst);
        if every > 0 && !busy && last >= self.last_snapshot.load(Ordering::SeqCst) + every {
            self.snapshot(None);
        }
    }

    fn serve_reads(&self, states: Vec<ReadState>) {
        let store = self.shared.store.read();
        for rs in states {
            self.shared.complete_read(rs.request, &store);
        }
    }

    fn restore(&mut self, snap: Snapshot) {
        match KvStore::decode_snapshot(&snap.data) {
            Ok(mut store) => {
                store.set_applied_index(snap.meta.index);
                *self.shared.store.write() = store;
                self.conf = snap.meta.conf_state.clone();
                answer_if_left_joint(&self.conf, &mut self.awaiting_leave, &self.shared);
                self.last_snapshot.store(snap.meta.index, Ordering::SeqCst);
                self.shared
                    .metrics
                    .snapshots
                    .fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "node {} installed the leader's snapshot at {}",
                    self.shared.cfg.id,
                    snap.meta.index
                );
                let _ = self.shared.events.send(Event::Applied(snap.meta.index));
            }
            // The core checked nothing about the data: a damaged snapshot stops the node.
            Err(e) => self.shared.fail_fatal(format!(
                "received a damaged snapshot at {}: {e}",
                snap.meta.index
            )),
        }
    }

    /// Copies the state (consistent at the applied index) and writes the snapshot
    /// on a background thread, then compacts the log.
    fn snapshot(&mut self, reply: Option<Sender<Reply>>) {
        if self.snapshotting.swap(true, Ordering::SeqCst) {
            if let Some(r) = reply {
                let _ = r.send(Reply::error("ERR", SNAPSHOT_BUSY));
            }
            return;
        }
        let copy = self.shared.store.read().clone();
        let index = copy.applied_index();
        let conf = self.conf.clone();
        let shared = self.shared.clone();
        let busy = self.snapshotting.clone();
        let last_snapshot = self.last_snapshot.clone();
        let spawned = std::thread::Builder::new().name("raft-kv-snapshot".into()).spawn(move || {
            let t0 = std::time::Instant::now();
            let data = copy.encode_snapshot();
            let bytes = data.len();
            let outcome = shared.storage.create_snapshot(index, conf, data);
            let answer = match outcome {
                Ok(_) => {
                    last_snapshot.fetch_max(index, Ordering::SeqCst);
                    shared.metrics.snapshots.fetch_add(1, Ordering::Relaxed);
                    log::info!(
                        "node {} took a snapshot at {index} ({bytes} bytes, {} keys) in {:?} and compacted its log",
                        shared.cfg.id,
                        copy.len(),
                        t0.elapsed()
                    );
                    Reply::ok()
                }
                Err(e) => {
                    log::warn!("node {}: snapshot at {index} not taken: {e}", shared.cfg.id);
                    Reply::error("ERR", format!("snapshot at {index} not taken: {e}"))
                }
            };
            busy.store(false, Ordering::SeqCst);
            if let Some(r) = reply {
                let _ = r.send(answer);
            }
        });
        if let Err(e) = spawned {
            self.snapshotting.store(false, Ordering::SeqCst);
            log::error!("cannot start the snapshot thread: {e}");
        }
    }
}

/// Answers the membership requests in `awaiting` (see `Applier::awaiting_leave`)
/// once the applied configuration `conf` is simple.
fn answer_if_left_joint(
    conf: &ConfState,
    awaiting: &mut Vec<crate::command::ProposalId>,
    shared: &Shared,
) {
    if !conf.is_joint() {
        for id in awaiting.drain(..) {
            shared.complete_write(id, Reply::ok());
        }
    }
}
