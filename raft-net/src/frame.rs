//! The wire format: a 4-byte little-endian length, then a postcard-encoded
//! [`Frame`]. Every read is bounded by a size limit.

use crate::NetError;
use raft_core::{Message, NodeId};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Protocol version carried in the handshake.
pub const PROTOCOL_VERSION: u32 = 1;

/// One unit on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// First frame of a connection: who is calling whom, in which cluster.
    Hello {
        /// Wire protocol version.
        version: u32,
        /// The cluster both nodes must belong to.
        cluster_id: u64,
        /// The calling node.
        from: NodeId,
        /// The node it expects to reach.
        to: NodeId,
        /// The caller's own peer address, so that the acceptor can answer it.
        addr: String,
    },
    /// The answer to `Hello`: `None` accepts, `Some(reason)` refuses.
    HelloAck(Option<String>),
    /// A Raft message.
    Raft(Message),
    /// A piece of a large `InstallSnapshot`, streamed in chunks between other
    /// messages so that heartbeats are never stuck behind it.
    SnapshotChunk(SnapshotChunk),
}

/// A piece of a streamed `InstallSnapshot`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// The snapshot's index (identifies the stream).
    pub id: u64,
    /// Byte offset of `data` in the snapshot data.
    pub offset: u64,
    /// Total length of the snapshot data.
    pub total: u64,
    /// CRC32C of the whole snapshot data, checked on reassembly.
    pub crc: u32,
    /// The message with its snapshot data removed (first chunk only).
    pub header: Option<Message>,
    /// The bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// Bytes of the little-endian `u32` length before every frame.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Appends `frame`, length-prefixed, to `out`.
pub fn encode_into(out: &mut Vec<u8>, frame: &Frame) -> Result<(), NetError> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX_BYTES]);
    let body = postcard::to_extend(frame, std::mem::take(out))
        .map_err(|e| NetError::Decode(e.to_string()))?;
    *out = body;
    let len = (out.len() - start - LENGTH_PREFIX_BYTES) as u32;
    out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, frame: &Frame) -> Result<(), NetError> {
    let mut buf = Vec::new();
    encode_into(&mut buf, frame)?;
    w.write_all(&buf)?;
    Ok(())
}

/// Reads one frame of at most `limit` bytes. `Ok(None)` on a clean end of stream.
pub fn read_frame(
    r: &mut impl Read,
    limit: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<Frame>, NetError> {
    let mut len = [0u8; LENGTH_PREFIX_BYTES];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = u32::from_le_bytes(len) as u64;
    if size > limit {
        return Err(NetError::FrameTooLarge { size, limit });
    }
    buf.resize(size as usize, 0);
    r.read_exact(buf)?;
    postcard::from_bytes(buf)
        .map(Some)
        .map_err(|e| NetError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_core::MessageBody;

    #[test]
    fn frames_round_trip_back_to_back() {
        let frames = vec![
            Frame::Hello {
                version: 1,
                cluster_id: 9,
                from: 1,
                to: 2,
                addr: "a:1".into(),
            },
            Frame::Raft(Message {
                from: 1,
                to: 2,
                term: 3,
                body: MessageBody::TimeoutNow,
            }),
            Frame::HelloAck(Some("no".into())),
        ];
        let mut buf = Vec::new();
        for f in &frames {
            encode_into(&mut buf, f).expect("encode");
        }
        let mut r = &buf[..];
        let mut scratch = Vec::new();
        for f in &frames {
            assert_eq!(
                read_frame(&mut r, 1 << 20, &mut scratch)
                    .expect("read")
                    .as_ref(),
                Some(f)
            );
        }
        assert_eq!(
            read_frame(&mut r, 1 << 20, &mut scratch).expect("eof"),
            None
        );
    }

    #[test]
    fn oversized_frame_is_refused_before_reading_it() {
        let buf = (u32::MAX).to_le_bytes();
        let err = read_frame(&mut &buf[..], 1024, &mut Vec::new()).expect_err("too large");
        assert!(matches!(err, NetError::FrameTooLarge { .. }));
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let mut buf = 3u32.to_le_bytes().to_vec();
        buf.extend_from_slice(&[0xff, 0xff, 0xff]);
        assert!(matches!(
            read_frame(&mut &buf[..], 1024, &mut Vec::new()),
            Err(NetError::Decode(_))
        ));
    }
}
