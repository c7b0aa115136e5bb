//! The replicated state machine: a map of binary keys to values of Redis's
//! types. Every node applies the same commands in the same order and so holds
//! the same map.

pub mod blocking;
pub mod collections;
mod dump;
mod dump_text;
mod expire;
mod expiry;
mod glob;
mod hash;
mod keys;
mod keyspace;
mod lcs;
mod list;
mod numbers;
mod ranges;
mod set;
mod snapshot;
mod sort;
mod strings;
pub use glob::matches as glob_matches;
pub use numbers::parse_redis_float;
#[cfg(test)]
mod collection_tests;
#[cfg(test)]
mod expiry_tests;
#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod tests;
mod transaction;
mod value;
pub mod words;
mod zset;
mod zset_ops;

use crate::command::{Command, ReadCommand, Reply};
use crate::error::ErrorCode;
use std::collections::HashMap;
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
    members: std::collections::BTreeMap<u64, String>,
    /// Client addresses the members advertised (`Command::AdvertiseClient`).
    clients: std::collections::BTreeMap<u64, String>,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Member addresses recorded in the state.
    pub fn members(&self) -> &std::collections::BTreeMap<u64, String> {
        &self.members
    }

    /// Records member addresses (from a membership entry or the bootstrap list).
    pub fn set_members(&mut self, members: &std::collections::BTreeMap<u64, String>) {
        self.members
            .extend(members.iter().map(|(k, v)| (*k, v.clone())));
    }

    /// The client addresses members advertised.
    pub fn clients(&self) -> &std::collections::BTreeMap<u64, String> {
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

    /// Applies `cmd`; the reply is what the proposing client gets.
    pub fn apply(&mut self, cmd: &Command) -> Reply {
        match cmd {
            Command::Set { key, value } => {
                self.put_string(key, value, false);
                Reply::ok()
            }
            Command::Del { keys } => self.del(keys),
            Command::MSet { pairs } => {
                for (k, v) in pairs {
                    self.put_string(k, v, false);
                }
                Reply::ok()
            }
            Command::IncrBy { key, delta } => self.incr_by(key, *delta, |v| {
                std::str::from_utf8(v).ok()?.parse::<i64>().ok()
            }),
            Command::IncrByChecked { key, delta } => {
                self.incr_by(key, *delta, crate::command::parse_redis_int)
            }
            Command::AdvertiseClient { id, addr } => {
                self.clients.insert(*id, addr.clone());
                Reply::ok()
            }
            Command::Cas { key, expected, new } => match self.string(key) {
                Ok(Some(v)) if v == expected.as_slice() => {
                    self.put_string(key, new, true);
                    Reply::Int(1)
                }
                Ok(_) => Reply::Int(0),
                Err(wrong_type) => wrong_type,
            },
            Command::SetNx { key, value } => self.set_nx(key, value),
            Command::GetSet { key, value } => self.get_set(key, value),
            Command::GetDel { key } => self.get_del(key),
            Command::Append { key, value } => self.append(key, value),
            Command::MSetNx { pairs } => self.mset_nx(pairs),
            Command::Rename {
                from,
                to,
                only_if_absent,
            } => self.rename(from, to, *only_if_absent),
            Command::FlushAll => self.flush_all(),
            Command::Exec { ops } => self.exec(ops),
            Command::SetWith {
                key,
                value,
                condition,
                get,
            } => self.set_with(key, value, *condition, *get, strings::SetExpiry::Clear),
            Command::SetRange { key, offset, value } => self.set_range(key, *offset, value),
            Command::IncrByFloat { key, increment } => self.incr_by_float(key, increment),
            Command::SetBit { key, offset, bit } => self.set_bit(key, *offset, *bit),
            Command::Words { argv, seed } => self.apply_words(argv, *seed),
            // The clock moved before the apply (`advance_clock`).
            Command::Tick => Reply::ok(),
            Command::ExecWatched { watched, ops } => self.exec_watched(watched, ops),
            // The applier runs these (`runtime::scripts`); here, as inside a
            // transaction, they are refused the same way on every replica.
            Command::Eval(_) | Command::ScriptMarker { .. } => {
                Reply::error(ErrorCode::Err, "scripts run only on a node's applier")
            }
        }
    }

    /// Adds `delta` to the integer at `key` (0 if absent), reading the stored
    /// value with `parse`; an unparsable value or an overflow changes nothing.
    fn incr_by(&mut self, key: &[u8], delta: i64, parse: fn(&[u8]) -> Option<i64>) -> Reply {
        let current = match self.string(key) {
            Err(wrong_type) => return wrong_type,
            Ok(None) => 0,
            Ok(Some(v)) => match parse(v) {
                Some(n) => n,
                None => {
                    return Reply::error(ErrorCode::Err, "value is not an integer or out of range");
                }
            },
        };
        match current.checked_add(delta) {
            Some(n) => {
                self.put_string(key, n.to_string().as_bytes(), true);
                Reply::Int(n)
            }
            None => Reply::error(ErrorCode::Err, "increment or decrement would overflow"),
        }
    }

    /// Runs a read against the state.
    pub fn read(&self, cmd: &ReadCommand) -> Reply {
        match cmd {
            ReadCommand::Get(k) => match self.string(k) {
                Ok(v) => Reply::Bulk(v.map(<[u8]>::to_vec)),
                Err(wrong_type) => wrong_type,
            },
            // MGET answers nil for a key of another type, as Redis does.
            ReadCommand::MGet(ks) => Reply::Array(
                ks.iter()
                    .map(|k| Reply::Bulk(self.get(k).map(<[u8]>::to_vec)))
                    .collect(),
            ),
            ReadCommand::Exists(ks) => self.exists(ks),
            ReadCommand::DbSize => Reply::Int(self.len() as i64),
            ReadCommand::Backup => Reply::Bulk(Some(self.encode_snapshot())),
            ReadCommand::Strlen(k) => self.strlen(k),
            ReadCommand::Type(k) => self.type_of(k),
            ReadCommand::Keys(pattern) => self.keys(pattern),
            ReadCommand::GetRange(k, start, end) => self.get_range(k, *start, *end),
            ReadCommand::GetBit(k, offset) => self.get_bit(k, *offset),
            ReadCommand::BitCount(k, range) => self.bit_count(k, *range),
            ReadCommand::Words(argv) => self.read_words(argv),
        }
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
