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

use crate::applier::ApplyMsg;
use crate::command::{Command, Proposal, ProposalId, Reply};
use crate::config::NodeConfig;
use crate::consensus::Consensus;
use crate::store::KvStore;
use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::{Mutex, RwLock};
use raft_core::{ConfState, Config, Message, NodeId, RawNode, Storage};
use raft_net::{TcpTransport, TcpTransportConfig, Transport};
use raft_storage::{FileStorage, FileStorageOptions};
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
    pub(crate) fn execute(&self, store: &KvStore) -> Reply {
        match self {
            ReadCommand::Get(k) => Reply::Bulk(store.get(k).map(<[u8]>::to_vec)),
            ReadCommand::MGet(ks) => Reply::Array(
                ks.iter()
                    .map(|k| Reply::Bulk(store.get(k).map(<[u8]>::to_vec)))
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
    /// Outgoing voters while a joint configuration is in force (empty otherwise).
    pub voters_outgoing: Vec<NodeId>,
    /// Peer addresses of the members.
    pub members: BTreeMap<NodeId, String>,
    /// The cluster id.
    pub cluster_id: u64,
    /// Elections this node won since start.
    pub leader_elections: u64,
    /// Proposals accepted for replication since start.
    pub proposals: u64,
}

pub(crate) enum Event {
    Peer(Message),
    ConfChange {
        id: ProposalId,
        cc: raft_core::ConfChange,
    },
    Transfer {
        to: NodeId,
        reply: Sender<Reply>,
    },
    /// A leader stopping gracefully hands leadership to its most up-to-date voter.
    ShutdownTransfer {
        reply: Sender<Option<NodeId>>,
    },
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

/// A client waiting for the outcome of one write.
pub(crate) struct PendingWrite {
    /// Where the reply goes.
    pub(crate) reply: Sender<Reply>,
    /// True once the write was handed to Raft (appended as leader or forwarded):
    /// from then on a leader change leaves its outcome unknown. Before, it still
    /// waits for a leader and will be proposed.
    pub(crate) proposed: bool,
    /// A membership change keeps waiting through leader changes and is
    /// answered when C(new) is applied here, or at its deadline: removing the
    /// leader changes the leader as a matter of course.
    pub(crate) membership: bool,
}

pub(crate) struct Shared {
    pub(crate) cfg: NodeConfig,
    pub(crate) events: Sender<Event>,
    pub(crate) apply_tx: Sender<ApplyMsg>,
    pub(crate) storage: FileStorage,
    /// Peer addresses of every member known (persisted in the cluster file).
    pub(crate) members: Mutex<BTreeMap<NodeId, String>>,
    pub(crate) writes: Mutex<HashMap<ProposalId, PendingWrite>>,
    pub(crate) reads: Mutex<HashMap<u64, (ReadCommand, Sender<Reply>)>>,
    pub(crate) store: RwLock<KvStore>,
    pub(crate) status: Mutex<NodeStatus>,
    pub(crate) stopping: AtomicBool,
    nonce: u64,
    seq: AtomicU64,
    pub(crate) fatal: Mutex<Option<String>>,
    pub(crate) metrics: crate::metrics::Metrics,
    pub(crate) transport: Arc<TcpTransport>,
}

impl Shared {
    pub(crate) fn fail_all(&self, reply: Reply) {
        for (_, w) in self.writes.lock().drain() {
            let _ = w.reply.try_send(reply.clone());
        }
        for (_, (_, tx)) in self.reads.lock().drain() {
            let _ = tx.try_send(reply.clone());
        }
    }

    /// Answers every write already handed to Raft with `reply`, except
    /// membership changes (see [`PendingWrite::membership`]); writes still
    /// waiting for a leader keep waiting.
    pub(crate) fn fail_proposed_writes(&self, reply: Reply) {
        self.writes.lock().retain(|_, w| {
            let fail = w.proposed && !w.membership;
            if fail {
                let _ = w.reply.try_send(reply.clone());
            }
            !fail
        });
    }

    /// Marks write `id` as handed to Raft (see [`PendingWrite::proposed`]); false
    /// if its client no longer waits, in which case it must not be proposed.
    pub(crate) fn mark_proposed(&self, id: ProposalId) -> bool {
        match self.writes.lock().get_mut(&id) {
            Some(w) => {
                w.proposed = true;
                true
            }
            None => false,
        }
    }

    /// Answers the client waiting on proposal `id`, if any.
    pub(crate) fn complete_write(&self, id: ProposalId, reply: Reply) {
        if let Some(w) = self.writes.lock().remove(&id) {
            let _ = w.reply.try_send(reply);
        }
    }

    /// Serves read `request` from `store`, if a client still waits on it.
    pub(crate) fn complete_read(&self, request: u64, store: &KvStore) {
        if let Some((cmd, tx)) = self.reads.lock().remove(&request) {
            let _ = tx.try_send(cmd.execute(store));
        }
    }

    /// Learns member addresses: the transport can reach them and the cluster
    /// file remembers them across restarts.
    pub(crate) fn record_members(&self, members: &BTreeMap<NodeId, String>) {
        let mut known = self.members.lock();
        let mut changed = false;
        for (&id, addr) in members {
            if known.get(&id) != Some(addr) {
                known.insert(id, addr.clone());
                changed = true;
                if id != self.cfg.id {
                    self.transport.set_peer(id, addr.clone());
                }
            }
        }
        if !changed {
            return;
        }
        let meta = ClusterMeta {
            cluster_id: self.transport.cluster_id(),
            members: known.clone(),
        };
        self.status.lock().members = known.clone();
        if let Err(e) = write_meta(&self.cfg, &meta) {
            self.fail_fatal(format!("cannot record the cluster's members: {e}"));
        }
    }

    /// Stops the node after an unrecoverable error.
    pub(crate) fn fail_fatal(&self, why: String) {
        log::error!("node {}: {why}; stopping", self.cfg.id);
        *self.fatal.lock() = Some(why);
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// A reply that will arrive later; [`PendingReply::wait`] blocks for it.
pub struct PendingReply {
    inner: PendingInner,
}

enum PendingInner {
    Ready(Reply),
    Waiting {
        key: Registration,
        rx: Receiver<Reply>,
        deadline: Instant,
        shared: Arc<Shared>,
    },
}

/// Where a waiting request is registered, so that a timeout can unregister it.
enum Registration {
    Write(ProposalId),
    Read(u64),
}

impl PendingReply {
    /// A reply that is already known.
    pub fn ready(reply: Reply) -> Self {
        PendingReply {
            inner: PendingInner::Ready(reply),
        }
    }

    fn waiting(
        key: Registration,
        rx: Receiver<Reply>,
        deadline: Instant,
        shared: Arc<Shared>,
    ) -> Self {
        PendingReply {
            inner: PendingInner::Waiting {
                key,
                rx,
                deadline,
                shared,
            },
        }
    }

    /// Waits for the reply; `-TIMEOUT` if it does not come before the deadline.
    pub fn wait(self) -> Reply {
        let (key, rx, deadline, shared) = match self.inner {
            PendingInner::Ready(r) => return r,
            PendingInner::Waiting {
                key,
                rx,
                deadline,
                shared,
            } => (key, rx, deadline, shared),
        };
        if let Ok(r) = rx.recv_deadline(deadline) {
            return r;
        }
        match key {
            Registration::Write(id) => {
                // Removing the registration under the lock settles the race with
                // the consensus thread: a write not yet proposed never will be.
                let registration = shared.writes.lock().remove(&id);
                match registration {
                    Some(w) if !w.proposed => Reply::error(
                        "NOLEADER",
                        "no leader could be reached in time; the command was not proposed",
                    ),
                    // Answered just after the deadline: the answer stands.
                    None => rx.try_recv().unwrap_or_else(|_| write_timeout_reply()),
                    Some(_) => write_timeout_reply(),
                }
            }
            Registration::Read(id) => {
                shared.reads.lock().remove(&id);
                Reply::error(
                    "TIMEOUT",
                    "the read could not be confirmed by a quorum in time",
                )
            }
        }
    }
}

/// The answer to a client whose proposed write has no outcome by its deadline.
fn write_timeout_reply() -> Reply {
    Reply::error(
        "TIMEOUT",
        "the write was proposed but its outcome is unknown; it may still be applied",
    )
}

/// A cheap, cloneable handle for submitting requests to a running node.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
}

impl NodeHandle {
    /// Proposes a write; the reply comes once it is applied on this node.
    pub fn write(&self, command: Command) -> PendingReply {
        self.submit(false, |id, deadline| Event::Propose {
            id,
            data: Proposal { id, command }.encode(),
            deadline,
        })
    }

    /// Proposes a membership change; the reply (`+OK`) comes once the change is
    /// committed and applied here. `addr` is the peer address of a node being added.
    pub fn conf_change(
        &self,
        step: raft_core::ConfChangeStep,
        addr: Option<String>,
    ) -> PendingReply {
        use raft_core::ConfChangeStep::{AddLearner, AddVoter, Remove};
        let mut members = self.shared.members.lock().clone();
        match (step, addr) {
            (AddVoter(n) | AddLearner(n), Some(a)) => {
                members.insert(n, a);
            }
            (Remove(n), _) => {
                members.remove(&n);
            }
            _ => {}
        }
        self.submit(true, |id, _| {
            let context = crate::admin::AdminContext {
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

    /// Registers a proposal, hands `event(id)` to the consensus thread and
    /// returns the reply to wait for (`-NOLEADER` if it could not be handed over).
    fn submit(
        &self,
        membership: bool,
        event: impl FnOnce(ProposalId, Instant) -> Event,
    ) -> PendingReply {
        let s = &self.shared;
        if s.stopping.load(Ordering::SeqCst) {
            return PendingReply::ready(shutdown_reply());
        }
        let id = ProposalId {
            node: s.cfg.id,
            nonce: s.nonce,
            seq: s.seq.fetch_add(1, Ordering::Relaxed),
        };
        let (tx, rx) = bounded(1);
        s.writes.lock().insert(
            id,
            PendingWrite {
                reply: tx,
                proposed: false,
                membership,
            },
        );
        let deadline = Instant::now() + s.cfg.request_timeout;
        if s.events
            .send_deadline(event(id, deadline), deadline)
            .is_err()
        {
            s.writes.lock().remove(&id);
            return PendingReply::ready(Reply::error(
                "NOLEADER",
                "the node is overloaded; nothing was proposed",
            ));
        }
        PendingReply::waiting(Registration::Write(id), rx, deadline, s.clone())
    }

    /// Transfers leadership to `to` (on the leader); `+OK` once `to` leads.
    pub fn transfer(&self, to: NodeId) -> Reply {
        let s = &self.shared;
        let (tx, rx) = bounded(1);
        let deadline = Instant::now() + s.cfg.request_timeout;
        if s.events
            .send_deadline(Event::Transfer { to, reply: tx }, deadline)
            .is_err()
        {
            return Reply::error("NOLEADER", "the node is overloaded");
        }
        match rx.recv_deadline(deadline) {
            Ok(Reply::Simple(_)) => {}
            Ok(other) => return other,
            Err(_) => return Reply::error("TIMEOUT", "no answer from the consensus thread"),
        }
        while Instant::now() < deadline {
            if s.status.lock().leader_id == to {
                return Reply::ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Reply::error(
            "TIMEOUT",
            format!("node {to} did not become leader in time"),
        )
    }

    /// Takes a snapshot now and compacts the log; `+OK` when done. If one is
    /// already being taken, waits for it and takes a fresh one.
    pub fn snapshot(&self) -> Reply {
        let s = &self.shared;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let (tx, rx) = bounded(1);
            if s.apply_tx.send(ApplyMsg::SnapshotNow(tx)).is_err() {
                return shutdown_reply();
            }
            let reply = rx
                .recv_deadline(deadline)
                .unwrap_or_else(|_| Reply::error("TIMEOUT", "the snapshot did not finish in time"));
            let busy =
                matches!(&reply, Reply::Error(e) if e.contains(crate::applier::SNAPSHOT_BUSY));
            if !busy || Instant::now() >= deadline {
                return reply;
            }
            std::thread::sleep(Duration::from_millis(20));
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
        PendingReply::waiting(Registration::Read(id), rx, deadline, s.clone())
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

pub(crate) fn shutdown_reply() -> Reply {
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

fn write_meta(cfg: &NodeConfig, meta: &ClusterMeta) -> Result<(), raft_storage::StoreError> {
    let bytes =
        postcard::to_stdvec(meta).map_err(|e| raft_storage::StoreError::Invalid(e.to_string()))?;
    raft_storage::atomic_file::write(&cfg.data_dir.join("cluster"), &bytes)
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
        // The cluster id is learned from the first member that contacts us.
        let meta = ClusterMeta {
            cluster_id: 0,
            members: cfg.initial_cluster.clone(),
        };
        write_meta(cfg, &meta).map_err(storage_err)?;
        log::info!("node {} waits to be added to a cluster (--join)", cfg.id);
        return Ok(meta);
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
    write_meta(cfg, &meta).map_err(storage_err)?;
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
        let dir = cfg.data_dir.display().to_string();
        // A new node bootstraps with the initial voters; a joining node starts with
        // no membership at all and learns it from the leader's log.
        let initial_conf = if meta.cluster_id == 0 {
            ConfState::default()
        } else {
            ConfState::with_voters(meta.members.keys().copied())
        };
        let storage = FileStorage::open(
            &cfg.data_dir.join("raft"),
            initial_conf,
            FileStorageOptions::default(),
        )
        .map_err(|source| NodeError::Storage {
            dir: dir.clone(),
            source,
        })?;
        let snapshot = storage
            .snapshot(0)
            .map_err(|e| NodeError::Fatal(format!("cannot read the snapshot: {e}")))?;
        let mut store =
            KvStore::decode_snapshot(&snapshot.data).map_err(|reason| NodeError::Storage {
                dir: dir.clone(),
                source: raft_storage::StoreError::Corrupt {
                    path: cfg.data_dir.join("raft").join("snapshot"),
                    offset: 0,
                    reason,
                },
            })?;
        store.set_applied_index(snapshot.meta.index);
        if snapshot.meta.index == 0 && meta.cluster_id != 0 {
            store.set_members(&meta.members); // the bootstrap members
        }
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
        let mut net_cfg = TcpTransportConfig::new(cfg.id, meta.cluster_id, cfg.listen_peer.clone());
        net_cfg.spool_dir = Some(cfg.data_dir.join("incoming-snapshots"));
        let transport = Arc::new(TcpTransport::start(net_cfg, peers, inbox)?);
        let peer_addr = transport.local_addr();

        let mut rcfg = Config::new(cfg.id);
        rcfg.election_tick = cfg.election_ticks;
        rcfg.heartbeat_tick = cfg.heartbeat_ticks;
        rcfg.seed = random_nonce();
        rcfg.applied = snapshot.meta.index;
        let raw = RawNode::new(rcfg, storage.clone())?;
        let base_conf = storage
            .initial_state()
            .map_err(|e| NodeError::Fatal(format!("cannot read the membership: {e}")))?
            .1;

        let status = NodeStatus {
            id: cfg.id,
            cluster_id: meta.cluster_id,
            members: meta.members.clone(),
            ..NodeStatus::default()
        };
        // Unbounded: the consensus thread must never block on the applier (the applier
        // itself sends apply progress back to the consensus thread).
        let (apply_tx, apply_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            events: events_tx,
            apply_tx: apply_tx.clone(),
            storage: storage.clone(),
            members: Mutex::new(meta.members.clone()),
            writes: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
            store: RwLock::new(store),
            status: Mutex::new(status),
            stopping: AtomicBool::new(false),
            nonce: random_nonce(),
            // Read request ids travel to the leader and back; starting at a random
            // point keeps an answer meant for a previous incarnation of this node
            // from ever matching a new request.
            seq: AtomicU64::new(random_nonce() >> 2),
            fatal: Mutex::new(None),
            metrics: crate::metrics::Metrics::default(),
            transport: transport.clone(),
        });
        let mut threads = Vec::new();
        let applier = crate::applier::Applier::new(shared.clone(), base_conf, snapshot.meta.index);
        threads.push(
            std::thread::Builder::new()
                .name("raft-kv-apply".into())
                .spawn(move || applier.run(apply_rx))
                .map_err(NodeError::Thread)?,
        );
        let mut consensus = Consensus::new(
            raw,
            storage.clone(),
            transport.clone(),
            shared.clone(),
            apply_tx,
        );
        consensus.learn_addresses_from_log();
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

    /// If this node leads, transfers leadership to its most up-to-date voter and
    /// waits (up to two election timeouts) for the new leader.
    fn hand_over_leadership(&self) {
        let (tx, rx) = bounded(1);
        if self
            .shared
            .events
            .send_timeout(
                Event::ShutdownTransfer { reply: tx },
                Duration::from_secs(1),
            )
            .is_err()
        {
            return;
        }
        let Ok(Some(target)) = rx.recv_timeout(Duration::from_secs(2)) else {
            return;
        };
        let cfg = &self.shared.cfg;
        let deadline = Instant::now() + cfg.tick * (2 * cfg.election_ticks as u32);
        while Instant::now() < deadline {
            if self.shared.status.lock().leader_id == target {
                log::info!("node {} handed leadership to node {target}", cfg.id);
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        log::warn!(
            "node {}: leadership transfer to {target} did not complete; stopping anyway",
            cfg.id
        );
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
        self.hand_over_leadership();
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

/// True if `dir` holds a node's state.
pub fn data_dir_initialized(dir: &Path) -> bool {
    dir.join("cluster").exists()
}
