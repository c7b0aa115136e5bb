//! The wire format: a 4-byte little-endian length, then a postcard-encoded
//! [`Frame`]. Every read is bounded by a size limit.
//!
//! Compression is negotiated per connection without a version change: the
//! acceptor's `HelloAck(None)` is followed, in the same frame, by
//! [`AckExtras`] (postcard ignores trailing bytes, so an older caller reads
//! the plain ack, and a caller that finds no extras compresses nothing). A
//! caller told `lz4` may then wrap large frames in [`Frame::Lz4`];
//! [`read_frame`] unwraps them transparently.

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
    /// Another frame, postcard-encoded and then LZ4-compressed (block format);
    /// sent only to an acceptor whose [`AckExtras`] said it reads them.
    Lz4(CompressedFrame),
}

impl Frame {
    /// The frame's kind, for logs and errors (never its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::HelloAck(_) => "HelloAck",
            Frame::Raft(_) => "Raft",
            Frame::SnapshotChunk(_) => "SnapshotChunk",
            Frame::Lz4(_) => "Lz4",
        }
    }
}

/// An LZ4-compressed frame body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompressedFrame {
    /// Length of the body once decompressed (checked against the frame limit
    /// before anything is decompressed).
    pub raw_len: u32,
    /// The LZ4 block.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// What an acceptor tells the caller after accepting it: the frame kinds it
/// reads beyond the plain ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckExtras {
    /// The acceptor reads [`Frame::Lz4`].
    pub lz4: bool,
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

/// Appends `frame`, length-prefixed, LZ4-compressed if its body is at least
/// `from` bytes and compression saves at least an eighth of it (else as
/// [`encode_into`] does). Returns the bytes saved (0 if sent plain).
pub fn encode_compressed_into(
    out: &mut Vec<u8>,
    frame: &Frame,
    from: usize,
) -> Result<usize, NetError> {
    let start = out.len();
    encode_into(out, frame)?;
    let body = &out[start + LENGTH_PREFIX_BYTES..];
    if body.len() < from || body.len() > u32::MAX as usize {
        return Ok(0);
    }
    let data = lz4_flex::block::compress(body);
    let plain = body.len();
    if data.len() + plain / 8 > plain {
        return Ok(0);
    }
    let wrapped = Frame::Lz4(CompressedFrame {
        raw_len: plain as u32,
        data,
    });
    out.truncate(start);
    encode_into(out, &wrapped)?;
    Ok((plain + LENGTH_PREFIX_BYTES).saturating_sub(out.len() - start))
}

/// Appends an accepting `HelloAck` followed by `extras`, length-prefixed.
pub fn encode_accept_into(out: &mut Vec<u8>, extras: AckExtras) -> Result<(), NetError> {
    let start = out.len();
    encode_into(out, &Frame::HelloAck(None))?;
    let with_extras = postcard::to_extend(&extras, std::mem::take(out))
        .map_err(|e| NetError::Decode(e.to_string()))?;
    *out = with_extras;
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

/// Reads one frame of at most `limit` bytes (decompressed, for [`Frame::Lz4`]:
/// the frame inside is returned). `Ok(None)` on a clean end of stream.
pub fn read_frame(
    r: &mut impl Read,
    limit: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<Frame>, NetError> {
    Ok(read_frame_with_extras(r, limit, buf)?.map(|(frame, _)| frame))
}

/// [`read_frame`], also returning the [`AckExtras`] that followed the frame
/// (`None` if nothing did: a peer that offers nothing more).
pub fn read_frame_with_extras(
    r: &mut impl Read,
    limit: u64,
    buf: &mut Vec<u8>,
) -> Result<Option<(Frame, Option<AckExtras>)>, NetError> {
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
    let decode = |e: postcard::Error| NetError::Decode(e.to_string());
    let (frame, rest) = postcard::take_from_bytes::<Frame>(buf).map_err(decode)?;
    let extras = if rest.is_empty() {
        None
    } else {
        Some(
            postcard::take_from_bytes::<AckExtras>(rest)
                .map_err(decode)?
                .0,
        )
    };
    let frame = match frame {
        Frame::Lz4(c) => decompress(c, limit)?,
        plain => plain,
    };
    Ok(Some((frame, extras)))
}

/// The frame inside a [`Frame::Lz4`], whose claimed size is checked against
/// `limit` first; a compressed frame inside is refused.
fn decompress(c: CompressedFrame, limit: u64) -> Result<Frame, NetError> {
    if u64::from(c.raw_len) > limit {
        return Err(NetError::FrameTooLarge {
            size: c.raw_len.into(),
            limit,
        });
    }
    let body = lz4_flex::block::decompress(&c.data, c.raw_len as usize)
        .map_err(|e| NetError::Decode(format!("bad LZ4 frame: {e}")))?;
    if body.len() != c.raw_len as usize {
        return Err(NetError::Decode(format!(
            "LZ4 frame of {} bytes where {} were announced",
            body.len(),
            c.raw_len
        )));
    }
    match postcard::from_bytes(&body) {
        Ok(Frame::Lz4(_)) => Err(NetError::Decode("an LZ4 frame inside an LZ4 frame".into())),
        Ok(frame) => Ok(frame),
        Err(e) => Err(NetError::Decode(e.to_string())),
    }
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

    fn append_of(bytes: usize) -> Frame {
        append_with(vec![b'x'; bytes])
    }

    fn append_with(payload: Vec<u8>) -> Frame {
        Frame::Raft(Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Append {
                prev_index: 1,
                prev_term: 1,
                entries: vec![raft_core::Entry {
                    index: 2,
                    term: 3,
                    payload: raft_core::EntryPayload::Normal(payload),
                }],
                commit: 1,
            },
        })
    }

    #[test]
    fn a_large_frame_is_compressed_and_reads_back_as_itself() {
        let frame = append_of(64 << 10);
        let mut plain = Vec::new();
        encode_into(&mut plain, &frame).expect("encode");
        let mut small = Vec::new();
        let saved = encode_compressed_into(&mut small, &frame, 4096).expect("encode");
        assert!(
            small.len() * 10 < plain.len(),
            "{} vs {}",
            small.len(),
            plain.len()
        );
        assert_eq!(saved, plain.len() - small.len());
        let got = read_frame(&mut &small[..], 1 << 20, &mut Vec::new()).expect("read");
        assert_eq!(got, Some(frame));
    }

    #[test]
    fn small_or_incompressible_frames_go_plain() {
        let mut out = Vec::new();
        assert_eq!(
            encode_compressed_into(&mut out, &append_of(100), 4096).expect("encode"),
            0
        );
        let mut plain = Vec::new();
        encode_into(&mut plain, &append_of(100)).expect("encode");
        assert_eq!(out, plain, "below the threshold");
        let mut rng = raft_core::DetRng::new(7);
        let noise: Vec<u8> = (0..8192).map(|_| rng.next_u64() as u8).collect();
        let frame = append_with(noise);
        let mut out = Vec::new();
        assert_eq!(
            encode_compressed_into(&mut out, &frame, 4096).expect("encode"),
            0
        );
        assert_eq!(
            read_frame(&mut &out[..], 1 << 20, &mut Vec::new()).expect("read"),
            Some(frame)
        );
    }

    #[test]
    fn a_compressed_frame_claiming_more_than_the_limit_is_refused_unread() {
        let mut out = Vec::new();
        encode_compressed_into(&mut out, &append_of(64 << 10), 4096).expect("encode");
        let err = read_frame(&mut &out[..], 32 << 10, &mut Vec::new()).expect_err("too large");
        assert!(matches!(err, NetError::FrameTooLarge { .. }), "{err}");
        // Damaged LZ4 data, and a compressed frame inside one: decode errors.
        let bad = Frame::Lz4(CompressedFrame {
            raw_len: 100,
            data: vec![0xf0; 20],
        });
        let mut out = Vec::new();
        encode_into(&mut out, &bad).expect("encode");
        assert!(matches!(
            read_frame(&mut &out[..], 1 << 20, &mut Vec::new()),
            Err(NetError::Decode(_))
        ));
        let mut inner = Vec::new();
        encode_into(&mut inner, &bad).expect("encode");
        let nested = Frame::Lz4(CompressedFrame {
            raw_len: (inner.len() - LENGTH_PREFIX_BYTES) as u32,
            data: lz4_flex::block::compress(&inner[LENGTH_PREFIX_BYTES..]),
        });
        let mut out = Vec::new();
        encode_into(&mut out, &nested).expect("encode");
        let err = read_frame(&mut &out[..], 1 << 20, &mut Vec::new()).expect_err("nested");
        assert!(err.to_string().contains("inside"), "{err}");
    }

    #[test]
    fn an_accept_carries_extras_that_an_older_reader_ignores() {
        let mut out = Vec::new();
        encode_accept_into(&mut out, AckExtras { lz4: true }).expect("encode");
        let (frame, extras) = read_frame_with_extras(&mut &out[..], 1024, &mut Vec::new())
            .expect("read")
            .expect("a frame");
        assert_eq!(
            (frame, extras),
            (Frame::HelloAck(None), Some(AckExtras { lz4: true }))
        );
        // What a reader that knows no extras gets: the plain ack.
        let body = &out[LENGTH_PREFIX_BYTES..];
        assert_eq!(
            postcard::from_bytes::<Frame>(body).expect("decode"),
            Frame::HelloAck(None)
        );
        // An older acceptor's plain ack offers nothing.
        let mut plain = Vec::new();
        encode_into(&mut plain, &Frame::HelloAck(None)).expect("encode");
        let (_, extras) = read_frame_with_extras(&mut &plain[..], 1024, &mut Vec::new())
            .expect("read")
            .expect("a frame");
        assert_eq!(extras, None);
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
