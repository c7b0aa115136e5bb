//! The cluster-metadata file (`<data-dir>/cluster`: the cluster id and every
//! member's peer address) and the ids a node draws at start.
//!
//! A node bootstrapped with `--initial-cluster` writes the file before anything
//! else; a joining node writes it with cluster id 0 and learns the id from the
//! first member that contacts it. A data dir with Raft state but no cluster
//! file is refused: its cluster cannot be known.

use crate::config::NodeConfig;
use crate::error::NodeError;
use raft_core::NodeId;
use raft_storage::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the cluster metadata file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClusterMeta {
    /// The cluster id; 0 while a joining node has not been contacted.
    pub(crate) cluster_id: u64,
    /// Peer addresses of every member known.
    pub(crate) members: BTreeMap<NodeId, String>,
}

/// The metadata file of `data_dir`.
pub(crate) fn meta_path(data_dir: &Path) -> PathBuf {
    data_dir.join("cluster")
}

/// True if `dir` holds a node's state.
pub fn data_dir_initialized(dir: &Path) -> bool {
    meta_path(dir).exists()
}

/// Replaces the metadata file atomically.
pub(crate) fn write_meta(data_dir: &Path, meta: &ClusterMeta) -> Result<(), StoreError> {
    let bytes = postcard::to_stdvec(meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
    raft_storage::atomic_file::write(&meta_path(data_dir), &bytes)
}

/// The cluster id every initial member derives alike: FNV-1a of the token
/// and the sorted initial membership. Without a token, clusters started with
/// the same `--initial-cluster` share an id (`local` always passes a fresh one).
fn cluster_id_of(token: Option<&str>, members: &BTreeMap<NodeId, String>) -> u64 {
    let mut text: String = members.iter().map(|(id, a)| format!("{id}={a},")).collect();
    if let Some(token) = token {
        text = format!("{token}\n{text}");
    }
    match raft_core::fnv1a(text.as_bytes()) {
        0 => 1, // 0 means "not known yet" (a joining node)
        id => id,
    }
}

/// Writes the cluster file of a new member of `cfg.initial_cluster` whose
/// cluster id comes from `token` (a restored backup's new cluster).
pub fn write_new_cluster_meta(cfg: &NodeConfig, token: &str) -> Result<(), StoreError> {
    let meta = ClusterMeta {
        cluster_id: cluster_id_of(Some(token), &cfg.initial_cluster),
        members: cfg.initial_cluster.clone(),
    };
    write_meta(&cfg.data_dir, &meta)
}

/// Reads the metadata file, or creates it for a new node.
pub(crate) fn load_or_create_meta(cfg: &NodeConfig) -> Result<ClusterMeta, NodeError> {
    let path = meta_path(&cfg.data_dir);
    let storage_err = |source| NodeError::Storage {
        dir: cfg.data_dir.display().to_string(),
        source,
    };
    if let Some(bytes) = raft_storage::atomic_file::read(&path).map_err(storage_err)? {
        return postcard::from_bytes(&bytes).map_err(|e| {
            storage_err(StoreError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: e.to_string(),
            })
        });
    }
    if cfg.join {
        let meta = ClusterMeta {
            cluster_id: 0,
            members: cfg.initial_cluster.clone(),
        };
        write_meta(&cfg.data_dir, &meta).map_err(storage_err)?;
        log::info!("node {} waits to be added to a cluster (--join)", cfg.id);
        return Ok(meta);
    }
    if cfg.data_dir.join("raft").exists() {
        return Err(NodeError::NoClusterFile {
            dir: cfg.data_dir.display().to_string(),
        });
    }
    if cfg.initial_cluster_token.is_none() {
        log::warn!(
            "node {}: no --initial-cluster-token; any cluster started with the same --initial-cluster gets the same id",
            cfg.id
        );
    }
    let meta = ClusterMeta {
        cluster_id: cluster_id_of(cfg.initial_cluster_token.as_deref(), &cfg.initial_cluster),
        members: cfg.initial_cluster.clone(),
    };
    write_meta(&cfg.data_dir, &meta).map_err(storage_err)?;
    log::info!(
        "node {} bootstraps cluster {:#018x} with members {:?}",
        cfg.id,
        meta.cluster_id,
        meta.members
    );
    Ok(meta)
}

/// 64 bits that differ between process starts (the OS-seeded hasher, the
/// clock and the pid), for nonces, election jitter seeds and fresh cluster
/// tokens. Not for secrets.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_node_writes_the_file_and_a_restart_reads_the_same() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = NodeConfig::new(1, dir.path(), "127.0.0.1:1", "127.0.0.1:2");
        cfg.initial_cluster = BTreeMap::from([(1, "127.0.0.1:1".to_string())]);
        let first = load_or_create_meta(&cfg).expect("created");
        assert!(data_dir_initialized(dir.path()));
        cfg.initial_cluster.insert(2, "127.0.0.1:3".into()); // ignored now
        assert_eq!(load_or_create_meta(&cfg).expect("read"), first);
    }

    #[test]
    fn the_token_separates_clusters_started_with_the_same_members() {
        let members = BTreeMap::from([(1, "a:1".to_string()), (2, "b:2".to_string())]);
        let x = cluster_id_of(Some("x"), &members);
        assert_eq!(x, cluster_id_of(Some("x"), &members), "members agree");
        assert_ne!(x, cluster_id_of(Some("y"), &members));
        assert_ne!(x, cluster_id_of(None, &members));
    }

    #[test]
    fn raft_state_without_a_cluster_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("raft")).expect("mkdir");
        let mut cfg = NodeConfig::new(1, dir.path(), "127.0.0.1:1", "127.0.0.1:2");
        cfg.initial_cluster = BTreeMap::from([(1, "127.0.0.1:1".to_string())]);
        assert!(matches!(
            load_or_create_meta(&cfg),
            Err(NodeError::NoClusterFile { .. })
        ));
    }
}
