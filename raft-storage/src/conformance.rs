//! The storage conformance suite: every behaviour the consensus core and the
//! runtime rely on from a backend, as checks any backend can run (in the manner
//! of openraft's `testing/log/suite.rs`). [`run_all`] runs every check against
//! fresh stores from a factory; `tests/conformance.rs` runs it for both backends
//! here, and a third-party backend runs it in its own tests.
//!
//! A store under test starts empty with the membership `{1, 2, 3}`. Checks
//! panic (they are test code) with the check's name in the message.

use crate::{HardStateStore, LogStore, StoreError};
use raft_core::{ConfState, Entry, EntryPayload, HardState, Storage, StorageError};

/// What a backend must implement to be checked.
pub trait Backend: Storage + LogStore + HardStateStore {}
impl<T: Storage + LogStore + HardStateStore> Backend for T {}

/// One named check.
pub type Check = (&'static str, fn(&dyn Backend));

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

/// Every check, by name.
pub const CHECKS: &[Check] = &[
    (
        "new_store_is_empty_with_its_initial_membership",
        new_store_is_empty_with_its_initial_membership,
    ),
    (
        "appended_entries_read_back_in_order",
        appended_entries_read_back_in_order,
    ),
    (
        "entries_respect_max_bytes_but_return_at_least_one",
        entries_respect_max_bytes_but_return_at_least_one,
    ),
    (
        "append_over_a_conflict_truncates_the_suffix",
        append_over_a_conflict_truncates_the_suffix,
    ),
    ("append_with_a_gap_is_refused", append_with_a_gap_is_refused),
    ("snapshot_compacts_the_prefix", snapshot_compacts_the_prefix),
    (
        "snapshot_beyond_commit_is_refused",
        snapshot_beyond_commit_is_refused,
    ),
    (
        "applying_a_conflicting_snapshot_discards_the_log",
        applying_a_conflicting_snapshot_discards_the_log,
    ),
    (
        "applying_a_matching_snapshot_keeps_the_tail",
        applying_a_matching_snapshot_keeps_the_tail,
    ),
    ("stale_snapshot_is_refused", stale_snapshot_is_refused),
    (
        "unsynced_appends_read_back_and_sync",
        unsynced_appends_read_back_and_sync,
    ),
];

/// Runs every check, each against a fresh store from `fresh` (empty, with
/// the voters `{1, 2, 3}`). Panics naming the first check that fails.
pub fn run_all<S: Backend>(fresh: impl Fn() -> S) {
    for (name, check) in CHECKS {
        let store = fresh();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&store)));
        if let Err(e) = outcome {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("storage conformance check `{name}` failed: {why}");
        }
    }
}

/// Conformance check `new_store_is_empty_with_its_initial_membership`.
pub fn new_store_is_empty_with_its_initial_membership(s: &dyn Backend) {
    let (hs, cs) = s.initial_state().expect("initial state");
    assert_eq!(hs, HardState::default());
    assert_eq!(cs, ConfState::with_voters([1, 2, 3]));
    assert_eq!(s.first_index().expect("first"), 1);
    assert_eq!(s.last_index().expect("last"), 0);
    assert_eq!(s.term(0).expect("term 0"), 0);
}

/// Conformance check `appended_entries_read_back_in_order`.
pub fn appended_entries_read_back_in_order(s: &dyn Backend) {
    s.append(&ents(1..=10, 1)).expect("append");
    assert_eq!(s.last_index().expect("last"), 10);
    assert_eq!(s.entries(3, 7, None).expect("entries"), ents(3..=6, 1));
    assert_eq!(s.term(10).expect("term"), 1);
    assert_eq!(s.term(11), Err(StorageError::Unavailable(11)));
}

/// Conformance check `entries_respect_max_bytes_but_return_at_least_one`.
pub fn entries_respect_max_bytes_but_return_at_least_one(s: &dyn Backend) {
    s.append(&ents(1..=10, 1)).expect("append");
    assert_eq!(s.entries(1, 11, Some(0)).expect("entries").len(), 1);
    let one = ent(1, 1).size_hint();
    assert_eq!(s.entries(1, 11, Some(3 * one)).expect("entries").len(), 3);
}

/// Conformance check `append_over_a_conflict_truncates_the_suffix`.
pub fn append_over_a_conflict_truncates_the_suffix(s: &dyn Backend) {
    s.append(&ents(1..=10, 1)).expect("append");
    s.append(&ents(6..=7, 2)).expect("append");
    assert_eq!(s.last_index().expect("last"), 7);
    assert_eq!(s.term(5).expect("term"), 1);
    assert_eq!(s.term(6).expect("term"), 2);
    assert_eq!(
        s.entries(5, 8, None).expect("entries"),
        vec![ent(5, 1), ent(6, 2), ent(7, 2)]
    );
}

/// Conformance check `append_with_a_gap_is_refused`.
pub fn append_with_a_gap_is_refused(s: &dyn Backend) {
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
}

/// Conformance check `snapshot_compacts_the_prefix`.
pub fn snapshot_compacts_the_prefix(s: &dyn Backend) {
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
}

/// Conformance check `snapshot_beyond_commit_is_refused`.
pub fn snapshot_beyond_commit_is_refused(s: &dyn Backend) {
    s.append(&ents(1..=10, 1)).expect("append");
    s.set_hard_state(HardState {
        term: 1,
        vote: None,
        commit: 3,
    })
    .expect("hs");
    assert!(matches!(
        s.create_snapshot(5, ConfState::default(), Vec::new()),
        Err(StoreError::NotYetDurable {
            index: 5,
            commit: 3,
            ..
        })
    ));
}

/// Conformance check `applying_a_conflicting_snapshot_discards_the_log`.
pub fn applying_a_conflicting_snapshot_discards_the_log(s: &dyn Backend) {
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
}

/// Conformance check `applying_a_matching_snapshot_keeps_the_tail`.
pub fn applying_a_matching_snapshot_keeps_the_tail(s: &dyn Backend) {
    s.append(&ents(1..=10, 1)).expect("append");
    let mut snap = raft_core::Snapshot::default();
    snap.meta.index = 4;
    snap.meta.term = 1;
    s.apply_snapshot(snap).expect("apply");
    assert_eq!(s.first_index().expect("first"), 5);
    assert_eq!(s.last_index().expect("last"), 10);
}

/// Conformance check `stale_snapshot_is_refused`.
pub fn stale_snapshot_is_refused(s: &dyn Backend) {
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
}

/// Conformance check `unsynced_appends_read_back_and_sync`: entries written
/// without a sync are readable at once, replace a conflicting suffix like an
/// append, and a sync makes them snapshottable.
pub fn unsynced_appends_read_back_and_sync(s: &dyn Backend) {
    s.append(&ents(1..=5, 1)).expect("append");
    s.append_unsynced(&ents(6..=8, 1)).expect("append unsynced");
    s.append_unsynced(&ents(8..=10, 2))
        .expect("append unsynced over 8");
    assert_eq!(s.last_index().expect("last"), 10);
    assert_eq!(s.term(7).expect("term"), 1);
    assert_eq!(s.entries(8, 11, None).expect("entries"), ents(8..=10, 2));
    s.sync_log().expect("sync");
    s.set_hard_state(HardState {
        term: 2,
        vote: None,
        commit: 10,
    })
    .expect("hs");
    s.create_snapshot(9, ConfState::default(), Vec::new())
        .expect("snapshot over synced entries");
    assert_eq!(s.first_index().expect("first"), 10);
}
