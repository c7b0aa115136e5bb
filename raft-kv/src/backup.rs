//! Backups (`raft-cli backup`) and restoring one into the data dir of a new
//! cluster (`raft-cli restore`), like `etcdctl snapshot save` and
//! `etcdutl snapshot restore`.
//!
//! A backup file is `RAFTKVB1`, the CRC32C of the data (u32, little endian),
//! the data's length (u64, little endian), then the state in the snapshot
//! format (which carries its own record checksums).
//!
//! Restoring builds a data dir whose log starts with that state as its
//! snapshot, for a NEW cluster: its id is derived from the backup's checksum,
//! the new `--initial-cluster` and the token, so every member restored from the
//! same file with the same flags agrees, and none ever accepts a member or data
//! dir of the cluster the backup came from. The old cluster's member addresses
//! in the state are replaced by the new ones.

use crate::config::NodeConfig;
use raft_core::{ConfState, HardState, Snapshot, SnapshotMeta};
use raft_kv_state::KvStore;
use raft_storage::{FileStorage, FileStorageOptions, HardStateStore, LogStore, StoreError};

const MAGIC: &[u8; 8] = b"RAFTKVB1";

/// Why a backup cannot be written, read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file is not a backup, or is damaged.
    #[error("not a valid backup: {0}")]
    Invalid(String),
    /// The target data dir already holds something.
    #[error("data directory {0} is not empty; restore builds a fresh one")]
    NotEmpty(String),
    /// The configuration of the new member is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Writing the new data dir failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// What a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// The applied index it was taken at.
    pub index: u64,
    /// Keys in it.
    pub keys: usize,
    /// Bytes of state.
    pub bytes: usize,
    /// CRC32C of the state.
    pub crc: u32,
}

/// Frames `state` (from `RAFT.BACKUP`) as a backup file, checking it first.
pub fn encode(state: &[u8]) -> Result<(Vec<u8>, BackupSummary), BackupError> {
    let summary = summarize(state)?;
    let mut out = Vec::with_capacity(state.len() + 20);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&summary.crc.to_le_bytes());
    out.extend_from_slice(&(state.len() as u64).to_le_bytes());
    out.extend_from_slice(state);
    Ok((out, summary))
}

/// The state inside a backup file, checked.
pub fn decode(file: &[u8]) -> Result<(&[u8], BackupSummary), BackupError> {
    let invalid = |why: &str| BackupError::Invalid(why.to_string());
    let rest = file
        .strip_prefix(MAGIC)
        .ok_or_else(|| invalid("no RAFTKVB1 header"))?;
    if rest.len() < 12 {
        return Err(invalid("truncated header"));
    }
    let crc = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes, checked above"));
    let len = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes, checked above"));
    let state = &rest[12..];
    if state.len() as u64 != len {
        return Err(invalid(&format!(
            "{} bytes of state, the header says {len}",
            state.len()
        )));
    }
    if crc32c::crc32c(state) != crc {
        return Err(invalid("checksum mismatch"));
    }
    Ok((state, summarize(state)?))
}

fn summarize(state: &[u8]) -> Result<BackupSummary, BackupError> {
    let store = KvStore::decode_snapshot(state).map_err(|e| BackupError::Invalid(e.to_string()))?;
    Ok(BackupSummary {
        index: store.applied_index(),
        keys: store.len(),
        bytes: state.len(),
        crc: crc32c::crc32c(state),
    })
}

/// Builds `cfg.data_dir` for member `cfg.id` of a new cluster
/// (`cfg.initial_cluster`) whose state starts as `state`.
pub fn restore(cfg: &NodeConfig, state: &[u8], summary: &BackupSummary) -> Result<(), BackupError> {
    cfg.validate()?;
    let dir = &cfg.data_dir;
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(BackupError::NotEmpty(dir.display().to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let mut store =
        KvStore::decode_snapshot(state).map_err(|e| BackupError::Invalid(e.to_string()))?;
    store.retain_members(|_| false);
    store.set_members(&cfg.initial_cluster);
    let token = format!(
        "restore-{:08x}-{}",
        summary.crc,
        cfg.initial_cluster_token.as_deref().unwrap_or("")
    );
    crate::runtime::write_new_cluster_meta(cfg, &token)?;
    let conf = ConfState::with_voters(cfg.initial_cluster.keys().copied());
    let storage = FileStorage::open(
        &dir.join("raft"),
        conf.clone(),
        FileStorageOptions::default(),
    )?;
    if summary.index == 0 {
        return Ok(()); // an empty state: the new cluster starts from nothing
    }
    // The new cluster's history starts at the backup's index, in term 1.
    let meta = SnapshotMeta {
        index: summary.index,
        term: 1,
        conf_state: conf,
    };
    storage.apply_snapshot(Snapshot {
        meta,
        data: store.encode_snapshot(),
    })?;
    storage.set_hard_state(HardState {
        term: 1,
        vote: None,
        commit: summary.index,
    })?;
    storage.flush_hard_state()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_round_trips_and_damage_is_refused() {
        let mut store = KvStore::new();
        store.apply_call(&[b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()], 0);
        store.set_applied_index(7);
        let (file, summary) = encode(&store.encode_snapshot()).expect("valid state");
        assert_eq!((summary.index, summary.keys), (7, 1));
        assert_eq!(decode(&file).expect("round trip").1, summary);
        let mut bad = file.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(decode(&bad).is_err());
        assert!(decode(&file[..file.len() - 1]).is_err());
        assert!(decode(b"NOTABACKUP").is_err());
    }
}
