//! Recovery of a data dir whose files hold arbitrary content. The input is
//! split into files (WAL segments, the state file, the snapshot file); each is
//! a list of records framed with valid checksums (so decoding is reached)
//! and an optional raw tail (torn or corrupt). Opening must return an error or
//! a store that answers consistently and accepts the next entry, and a second
//! open must recover what the first one left.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raft_core::{ConfState, Entry, Storage};
use raft_storage::{FileStorage, FileStorageOptions, LogStore, record};
use std::path::PathBuf;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("raft-fuzz-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("wal")).expect("temp dir");
    dir
}

/// `[kind, n_records, (len, bytes)*, tail...]` per file, files separated by
/// the input running out.
fn write_files(dir: &std::path::Path, mut data: &[u8]) {
    let mut segment = 1u64;
    while let [kind, n, rest @ ..] = data {
        data = rest;
        let mut out = Vec::new();
        for _ in 0..*n {
            let Some((&len, rest)) = data.split_first() else { break };
            let len = (len as usize).min(rest.len());
            record::encode_into(&mut out, &rest[..len]);
            data = &rest[len..];
        }
        if let Some((&tail, rest)) = data.split_first() {
            let tail = (tail as usize % 16).min(rest.len());
            out.extend_from_slice(&rest[..tail]);
            data = &rest[tail..];
        }
        let path = match kind % 4 {
            0 | 1 => {
                let p = dir.join("wal").join(format!("{segment:020}.wal"));
                segment += 1 + (*kind as u64 >> 4);
                p
            }
            2 => dir.join("state"),
            _ => dir.join("snapshot"),
        };
        std::fs::write(path, out).expect("write scratch file");
    }
}

/// Small segments: rotation is reached, and the preallocated space (which
/// recovery reads through) stays small enough for thousands of runs a second.
fn open(dir: &std::path::Path) -> Option<FileStorage> {
    let options = FileStorageOptions { segment_bytes: 4096 };
    FileStorage::open(dir, ConfState::with_voters([1]), options).ok()
}

fn open_or_panic(dir: &std::path::Path) -> FileStorage {
    let options = FileStorageOptions { segment_bytes: 4096 };
    FileStorage::open(dir, ConfState::with_voters([1]), options)
        .unwrap_or_else(|e| panic!("a store that opened and appended opens again: {e}"))
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    write_files(&dir, data);
    let Some(store) = open(&dir) else { return };
    let (first, last) = (store.first_index().expect("first"), store.last_index().expect("last"));
    assert!(first <= last + 1, "first {first} last {last}");
    let ents = store.entries(first, last + 1, None).expect("recovered entries are readable");
    assert_eq!(ents.len() as u64, last + 1 - first);
    let term = store.term(last).unwrap_or(0);
    let next = Entry {
        term: term.max(1),
        index: last + 1,
        payload: raft_core::EntryPayload::Normal(Vec::new()),
    };
    if store.append(&[next]).is_ok() {
        drop(store);
        let again = open_or_panic(&dir);
        assert_eq!(again.last_index().expect("last"), last + 1);
    }
});
