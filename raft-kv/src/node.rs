//! The node runtime: one consensus thread that owns the Raft node and its log,
//! one applier thread that owns the state machine, a TCP transport for peers and
//! a RESP server for clients.
//!
//! The consensus thread waits for events (peer messages, client proposals and
//! reads, apply progress, ticks) and drains everything waiting before it builds
//! one `Ready`, so that many client writes share one append and one fsync (group
//! commit). It sends a leader's appends before its own fsync (the leader counts
//! itself only once persisted), persists, sends the answers that promise
//! durability. Committed entries and safe reads go to the applier before the
//! fsync (they are durable on a quorum already); it applies them in log order and
//! answers the waiting clients.

use crate::command::{Command, Proposal, ProposalId, Reply};
use crate::config::NodeConfig;
use crate::store::KvStore;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use parking_lot::{Mutex, RwLock};
use raft_core::{ConfState, Config, EntryPayload, Message, NodeId, RawNode, ReadState, Role};
use raft_net::{TcpTransport, TcpTransportConfig, Transport};
use raft_storage::{FileStorage, FileStorageOptions, HardStateStore, LogStore};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data directory cannot be trusted or used.
    #[error("data directory {dir}: {source}")]
    Storage {
        /// The directory.
        dir: String,
        /// What failed.
        source: raft_storage::StoreError,
    },
    /// A listen address could not be bound.
    #[error(transparent)]
    Net(#[from] raft_net::NetError),
    /// The client port could not be bound.
    #[error("cannot listen for clients on {addr}: {source}")]
    ClientBind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics port could not be bound.
    #[error("cannot listen for metrics on {addr}: {source}")]
    MetricsBind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The consensus core refused to start.
    #[error("raft: {0}")]
    Raft(#[from] raft_core::Error),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// A fatal error while running (the message says what failed).
    #[error("fatal: {0}")]
    Fatal(String),
}

/// What the cluster metadata file holds: the cluster id and the peers' addresses.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ClusterMeta {
    cluster_id: u64,
    members: BTreeMap<NodeId, String>,
}

/// A read executed against the state machine.
#[derive(Clone, Debug)]
pub enum ReadCommand {
    /// GET key.
    Get(Vec<u8>),
    /// MGET key [key ...].
    MGet(Vec<Vec<u8>>),
    /// EXISTS key [key ...].
    Exists(Vec<Vec<u8>>),
    /// DBSIZE.
    DbSize,
}

impl ReadCommand {
    fn execute(&self, store: &KvStore) -> Reply {
        match self {
            ReadCommand::Get(k) => Reply::Bulk(store.get(k).cloned()),
            ReadCommand::MGet(ks) => Reply::Array(
                ks.iter()
                    .map(|k| Reply::Bulk(store.get(k).cloned()))
                    .collect(),
            ),
            ReadCommand::Exists(ks) => {
                Reply::Int(ks.iter().filter(|k| store.get(k).is_some()).count() as i64)
            }
            ReadCommand::DbSize => Reply::Int(store.len() as i64),
        }
    }
}

/// A point-in-time view of the node for `INFO`, `status` and metrics.
#[derive(Clone, Debug, Default)]
pub struct NodeStatus {
    /// Node id.
    pub id: NodeId,
    /// `leader`, `follower`, `candidate` or `precandidate`.
    pub role: String,
    /// Current term.
    pub term: u64,
    /// Known leader (0 if none).
    pub leader_id: NodeId,
    /// Commit index.
    pub commit_index: u64,
    /// Applied index.
    pub applied_index: u64,
    /// Last log index.
    pub last_index: u64,
    /// Voters.
    pub voters: Vec<NodeId>,
    /// Learners.
    pub learners: Vec<NodeId>,
    /// Peer addresses of the members.
    pub members: BTreeMap<NodeId, String>,
    /// The cluster id.
    pub cluster_id: u64,
    /// Elections this node won since start.
    pub leader_elections: u64,
    /// Proposals accepted for replication since start.
    pub proposals: u64,
}

enum Event {
    Peer(Message),
    Propose {
        id: ProposalId,
        data: Vec<u8>,
        deadline: Instant,
    },
    Read {
        id: u64,
        deadline: Instant,
    },
    Applied(u64),
    Shutdown,
}

enum ApplyMsg {
    Entries(Vec<raft_core::Entry>),
    Reads(Vec<ReadState>),
}

struct Shared {
    cfg: NodeConfig,
    events: Sender<Event>,
    writes: Mutex<HashMap<ProposalId, Sender<Reply>>>,
    reads: Mutex<HashMap<u64, (ReadCommand, Sender<Reply>)>>,
    store: RwLock<KvStore>,
    status: Mutex<NodeStatus>,
    stopping: AtomicBool,
    nonce: u64,
    seq: AtomicU64,
    fatal: Mutex<Option<String>>,
    metrics: crate::metrics::Metrics,
    transport: Arc<TcpTransport>,
}

impl Shared {
    fn fail_all(&self, reply: Reply) {
        for (_, tx) in self.writes.lock().drain() {
            let _ = tx.try_send(reply.clone());
        }
        for (_, (_, tx)) in self.reads.lock().drain() {
            let _ = tx.try_send(reply.clone());
        }
    }

    fn fail_writes(&self, reply: Reply) {
        for (_, tx) in self.writes.lock().drain() {
            let _ = tx.try_send(reply.clone());
        }
    }
}

/// A reply that will arrive later; [`PendingReply::wait`] blocks for it.
pub struct PendingReply {
    inner: PendingInner,
}

enum PendingInner {
    Ready(Reply),
    Write {
        id: ProposalId,
        rx: Receiver<Reply>,
        deadline: Instant,
        shared: Arc<Shared>,
    },
    Read {
        id: u64,
        rx: Receiver<Reply>,
        deadline: Instant,
        shared: Arc<Shared>,
    },
}

impl PendingReply {
    /// A reply that is already known.
    pub fn ready(reply: Reply) -> Self {
        PendingReply {
            inner: PendingInner::Ready(reply),
        }
    }

    /// Waits for the reply; `-TIMEOUT` if it does not come before the deadline.
    pub fn wait(self) -> Reply {
        match self.inner {
            PendingInner::Ready(r) => r,
            PendingInner::Write {
                id,
                rx,
                deadline,
                shared,
            } => match rx.recv_deadline(deadline) {
                Ok(r) => r,
                Err(_) => {
                    shared.writes.lock().remove(&id);
                    Reply::error(
                        "TIMEOUT",
                        "the write was proposed but its outcome is unknown; it may still be applied",
                    )
                }
            },
            PendingInner::Read {
                id,
                rx,
                deadline,
                shared,
            } => match rx.recv_deadline(deadline) {
                Ok(r) => r,
                Err(_) => {
                    shared.reads.lock().remove(&id);
                    Reply::error(
                        "TIMEOUT",
                        "the read could not be confirmed by a quorum in time",
                    )
                }
            },
        }
    }
}

/// A cheap, cloneable handle for submitting requests to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
}

impl NodeHandle {
    /// Proposes a write; the reply comes once it is applied on this node.
    pub fn write(&self, command: Command) -> PendingReply {
        let s = &self.shared;
        if s.stopping.load(Ordering::SeqCst) {
            return PendingReply::ready(shutdown_reply());
        }
        let id = ProposalId {
            node: s.cfg.id,
            nonce: s.nonce,
            seq: s.seq.fetch_add(1, Ordering::Relaxed),
        };
        let data = Proposal { id, command }.encode();
        let (tx, rx) = bounded(1);
        s.writes.lock().insert(id, tx);
        let deadline = Instant::now() + s.cfg.request_timeout;
        if s.events
            .send_deadline(Event::Propose { id, data, deadline }, deadline)
            .is_err()
        {
            s.writes.lock().remove(&id);
            return PendingReply::ready(Reply::error(
                "NOLEADER",
                "the node is overloaded; the command was not proposed",
            ));
        }
        PendingReply {
            inner: PendingInner::Write {
                id,
                rx,
                deadline,
                shared: s.clone(),
            },
        }
    }

    /// A linearizable read (ReadIndex); the reply comes once it is safe.
    pub fn read(&self, command: ReadCommand) -> PendingReply {
        let s = &self.shared;
        if s.stopping.load(Ordering::SeqCst) {
            return PendingReply::ready(shutdown_reply());
        }
        let id = s.seq.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = bounded(1);
        s.reads.lock().insert(id, (command, tx));
        let deadline = Instant::now() + s.cfg.request_timeout;
        if s.events
            .send_deadline(Event::Read { id, deadline }, deadline)
            .is_err()
        {
            s.reads.lock().remove(&id);
            return PendingReply::ready(Reply::error("NOLEADER", "the node is overloaded"));
        }
        PendingReply {
            inner: PendingInner::Read {
                id,
                rx,
                deadline,
                shared: s.clone(),
            },
        }
    }

    /// A read of this node's applied state, possibly stale.
    pub fn stale_read(&self, command: &ReadCommand) -> Reply {
        command.execute(&self.shared.store.read())
    }

    /// The node's current status.
    pub fn status(&self) -> NodeStatus {
        self.shared.status.lock().clone()
    }

    /// True once a graceful stop has begun.
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// The runtime's counters and histograms.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.shared.metrics
    }

    /// The peer transport's counters.
    pub fn transport_stats(&self) -> raft_net::TransportStats {
        self.shared.transport.stats()
    }

    /// Client request limits.
    pub fn config(&self) -> &NodeConfig {
        &self.shared.cfg
    }
}

fn shutdown_reply() -> Reply {
    Reply::error("SHUTDOWN", "the node is stopping")
}

/// A running node. [`Node::shutdown`] stops it gracefully.
pub struct Node {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    transport: Arc<TcpTransport>,
    storage: FileStorage,
    client_addr: std::net::SocketAddr,
    peer_addr: std::net::SocketAddr,
    server: Option<crate::server::ServerHandle>,
}

/// FNV-1a of the sorted initial membership: every node bootstrapped with the
/// same `--initial-cluster` derives the same cluster id.
fn cluster_id_of(members: &BTreeMap<NodeId, String>) -> u64 {
    let text: String = members.iter().map(|(id, a)| format!("{id}={a},")).collect();
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn load_or_create_meta(cfg: &NodeConfig) -> Result<ClusterMeta, NodeError> {
    let path = cfg.data_dir.join("cluster");
    let storage_err = |source| NodeError::Storage {
        dir: cfg.data_dir.display().to_string(),
        source,
    };
    if let Some(bytes) = raft_storage::atomic_file::read(&path).map_err(storage_err)? {
        let meta: ClusterMeta = postcard::from_bytes(&bytes).map_err(|e| {
            storage_err(raft_storage::StoreError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: e.to_string(),
            })
        })?;
        return Ok(meta);
    }
    if cfg.join {
        return Err(NodeError::Config(
            "--join needs runtime membership changes (RAFT.ADDNODE), which this build does not support yet".into(),
        ));
    }
    if cfg.data_dir.join("raft").exists() {
        return Err(NodeError::Config(format!(
            "{} holds Raft state but no cluster file; refusing to guess its cluster",
            cfg.data_dir.display()
        )));
    }
    let meta = ClusterMeta {
        cluster_id: cluster_id_of(&cfg.initial_cluster),
        members: cfg.initial_cluster.clone(),
    };
    let bytes = postcard::to_stdvec(&meta).map_err(|e| NodeError::Fatal(e.to_string()))?;
    raft_storage::atomic_file::write(&path, &bytes).map_err(storage_err)?;
    log::info!(
        "node {} bootstraps cluster {:#018x} with members {:?}",
        cfg.id,
        meta.cluster_id,
        meta.members
    );
    Ok(meta)
}

fn random_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl Node {
    /// Opens the data dir, binds both ports and starts every thread. Errors are
    /// ready to show to a user as one line.
    pub fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        cfg.validate().map_err(NodeError::Config)?;
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| NodeError::Storage {
            dir: cfg.data_dir.display().to_string(),
            source: raft_storage::StoreError::io(&cfg.data_dir, e),
        })?;
        let meta = load_or_create_meta(&cfg)?;
        let voters = ConfState::with_voters(meta.members.keys().copied());
        let storage = FileStorage::open(
            &cfg.data_dir.join("raft"),
            voters,
            FileStorageOptions::default(),
        )
        .map_err(|source| NodeError::Storage {
            dir: cfg.data_dir.display().to_string(),
            source,
        })?;
        let client_listener =
            TcpListener::bind(&cfg.listen_client).map_err(|source| NodeError::ClientBind {
                addr: cfg.listen_client.clone(),
                source,
            })?;
        let client_addr = client_listener
            .local_addr()
            .map_err(|source| NodeError::ClientBind {
                addr: cfg.listen_client.clone(),
                source,
            })?;

        let (events_tx, events_rx) = bounded(65_536);
        let peers: HashMap<NodeId, String> = meta
            .members
            .iter()
            .filter(|(id, _)| **id != cfg.id)
            .map(|(i, a)| (*i, a.clone()))
            .collect();
        let inbox_tx = events_tx.clone();
        let inbox: raft_net::Inbox = Arc::new(move |m| {
            // A full queue drops the message: Raft tolerates loss.
            let _ = inbox_tx.try_send(Event::Peer(m));
        });
        let transport = Arc::new(TcpTransport::start(
            TcpTransportConfig::new(cfg.id, meta.cluster_id, cfg.listen_peer.clone()),
            peers,
            inbox,
        )?);
        let peer_addr = transport.local_addr();

        let mut rcfg = Config::new(cfg.id);
        rcfg.election_tick = cfg.election_ticks;
        rcfg.heartbeat_tick = cfg.heartbeat_ticks;
        rcfg.seed = random_nonce();
        let raw = RawNode::new(rcfg, storage.clone())?;

        let status = NodeStatus {
            id: cfg.id,
            cluster_id: meta.cluster_id,
            members: meta.members.clone(),
            ..NodeStatus::default()
        };
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            events: events_tx,
            writes: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
            store: RwLock::new(KvStore::new()),
            status: Mutex::new(status),
            stopping: AtomicBool::new(false),
            nonce: random_nonce(),
            seq: AtomicU64::new(1),
            fatal: Mutex::new(None),
            metrics: crate::metrics::Metrics::default(),
            transport: transport.clone(),
        });
        // Unbounded: the consensus thread must never block on the applier (the applier
        // itself sends apply progress back to the consensus thread).
        let (apply_tx, apply_rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("raft-kv-apply".into())
                .spawn(move || apply_loop(s, apply_rx))
                .map_err(NodeError::Thread)?,
        );
        let consensus = Consensus {
            raw,
            storage: storage.clone(),
            transport: transport.clone(),
            shared: shared.clone(),
            apply_tx,
            waiting: Vec::new(),
            was_leader: false,
            known_leader: None,
        };
        threads.push(
            std::thread::Builder::new()
                .name("raft-kv-consensus".into())
                .spawn(move || consensus.run(events_rx))
                .map_err(NodeError::Thread)?,
        );
        let handle = NodeHandle {
            shared: shared.clone(),
        };
        if let Some(addr) = &cfg.metrics {
            let listener = TcpListener::bind(addr).map_err(|source| NodeError::MetricsBind {
                addr: addr.clone(),
                source,
            })?;
            threads
                .push(crate::metrics::serve(listener, handle.clone()).map_err(NodeError::Thread)?);
            log::info!("node {} serving metrics on {addr}", cfg.id);
        }
        let server = crate::server::serve(client_listener, handle).map_err(NodeError::Thread)?;
        log::info!(
            "node {} serving clients on {client_addr}, peers on {peer_addr}",
            cfg.id
        );
        Ok(Node {
            shared,
            threads,
            transport,
            storage,
            client_addr,
            peer_addr,
            server: Some(server),
        })
    }

    /// A handle for submitting requests in-process.
    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            shared: self.shared.clone(),
        }
    }

    /// The bound client address.
    pub fn client_addr(&self) -> std::net::SocketAddr {
        self.client_addr
    }

    /// The bound peer address.
    pub fn peer_addr(&self) -> std::net::SocketAddr {
        self.peer_addr
    }

    /// The fatal error that stopped the node, if any.
    pub fn fatal_error(&self) -> Option<String> {
        self.shared.fatal.lock().clone()
    }

    /// True if the node stopped itself after a fatal error.
    pub fn has_failed(&self) -> bool {
        self.shared.fatal.lock().is_some()
    }

    /// Stops gracefully: refuse new requests, answer waiting clients with
    /// `-SHUTDOWN`, stop the threads, make the hard state durable.
    pub fn shutdown(mut self) -> Result<(), NodeError> {
        log::info!("node {} stopping", self.shared.cfg.id);
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(server) = self.server.take() {
            server.stop();
        }
        let _ = self
            .shared
            .events
            .send_timeout(Event::Shutdown, Duration::from_secs(5));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shared.fail_all(shutdown_reply());
        self.transport.shutdown();
        self.storage
            .flush_hard_state()
            .map_err(|source| NodeError::Storage {
                dir: self.shared.cfg.data_dir.display().to_string(),
                source,
            })?;
        log::info!("node {} stopped", self.shared.cfg.id);
        match self.fatal_error() {
            Some(e) => Err(NodeError::Fatal(e)),
            None => Ok(()),
        }
    }
}

struct Consensus {
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
    fn run(mut self, events: Receiver<Event>) {
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
                }
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
    }

    fn propose(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if self.raw.raft().leader_id().is_none() {
            self.waiting.extend(events);
            return;
        }
        let mut data = Vec::with_capacity(events.len());
        let mut ids = Vec::with_capacity(events.len());
        for ev in events {
            if let Event::Propose { id, data: d, .. } = ev {
                ids.push(id);
                data.push(d);
            }
        }
        let n = data.len() as u64;
        match self.raw.propose_batch(data) {
            Ok(()) => self.shared.status.lock().proposals += n,
            Err(e) => {
                let reply = Reply::error("NOLEADER", format!("the command was not proposed: {e}"));
                let mut writes = self.shared.writes.lock();
                for id in ids {
                    if let Some(tx) = writes.remove(&id) {
                        let _ = tx.try_send(reply.clone());
                    }
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
                Event::Propose { id, .. } => {
                    if let Some(tx) = self.shared.writes.lock().remove(&id) {
                        let _ = tx.try_send(reply.clone());
                    }
                }
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
                    "node {id}: leader changed from {:?} to {:?}; pending writes get -TIMEOUT",
                    self.known_leader,
                    ss.leader_id
                );
                self.shared.fail_writes(Reply::error(
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
        for m in rd.messages {
            self.transport.send(m);
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
        if let Some(snap) = rd.snapshot {
            // Snapshots arrive only from a leader that compacted its log; this
            // build never compacts, so receiving one means a peer runs a newer build.
            return Err(format!(
                "received a snapshot at index {}, which this build cannot install",
                snap.meta.index
            ));
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
    }
}

fn apply_loop(shared: Arc<Shared>, rx: Receiver<ApplyMsg>) {
    for msg in rx {
        match msg {
            ApplyMsg::Entries(entries) => {
                let Some(last) = entries.last().map(|e| e.index) else {
                    continue;
                };
                {
                    let mut store = shared.store.write();
                    for e in &entries {
                        if let EntryPayload::Normal(data) = &e.payload {
                            match Proposal::decode(data) {
                                Some(p) => {
                                    let reply = store.apply(&p.command);
                                    if p.id.node == shared.cfg.id
                                        && let Some(tx) = shared.writes.lock().remove(&p.id)
                                    {
                                        let _ = tx.try_send(reply);
                                    }
                                }
                                None => log::error!(
                                    "entry {} does not hold a KV command; skipped",
                                    e.index
                                ),
                            }
                        }
                        store.set_applied_index(e.index);
                    }
                }
                shared
                    .metrics
                    .entries_applied
                    .fetch_add(entries.len() as u64, Ordering::Relaxed);
                let _ = shared.events.send(Event::Applied(last));
            }
            ApplyMsg::Reads(states) => {
                let store = shared.store.read();
                let mut reads = shared.reads.lock();
                for rs in states {
                    if let Some((cmd, tx)) = reads.remove(&rs.request) {
                        let _ = tx.try_send(cmd.execute(&store));
                    }
                }
            }
        }
    }
}

/// True if `dir` holds a node's state.
pub fn data_dir_initialized(dir: &Path) -> bool {
    dir.join("cluster").exists()
}
