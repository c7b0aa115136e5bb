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

use crate::frame::{
    AckExtras, Frame, LENGTH_PREFIX_BYTES, PROTOCOL_VERSION, SnapshotChunk, encode_accept_into,
    encode_compressed_into, encode_into, read_frame, read_frame_with_extras, write_frame,
};
use crate::mailbox::{MailReceiver, MailSender, bounded};
use crate::snapshot_rx::{SnapshotReceiver, prepare_spool_dir};
use crate::tls::{Conn, PeerTls};
use crate::traffic::{PeerBytes, Traffic};
use crate::{Inbox, NetError, Transport, TransportStats};
use parking_lot::{Mutex, RwLock};
use raft_core::{Message, MessageBody, NodeId};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// Connects to `to` and completes the handshake; also says whether the peer
/// reads LZ4 frames.
fn connect(shared: &Shared, to: NodeId) -> Result<(Conn, bool), NetError> {
    let addr = shared
        .peers
        .read()
        .get(&to)
        .cloned()
        .ok_or_else(|| NetError::Handshake(format!("no address for node {to}")))?;
    let timeout = shared.cfg.io_timeout;
    let sock = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| NetError::Handshake(format!("address {addr} resolves to nothing")))?;
    let tcp = connect_from(shared.source_ip, sock, timeout)?;
    tcp.set_nodelay(true)?;
    fail_fast_on_partition(&tcp, timeout)?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_read_timeout(Some(timeout))?;
    let mut stream = match &shared.cfg.tls {
        Some(tls) => tls.connect(&addr, tcp)?,
        None => Conn::Plain(tcp),
    };
    stream
        .complete_handshake()
        .map_err(|e| NetError::Handshake(format!("TLS with node {to} at {addr}: {e}")))?;
    let hello = Frame::Hello {
        version: PROTOCOL_VERSION,
        cluster_id: shared.cluster_id.load(Ordering::SeqCst),
        from: shared.cfg.id,
        to,
        addr: shared.advertise.clone(),
    };
    write_frame(&mut stream, &hello)?;
    match read_frame_with_extras(&mut stream, 64 << 10, &mut Vec::new())? {
        Some((Frame::HelloAck(None), extras)) => {
            Ok((stream, extras.is_some_and(|e: AckExtras| e.lz4)))
        }
        Some((Frame::HelloAck(Some(reason)), _)) => Err(NetError::Handshake(format!(
            "node {to} at {addr} refused: {reason}"
        ))),
        other => Err(NetError::Handshake(format!(
            "node {to} at {addr} answered {other:?}"
        ))),
    }
}

/// Connects to `to`, from `source` when it is given and can reach `to` (a
/// loopback source cannot reach another host, nor an IPv4 one an IPv6 peer).
fn connect_from(
    source: Option<IpAddr>,
    to: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let source = source
        .filter(|ip| ip.is_ipv4() == to.is_ipv4() && ip.is_loopback() == to.ip().is_loopback());
    let Some(ip) = source else {
        return TcpStream::connect_timeout(&to, timeout);
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    socket.connect_timeout(&to.into(), timeout)?;
    Ok(socket.into())
}

/// Snapshot data is streamed in chunks of this size.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

/// A large `InstallSnapshot` being streamed to one peer.
struct SnapshotStream {
    header: Message,
    data: Vec<u8>,
    offset: usize,
    crc: u32,
    id: u64,
}

impl SnapshotStream {
    /// True for an `InstallSnapshot` large enough to be streamed in chunks.
    fn wanted_for(m: &Message) -> bool {
        matches!(&m.body, MessageBody::InstallSnapshot { snapshot } if snapshot.data.len() > SNAPSHOT_CHUNK_BYTES)
    }

    /// Takes the snapshot data out of `m` (an `InstallSnapshot`).
    fn start(mut m: Message) -> SnapshotStream {
        let (data, id) = match &mut m.body {
            MessageBody::InstallSnapshot { snapshot } => {
                (std::mem::take(&mut snapshot.data), snapshot.meta.index)
            }
            _ => (Vec::new(), 0),
        };
        SnapshotStream {
            crc: crc32c::crc32c(&data),
            header: m,
            data,
            offset: 0,
            id,
        }
    }

    /// The next chunk frame; None when everything was sent.
    fn next_frame(&mut self) -> Option<Frame> {
        if self.offset >= self.data.len() {
            return None;
        }
        let end = (self.offset + SNAPSHOT_CHUNK_BYTES).min(self.data.len());
        let frame = Frame::SnapshotChunk(SnapshotChunk {
            id: self.id,
            offset: self.offset as u64,
            total: self.data.len() as u64,
            crc: self.crc,
            header: (self.offset == 0).then(|| self.header.clone()),
            data: self.data[self.offset..end].to_vec(),
        });
        self.offset = end;
        Some(frame)
    }
}

fn send_loop(shared: Arc<Shared>, to: NodeId, rx: MailReceiver<Message>) {
    let mut sender = PeerLink {
        backoff: shared.cfg.min_backoff,
        bytes: shared.traffic.of(to),
        shared,
        to,
        conn: None,
        compress_from: None,
        next_attempt: Instant::now(),
        buf: Vec::new(),
        stream: None,
    };
    while let Some(batch) = sender.next_batch(&rx) {
        if sender.connected(batch.len()) {
            let n = sender.encode(batch);
            sender.write(n);
        }
    }
}

/// The sending side of one peer connection: the socket, its reconnect
/// backoff, and a snapshot being streamed.
struct PeerLink {
    shared: Arc<Shared>,
    to: NodeId,
    conn: Option<BufWriter<Conn>>,
    /// The compression threshold on this connection (`None`: plain frames).
    compress_from: Option<usize>,
    backoff: Duration,
    next_attempt: Instant,
    buf: Vec<u8>,
    stream: Option<SnapshotStream>,
    bytes: Arc<PeerBytes>,
}

impl PeerLink {
    /// The next messages to send; `None` once the queue is closed. While a
    /// snapshot streams it does not block: one chunk goes out per round,
    /// between whatever else is queued.
    fn next_batch(&mut self, rx: &MailReceiver<Message>) -> Option<Vec<Message>> {
        const MAX_BATCH: usize = 1024;
        let mut batch = Vec::new();
        // While a snapshot streams, only what is already queued (no wait).
        let deadline = self.stream.as_ref().map(|_| Instant::now());
        rx.recv_batch(&mut batch, MAX_BATCH, deadline).ok()?;
        Some(batch)
    }

    /// Connects if needed; false (the `pending` messages dropped) if the peer
    /// cannot be reached now.
    fn connected(&mut self, pending: usize) -> bool {
        if self.conn.is_some() {
            return true;
        }
        let (cfg, c, to) = (&self.shared.cfg, &self.shared.counters, self.to);
        if Instant::now() < self.next_attempt {
            c.dropped.fetch_add(pending as u64, Ordering::Relaxed);
            if self.stream.take().is_some() {
                c.dropped.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(1).min(self.next_attempt - Instant::now()));
            return false;
        }
        match connect(&self.shared, to) {
            Ok((s, reads_lz4)) => {
                self.compress_from = cfg.compress_from.filter(|_| reads_lz4);
                log::info!(
                    "node {} connected to peer {to} (compression {})",
                    cfg.id,
                    if self.compress_from.is_some() {
                        "lz4"
                    } else {
                        "off"
                    }
                );
                self.backoff = cfg.min_backoff;
                self.conn = Some(BufWriter::with_capacity(256 << 10, s));
                true
            }
            Err(e) => {
                log::warn!(
                    "node {} cannot reach peer {to} (retry in {:?}): {e}",
                    cfg.id,
                    self.backoff
                );
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(cfg.max_backoff);
                c.dropped.fetch_add(pending as u64, Ordering::Relaxed);
                self.stream = None;
                false
            }
        }
    }

    /// Encodes `batch` (and the next snapshot chunk) into the buffer; returns
    /// how many messages it holds.
    fn encode(&mut self, batch: Vec<Message>) -> u64 {
        let id = self.shared.cfg.id;
        self.buf.clear();
        let mut n = 0u64;
        for m in batch {
            if SnapshotStream::wanted_for(&m) {
                // A newer snapshot replaces one still streaming.
                let s = SnapshotStream::start(m);
                log::info!(
                    "node {} streams snapshot {} ({} bytes) to {}",
                    id,
                    s.id,
                    s.data.len(),
                    self.to
                );
                self.stream = Some(s);
                continue;
            }
            if self.encode_frame(&Frame::Raft(m)) {
                n += 1;
            } else {
                self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(s) = self.stream.as_mut() {
            match s.next_frame() {
                Some(f) => {
                    self.encode_frame(&f);
                }
                None => self.stream = None,
            }
            if self
                .stream
                .as_ref()
                .is_some_and(|s| s.offset >= s.data.len())
            {
                self.stream = None;
                n += 1;
            }
        }
        n
    }

    /// Writes the buffer, holding `n` messages.
    fn write(&mut self, n: u64) {
        let c = &self.shared.counters;
        let Some(w) = self.conn.as_mut() else {
            return;
        };
        match w.write_all(&self.buf).and_then(|()| w.flush()) {
            Ok(()) => {
                c.sent.fetch_add(n, Ordering::Relaxed);
                self.bytes.add_sent(self.buf.len());
            }
            Err(e) => {
                log::warn!(
                    "node {} lost its connection to peer {}: {e}",
                    self.shared.cfg.id,
                    self.to
                );
                self.conn = None;
                self.stream = None; // an interrupted transfer starts over when resent
                c.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

impl PeerLink {
    /// Appends one frame to the buffer (compressed if this connection
    /// compresses and it pays) if it fits the limit; false (nothing
    /// appended) if not.
    fn encode_frame(&mut self, frame: &Frame) -> bool {
        let (buf, limit) = (&mut self.buf, self.shared.cfg.max_frame_bytes);
        let before = buf.len();
        let encoded = match self.compress_from {
            Some(from) => encode_compressed_into(buf, frame, from),
            None => encode_into(buf, frame).map(|()| 0),
        };
        let saved = match encoded {
            Ok(saved) => saved,
            Err(e) => {
                log::error!("cannot encode a frame: {e}");
                buf.truncate(before);
                return false;
            }
        };
        if (buf.len() - before) as u64 > limit {
            log::error!("dropping a frame larger than the limit of {limit} bytes");
            buf.truncate(before);
            return false;
        }
        if saved > 0 {
            let c = &self.shared.counters;
            c.compressed.fetch_add(1, Ordering::Relaxed);
            c.compression_saved
                .fetch_add(saved as u64, Ordering::Relaxed);
        }
        true
    }
}

const LISTEN_TOKEN: mio::Token = mio::Token(0);
const WAKE_TOKEN: mio::Token = mio::Token(1);

/// Blocks in `poll` until a peer connects or the transport stops (no polling
/// accept, no sleep), and serves each connection on a thread of its own.
fn accept_loop(
    mut poll: mio::Poll,
    listener: &mio::net::TcpListener,
    shared: &Arc<Shared>,
    inbox: &Inbox,
) {
    let mut events = mio::Events::with_capacity(8);
    // After a failed accept (out of descriptors), the connection stays queued
    // and brings no new event: try again after a pause.
    let mut retry: Option<Duration> = None;
    while !shared.stopping.load(Ordering::SeqCst) {
        if let Err(e) = poll.poll(&mut events, retry.take())
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            log::error!("the peer accept thread stopped: {e}");
            return;
        }
        retry = accept_all(listener, shared, inbox);
    }
}

/// Accepts every queued connection; a pause before the next try if one failed.
fn accept_all(
    listener: &mio::net::TcpListener,
    shared: &Arc<Shared>,
    inbox: &Inbox,
) -> Option<Duration> {
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return None;
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                let stream = TcpStream::from(stream);
                let s = shared.clone();
                let inbox = inbox.clone();
                let spawned = std::thread::Builder::new()
                    .name("raft-net-recv".into())
                    .spawn(move || {
                        if let Err(e) = serve_connection(stream, &s, &inbox) {
                            log::debug!("node {}: connection from {peer} ended: {e}", s.cfg.id);
                        }
                    });
                if let Err(e) = spawned {
                    log::error!("cannot start a receiver thread: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("accept failed: {e}");
                return Some(Duration::from_millis(50));
            }
        }
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

/// Validates a `Hello`; `Err(reason)` to refuse. A joining node adopts the
/// cluster id of the first valid caller and learns callers' addresses.
fn check_hello(shared: &Shared, frame: Option<Frame>) -> Result<NodeId, String> {
    let cfg = &shared.cfg;
    let Some(Frame::Hello {
        version,
        cluster_id,
        from,
        to,
        addr,
    }) = frame
    else {
        return Err(format!("expected a Hello frame, got {frame:?}"));
    };
    if version != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version {version}, expected {PROTOCOL_VERSION}"
        ));
    }
    if to != cfg.id {
        return Err(format!("this is node {}, not node {to}", cfg.id));
    }
    let joining = shared.accept_unknown.load(Ordering::SeqCst);
    let ours = shared.cluster_id.load(Ordering::SeqCst);
    let adopted = ours == 0
        && joining
        && cluster_id != 0
        && shared
            .cluster_id
            .compare_exchange(0, cluster_id, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
    if adopted {
        log::info!(
            "node {} joins cluster {cluster_id:#x} (contacted by node {from})",
            cfg.id
        );
    }
    let ours = shared.cluster_id.load(Ordering::SeqCst);
    if cluster_id != ours {
        return Err(format!(
            "cluster id {cluster_id:#x} is not this cluster's {ours:#x}"
        ));
    }
    let known = shared.peers.read().contains_key(&from);
    if !known {
        if !joining {
            return Err(format!("node {from} is not a member"));
        }
        shared.peers.write().insert(from, addr);
    }
    Ok(from)
}

fn serve_connection(tcp: TcpStream, shared: &Shared, inbox: &Inbox) -> Result<(), NetError> {
    let cfg = &shared.cfg;
    tcp.set_nonblocking(false)?;
    tcp.set_nodelay(true)?;
    fail_fast_on_partition(&tcp, cfg.io_timeout)?;
    tcp.set_read_timeout(Some(cfg.io_timeout))?;
    tcp.set_write_timeout(Some(cfg.io_timeout))?;
    let peer = tcp.peer_addr()?;
    let mut conn = match &cfg.tls {
        Some(tls) => tls.accept(tcp)?,
        None => Conn::Plain(tcp),
    };
    if let Err(e) = conn.complete_handshake() {
        shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "node {} refuses a peer connection from {peer}: TLS: {e}",
            cfg.id
        );
        return Err(NetError::Handshake(format!("TLS: {e}")));
    }
    let mut reader = BufReader::with_capacity(256 << 10, conn);
    let from = answer_hello(&mut reader, shared)?;
    // Messages may be rare (idle cluster); only the handshake had a deadline.
    reader.get_ref().tcp().set_read_timeout(None)?;
    serve_frames(&mut reader, from, shared, inbox)
}

/// Reads the `Hello`, answers it, and returns the caller's id if accepted.
fn answer_hello<S: Read + Write>(
    reader: &mut BufReader<S>,
    shared: &Shared,
) -> Result<NodeId, NetError> {
    let cfg = &shared.cfg;
    let hello = read_frame(reader, 64 << 10, &mut Vec::new())?;
    let from = match check_hello(shared, hello) {
        Ok(from) => from,
        Err(reason) => {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            log::warn!("node {} refuses a peer connection: {reason}", cfg.id);
            let _ = write_frame(reader.get_mut(), &Frame::HelloAck(Some(reason.clone())));
            let _ = reader.get_mut().flush();
            return Err(NetError::Handshake(reason));
        }
    };
    let mut accept = Vec::new();
    encode_accept_into(&mut accept, AckExtras { lz4: true })?;
    reader.get_mut().write_all(&accept)?;
    reader.get_mut().flush()?;
    log::debug!("node {} accepted peer {from}", cfg.id);
    Ok(from)
}

/// Delivers the frames of an accepted connection until it ends.
fn serve_frames<R: Read>(
    reader: &mut R,
    from: NodeId,
    shared: &Shared,
    inbox: &Inbox,
) -> Result<(), NetError> {
    let cfg = &shared.cfg;
    let mut buf = Vec::new();
    let mut snapshots = SnapshotReceiver::new(cfg.spool_dir.clone(), from);
    let bytes = shared.traffic.of(from);
    while !shared.stopping.load(Ordering::SeqCst) {
        let frame = read_frame(reader, cfg.max_frame_bytes, &mut buf)?;
        bytes.add_received(LENGTH_PREFIX_BYTES + buf.len());
        match frame {
            None => return Ok(()),
            Some(Frame::Raft(m)) if m.from == from && m.to == cfg.id => {
                shared.counters.received.fetch_add(1, Ordering::Relaxed);
                inbox(m);
            }
            Some(Frame::SnapshotChunk(chunk)) => {
                if let Some(m) = snapshots.chunk(chunk)
                    && m.from == from
                    && m.to == cfg.id
                {
                    shared.counters.received.fetch_add(1, Ordering::Relaxed);
                    inbox(m);
                }
            }
            Some(other) => {
                return Err(NetError::Handshake(format!(
                    "unexpected frame from node {from}: {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Fuzzing entry point: feeds `data` to the peer port's handshake and frame
/// reader as if a stranger had sent it (cluster 7, node 1 knowing node 2).
/// Built only under `cargo fuzz` (`--cfg fuzzing`).
#[cfg(fuzzing)]
pub fn fuzz_peer_stream(data: &[u8], joining: bool) {
    struct Wire<'a>(&'a [u8]);
    impl Read for Wire<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl Write for Wire<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut cfg = TcpTransportConfig::new(1, if joining { 0 } else { 7 }, "127.0.0.1:0");
    cfg.max_frame_bytes = 1 << 20;
    let shared = Shared {
        cluster_id: AtomicU64::new(cfg.cluster_id),
        accept_unknown: AtomicBool::new(joining),
        advertise: "127.0.0.1:1".into(),
        source_ip: None,
        cfg,
        peers: RwLock::new(HashMap::from([(2, "127.0.0.1:2".to_string())])),
        counters: Counters::default(),
        traffic: Traffic::default(),
        stopping: AtomicBool::new(false),
    };
    let inbox: Inbox = Arc::new(|m: Message| assert!(m.to == 1, "delivered {m:?}"));
    let mut reader = BufReader::new(Wire(data));
    if let Ok(from) = answer_hello(&mut reader, &shared) {
        let _ = serve_frames(&mut reader, from, &shared, &inbox);
    }
}
