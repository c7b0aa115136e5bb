//! The node's wall clock, and the state machine version the cluster runs.
//!
//! Every entry carries its proposer's clock (the leader restamps what
//! followers forward) and the state machine version it was proposed at: the
//! highest every member advertised it applies ([`ClusterVersion`]), so that
//! no member meets an entry of a version it does not know.

use raft_kv_state::KvStore;
use raft_kv_state::entry::{LEGACY_VERSION, STATE_MACHINE_VERSION};
use std::sync::atomic::{AtomicU32, Ordering};

/// This machine's wall clock in Unix milliseconds (0 before 1970).
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The state machine version this node proposes at, learned from the
/// applied state.
#[derive(Debug)]
pub(crate) struct ClusterVersion(AtomicU32);

impl Default for ClusterVersion {
    fn default() -> Self {
        ClusterVersion(AtomicU32::new(STATE_MACHINE_VERSION))
    }
}

impl ClusterVersion {
    /// The version to propose at.
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Learns it from `store`: the least version the members advertised, at
    /// most this binary's. A member that advertised none (one that has not
    /// yet, or one of the first version, which did not) counts as this
    /// binary's own: the first version cannot be proposed at any more, and
    /// such a member stops at the first entry it cannot read, with a line
    /// that says to upgrade it. For the same reason nothing is proposed
    /// below the first versioned format, whatever a member says.
    pub(crate) fn learn(&self, store: &KvStore) {
        let versions = store.state_versions();
        let least = store
            .members()
            .keys()
            .map(|id| versions.get(id).copied().unwrap_or(STATE_MACHINE_VERSION))
            .min()
            .unwrap_or(STATE_MACHINE_VERSION)
            .clamp(LEGACY_VERSION + 1, STATE_MACHINE_VERSION);
        self.0.store(least, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_kv_state::Op;
    use raft_kv_state::entry::MemberAdvert;
    use std::collections::BTreeMap;

    fn advert(store: &mut KvStore, id: u64, version: Option<u32>) {
        let op = Op::Member(MemberAdvert {
            id,
            client_addr: format!("127.0.0.1:{}", 6000 + id),
            state_machine_version: version,
        });
        assert_eq!(store.apply_op(&op), raft_kv_state::Reply::ok());
    }

    #[test]
    fn the_cluster_runs_the_least_version_its_members_advertise_at_most_this_binarys() {
        let mut store = KvStore::default();
        let members: BTreeMap<u64, String> = (1..=3)
            .map(|id| (id, format!("127.0.0.1:{}", 7000 + id)))
            .collect();
        store.set_members(&members);
        let v = ClusterVersion::default();
        v.learn(&store);
        assert_eq!(
            v.get(),
            STATE_MACHINE_VERSION,
            "no advert yet: this binary's"
        );
        for id in 1..=3 {
            advert(&mut store, id, Some(STATE_MACHINE_VERSION + 1));
        }
        v.learn(&store);
        assert_eq!(
            v.get(),
            STATE_MACHINE_VERSION,
            "members of a newer binary: never above this one's"
        );
        advert(&mut store, 2, None);
        v.learn(&store);
        assert_eq!(
            v.get(),
            STATE_MACHINE_VERSION,
            "a silent member counts as this binary"
        );
        advert(&mut store, 2, Some(LEGACY_VERSION));
        v.learn(&store);
        assert_eq!(
            v.get(),
            LEGACY_VERSION + 1,
            "never below the first versioned format, which every member reads"
        );
    }
}
