//! One storage conformance suite, run against every backend (in the manner of
//! openraft's `testing/log/suite.rs`), plus crash-recovery tests of the file backend.

use raft_core::{ConfState, Entry, EntryPayload, HardState, Storage, StorageError};
use raft_storage::{
    FileStorage, FileStorageOptions, HardStateStore, LogStore, MemStorage, StoreError,
};
use std::path::Path;

fn ent(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Normal(format!("v{index}-{term}").into_bytes()),
    }
}

fn ents(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|i| ent(i, term)).collect()
}

/// Makes a fresh, empty backend.
type MakeBackend = Box<dyn Fn() -> Box<dyn Backend>>;

/// Every backend under test, fresh.
fn backends(dir: &Path) -> Vec<(&'static str, MakeBackend)> {
    let d = dir.to_path_buf();
    vec![
        (
            "mem",
            Box::new(|| {
                Box::new(MemStorage::with_conf_state(ConfState::with_voters([
                    1, 2, 3,
                ]))) as Box<dyn Backend>
            }),
        ),
        (
            "file",
            Box::new(move || {
                let sub = tempfile::tempdir_in(&d).expect("temp dir").keep();
                let opts = FileStorageOptions { segment_bytes: 200 };
                Box::new(
                    FileStorage::open(&sub, ConfState::with_voters([1, 2, 3]), opts).expect("open"),
                ) as Box<dyn Backend>
            }),
        ),
    ]
}

trait Backend: Storage + LogStore + HardStateStore {}
impl<T: Storage + LogStore + HardStateStore> Backend for T {}

fn suite(check: impl Fn(&dyn Backend)) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, make) in backends(dir.path()) {
        eprintln!("backend {name}");
        check(make().as_ref());
    }
}

#[test]
fn new_store_is_empty_with_its_initial_membership() {
    suite(|s| {
        let (hs, cs) = s.initial_state().expect("initial state");
        assert_eq!(hs, HardState::default());
        assert_eq!(cs, ConfState::with_voters([1, 2, 3]));
        assert_eq!(s.first_index().expect("first"), 1);
        assert_eq!(s.last_index().expect("last"), 0);
        assert_eq!(s.term(0).expect("term 0"), 0);
    });
}

#[test]
fn appended_entries_read_back_in_order() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        assert_eq!(s.last_index().expect("last"), 10);
        assert_eq!(s.entries(3, 7, None).expect("entries"), ents(3..=6, 1));
        assert_eq!(s.term(10).expect("term"), 1);
        assert_eq!(s.term(11), Err(StorageError::Unavailable(11)));
    });
}

#[test]
fn entries_respect_max_bytes_but_return_at_least_one() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        assert_eq!(s.entries(1, 11, Some(0)).expect("entries").len(), 1);
        let one = ent(1, 1).size_hint();
        assert_eq!(s.entries(1, 11, Some(3 * one)).expect("entries").len(), 3);
    });
}

#[test]
fn append_over_a_conflict_truncates_the_suffix() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        s.append(&ents(6..=7, 2)).expect("append");
        assert_eq!(s.last_index().expect("last"), 7);
        assert_eq!(s.term(5).expect("term"), 1);
        assert_eq!(s.term(6).expect("term"), 2);
        assert_eq!(
            s.entries(5, 8, None).expect("entries"),
            vec![ent(5, 1), ent(6, 2), ent(7, 2)]
        );
    });
}

#[test]
fn append_with_a_gap_is_refused() {
    suite(|s| {
        s.append(&ents(1..=3, 1)).expect("append");
        assert!(matches!(
            s.append(&ents(5..=6, 1)),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.append(&[ent(4, 1), ent(6, 1)]),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.last_index().expect("last"), 3);
    });
}

#[test]
fn snapshot_compacts_the_prefix() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        s.set_hard_state(HardState {
            term: 1,
            vote: Some(1),
            commit: 8,
        })
        .expect("hs");
        let snap = s
            .create_snapshot(6, ConfState::with_voters([1, 2, 3]), b"state".to_vec())
            .expect("snapshot");
        assert_eq!((snap.index, snap.term), (6, 1));
        assert_eq!(s.first_index().expect("first"), 7);
        assert_eq!(s.term(6).expect("term of snapshot index"), 1);
        assert_eq!(s.term(5), Err(StorageError::Compacted));
        assert_eq!(s.entries(5, 8, None), Err(StorageError::Compacted));
        assert_eq!(s.entries(7, 11, None).expect("entries"), ents(7..=10, 1));
        assert_eq!(s.snapshot(0).expect("snapshot").data, b"state".to_vec());
    });
}

#[test]
fn snapshot_beyond_commit_is_refused() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        s.set_hard_state(HardState {
            term: 1,
            vote: None,
            commit: 3,
        })
        .expect("hs");
        assert!(
            s.create_snapshot(5, ConfState::default(), Vec::new())
                .is_err()
        );
    });
}

#[test]
fn applying_a_conflicting_snapshot_discards_the_log() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        let mut snap = raft_core::Snapshot::default();
        snap.meta.index = 8;
        snap.meta.term = 3;
        snap.meta.conf_state = ConfState::with_voters([1, 2]);
        s.apply_snapshot(snap).expect("apply");
        assert_eq!(s.first_index().expect("first"), 9);
        assert_eq!(s.last_index().expect("last"), 8);
        assert_eq!(s.term(8).expect("term"), 3);
        assert_eq!(
            s.initial_state().expect("state").1,
            ConfState::with_voters([1, 2])
        );
        s.append(&ents(9..=9, 3)).expect("append after snapshot");
        assert_eq!(s.last_index().expect("last"), 9);
    });
}

#[test]
fn applying_a_matching_snapshot_keeps_the_tail() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        let mut snap = raft_core::Snapshot::default();
        snap.meta.index = 4;
        snap.meta.term = 1;
        s.apply_snapshot(snap).expect("apply");
        assert_eq!(s.first_index().expect("first"), 5);
        assert_eq!(s.last_index().expect("last"), 10);
    });
}

#[test]
fn stale_snapshot_is_refused() {
    suite(|s| {
        s.append(&ents(1..=10, 1)).expect("append");
        s.set_hard_state(HardState {
            term: 1,
            vote: None,
            commit: 10,
        })
        .expect("hs");
        s.create_snapshot(6, ConfState::default(), Vec::new())
            .expect("snapshot");
        let mut old = raft_core::Snapshot::default();
        old.meta.index = 5;
        old.meta.term = 1;
        assert!(s.apply_snapshot(old).is_err());
        assert_eq!(s.first_index().expect("first"), 7);
    });
}
