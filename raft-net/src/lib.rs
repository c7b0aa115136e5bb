//! `raft-net`: moving `raft-core` messages between nodes.
//!
//! [`Transport`] is what a node runtime sends through; incoming messages are
//! handed to a callback the runtime supplies. [`TcpTransport`] is the real one
//! (length-prefixed postcard frames with a size limit, a handshake that carries
//! the cluster id and node ids, one sender thread per peer with a bounded queue,
//! batching many messages into one write, reconnects with capped exponential
//! backoff). [`MemTransport`] connects nodes of one process for tests, with
//! partitions. [`tls`] adds mutual TLS between peers and TLS on client ports.

pub mod frame;
pub mod mailbox;
mod mem;
mod snapshot_rx;
mod tcp;
pub mod tls;
mod traffic;

pub use mem::{MemNetwork, MemTransport};
#[cfg(fuzzing)]
pub use tcp::fuzz_peer_stream;
pub use tcp::{DEFAULT_COMPRESS_FROM, HandshakeError, TcpTransport, TcpTransportConfig};
pub use tls::{ClientTls, Conn, PeerTls, ServerTls, TlsError, TlsFiles};
pub use traffic::PeerTraffic;

use raft_core::{Message, NodeId};
use std::sync::Arc;

/// Receives every message that arrives for this node.
pub type Inbox = Arc<dyn Fn(Message) + Send + Sync>;

/// Counters a transport keeps (monotonic).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages dropped: queue full, peer unknown or unreachable.
    pub dropped: u64,
    /// Messages received and delivered to the inbox.
    pub received: u64,
    /// Connections refused at the handshake (wrong cluster, unknown node).
    pub refused: u64,
    /// Frames sent LZ4-compressed.
    pub compressed_frames: u64,
    /// Bytes compression kept off the wire.
    pub compression_saved_bytes: u64,
    /// Bytes on the wire per peer, by id (empty for transports without a wire).
    pub peers: Vec<PeerTraffic>,
}

/// Sends messages to peers. Never blocks the caller: a message that cannot be
/// queued is dropped and counted (Raft tolerates loss).
pub trait Transport: Send + Sync {
    /// Queues `msg` for `msg.to`.
    fn send(&self, msg: Message);
    /// Sets (or changes) the address of a peer.
    fn set_peer(&self, id: NodeId, addr: String);
    /// Forgets a peer and closes its connection.
    fn remove_peer(&self, id: NodeId);
    /// Counters so far.
    fn stats(&self) -> TransportStats;
    /// The cluster id in force (0 while a joining node has not been contacted).
    fn cluster_id(&self) -> u64;
    /// Stops accepting peers that are not in the address book (a joining node
    /// calls this once it knows its cluster's members).
    fn refuse_unknown_peers(&self);
    /// Stops every thread and closes every connection; later sends are dropped.
    fn shutdown(&self);
}

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The snapshot spool directory could not be prepared.
    #[error("cannot prepare the snapshot spool directory {dir}: {source}")]
    Spool {
        /// The directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// A socket call failed.
    #[error("network I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A frame exceeded the size limit.
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// Declared size.
        size: u64,
        /// Limit.
        limit: u64,
    },
    /// A frame did not decode.
    #[error("undecodable frame: {0}")]
    Decode(String),
    /// The peer refused the handshake, or sent a bad one.
    #[error("handshake failed: {0}")]
    Handshake(#[from] tcp::HandshakeError),
}
