//! Start-up recovery: the data dir's lock, its cluster file, the storage,
//! and the state machine rebuilt from the newest snapshot, before any thread
//! of the node runs.

use super::bootstrap;
use super::lock;
use super::storage::NodeStorage;
use crate::config::NodeConfig;
use crate::error::NodeError;
use raft_core::{ConfState, Snapshot};
use raft_kv_state::KvStore;
use raft_storage::StoreError;

/// The state machine as of the newest snapshot, and that snapshot.
fn recover_store<S: NodeStorage>(
    cfg: &NodeConfig,
    storage: &S,
) -> Result<(KvStore, Snapshot), NodeError> {
    let dir = cfg.data_dir.display().to_string();
    let snapshot = storage.snapshot(0).map_err(|e| NodeError::Storage {
        dir: dir.clone(),
        source: StoreError::Invalid(format!("cannot read the snapshot: {e}")),
    })?;
    let mut store = KvStore::decode_snapshot(&snapshot.data).map_err(|e| NodeError::Storage {
        dir,
        source: StoreError::Corrupt {
            path: cfg.data_dir.join("raft").join("snapshot"),
            offset: 0,
            reason: e.to_string(),
        },
    })?;
    store.set_applied_index(snapshot.meta.index);
    Ok((store, snapshot))
}

/// What start-up recovered from the data dir before any thread runs.
pub(crate) struct Recovered<S> {
    pub(crate) lock: lock::DataDirLock,
    pub(crate) meta: bootstrap::ClusterMeta,
    pub(crate) storage: S,
    pub(crate) store: KvStore,
    pub(crate) snapshot_index: u64,
    pub(crate) snapshot_bytes: u64,
    /// The membership in force at the start (from the storage).
    pub(crate) conf: ConfState,
}

/// Opens the cluster file and the storage, and rebuilds the state machine.
pub(crate) fn recover<S: NodeStorage>(
    cfg: &NodeConfig,
    open_storage: impl FnOnce(ConfState) -> Result<S, StoreError>,
) -> Result<Recovered<S>, NodeError> {
    let dir = cfg.data_dir.display().to_string();
    let storage_err = |source| NodeError::Storage {
        dir: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| storage_err(StoreError::io(&cfg.data_dir, e)))?;
    let lock = lock::DataDirLock::acquire(&cfg.data_dir)?;
    let meta = bootstrap::load_or_create_meta(cfg)?;
    // A new node bootstraps with the initial voters; a joining node starts with
    // no membership at all and learns it from the leader's log.
    let initial_conf = if meta.cluster_id == 0 {
        ConfState::default()
    } else {
        ConfState::with_voters(meta.members.keys().copied())
    };
    let storage = open_storage(initial_conf).map_err(storage_err)?;
    let (mut store, snapshot) = recover_store(cfg, &storage)?;
    if snapshot.meta.index == 0 && meta.cluster_id != 0 {
        store.set_members(&meta.members); // the bootstrap members
    }
    let conf = storage
        .initial_state()
        .map_err(|e| {
            storage_err(StoreError::Invalid(format!(
                "cannot read the membership: {e}"
            )))
        })?
        .1;
    Ok(Recovered {
        lock,
        meta,
        storage,
        store,
        snapshot_index: snapshot.meta.index,
        snapshot_bytes: snapshot.data.len() as u64,
        conf,
    })
}
