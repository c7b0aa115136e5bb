//! Crash recovery of the file backend: torn tails, corruption, and a random
//! operation history checked against the in-memory backend.

use raft_core::{ConfState, DetRng, Entry, EntryPayload, HardState, Storage};
use raft_storage::{
    FileStorage, FileStorageOptions, HardStateStore, LogStore, MemStorage, StoreError,
};
use std::fs;
use std::path::{Path, PathBuf};

fn ent(index: u64, term: u64, size: usize) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Normal(vec![(index % 251) as u8; size]),
    }
}

fn open(dir: &Path, segment_bytes: u64) -> Result<FileStorage, StoreError> {
    FileStorage::open(
        dir,
        ConfState::with_voters([1]),
        FileStorageOptions { segment_bytes },
    )
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir.join("wal"))
        .expect("wal dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}

/// The written part of a segment: segments are preallocated, and the
/// reserved rest reads as zeros (the entries written here end in non-zero
/// bytes).
fn written_part(seg: &Path) -> Vec<u8> {
    let mut bytes = fs::read(seg).expect("read segment");
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    bytes.truncate(end);
    bytes
}

fn all_entries(s: &FileStorage) -> Vec<Entry> {
    let first = s.first_index().expect("first");
    let last = s.last_index().expect("last");
    s.entries(first, last + 1, None).expect("entries")
}

#[test]
fn recovers_everything_after_a_clean_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let written: Vec<Entry> = (1..=50).map(|i| ent(i, 1 + i / 20, 30)).collect();
    {
        let s = open(dir.path(), 300).expect("open");
        for chunk in written.chunks(7) {
            s.append(chunk).expect("append");
        }
        s.set_hard_state(HardState {
            term: 3,
            vote: Some(1),
            commit: 40,
        })
        .expect("hs");
    }
    assert!(segments(dir.path()).len() > 3, "small segments roll over");
    let s = open(dir.path(), 300).expect("reopen");
    assert_eq!(all_entries(&s), written);
    assert_eq!(
        s.initial_state().expect("state").0,
        HardState {
            term: 3,
            vote: Some(1),
            commit: 40
        }
    );
}

#[test]
fn torn_last_record_is_truncated_at_every_byte_offset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let written: Vec<Entry> = (1..=5).map(|i| ent(i, 1, 40)).collect();
    {
        let s = open(dir.path(), 1 << 20).expect("open");
        s.append(&written[..4]).expect("append");
        s.append(&written[4..]).expect("append");
    }
    let seg = segments(dir.path()).pop().expect("one segment");
    let full = written_part(&seg);
    let last_len = raft_storage::record::HEADER_LEN + postcard_len(&written[4]);
    let last_start = full.len() - last_len;
    // Cut short as an extending file is, and as a preallocated one is (the
    // bytes never written read as zeros).
    for zeros in [0, 4096] {
        for cut in last_start..full.len() {
            let mut torn = full[..cut].to_vec();
            torn.resize(cut + zeros, 0);
            fs::write(&seg, &torn).expect("cut segment");
            let s = open(dir.path(), 1 << 20).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(all_entries(&s), written[..4].to_vec(), "cut at {cut}");
            drop(s);
            assert_eq!(
                written_part(&seg).len(),
                last_start,
                "tail cut off on disk (cut at {cut}, {zeros} zeros)"
            );
        }
    }
}

#[test]
fn segments_are_preallocated_and_appends_continue_after_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let written: Vec<Entry> = (1..=6).map(|i| ent(i, 1, 40)).collect();
    {
        let s = open(dir.path(), 1 << 20).expect("open");
        s.append(&written[..3]).expect("append");
    }
    let seg = segments(dir.path()).pop().expect("one segment");
    assert_eq!(
        fs::metadata(&seg).expect("meta").len(),
        1 << 20,
        "the segment is reserved at its full size"
    );
    let data = written_part(&seg).len();
    {
        let s = open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(all_entries(&s), written[..3].to_vec());
        s.append(&written[3..])
            .expect("append after the records, not the file's end");
    }
    assert!(written_part(&seg).len() > data);
    assert_eq!(fs::metadata(&seg).expect("meta").len(), 1 << 20);
    let s = open(dir.path(), 1 << 20).expect("reopen");
    assert_eq!(all_entries(&s), written);
    // A conflicting suffix is removed, and later appends land after what stays.
    s.append(&[ent(5, 2, 40)]).expect("overwrite from 5");
    drop(s);
    let s = open(dir.path(), 1 << 20).expect("reopen");
    let mut expected = written[..4].to_vec();
    expected.push(ent(5, 2, 40));
    assert_eq!(all_entries(&s), expected);
}

fn postcard_len(e: &Entry) -> usize {
    // The WAL stores postcard; measure through a round trip of the real file format.
    let dir = tempfile::tempdir().expect("temp dir");
    let s = open(dir.path(), 1 << 20).expect("open");
    let mut e = e.clone();
    e.index = 1;
    s.append(&[e]).expect("append");
    let seg = segments(dir.path()).pop().expect("segment");
    written_part(&seg).len() - raft_storage::record::HEADER_LEN
}

#[test]
fn flipped_byte_in_a_middle_record_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let s = open(dir.path(), 1 << 20).expect("open");
        s.append(&(1..=10).map(|i| ent(i, 1, 40)).collect::<Vec<_>>())
            .expect("append");
    }
    let seg = segments(dir.path()).pop().expect("segment");
    let mut bytes = fs::read(&seg).expect("read");
    let middle = written_part(&seg).len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&seg, &bytes).expect("write");
    let err = open(dir.path(), 1 << 20).expect_err("corruption must stop recovery");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{msg}");
    assert!(
        msg.contains(&seg.display().to_string()),
        "names the file: {msg}"
    );
    assert!(msg.contains("offset"), "names the offset: {msg}");
}

#[test]
fn damaged_state_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let s = open(dir.path(), 1 << 20).expect("open");
        s.set_hard_state(HardState {
            term: 2,
            vote: Some(1),
            commit: 0,
        })
        .expect("hs");
    }
    let path = dir.path().join("state");
    let mut bytes = fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, &bytes).expect("write");
    let err = open(dir.path(), 1 << 20).expect_err("must refuse");
    assert!(err.to_string().contains("state"), "{err}");
}

#[test]
fn random_operations_match_the_memory_backend_after_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = DetRng::new(2024);
    let mem = MemStorage::with_conf_state(ConfState::with_voters([1]));
    let mut file = open(dir.path(), 512).expect("open");
    let mut term = 1;
    let mut commit = 0;
    for step in 0..3000 {
        let last = mem.last_index().expect("last");
        let first = mem.first_index().expect("first");
        match rng.range(0, 10) {
            0..=5 => {
                // Append, sometimes over a suffix.
                let from = if last >= first && rng.range(0, 3) == 0 {
                    rng.range(first.max(commit + 1), last + 2)
                } else {
                    last + 1
                };
                if rng.range(0, 4) == 0 {
                    term += 1;
                }
                let n = rng.range(1, 6);
                let batch: Vec<Entry> = (from..from + n)
                    .map(|i| ent(i, term, rng.range(0, 60) as usize))
                    .collect();
                mem.append(&batch).expect("mem append");
                file.append(&batch).expect("file append");
            }
            6 | 7 => {
                commit = rng.range(commit, last + 1).max(commit);
                let hs = HardState {
                    term,
                    vote: Some(1),
                    commit,
                };
                mem.set_hard_state(hs).expect("mem hs");
                file.set_hard_state(hs).expect("file hs");
            }
            8 if commit >= first => {
                let at = rng.range(first, commit + 1);
                let cs = ConfState::with_voters([1]);
                mem.create_snapshot(at, cs.clone(), vec![1, 2, 3])
                    .expect("mem snap");
                file.create_snapshot(at, cs, vec![1, 2, 3])
                    .expect("file snap");
            }
            _ => {
                drop(file);
                file = open(dir.path(), 512).expect("reopen");
                file.set_hard_state(mem.hard_state())
                    .expect("restore commit");
            }
        }
        assert_eq!(
            file.first_index().expect("first"),
            mem.first_index().expect("first"),
            "step {step}"
        );
        assert_eq!(
            file.last_index().expect("last"),
            mem.last_index().expect("last"),
            "step {step}"
        );
    }
    drop(file);
    let file = open(dir.path(), 512).expect("final reopen");
    let first = mem.first_index().expect("first");
    assert_eq!(file.first_index().expect("first"), first);
    assert_eq!(all_entries(&file), mem.all_entries());
    assert_eq!(
        file.term(first - 1).expect("snapshot term"),
        mem.term(first - 1).expect("snapshot term")
    );
    assert_eq!(
        file.snapshot(0).expect("snap"),
        mem.snapshot(0).expect("snap")
    );
}

/// Found by the `wal_recovery` fuzz target: an empty segment file whose name
/// is below the snapshot (a leftover of a crash) became the active segment,
/// took the next entry, and the store then refused to open ("entry index 128
/// where 1 was expected"): an acknowledged append made the node unstartable.
#[test]
fn an_append_after_a_stale_empty_segment_survives_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let s = open(dir.path(), 1 << 20).expect("open");
        let written: Vec<Entry> = (1..=127).map(|i| ent(i, 3, 10)).collect();
        s.append(&written).expect("append");
        s.set_hard_state(HardState {
            term: 3,
            vote: None,
            commit: 127,
        })
        .expect("hs");
        s.create_snapshot(127, ConfState::with_voters([1]), b"state".to_vec())
            .expect("snapshot");
    }
    fs::write(dir.path().join("wal").join(format!("{:020}.wal", 1)), b"").expect("stale segment");
    {
        let s = open(dir.path(), 1 << 20).expect("opens beside the stale segment");
        assert_eq!(s.last_index().expect("last"), 127);
        s.append(&[ent(128, 3, 10)]).expect("append 128");
    }
    let s = open(dir.path(), 1 << 20).expect("reopens after the append");
    assert_eq!(s.last_index().expect("last"), 128);
    assert_eq!(all_entries(&s), vec![ent(128, 3, 10)]);
}

/// 300 entries in small segments, snapshots at 100 and 200, commit 300.
fn two_snapshots(dir: &Path) -> Vec<Entry> {
    let s = open(dir, 400).expect("open");
    let written: Vec<Entry> = (1..=300).map(|i| ent(i, 2, 20)).collect();
    s.append(&written).expect("append");
    s.set_hard_state(HardState {
        term: 2,
        vote: Some(1),
        commit: 300,
    })
    .expect("hs");
    for index in [100, 200] {
        s.create_snapshot(
            index,
            ConfState::with_voters([1]),
            format!("s{index}").into_bytes(),
        )
        .expect("snapshot");
    }
    assert!(
        dir.join("snapshot.prev").exists(),
        "the previous snapshot is kept"
    );
    written
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).expect("read");
    bytes[at] ^= 0x40;
    fs::write(path, bytes).expect("write");
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_previous_one_and_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let written = two_snapshots(dir.path());
    flip_byte(&dir.path().join("snapshot"), 20);
    let s = open(dir.path(), 400).expect("recovers from the previous snapshot");
    let snap = s.snapshot(0).expect("snapshot");
    assert_eq!((snap.meta.index, snap.data.as_slice()), (100, &b"s100"[..]));
    assert_eq!(s.first_index().expect("first"), 101);
    assert_eq!(
        all_entries(&s),
        written[100..].to_vec(),
        "the log since it is whole"
    );
    assert!(
        dir.path().join("snapshot.damaged").exists(),
        "kept for inspection"
    );
    // The next snapshot works and the store reopens cleanly.
    s.create_snapshot(250, ConfState::with_voters([1]), b"s250".to_vec())
        .expect("snapshot");
    drop(s);
    let s = open(dir.path(), 400).expect("reopen");
    assert_eq!(s.snapshot(0).expect("snapshot").meta.index, 250);
    assert_eq!(all_entries(&s), written[250..].to_vec());
}

#[test]
fn a_crash_between_the_snapshot_renames_recovers_the_previous_snapshot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let written = two_snapshots(dir.path());
    // A third snapshot was being installed: `snapshot` (200) had become
    // `snapshot.prev`, and the new file was still `snapshot.next`.
    fs::rename(
        dir.path().join("snapshot"),
        dir.path().join("snapshot.prev"),
    )
    .expect("rename");
    fs::write(dir.path().join("snapshot.next"), b"half written").expect("write");
    let s = open(dir.path(), 400).expect("recovers");
    assert_eq!(s.snapshot(0).expect("snapshot").meta.index, 200);
    assert_eq!(all_entries(&s), written[200..].to_vec());
    assert!(!dir.path().join("snapshot.next").exists());
}

#[test]
fn a_damaged_snapshot_without_a_usable_fallback_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let s = open(dir.path(), 400).expect("open");
        s.append(&(1..=50).map(|i| ent(i, 1, 20)).collect::<Vec<_>>())
            .expect("append");
        s.set_hard_state(HardState {
            term: 1,
            vote: None,
            commit: 50,
        })
        .expect("hs");
        s.create_snapshot(40, ConfState::with_voters([1]), b"only".to_vec())
            .expect("snapshot");
    }
    flip_byte(&dir.path().join("snapshot"), 20);
    match open(dir.path(), 400) {
        Err(StoreError::Corrupt { path, .. }) => assert!(path.ends_with("snapshot")),
        other => panic!("expected a corruption error, got {other:?}"),
    }
    // A previous snapshot whose log is gone (deleted segments) is no fallback.
    let dir = tempfile::tempdir().expect("temp dir");
    two_snapshots(dir.path());
    for seg in segments(dir.path()).iter().take(3) {
        fs::remove_file(seg).expect("remove segment");
    }
    flip_byte(&dir.path().join("snapshot"), 20);
    assert!(
        matches!(open(dir.path(), 400), Err(StoreError::Corrupt { .. })),
        "the log does not reach back to the previous snapshot"
    );
}

/// Found by the `wal_recovery` fuzz target: a well-formed snapshot file
/// claiming index u64::MAX made the log's first index wrap to 0 and the next
/// append panic. Absurd indexes on disk are corruption errors.
#[test]
fn an_out_of_range_index_on_disk_is_a_corruption_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let snapshot = raft_core::Snapshot {
        meta: raft_core::SnapshotMeta {
            index: u64::MAX,
            term: 3,
            conf_state: ConfState::with_voters([1]),
        },
        data: Vec::new(),
    };
    let bytes = postcard::to_stdvec(&snapshot).expect("encodes");
    raft_storage::atomic_file::write(&dir.path().join("snapshot"), &bytes).expect("write");
    assert!(matches!(
        open(dir.path(), 400),
        Err(StoreError::Corrupt { .. })
    ));
    // A snapshot at the largest index opens, but the log cannot grow past it
    // (found next by the same target: the append made a segment it refused).
    let dir = tempfile::tempdir().expect("temp dir");
    let at_max = raft_core::Snapshot {
        meta: raft_core::SnapshotMeta {
            index: raft_storage::wal::MAX_INDEX,
            ..snapshot.meta.clone()
        },
        data: Vec::new(),
    };
    let bytes = postcard::to_stdvec(&at_max).expect("encodes");
    raft_storage::atomic_file::write(&dir.path().join("snapshot"), &bytes).expect("write");
    let s = open(dir.path(), 400).expect("opens");
    let next = ent(raft_storage::wal::MAX_INDEX + 1, 3, 1);
    assert!(matches!(s.append(&[next]), Err(StoreError::Invalid(_))));
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("wal")).expect("wal dir");
    fs::write(
        dir.path().join("wal").join(format!("{}.wal", u64::MAX)),
        b"",
    )
    .expect("segment");
    assert!(matches!(
        open(dir.path(), 400),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn unsynced_entries_are_readable_at_once_and_snapshottable_only_once_synced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path(), 4096).expect("open");
    let first: Vec<Entry> = (1..=5).map(|i| ent(i, 1, 100)).collect();
    let rest: Vec<Entry> = (6..=60).map(|i| ent(i, 1, 100)).collect();
    s.append(&first).expect("append");
    s.append_unsynced(&rest)
        .expect("append unsynced (crosses segments)");
    assert_eq!(s.last_index().expect("last"), 60);
    assert_eq!(s.entries(58, 61, None).expect("read"), rest[52..].to_vec());
    s.set_hard_state(HardState {
        term: 1,
        vote: Some(1),
        commit: 60,
    })
    .expect("hs");
    assert!(
        matches!(
            s.create_snapshot(40, ConfState::with_voters([1]), vec![1]),
            Err(StoreError::NotYetDurable { last: 5, .. })
        ),
        "a snapshot may not cover entries that are not durable yet"
    );
    s.sync_log().expect("sync");
    s.create_snapshot(40, ConfState::with_voters([1]), vec![1])
        .expect("durable now");
    drop(s);
    let s = open(dir.path(), 4096).expect("reopen");
    assert_eq!(s.last_index().expect("last"), 60);
    assert!(
        all_entries(&s) == rest[35..],
        "entries 41..=60 survive the reopen"
    );
}
