//! The replicated state machine: a map of binary keys to values of Redis's
//! types. Every node applies the same commands in the same order and so holds
//! the same map.

pub(crate) mod args;
pub mod blocking;
pub(crate) mod dump;
mod dump_text;
pub(crate) mod expire;
mod expiry;
mod glob;
pub(crate) mod hash;
pub(crate) mod keys;
pub(crate) mod keyspace;
pub(crate) mod lcs;
pub(crate) mod list;
pub(crate) mod published;
pub(crate) mod ranges;
mod script_facts;
pub(crate) mod set;
mod snapshot;
pub use published::{Answers, Published, count_receivers};
pub use snapshot::SnapshotDecodeError;
pub(crate) mod sort;
pub(crate) mod strings;
mod value;
pub(crate) mod zset;
pub(crate) mod zset_ops;
pub use glob::matches as glob_matches;
#[cfg(test)]
mod collection_tests;
#[cfg(test)]
mod expiry_tests;
#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use crate::entry::MemberAdvert;
use std::collections::{BTreeMap, HashMap};
use value::{SharedBytes, Slot};

/// The keys, what they hold, and the last applied log index.
#[derive(Debug, Default, Clone)]
pub struct KvStore {
    map: HashMap<SharedBytes, Slot>,
    /// The keys that have an expiry time, by that time.
    expiries: std::collections::BTreeSet<(u64, SharedBytes)>,
    /// The state machine's clock: the largest proposer time applied (Unix ms).
    clock_ms: u64,
    applied_index: u64,
    /// Peer addresses of the members, carried in snapshots so that a node that
    /// catches up from a snapshot can reach every member.
    members: BTreeMap<u64, String>,
    /// Client addresses the members advertised ([`Op::Member`]).
    clients: BTreeMap<u64, String>,
    /// The state machine version each member advertised it applies.
    state_versions: BTreeMap<u64, u32>,
    /// What the entry being applied published, until the applier takes it.
    published: Vec<published::Published>,
    /// The version of the entry being applied (`None`: this binary's).
    entry_version: Option<u32>,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Member addresses recorded in the state.
    pub fn members(&self) -> &BTreeMap<u64, String> {
        &self.members
    }

    /// Records member addresses (from a membership entry or the bootstrap list).
    pub fn set_members(&mut self, members: &BTreeMap<u64, String>) {
        self.members
            .extend(members.iter().map(|(k, v)| (*k, v.clone())));
    }

    /// The client addresses members advertised.
    pub fn clients(&self) -> &BTreeMap<u64, String> {
        &self.clients
    }

    /// Forgets the addresses of members for which `keep` is false.
    pub fn retain_members(&mut self, keep: impl Fn(u64) -> bool) {
        self.members.retain(|id, _| keep(*id));
    }

    /// Forgets the client addresses of nodes for which `is_member` is false
    /// (called with the applied configuration, the same on every replica).
    pub fn retain_clients(&mut self, is_member: impl Fn(u64) -> bool) {
        self.clients.retain(|id, _| is_member(*id));
        self.state_versions.retain(|id, _| is_member(*id));
    }

    /// The last log index applied.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Records that entries up to `index` are applied (no-ops and membership
    /// entries included).
    pub fn set_applied_index(&mut self, index: u64) {
        debug_assert!(index >= self.applied_index, "applied index never goes back");
        self.applied_index = index;
    }

    /// Records what a member advertised.
    pub(crate) fn record_member(&mut self, m: &MemberAdvert) {
        self.clients.insert(m.id, m.client_addr.clone());
        match m.state_machine_version {
            Some(v) => self.state_versions.insert(m.id, v),
            None => self.state_versions.remove(&m.id),
        };
    }

    /// The highest state machine version each member advertised.
    pub fn state_versions(&self) -> &BTreeMap<u64, u32> {
        &self.state_versions
    }

    /// The version of the live key `key`: the index of the entry that last
    /// changed it.
    pub fn key_version(&self, key: &[u8]) -> Option<u64> {
        self.slot(key).map(|s| s.version)
    }

    /// The string value of `key` (`None` if absent or of another type).
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.string(key).ok().flatten()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
