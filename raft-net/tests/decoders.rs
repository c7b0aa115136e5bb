//! Never-panic and round-trip properties of the peer wire format (the same
//! decoder `fuzz/` fuzzes, here in the normal suite).

use proptest::prelude::*;
use raft_net::frame::{
    CompressedFrame, Frame, SnapshotChunk, encode_compressed_into, encode_into, read_frame,
};

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            ".{0,20}"
        )
            .prop_map(|(version, cluster_id, from, to, addr)| Frame::Hello {
                version,
                cluster_id,
                from,
                to,
                addr
            }),
        prop::option::of(".{0,30}").prop_map(Frame::HelloAck),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..100)
        )
            .prop_map(|(id, offset, total, crc, data)| Frame::SnapshotChunk(
                SnapshotChunk {
                    id,
                    offset,
                    total,
                    crc,
                    header: None,
                    data,
                }
            )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frames_back_to_back_read_back_equal(frames in prop::collection::vec(frame(), 1..6)) {
        let mut wire = Vec::new();
        for f in &frames {
            encode_into(&mut wire, f).expect("encodes");
        }
        let mut r = &wire[..];
        let mut buf = Vec::new();
        for f in &frames {
            let got = read_frame(&mut r, 1 << 20, &mut buf).expect("reads");
            prop_assert_eq!(got.as_ref(), Some(f));
        }
        prop_assert_eq!(read_frame(&mut r, 1 << 20, &mut buf).expect("clean end"), None);
    }

    #[test]
    fn any_bytes_read_without_panic_within_the_limit(wire in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut r = &wire[..];
        let mut buf = Vec::new();
        while let Ok(Some(_)) = read_frame(&mut r, 256, &mut buf) {}
        prop_assert!(buf.len() <= 256, "never buffers beyond the limit");
    }

    /// Whatever an LZ4 frame holds, reading it is an error or a frame, never
    /// a panic; and compressed encoding reads back as the frame itself.
    #[test]
    fn lz4_frames_read_without_panic_and_round_trip(
        raw_len in 0u32..4096,
        data in prop::collection::vec(any::<u8>(), 0..200),
        f in frame(),
    ) {
        let mut wire = Vec::new();
        encode_into(&mut wire, &Frame::Lz4(CompressedFrame { raw_len, data })).expect("encodes");
        let _ = read_frame(&mut &wire[..], 1 << 20, &mut Vec::new());
        let mut wire = Vec::new();
        encode_compressed_into(&mut wire, &f, 0).expect("encodes");
        prop_assert_eq!(read_frame(&mut &wire[..], 1 << 20, &mut Vec::new()).expect("reads"), Some(f));
    }
}
