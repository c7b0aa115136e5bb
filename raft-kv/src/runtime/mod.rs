//! The node runtime: start and shutdown of the threads that run one node.
//!
//! - `consensus`: the consensus thread, owner of the Raft node, its storage and
//!   its transport; `events`: the `Event` type (its one input
//!   channel) and what it hands the applier.
//! - `persist`: how a ready becomes durable; `log_writer`: the leader's log
//!   writer thread, which makes its entries durable while it replicates.
//! - `applier`: the applier thread, owner of the state machine's writes.
//! - `recovery`: the data dir's lock, storage and state machine at start.
//! - `requests`: the registry of pending writes and reads.
//! - `members`: member addresses and the `cluster` file.
//! - `bootstrap`: the `cluster` file at first start, and start-time ids.
//! - `handle`: [`NodeHandle`], what the server submits requests through.
//! - `pending`: [`PendingReply`], a reply that arrives later.
//! - `storage`: [`NodeStorage`], what a backend must offer.
//! - `lifecycle`: running, stopping, failed.
//! - `lock`: one process per data dir.
//! - `waiters`: the clients blocked on keys (BLPOP and the like).
//! - `scripts`: `EVAL` on the applier, and `SCRIPT KILL` decided by the log;
//!   `script_status`: what the client port sees of it; `script_cache`: the
//!   scripts this node knows by SHA1.
//! - `pubsub`: this node's subscriptions, and delivery to them in log order.
//! - `propose`: how a write is stamped and handed to the consensus thread;
//!   `clock`: the wall clock and the state machine version proposed at.
//!
//! [`Runtime::start`] takes any [`NodeStorage`] and any [`Transport`], so whole
//! nodes run in-process over `MemTransport` and `MemStorage` in tests; the
//! production composition (files, TCP, RESP, metrics) is `raft-kv-server`'s
//! `Node`.

mod applier;
mod bootstrap;
mod clock;
mod consensus;
mod events;
mod expiry_tick;
mod handle;
mod handover;
mod lifecycle;
mod lock;
mod log_writer;
mod members;
mod pending;
mod persist;
mod propose;
mod pubsub;
mod recovery;
mod requests;
mod script_cache;
mod script_status;
mod scripts;
mod storage;
mod waiters;

pub use bootstrap::{data_dir_initialized, random_u64, write_new_cluster_meta};
pub use clock::unix_ms_now;
pub use handle::{NodeHandle, PendingReply};
pub use lifecycle::StopRequest;
pub use members::AdminContext;
pub use pubsub::{Delivery, OutputLimit, PubSub, Subscriber};
pub use requests::{Notifier, ReplyNotify};
pub use script_cache::ScriptCache;
pub use script_status::RunningScript;
pub use storage::NodeStorage;
pub use waiters::{BlockTicket, Unblock};

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::metrics::Metrics;
use crate::status::NodeStatus;
use applier::{Applier, ApplierLinks};
use clock::ClusterVersion;
use consensus::{Consensus, ConsensusLinks, Event};
use crossbeam_channel::bounded;
use handle::HandleParts;
use lifecycle::Lifecycle;
use members::Members;
use parking_lot::{Mutex, RwLock};
use propose::Proposer;
use raft_core::{ConfState, Config, NodeId, RawNode};
use raft_kv_state::KvStore;
use raft_net::mailbox;
use raft_net::{Inbox, NetError, Transport};
use raft_storage::StoreError;
use requests::Requests;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a transport needs to start: the cluster it belongs to, the other
/// members' addresses, and where incoming messages go.
pub struct PeerSetup {
    /// This node's id.
    pub id: NodeId,
    /// The cluster id (0 for a joining node that has not been contacted).
    pub cluster_id: u64,
    /// Every other member's peer address.
    pub peers: HashMap<NodeId, String>,
    /// Receives every incoming message (never blocks: a full queue drops).
    pub inbox: Inbox,
}

/// The consensus thread's input queue bound.
const EVENT_QUEUE: usize = 65_536;

/// The threads of one running node. [`Runtime::shutdown`] stops it gracefully.
pub struct Runtime<S: NodeStorage> {
    /// Held until the runtime is dropped: one process per data dir.
    _lock: lock::DataDirLock,
    handle: NodeHandle,
    lifecycle: Arc<Lifecycle>,
    transport: Arc<dyn Transport>,
    storage: S,
    threads: Vec<JoinHandle<()>>,
    cfg: NodeConfig,
}

/// The shared pieces every thread of one node reaches.
struct Shared {
    status: Arc<Mutex<NodeStatus>>,
    lifecycle: Arc<Lifecycle>,
    metrics: Arc<Metrics>,
    members: Arc<Members>,
    requests: Arc<Requests>,
    store: Arc<RwLock<KvStore>>,
    waiters: Arc<waiters::Waiters>,
    script_status: Arc<script_status::ScriptStatus>,
    script_cache: Arc<ScriptCache>,
    pubsub: Arc<PubSub>,
    /// Submits writes: the handle's and the applier's scripts'.
    proposer: Proposer,
}

impl Shared {
    fn new(
        cfg: &NodeConfig,
        meta: &bootstrap::ClusterMeta,
        store: KvStore,
        transport: &Arc<dyn Transport>,
        events: mailbox::MailSender<Event>,
    ) -> Self {
        let status = Arc::new(Mutex::new(NodeStatus::starting(
            cfg.id,
            meta.cluster_id,
            meta.members.clone(),
        )));
        let version = Arc::new(ClusterVersion::default());
        version.learn(&store);
        let store = Arc::new(RwLock::new(store));
        let script_status = Arc::new(script_status::ScriptStatus::default());
        let lifecycle = Arc::new(Lifecycle::new(cfg.id));
        let requests = Arc::new(Requests::new(
            cfg.id,
            bootstrap::random_u64(),
            bootstrap::random_u64() >> 2,
        ));
        let members = Arc::new(Members::new(
            cfg.id,
            cfg.data_dir.clone(),
            meta.members.clone(),
            transport.clone(),
            status.clone(),
            cfg.tick * (10 * cfg.election_ticks as u32),
        ));
        Shared {
            status,
            proposer: Proposer {
                events,
                requests: requests.clone(),
                lifecycle: lifecycle.clone(),
                version,
                timeout: cfg.request_timeout,
            },
            lifecycle,
            metrics: Arc::new(Metrics::default()),
            members,
            requests,
            waiters: Arc::new(waiters::Waiters::new(store.clone(), script_status.clone())),
            store,
            script_status,
            script_cache: Arc::default(),
            pubsub: Arc::new(PubSub::new(cfg.pubsub_output_limit)),
        }
    }

    fn applier_links<S: NodeStorage>(&self, storage: S) -> ApplierLinks<S> {
        ApplierLinks {
            storage,
            store: self.store.clone(),
            requests: self.requests.clone(),
            members: self.members.clone(),
            lifecycle: self.lifecycle.clone(),
            metrics: self.metrics.clone(),
            waiters: self.waiters.clone(),
            events: self.proposer.events.clone(),
            scripts: scripts::ScriptRunner::new(
                self.proposer.clone(),
                self.script_status.clone(),
                self.script_cache.clone(),
            ),
            version: self.proposer.version.clone(),
            pubsub: self.pubsub.clone(),
        }
    }

    fn consensus_links(
        &self,
        apply_tx: mailbox::MailSender<consensus::ApplyMsg>,
    ) -> ConsensusLinks {
        ConsensusLinks {
            requests: self.requests.clone(),
            status: self.status.clone(),
            members: self.members.clone(),
            lifecycle: self.lifecycle.clone(),
            metrics: self.metrics.clone(),
            apply_tx,
            store: self.store.clone(),
            version: self.proposer.version.clone(),
        }
    }
}

impl<S: NodeStorage> Runtime<S> {
    /// Opens the data dir's cluster file, opens the storage (given the initial
    /// membership, for a new node) and the transport, and starts the consensus
    /// and applier threads.
    pub fn start(
        cfg: NodeConfig,
        open_storage: impl FnOnce(ConfState) -> Result<S, StoreError>,
        connect: impl FnOnce(PeerSetup) -> Result<Arc<dyn Transport>, NetError>,
    ) -> Result<Runtime<S>, NodeError> {
        cfg.validate()?;
        let rec = recovery::recover(&cfg, open_storage)?;
        let (events_tx, events_rx) = mailbox::bounded(EVENT_QUEUE);
        let inbox_tx = events_tx.clone();
        let inbox: Inbox = Arc::new(move |m| {
            // A full queue drops the message: Raft tolerates loss.
            let _ = inbox_tx.try_send(Event::Peer(m));
        });
        let peers = rec
            .meta
            .members
            .iter()
            .filter(|(id, _)| **id != cfg.id)
            .map(|(i, a)| (*i, a.clone()))
            .collect();
        let transport = connect(PeerSetup {
            id: cfg.id,
            cluster_id: rec.meta.cluster_id,
            peers,
            inbox,
        })?;
        let raw = RawNode::new(raft_config(&cfg, rec.snapshot_index), rec.storage.clone())?;
        let shared = Shared::new(&cfg, &rec.meta, rec.store, &transport, events_tx.clone());
        // Unbounded: the consensus thread must never block on the applier (the
        // applier itself sends apply progress back to the consensus thread).
        let (apply_tx, apply_rx) = mailbox::unbounded();
        let applier = Applier::new(
            cfg.id,
            cfg.snapshot_every,
            shared.applier_links(rec.storage.clone()),
            rec.conf.clone(),
            (rec.snapshot_index, rec.snapshot_bytes),
        );
        let links = shared.consensus_links(apply_tx.clone());
        // Two election timeouts for a removed follower to hear of the commit.
        let grace = cfg.tick * (2 * cfg.election_ticks as u32);
        let removal = members::RemovalWatch::new(cfg.id, &rec.conf, grace);
        let persistence = consensus::start_persistence(
            (cfg.id, cfg.leader_log_writer),
            rec.storage.clone(),
            shared.metrics.clone(),
            events_tx.clone(),
        )
        .map_err(NodeError::Thread)?;
        let mut consensus = Consensus::new(
            raw,
            persistence,
            transport.clone(),
            cfg.tick,
            links,
            removal,
        );
        consensus.learn_addresses_from_log()?;
        // The recovered configuration, before any request asks whether
        // this node is a member.
        consensus.publish_status();
        let threads = vec![
            spawn_applier(move || applier.run(apply_rx))?,
            spawn("raft-kv-consensus", move || consensus.run(events_rx))?,
        ];
        drop(events_tx);
        let handle = NodeHandle::new(HandleParts {
            cfg: cfg.clone(),
            proposer: shared.proposer,
            apply_tx,
            store: shared.store,
            waiters: shared.waiters,
            status: shared.status,
            members: shared.members,
            lifecycle: shared.lifecycle.clone(),
            metrics: shared.metrics,
            transport: transport.clone(),
            script_status: shared.script_status,
            script_cache: shared.script_cache,
            pubsub: shared.pubsub,
        });
        Ok(Runtime {
            _lock: rec.lock,
            handle,
            lifecycle: shared.lifecycle,
            transport,
            storage: rec.storage,
            threads,
            cfg,
        })
    }

    /// A handle for submitting requests.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// The fatal error that stopped the node, if any, as one line.
    pub fn fatal_error(&self) -> Option<String> {
        self.lifecycle.fatal_text()
    }

    /// Blocks until the node needs its owner: it failed, was removed, or
    /// [`StopRequest::request`] was called (from a signal handler thread, say).
    pub fn wait_until_stop_needed(&self) {
        self.lifecycle.wait_for_owner();
    }

    /// What wakes [`Runtime::wait_until_stop_needed`] from another thread.
    pub fn stop_request(&self) -> StopRequest {
        StopRequest::new(self.lifecycle.clone())
    }

    /// True if the node stopped itself after a fatal error.
    pub fn has_failed(&self) -> bool {
        self.lifecycle.has_failed()
    }

    /// True once the node learned it was removed from the cluster: it serves
    /// nothing more (`-SHUTDOWN`) and should be shut down.
    pub fn was_removed(&self) -> bool {
        self.lifecycle.was_removed()
    }

    /// Refuses new requests (`-SHUTDOWN`) from now on; [`Runtime::shutdown`]
    /// stops the threads.
    pub fn begin_stop(&self) {
        self.lifecycle.begin_stop();
    }

    /// If this node leads, transfers leadership to its most up-to-date voter and
    /// waits (up to two election timeouts) for the new leader.
    pub fn hand_over_leadership(&self) {
        let (tx, rx) = bounded(1);
        if !self.handle.send_event(
            Event::ShutdownTransfer { reply: tx },
            Duration::from_secs(1),
        ) {
            return;
        }
        let Ok(Some(target)) = rx.recv_timeout(Duration::from_secs(2)) else {
            return;
        };
        let deadline = Instant::now() + self.cfg.tick * (2 * self.cfg.election_ticks as u32);
        if self.handle.wait_for_leader(target, deadline) {
            log::info!("node {} handed leadership to node {target}", self.cfg.id);
        } else {
            log::warn!(
                "node {}: leadership transfer to {target} did not complete; stopping anyway",
                self.cfg.id
            );
        }
    }

    /// Stops gracefully: refuse new requests, answer waiting clients with
    /// `-SHUTDOWN`, stop the threads, make the hard state durable. The error is
    /// the fatal one that stopped the node earlier, if any.
    pub fn shutdown(mut self) -> Result<(), NodeError> {
        self.lifecycle.begin_stop();
        self.handle
            .send_event(Event::Shutdown, Duration::from_secs(5));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.handle.fail_all_requests();
        self.transport.shutdown();
        // After a fatal error the disk is not written again: a failed fsync
        // leaves its state unknown, and recovery relearns the commit index.
        if !self.lifecycle.has_failed() {
            self.storage.flush().map_err(|source| NodeError::Storage {
                dir: self.cfg.data_dir.display().to_string(),
                source,
            })?;
        }
        log::info!("node {} stopped", self.cfg.id);
        match self.lifecycle.take_fatal() {
            Some(e) => Err(NodeError::Fatal(e)),
            None => Ok(()),
        }
    }
}

/// The consensus core's configuration for a node that applied up to `applied`.
fn raft_config(cfg: &NodeConfig, applied: u64) -> Config {
    let mut rcfg = Config::new(cfg.id);
    rcfg.election_tick = cfg.election_ticks;
    rcfg.heartbeat_tick = cfg.heartbeat_ticks;
    rcfg.seed = bootstrap::random_u64();
    rcfg.applied = applied;
    // Followers learn a commit from the next append or heartbeat: a message
    // round per commit saved (BENCHMARKS.md, 2026-12-06 afternoon).
    rcfg.broadcast_commit = false;
    rcfg
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, NodeError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(NodeError::Thread)
}

/// The applier's stack: it runs every script, and a script may take the
/// script libraries as deep as they allow (`cjson` 1000 nested tables, as
/// Redis's does), on every replica at once, so the stack must hold that in
/// a debug build too. Only the pages used are ever resident.
const APPLIER_STACK: usize = 256 << 20;

fn spawn_applier(f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, NodeError> {
    std::thread::Builder::new()
        .name("raft-kv-apply".into())
        .stack_size(APPLIER_STACK)
        .spawn(f)
        .map_err(NodeError::Thread)
}
