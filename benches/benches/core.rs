//! Consensus-core throughput: proposals committed and applied on every node of a
//! fault-free simulated 3-node cluster (no I/O: pure state-machine cost).
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use raft_testkit::Cluster;

fn proposals(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_3_nodes");
    for batch in [1usize, 64, 1024] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("propose_commit_apply/batch_{batch}"), |b| {
            b.iter_batched_ref(
                || {
                    let mut cluster = Cluster::new(3);
                    assert!(cluster.elect(1), "node 1 wins an uncontested election");
                    cluster
                },
                |cluster| {
                    let before = cluster.applied_normal(3);
                    let data: Vec<Vec<u8>> = (0..batch).map(|i| vec![i as u8; 128]).collect();
                    cluster
                        .node(1)
                        .propose_batch(data)
                        .expect("leader accepts proposals");
                    cluster.settle();
                    assert_eq!(cluster.applied_normal(3), before + batch as u64);
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, proposals);
criterion_main!(benches);
