//! WAL append + fdatasync throughput at batch sizes 1, 16 and 256 (256-byte
//! entries): the cost of group commit on this machine's disk.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raft_core::{ConfState, Entry, EntryPayload};
use raft_storage::{FileStorage, FileStorageOptions, LogStore};

fn append_fsync(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_fsync");
    group.sample_size(20);
    for batch in [1u64, 16, 256] {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("batch_{batch}"), |b| {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = FileStorage::open(
                dir.path(),
                ConfState::with_voters([1]),
                FileStorageOptions::default(),
            )
            .expect("open a fresh store");
            let mut next = 1u64;
            b.iter(|| {
                let entries: Vec<Entry> = (next..next + batch)
                    .map(|index| Entry {
                        index,
                        term: 1,
                        payload: EntryPayload::Normal(vec![7; 256]),
                    })
                    .collect();
                store.append(&entries).expect("append");
                next += batch;
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append_fsync);
criterion_main!(benches);
