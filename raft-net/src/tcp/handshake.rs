//! Who may talk to this node: the `Hello` every connection opens with, and
//! every reason to refuse one, on either side.

use super::Shared;
use crate::frame::{Frame, PROTOCOL_VERSION};
use raft_core::NodeId;
use std::sync::atomic::Ordering;

/// Why a peer connection was refused or failed before its first message.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The first frame was not a `Hello` (or the stream ended).
    #[error("expected a Hello frame, got {}", .0.unwrap_or("end of stream"))]
    NotHello(Option<&'static str>),
    /// The caller speaks another wire protocol version.
    #[error("protocol version {theirs}, expected {PROTOCOL_VERSION}")]
    ProtocolVersion {
        /// The caller's version.
        theirs: u32,
    },
    /// The caller meant to reach another node.
    #[error("this is node {ours}, not node {theirs}")]
    WrongNode {
        /// This node's id.
        ours: NodeId,
        /// The id the caller expected.
        theirs: NodeId,
    },
    /// The caller belongs to another cluster.
    #[error("cluster id {theirs:#x} is not this cluster's {ours:#x}")]
    ForeignCluster {
        /// The caller's cluster id.
        theirs: u64,
        /// This node's cluster id.
        ours: u64,
    },
    /// The caller is not in this node's membership.
    #[error("node {0} is not a member")]
    NotAMember(NodeId),
    /// No address is known for the peer to dial.
    #[error("no address for node {0}")]
    NoAddress(NodeId),
    /// The peer's address resolves to no socket address.
    #[error("address {0} resolves to nothing")]
    Unresolvable(String),
    /// The TLS handshake failed.
    #[error("TLS with {peer}: {source}")]
    Tls {
        /// Who was on the other side.
        peer: String,
        /// What TLS said.
        source: std::io::Error,
    },
    /// The dialled peer refused this node, saying why.
    #[error("node {to} at {addr} refused: {reason}")]
    Refused {
        /// The dialled node.
        to: NodeId,
        /// Its address.
        addr: String,
        /// The reason it sent.
        reason: String,
    },
    /// The dialled peer answered something other than a `HelloAck`.
    #[error("node {to} at {addr} answered {}", .got.unwrap_or("nothing"))]
    UnexpectedAnswer {
        /// The dialled node.
        to: NodeId,
        /// Its address.
        addr: String,
        /// The kind of frame it sent, if any.
        got: Option<&'static str>,
    },
    /// An accepted peer sent a frame only the acceptor may send.
    #[error("unexpected {got} frame from node {from}")]
    UnexpectedFrame {
        /// The peer.
        from: NodeId,
        /// The kind of frame.
        got: &'static str,
    },
}

/// Validates a `Hello`; `Err(why)` to refuse. A joining node adopts the
/// cluster id of the first valid caller and learns callers' addresses.
pub(super) fn check_hello(shared: &Shared, frame: Option<Frame>) -> Result<NodeId, HandshakeError> {
    let cfg = &shared.cfg;
    let Some(Frame::Hello {
        version,
        cluster_id,
        from,
        to,
        addr,
    }) = frame
    else {
        return Err(HandshakeError::NotHello(frame.map(|f| f.kind())));
    };
    if version != PROTOCOL_VERSION {
        return Err(HandshakeError::ProtocolVersion { theirs: version });
    }
    if to != cfg.id {
        return Err(HandshakeError::WrongNode {
            ours: cfg.id,
            theirs: to,
        });
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
        return Err(HandshakeError::ForeignCluster {
            theirs: cluster_id,
            ours,
        });
    }
    let known = shared.peers.read().contains_key(&from);
    if !known {
        if !joining {
            return Err(HandshakeError::NotAMember(from));
        }
        shared.peers.write().insert(from, addr);
    }
    Ok(from)
}
