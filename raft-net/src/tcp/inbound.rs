//! The accepting side: one thread polls the listener, and each accepted
//! connection is served on its own thread: TLS, the `Hello` (judged by
//! [`super::handshake`]), then frames delivered to the inbox until it ends.

use super::handshake::check_hello;
use super::{HandshakeError, Shared, fail_fast_on_partition};
use crate::frame::{
    AckExtras, Frame, LENGTH_PREFIX_BYTES, encode_accept_into, read_frame, write_frame,
};
use crate::snapshot_rx::SnapshotReceiver;
use crate::tls::Conn;
use crate::{Inbox, NetError};
use raft_core::NodeId;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(super) const LISTEN_TOKEN: mio::Token = mio::Token(0);
pub(super) const WAKE_TOKEN: mio::Token = mio::Token(1);

/// Blocks in `poll` until a peer connects or the transport stops (no polling
/// accept, no sleep), and serves each connection on a thread of its own.
pub(super) fn accept_loop(
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
        return Err(HandshakeError::Tls {
            peer: peer.to_string(),
            source: e,
        }
        .into());
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
            let _ = write_frame(reader.get_mut(), &Frame::HelloAck(Some(reason.to_string())));
            let _ = reader.get_mut().flush();
            return Err(reason.into());
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
                return Err(HandshakeError::UnexpectedFrame {
                    from,
                    got: other.kind(),
                }
                .into());
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
    use super::{Counters, TcpTransportConfig};
    use crate::traffic::Traffic;
    use parking_lot::RwLock;
    use raft_core::Message;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicU64};
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
