//! The KV state machine's costs: a proposal's encode/decode (every write pays
//! it), applying a SET to a store of 100k keys, the copy a snapshot starts from,
//! and a whole-store snapshot's encode/decode (100k keys of 256-byte values,
//! about 28 MB).
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raft_kv_state::entry::Call;
use raft_kv_state::{Entry, KvStore, Op, ProposalId};

fn set(i: u64) -> Vec<Vec<u8>> {
    vec![
        b"SET".to_vec(),
        format!("key:{i:012}").into_bytes(),
        vec![(i % 251) as u8; 256],
    ]
}

fn proposal(c: &mut Criterion) {
    let id = ProposalId {
        node: 1,
        nonce: 7,
        seq: 9,
    };
    let argv = set(42);
    let p = Entry::new(id, 1_700_000_000_000, Op::Call(Call { argv, seed: 0 }));
    let bytes = p.encode();
    let mut group = c.benchmark_group("proposal_256b");
    group.bench_function("encode", |b| b.iter(|| std::hint::black_box(&p).encode()));
    group.bench_function("decode", |b| {
        b.iter(|| Entry::decode(std::hint::black_box(&bytes)).expect("decodes"))
    });
    group.finish();
}

fn snapshot(c: &mut Criterion) {
    let mut store = KvStore::new();
    for i in 0..100_000 {
        store.apply_call(&set(i), 0);
    }
    let mut group = c.benchmark_group("store_100k_keys");
    let mut live = store.clone();
    let mut i = 0u64;
    group.bench_function("apply_set", |b| {
        b.iter(|| {
            i = (i + 7919) % 100_000;
            live.apply_call(&set(i), 0)
        })
    });
    group.bench_function("copy_for_snapshot", |b| b.iter(|| store.clone()));
    group.finish();

    let bytes = store.encode_snapshot();
    let mut group = c.benchmark_group("snapshot_100k_keys");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| store.encode_snapshot()));
    group.bench_function("decode", |b| {
        b.iter(|| KvStore::decode_snapshot(&bytes).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, proposal, snapshot);
criterion_main!(benches);
