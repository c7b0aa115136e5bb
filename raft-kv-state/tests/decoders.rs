//! Never-panic and round-trip properties of the state machine's decoders
//! (the same decoders `fuzz/` fuzzes, here in the normal suite): log entries
//! and snapshots.

use proptest::prelude::*;
use raft_kv_state::entry::Call;
use raft_kv_state::{Entry, KvStore, Op, ProposalId};

fn args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn entries_round_trip_and_garbage_never_panics(argv in args(), seed in any::<u64>(), garbage in prop::collection::vec(any::<u8>(), 0..64)) {
        let e = Entry::new(ProposalId { node: 3, nonce: 5, seq: 9 }, 1, Op::Call(Call { argv, seed }));
        prop_assert_eq!(Entry::decode(&e.encode()), Ok(e));
        let _ = Entry::decode(&garbage);
        let mut versioned = raft_kv_state::entry::MARK.to_vec();
        versioned.extend_from_slice(&garbage);
        let _ = Entry::decode(&versioned);
    }

    #[test]
    fn snapshots_round_trip_and_any_flipped_byte_is_an_error(
        pairs in prop::collection::btree_map(prop::collection::vec(any::<u8>(), 1..12), prop::collection::vec(any::<u8>(), 0..30), 0..40),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut store = KvStore::new();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = pairs.into_iter().collect();
        let mut mset = vec![b"MSET".to_vec()];
        mset.extend(pairs.iter().flat_map(|(k, v)| [k.clone(), v.clone()]));
        store.apply_call(&mset, 0);
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
