//! The sending side: one thread per peer dials it, completes the handshake,
//! and writes whatever its queue holds, streaming snapshots in chunks between
//! other messages; failed connects back off exponentially.

use super::{HandshakeError, Shared, fail_fast_on_partition};
use crate::NetError;
use crate::frame::{
    AckExtras, Frame, PROTOCOL_VERSION, SnapshotChunk, encode_compressed_into, encode_into,
    read_frame_with_extras, write_frame,
};
use crate::mailbox::MailReceiver;
use crate::tls::Conn;
use crate::traffic::PeerBytes;
use raft_core::{Message, MessageBody, NodeId};
use std::io::{BufWriter, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Connects to `to` and completes the handshake; also says whether the peer
/// reads LZ4 frames.
fn connect(shared: &Shared, to: NodeId) -> Result<(Conn, bool), NetError> {
    let addr = shared
        .peers
        .read()
        .get(&to)
        .cloned()
        .ok_or(HandshakeError::NoAddress(to))?;
    let timeout = shared.cfg.io_timeout;
    let sock = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| HandshakeError::Unresolvable(addr.clone()))?;
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
        .map_err(|source| HandshakeError::Tls {
            peer: format!("node {to} at {addr}"),
            source,
        })?;
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
        Some((Frame::HelloAck(Some(reason)), _)) => {
            Err(HandshakeError::Refused { to, addr, reason }.into())
        }
        other => Err(HandshakeError::UnexpectedAnswer {
            to,
            addr,
            got: other.map(|(f, _)| f.kind()),
        }
        .into()),
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

pub(super) fn send_loop(shared: Arc<Shared>, to: NodeId, rx: MailReceiver<Message>) {
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
