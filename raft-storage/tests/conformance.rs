//! The storage conformance suite (`raft_storage::conformance`) against both
//! backends.

use raft_core::ConfState;
use raft_storage::{FileStorage, FileStorageOptions, MemStorage, conformance};

#[test]
fn the_memory_backend_conforms() {
    conformance::run_all(|| MemStorage::with_conf_state(ConfState::with_voters([1, 2, 3])));
}

#[test]
fn the_file_backend_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    conformance::run_all(|| {
        let sub = tempfile::tempdir_in(dir.path()).expect("temp dir").keep();
        let opts = FileStorageOptions { segment_bytes: 200 };
        FileStorage::open(&sub, ConfState::with_voters([1, 2, 3]), opts).expect("open")
    });
}
