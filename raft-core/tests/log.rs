//! `RaftLog` on its own (etcd-io/raft `log_test.go` and `log_unstable_test.go`
//! are the model): the unstable suffix, terms at every boundary, conflicts,
//! commit and apply cursors, slices under byte limits.

use raft_core::{ConfState, Entry, EntryPayload, RaftLog, Snapshot, SnapshotMeta, StorageError};
use raft_storage::{LogStore, MemStorage};

/// An entry without payload (16 bytes by `Entry::size_hint`).
fn ent(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Noop,
    }
}

/// A log whose storage holds entries 1.. with the given terms.
fn log_over(terms: &[u64]) -> (RaftLog<MemStorage>, MemStorage) {
    let storage = MemStorage::with_conf_state(ConfState::with_voters([1]));
    let ents: Vec<Entry> = (1..).zip(terms).map(|(i, &t)| ent(i, t)).collect();
    storage.append(&ents).expect("append to memory");
    let log = RaftLog::new(storage.clone()).expect("log over memory");
    (log, storage)
}

fn indexes_and_terms(ents: &[Entry]) -> Vec<(u64, u64)> {
    ents.iter().map(|e| (e.index, e.term)).collect()
}

fn snapshot(index: u64, term: u64) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            conf_state: ConfState::with_voters([1]),
        },
        data: vec![],
    }
}

#[test]
fn an_empty_log_ends_at_zero() {
    let (log, _) = log_over(&[]);
    assert_eq!((log.first_index(), log.last_index()), (1, 0));
    assert_eq!(log.last_term(), 0);
    assert_eq!(log.term(0), Ok(0));
}

#[test]
fn appending_after_the_last_entry_extends_the_unstable_suffix() {
    let (mut log, _) = log_over(&[1, 1]);
    assert_eq!(log.append(&[ent(3, 1), ent(4, 2)]), 4);
    assert_eq!(log.append(&[ent(5, 2)]), 5);
    assert_eq!(
        indexes_and_terms(log.unstable_entries()),
        [(3, 1), (4, 2), (5, 2)]
    );
    assert_eq!(log.last_term(), 2);
}

#[test]
fn an_append_inside_the_unstable_suffix_cuts_what_follows() {
    let (mut log, _) = log_over(&[1]);
    log.append(&[ent(2, 1), ent(3, 1), ent(4, 1)]);
    assert_eq!(log.append(&[ent(3, 2)]), 3, "entry 4 is gone");
    assert_eq!(indexes_and_terms(log.unstable_entries()), [(2, 1), (3, 2)]);
    assert_eq!((log.term(2), log.term(3)), (Ok(1), Ok(2)));
    let all = log.entries_from(1, None).expect("entries 1..=3");
    assert_eq!(indexes_and_terms(&all), [(1, 1), (2, 1), (3, 2)]);
}

#[test]
fn an_append_below_the_unstable_suffix_replaces_it() {
    let (mut log, _) = log_over(&[1, 1, 1]);
    log.append(&[ent(4, 1), ent(5, 1)]);
    assert_eq!(log.append(&[ent(2, 3)]), 2);
    assert_eq!(indexes_and_terms(log.unstable_entries()), [(2, 3)]);
    assert_eq!((log.term(1), log.term(2)), (Ok(1), Ok(3)));
    assert_eq!(log.term(3), Err(StorageError::Unavailable(3)));
}

#[test]
fn terms_come_from_storage_and_unstable_and_stop_at_the_ends() {
    let (mut log, _) = log_over(&[1, 2, 3]);
    log.append(&[ent(4, 5)]);
    assert_eq!(log.term(3), Ok(3), "from storage");
    assert_eq!(log.term(4), Ok(5), "from unstable");
    assert_eq!(log.term(5), Err(StorageError::Unavailable(5)));
    assert!(log.match_term(3, 3));
    assert!(!log.match_term(3, 2));
    assert!(!log.match_term(5, 5), "beyond the end matches nothing");
    assert!(log.match_term(0, 0));
}

#[test]
fn terms_below_a_compacted_prefix_are_compacted_and_its_last_is_known() {
    let storage = MemStorage::new();
    storage
        .apply_snapshot(snapshot(5, 2))
        .expect("snapshot into memory");
    storage.append(&[ent(6, 2), ent(7, 3)]).expect("append");
    let log = RaftLog::new(storage).expect("log");
    assert_eq!((log.first_index(), log.last_index()), (6, 7));
    assert_eq!(
        log.term(5),
        Ok(2),
        "the snapshot's own index keeps its term"
    );
    assert_eq!(log.term(4), Err(StorageError::Compacted));
    assert_eq!(log.committed(), 5, "a snapshot is committed");
    assert_eq!(log.applied(), 5, "and the application holds it");
}

#[test]
fn a_received_snapshot_replaces_the_log_and_counts_as_applied_once_installed() {
    let (mut log, _) = log_over(&[1, 1]);
    log.append(&[ent(3, 1)]);
    log.restore(snapshot(10, 3));
    assert_eq!((log.first_index(), log.last_index()), (11, 10));
    assert_eq!(log.term(10), Ok(3), "the pending snapshot's term");
    assert_eq!(log.term(9), Err(StorageError::Compacted));
    assert_eq!(log.term(2), Err(StorageError::Compacted));
    assert!(log.unstable_entries().is_empty());
    assert_eq!(log.committed(), 10);
    assert_eq!(log.applied(), 0, "the application has not installed it yet");
    assert!(
        !log.has_next_committed_entries(),
        "nothing below it to apply"
    );
    assert_eq!(log.snapshot(0).map(|s| s.meta.index), Ok(10));
    log.stable_snapshot_to(10);
    assert!(log.unstable_snapshot().is_none());
    assert_eq!(log.applied(), 10);
    assert_eq!(log.append(&[ent(11, 3)]), 11);
}

#[test]
fn a_longer_or_newer_log_is_up_to_date() {
    let (log, _) = log_over(&[1, 2, 2]);
    assert!(log.is_up_to_date(3, 2), "same last entry");
    assert!(log.is_up_to_date(4, 2), "longer, same term");
    assert!(!log.is_up_to_date(2, 2), "shorter, same term");
    assert!(
        log.is_up_to_date(1, 3),
        "newer term wins whatever the length"
    );
    assert!(
        !log.is_up_to_date(9, 1),
        "older term loses whatever the length"
    );
}

#[test]
fn the_backtracking_hint_is_the_last_entry_no_newer_than_the_term() {
    let (log, _) = log_over(&[1, 1, 2, 2, 4]);
    assert_eq!(log.find_conflict_by_term(5, 3), (4, 2));
    assert_eq!(log.find_conflict_by_term(5, 4), (5, 4));
    assert_eq!(log.find_conflict_by_term(2, 5), (2, 1));
    assert_eq!(
        log.find_conflict_by_term(9, 3),
        (4, 2),
        "clipped to the end"
    );
    assert_eq!(log.find_conflict_by_term(5, 0), (0, 0));
}

#[test]
fn maybe_append_checks_the_previous_entry_and_skips_what_is_there() {
    let (mut log, _) = log_over(&[1, 2, 3]);
    log.commit_to(1);
    assert_eq!(log.maybe_append(3, 2, 3, &[ent(4, 3)]), Ok(None));
    assert_eq!(log.last_index(), 3, "a mismatch writes nothing");
    assert_eq!(
        log.maybe_append(3, 3, 9, &[ent(4, 3), ent(5, 3)]),
        Ok(Some((5, 0)))
    );
    assert_eq!(log.committed(), 5, "commit limited by the last new entry");
    assert_eq!(
        log.maybe_append(1, 1, 0, &[ent(2, 2), ent(3, 3)]),
        Ok(Some((3, 2))),
        "both entries were already there"
    );
    assert_eq!(log.last_index(), 5, "an old append truncates nothing");
}

#[test]
fn maybe_append_overwrites_a_conflicting_suffix_but_never_a_committed_entry() {
    let (mut log, _) = log_over(&[1, 2, 3]);
    log.commit_to(1);
    assert_eq!(
        log.maybe_append(1, 1, 1, &[ent(2, 2), ent(3, 4)]),
        Ok(Some((3, 1)))
    );
    assert_eq!((log.last_index(), log.term(3)), (3, Ok(4)));
    log.commit_to(2);
    assert!(log.maybe_append(0, 0, 2, &[ent(1, 1), ent(2, 5)]).is_err());
    assert_eq!(log.term(2), Ok(2), "the committed entry stands");
    assert_eq!(log.maybe_append(3, 4, 7, &[]), Ok(Some((3, 0))));
    assert_eq!(log.committed(), 3, "a probe commits up to its own end");
}

#[test]
fn only_entries_of_the_given_term_commit_by_counting() {
    let (mut log, _) = log_over(&[1, 1, 2]);
    assert!(!log.maybe_commit(3, 1), "entry 3 is not from term 1");
    assert!(log.maybe_commit(3, 2));
    assert_eq!(log.committed(), 3);
    assert!(!log.maybe_commit(2, 1), "commit never moves back");
    log.commit_to(1);
    assert_eq!(log.committed(), 3);
}

#[test]
fn committed_entries_are_handed_out_once_and_applied_when_reported() {
    let (mut log, _) = log_over(&[1, 1, 1]);
    assert!(!log.has_next_committed_entries());
    log.commit_to(3);
    assert!(log.has_next_committed_entries());
    let first = log.take_committed_entries(Some(1)).expect("entries");
    assert_eq!(indexes_and_terms(&first), [(1, 1)], "at least one entry");
    let rest = log.take_committed_entries(None).expect("entries");
    assert_eq!(indexes_and_terms(&rest), [(2, 1), (3, 1)]);
    assert!(!log.has_next_committed_entries());
    assert_eq!(log.applied(), 0, "handed out is not applied");
    log.applied_to(3);
    assert_eq!(log.applied(), 3);
    log.applied_to(2);
    assert_eq!(log.applied(), 3, "applied never moves back");
}

#[test]
fn slices_span_storage_and_unstable_within_a_byte_limit() {
    let (mut log, _) = log_over(&[1, 1]);
    log.append(&[ent(3, 2), ent(4, 2)]);
    let all = log.slice(1, 5, None).expect("1..5");
    assert_eq!(indexes_and_terms(&all), [(1, 1), (2, 1), (3, 2), (4, 2)]);
    let mid = log.slice(2, 4, None).expect("2..4");
    assert_eq!(indexes_and_terms(&mid), [(2, 1), (3, 2)]);
    assert_eq!(log.slice(3, 3, None), Ok(vec![]));
    assert_eq!(log.slice(0, 2, None), Err(StorageError::Compacted));
    assert_eq!(log.slice(1, 6, None), Err(StorageError::Unavailable(5)));
    let limited = log.slice(2, 5, Some(40)).expect("2..5 in 40 bytes");
    assert_eq!(indexes_and_terms(&limited), [(2, 1), (3, 2)]);
    let one = log.slice(3, 5, Some(1)).expect("3..5 in 1 byte");
    assert_eq!(indexes_and_terms(&one), [(3, 2)], "never empty");
    let exact = log.slice(2, 5, Some(32)).expect("2..5 in 32 bytes");
    assert_eq!(
        indexes_and_terms(&exact),
        [(2, 1), (3, 2)],
        "entries that fill the limit exactly fit"
    );
}

#[test]
fn a_slice_that_hits_the_byte_limit_in_storage_leaves_no_gap() {
    let storage = MemStorage::with_conf_state(ConfState::with_voters([1]));
    let big = Entry {
        index: 2,
        term: 1,
        payload: EntryPayload::Normal(vec![0; 100]),
    };
    storage.append(&[ent(1, 1), big]).expect("append to memory");
    let mut log = RaftLog::new(storage).expect("log over memory");
    log.append(&[ent(3, 1)]);
    // Entry 1 (16 bytes) fits in 40, entry 2 (116) does not; entry 3 (16)
    // would fit the bytes left, but must not follow entry 1.
    let got = log.slice(1, 4, Some(40)).expect("1..4 in 40 bytes");
    assert_eq!(indexes_and_terms(&got), [(1, 1)]);
}

#[test]
fn persisted_entries_leave_the_unstable_suffix_only_if_their_term_matches() {
    let (mut log, storage) = log_over(&[1, 1]);
    log.append(&[ent(3, 1), ent(4, 1)]);
    log.stable_to(4, 2);
    assert_eq!(
        log.unstable_entries().len(),
        2,
        "a stale persistence report"
    );
    storage.append(&[ent(3, 1)]).expect("append");
    log.stable_to(3, 1);
    assert_eq!(indexes_and_terms(log.unstable_entries()), [(4, 1)]);
    log.stable_to(2, 1);
    assert_eq!(indexes_and_terms(log.unstable_entries()), [(4, 1)]);
    assert_eq!((log.term(3), log.term(4)), (Ok(1), Ok(1)));
}

#[test]
fn entries_handed_out_stay_readable_but_are_not_handed_out_twice() {
    let (mut log, _) = log_over(&[1]);
    log.append(&[ent(2, 1), ent(3, 1)]);
    assert_eq!(
        indexes_and_terms(log.entries_to_persist()),
        [(2, 1), (3, 1)]
    );
    log.handed_out_to(3);
    assert!(log.entries_to_persist().is_empty());
    assert_eq!(log.term(3), Ok(1), "still read from the unstable suffix");
    log.append(&[ent(4, 1)]);
    assert_eq!(indexes_and_terms(log.entries_to_persist()), [(4, 1)]);
    log.stable_to(3, 1);
    assert_eq!(indexes_and_terms(log.unstable_entries()), [(4, 1)]);
    assert_eq!(indexes_and_terms(log.entries_to_persist()), [(4, 1)]);
}

#[test]
fn a_replaced_entry_is_handed_out_again_and_a_report_of_the_old_one_is_ignored() {
    let (mut log, _) = log_over(&[1]);
    log.append(&[ent(2, 1), ent(3, 1), ent(4, 1)]);
    log.handed_out_to(4);
    log.append(&[ent(3, 2)]);
    assert_eq!(indexes_and_terms(log.entries_to_persist()), [(3, 2)]);
    log.stable_to(3, 1);
    assert_eq!(
        indexes_and_terms(log.unstable_entries()),
        [(2, 1), (3, 2)],
        "a report for the replaced entry drops nothing"
    );
    log.stable_to(2, 1);
    assert_eq!(indexes_and_terms(log.unstable_entries()), [(3, 2)]);
    assert_eq!(indexes_and_terms(log.entries_to_persist()), [(3, 2)]);
}

#[test]
fn a_report_beyond_a_log_truncated_meanwhile_is_ignored() {
    let (mut log, _) = log_over(&[1]);
    log.append(&[ent(2, 1), ent(3, 1), ent(4, 1)]);
    log.handed_out_to(4);
    // A new leader cuts the suffix at 3 while the disk still writes 2..=4.
    log.append(&[ent(3, 2)]);
    log.stable_to(4, 1);
    assert_eq!(
        indexes_and_terms(log.unstable_entries()),
        [(2, 1), (3, 2)],
        "a report for an index the log no longer has drops nothing"
    );
    assert_eq!(log.last_index(), 3);
    assert_eq!(indexes_and_terms(log.entries_to_persist()), [(3, 2)]);
}

#[test]
fn a_report_for_entries_a_restored_snapshot_replaced_is_ignored() {
    let (mut log, _) = log_over(&[1]);
    log.append(&[ent(2, 1), ent(3, 1)]);
    log.handed_out_to(3);
    log.restore(snapshot(5, 2));
    log.stable_to(3, 1);
    assert!(
        log.unstable_snapshot().is_some(),
        "the snapshot still waits to be installed"
    );
    assert_eq!(log.last_index(), 5);
    assert_eq!(log.term(5), Ok(2));
    assert!(log.unstable_entries().is_empty());
}
