//! The TCP transport.
//!
//! Every node listens on its peer address. To send to a peer, a node keeps one
//! outgoing connection per peer, owned by a sender thread fed by a bounded queue:
//! the consensus thread only ever `try_send`s, so a dead or slow peer never blocks
//! it (a full queue drops the message and counts it). The sender drains whatever
//! is queued and writes it with one `write` call. A new connection first sends
//! `Hello` (protocol version, cluster id, both node ids) and waits for the
//! acceptor's `HelloAck`; peers from another cluster or with unknown ids are
//! refused and logged. Failed connects back off exponentially up to a cap.
//! With [`PeerTls`] every connection is mutual TLS first, and the handshake
//! runs inside it.
//!
//! This module owns the transport's shared state and its public face;
//! [`outbound`] dials and writes, [`inbound`] accepts and reads, and
//! [`handshake`] decides whom to accept.

mod handshake;
mod inbound;
mod outbound;

pub use handshake::HandshakeError;
#[cfg(fuzzing)]
pub use inbound::fuzz_peer_stream;

use crate::mailbox::{MailSender, bounded};
use crate::snapshot_rx::prepare_spool_dir;
use crate::tls::PeerTls;
use crate::traffic::Traffic;
use crate::{Inbox, NetError, Transport, TransportStats};
use inbound::{LISTEN_TOKEN, WAKE_TOKEN, accept_loop};
use outbound::send_loop;
use parking_lot::{Mutex, RwLock};
use raft_core::{Message, NodeId};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The default [`TcpTransportConfig::compress_from`]: frames from 256 KiB,
/// i.e. bulk transfers (snapshot chunks, the up to 1 MiB appends that catch a
/// lagging follower up) but not the steady-state appends, where compression
/// cost CPU and gained no throughput in `scripts/bench-compare.sh`
/// (BENCHMARKS.md).
pub const DEFAULT_COMPRESS_FROM: usize = 256 << 10;

/// Tunables of a [`TcpTransport`].
#[derive(Clone, Debug)]
pub struct TcpTransportConfig {
    /// This node's id.
    pub id: NodeId,
    /// The cluster every peer must belong to.
    pub cluster_id: u64,
    /// The address to listen on for peers.
    pub listen: String,
    /// Largest frame accepted or sent (bytes).
    pub max_frame_bytes: u64,
    /// Messages queued per peer before new ones are dropped.
    pub queue_len: usize,
    /// First reconnect delay; doubles on each failure up to `max_backoff`.
    pub min_backoff: Duration,
    /// Cap of the reconnect delay.
    pub max_backoff: Duration,
    /// Connect, handshake and write timeout.
    pub io_timeout: Duration,
    /// Where incoming snapshot streams are spooled until complete and verified;
    /// `None` holds them in memory. Spool files left by a crash are removed at
    /// start.
    pub spool_dir: Option<PathBuf>,
    /// Mutual TLS with every peer; `None` is plain TCP (all members must agree).
    pub tls: Option<PeerTls>,
    /// Frames of at least this many bytes (large append batches, snapshot
    /// chunks) are sent LZ4-compressed to peers that read LZ4 (negotiated in
    /// the handshake), when that saves at least an eighth; `None` sends every
    /// frame plain. Every node reads compressed frames either way.
    pub compress_from: Option<usize>,
}

impl TcpTransportConfig {
    /// Defaults: 64 MiB frames, 4096 queued messages per peer, 50 ms to 2 s backoff.
    pub fn new(id: NodeId, cluster_id: u64, listen: impl Into<String>) -> Self {
        TcpTransportConfig {
            id,
            cluster_id,
            listen: listen.into(),
            max_frame_bytes: 64 << 20,
            queue_len: 4096,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            io_timeout: Duration::from_secs(3),
            spool_dir: None,
            tls: None,
            compress_from: Some(DEFAULT_COMPRESS_FROM),
        }
    }
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    refused: AtomicU64,
    compressed: AtomicU64,
    compression_saved: AtomicU64,
}

struct Shared {
    cfg: TcpTransportConfig,
    /// The cluster id in force; 0 until a joining node learns it.
    cluster_id: AtomicU64,
    /// Accept peers not in `peers` (a joining node that knows nobody yet).
    accept_unknown: AtomicBool,
    /// The peer address this node announces in its handshakes.
    advertise: String,
    /// The address outgoing peer connections start from: the listen address
    /// when it is a specific one, so each node shows one address to firewalls
    /// and to its peers.
    source_ip: Option<IpAddr>,
    peers: RwLock<HashMap<NodeId, String>>,
    counters: Counters,
    traffic: Traffic,
    stopping: AtomicBool,
}

struct PeerSender {
    queue: MailSender<Message>,
    thread: Option<JoinHandle<()>>,
}

/// A TCP transport; dropping it (or calling [`TcpTransport::shutdown`]) stops its
/// threads.
pub struct TcpTransport {
    shared: Arc<Shared>,
    senders: Mutex<HashMap<NodeId, PeerSender>>,
    listener: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the accept thread's poll (to stop it).
    accept_waker: mio::Waker,
    local_addr: SocketAddr,
}

impl TcpTransport {
    /// Binds the peer listener and starts accepting. `peers` maps every other
    /// member's id to its address; `inbox` receives every valid incoming message.
    pub fn start(
        cfg: TcpTransportConfig,
        peers: HashMap<NodeId, String>,
        inbox: Inbox,
    ) -> Result<Self, NetError> {
        if let Some(dir) = &cfg.spool_dir {
            prepare_spool_dir(dir).map_err(|source| NetError::Spool {
                dir: dir.display().to_string(),
                source,
            })?;
        }
        let listener = TcpListener::bind(&cfg.listen).map_err(|source| NetError::Bind {
            addr: cfg.listen.clone(),
            source,
        })?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let join = cfg.cluster_id == 0;
        let shared = Arc::new(Shared {
            cluster_id: AtomicU64::new(cfg.cluster_id),
            accept_unknown: AtomicBool::new(join),
            advertise: local_addr.to_string(),
            source_ip: Some(local_addr.ip()).filter(|ip| !ip.is_unspecified()),
            cfg,
            peers: RwLock::new(peers),
            counters: Counters::default(),
            traffic: Traffic::default(),
            stopping: AtomicBool::new(false),
        });
        let poll = mio::Poll::new()?;
        let accept_waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        poll.registry()
            .register(&mut listener, LISTEN_TOKEN, mio::Interest::READABLE)?;
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("raft-net-accept".into())
            .spawn(move || accept_loop(poll, &listener, &s, &inbox))?;
        log::info!("node {} listening for peers on {local_addr}", shared.cfg.id);
        Ok(TcpTransport {
            shared,
            senders: Mutex::new(HashMap::new()),
            listener: Mutex::new(Some(handle)),
            accept_waker,
            local_addr,
        })
    }

    /// The bound peer address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The cluster id (0 while a joining node has not been contacted yet).
    pub fn cluster_id(&self) -> u64 {
        self.shared.cluster_id.load(Ordering::SeqCst)
    }

    /// Stops accepting peers that are not in the address book (a joining node
    /// calls this once it knows its cluster's members).
    pub fn refuse_unknown_peers(&self) {
        self.shared.accept_unknown.store(false, Ordering::SeqCst);
    }

    /// Stops accepting, closes every connection and joins the threads.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let senders: Vec<PeerSender> = self.senders.lock().drain().map(|(_, s)| s).collect();
        for mut s in senders {
            drop(s.queue);
            if let Some(t) = s.thread.take() {
                let _ = t.join();
            }
        }
        if let Err(e) = self.accept_waker.wake() {
            log::error!("cannot wake the peer accept thread: {e}");
        }
        if let Some(t) = self.listener.lock().take() {
            let _ = t.join();
        }
    }

    fn sender_for(&self, to: NodeId) -> Option<MailSender<Message>> {
        let mut senders = self.senders.lock();
        if let Some(s) = senders.get(&to) {
            return Some(s.queue.clone());
        }
        if !self.shared.peers.read().contains_key(&to) {
            return None;
        }
        let (tx, rx) = bounded(self.shared.cfg.queue_len);
        let shared = self.shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("raft-net-send-{to}"))
            .spawn(move || send_loop(shared, to, rx))
            .ok()?;
        senders.insert(
            to,
            PeerSender {
                queue: tx.clone(),
                thread: Some(thread),
            },
        );
        Some(tx)
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Transport for TcpTransport {
    fn send(&self, msg: Message) {
        let c = &self.shared.counters;
        let Some(queue) = self.sender_for(msg.to) else {
            log::debug!(
                "node {} drops a message for unknown peer {}",
                self.shared.cfg.id,
                msg.to
            );
            c.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if queue.try_send(msg).is_err() {
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn set_peer(&self, id: NodeId, addr: String) {
        let changed = self
            .shared
            .peers
            .write()
            .insert(id, addr.clone())
            .is_some_and(|old| old != addr);
        if changed {
            self.remove_sender(id);
        }
    }

    fn remove_peer(&self, id: NodeId) {
        self.shared.peers.write().remove(&id);
        self.remove_sender(id);
    }

    fn cluster_id(&self) -> u64 {
        TcpTransport::cluster_id(self)
    }

    fn refuse_unknown_peers(&self) {
        TcpTransport::refuse_unknown_peers(self);
    }

    fn shutdown(&self) {
        TcpTransport::shutdown(self);
    }

    fn stats(&self) -> TransportStats {
        let c = &self.shared.counters;
        TransportStats {
            sent: c.sent.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            compressed_frames: c.compressed.load(Ordering::Relaxed),
            compression_saved_bytes: c.compression_saved.load(Ordering::Relaxed),
            peers: self.shared.traffic.totals(),
        }
    }
}

impl TcpTransport {
    fn remove_sender(&self, id: NodeId) {
        // Dropping the queue ends the sender thread after its current write.
        self.senders.lock().remove(&id);
    }
}

/// Makes a connection into a network partition fail within about `timeout`:
/// unacknowledged data aborts it (TCP_USER_TIMEOUT) and idle connections are
/// probed (keepalive), so the sender reconnects soon after the network heals
/// instead of waiting out TCP's retransmission backoff.
fn fail_fast_on_partition(stream: &TcpStream, timeout: Duration) -> std::io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(timeout)
        .with_interval(Duration::from_secs(1))
        .with_retries(3);
    sock.set_tcp_keepalive(&keepalive)?;
    #[cfg(target_os = "linux")]
    sock.set_tcp_user_timeout(Some(timeout))?;
    Ok(())
}
