//! Never-panic and round-trip properties of the store's decoders (the same
//! decoders `fuzz/` fuzzes, here in the normal suite): RESP requests, RESP
//! replies read by the client, log entry payloads, and KV snapshots.

use proptest::prelude::*;
use raft_kv::command::{Command, Proposal, ProposalId};
use raft_kv::resp::{ParseLimits, parse_request};
use raft_kv::store::KvStore;

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_parse_without_panic_and_within_the_input(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        let limits = ParseLimits { max_request: 256, max_args: 16, max_inline: 64 };
        let mut pos = 0;
        while let Ok(Some((_, used))) = parse_request(&buf[pos..], &limits) {
            prop_assert!(used > 0 && pos + used <= buf.len());
            pos += used;
        }
    }

    #[test]
    fn pipelined_requests_parse_back_whole_at_any_split(reqs in prop::collection::vec(args(), 1..5), cut in any::<prop::sample::Index>()) {
        let wire: Vec<u8> = reqs.iter().flat_map(|r| multibulk(r)).collect();
        let limits = ParseLimits::default();
        let cut = cut.index(wire.len() + 1);
        // Bytes arrive in two reads, split at `cut`, as a connection sees them.
        let mut buf = wire[..cut].to_vec();
        let mut parsed = Vec::new();
        for more in [&wire[cut..], &[][..]] {
            while let Some((args, used)) = parse_request(&buf, &limits).expect("valid RESP") {
                parsed.push(args);
                buf.drain(..used);
            }
            buf.extend_from_slice(more);
        }
        prop_assert_eq!(parsed, reqs);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn any_reply_bytes_read_without_panic(buf in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut r = std::io::BufReader::new(&buf[..]);
        let _ = raft_kv::client::read_reply(&mut r);
    }

    #[test]
    fn proposals_round_trip_and_garbage_never_panics(key in prop::collection::vec(any::<u8>(), 0..20), delta in any::<i64>(), garbage in prop::collection::vec(any::<u8>(), 0..64)) {
        let p = Proposal { id: ProposalId { node: 3, nonce: 5, seq: 9 }, command: Command::IncrBy { key, delta }, at_ms: 1 };
        prop_assert_eq!(Proposal::decode(&p.encode()), Some(p));
        let _ = Proposal::decode(&garbage);
    }

    #[test]
    fn snapshots_round_trip_and_any_flipped_byte_is_an_error(
        pairs in prop::collection::btree_map(prop::collection::vec(any::<u8>(), 1..12), prop::collection::vec(any::<u8>(), 0..30), 0..40),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut store = KvStore::new();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = pairs.into_iter().collect();
        store.apply(&Command::MSet { pairs: pairs.clone() });
        let bytes = store.encode_snapshot();
        let back = KvStore::decode_snapshot(&bytes).expect("a snapshot decodes");
        prop_assert_eq!(back.len(), pairs.len());
        for (k, v) in &pairs {
            prop_assert_eq!(back.get(k), Some(&v[..]));
        }
        let mut damaged = bytes.clone();
        let i = flip.index(damaged.len());
        damaged[i] ^= 0x5a;
        prop_assert!(KvStore::decode_snapshot(&damaged).is_err(), "byte {} flipped", i);
    }

    #[test]
    fn any_snapshot_bytes_decode_without_panic(buf in prop::collection::vec(any::<u8>(), 1..300)) {
        let _ = KvStore::decode_snapshot(&buf);
    }
}
