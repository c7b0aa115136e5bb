//! The KV snapshot decoder on arbitrary bytes: never panics, and whatever it
//! accepts encodes back to a snapshot that decodes to the same store.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raft_kv_state::KvStore;

fuzz_target!(|data: &[u8]| {
    if let Ok(store) = KvStore::decode_snapshot(data) {
        let bytes = store.encode_snapshot();
        let back = KvStore::decode_snapshot(&bytes).expect("a re-encoded snapshot decodes");
        assert_eq!(back.encode_snapshot(), bytes);
    }
    let _ = postcard::from_bytes::<raft_core::Snapshot>(data);
});
