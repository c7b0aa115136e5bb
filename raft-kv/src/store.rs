//! The replicated state machine: a map of binary keys to binary values. Every
//! node applies the same commands in the same order and so holds the same map.

use crate::command::{Command, ReadCommand, Reply};
use crate::error::{ErrorCode, SnapshotDecodeError};
use serde_bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A key or value: shared, so that the copy a snapshot starts from costs a
/// reference count per pair instead of an allocation and a memcpy.
type SharedBytes = Arc<[u8]>;

/// The key-value map and the last applied log index.
#[derive(Debug, Default, Clone)]
pub struct KvStore {
    map: HashMap<SharedBytes, SharedBytes>,
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
                self.map.insert(key[..].into(), value[..].into());
                Reply::ok()
            }
            Command::Del { keys } => {
                let removed = keys
                    .iter()
                    .filter(|k| self.map.remove(k.as_slice()).is_some())
                    .count();
                Reply::Int(removed as i64)
            }
            Command::MSet { pairs } => {
                for (k, v) in pairs {
                    self.map.insert(k[..].into(), v[..].into());
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
            Command::Cas { key, expected, new } => {
                if self.get(key) == Some(expected.as_slice()) {
                    self.map.insert(key[..].into(), new[..].into());
                    Reply::Int(1)
                } else {
                    Reply::Int(0)
                }
            }
        }
    }

    /// Adds `delta` to the integer at `key` (0 if absent), reading the stored
    /// value with `parse`; an unparsable value or an overflow changes nothing.
    fn incr_by(&mut self, key: &[u8], delta: i64, parse: fn(&[u8]) -> Option<i64>) -> Reply {
        let current = match self.get(key) {
            None => 0,
            Some(v) => match parse(v) {
                Some(n) => n,
                None => {
                    return Reply::error(ErrorCode::Err, "value is not an integer or out of range");
                }
            },
        };
        match current.checked_add(delta) {
            Some(n) => {
                self.map.insert(key.into(), n.to_string().as_bytes().into());
                Reply::Int(n)
            }
            None => Reply::error(ErrorCode::Err, "increment or decrement would overflow"),
        }
    }

    /// Runs a read against the state.
    pub fn read(&self, cmd: &ReadCommand) -> Reply {
        let bulk = |k: &[u8]| Reply::Bulk(self.get(k).map(<[u8]>::to_vec));
        match cmd {
            ReadCommand::Get(k) => bulk(k),
            ReadCommand::MGet(ks) => Reply::Array(ks.iter().map(|k| bulk(k)).collect()),
            ReadCommand::Exists(ks) => {
                Reply::Int(ks.iter().filter(|k| self.get(k).is_some()).count() as i64)
            }
            ReadCommand::DbSize => Reply::Int(self.len() as i64),
            ReadCommand::Backup => Reply::Bulk(Some(self.encode_snapshot())),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(|v| &**v)
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

/// Pairs per snapshot record, and bytes: whichever is reached first ends a record.
const PAIRS_PER_RECORD: usize = 1024;
const BYTES_PER_RECORD: usize = 4 << 20;

/// A snapshot record as read. Its postcard bytes are those of
/// [`SnapshotRecordOut`], which writes pairs without copying them.
#[derive(serde::Deserialize)]
enum SnapshotRecord<'a> {
    Header {
        version: u32,
        applied_index: u64,
        members: BTreeMap<u64, String>,
    },
    Pairs(#[serde(borrow)] Vec<(&'a [u8], &'a [u8])>),
    End {
        pairs: u64,
    },
    /// The members' client addresses, right after the header (appended last,
    /// so older snapshots without it still decode).
    Clients(BTreeMap<u64, String>),
}

/// A snapshot record as written: the same variants in the same order as
/// [`SnapshotRecord`], borrowing the store's keys and values.
#[derive(serde::Serialize)]
enum SnapshotRecordOut<'a> {
    Header {
        version: u32,
        applied_index: u64,
        members: &'a BTreeMap<u64, String>,
    },
    Pairs(Vec<(&'a Bytes, &'a Bytes)>),
    End {
        pairs: u64,
    },
    Clients(&'a BTreeMap<u64, String>),
}

impl KvStore {
    /// Serializes the whole state as a stream of checksummed postcard records:
    /// a header, batches of pairs, and an end marker with the pair count.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |r: &SnapshotRecordOut| {
            let bytes = postcard::to_stdvec(r).expect("snapshot records always encode");
            raft_storage::record::encode_into(&mut out, &bytes);
        };
        put(&SnapshotRecordOut::Header {
            version: 1,
            applied_index: self.applied_index,
            members: &self.members,
        });
        if !self.clients.is_empty() {
            put(&SnapshotRecordOut::Clients(&self.clients));
        }
        let mut batch = Vec::with_capacity(PAIRS_PER_RECORD);
        let mut bytes = 0;
        for (k, v) in &self.map {
            bytes += k.len() + v.len();
            batch.push((Bytes::new(k), Bytes::new(v)));
            if batch.len() == PAIRS_PER_RECORD || bytes >= BYTES_PER_RECORD {
                put(&SnapshotRecordOut::Pairs(std::mem::take(&mut batch)));
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            put(&SnapshotRecordOut::Pairs(batch));
        }
        put(&SnapshotRecordOut::End {
            pairs: self.map.len() as u64,
        });
        out
    }

    /// Rebuilds a store from [`KvStore::encode_snapshot`] output. Any damage
    /// (checksum, truncation, missing end marker, wrong count) is an error.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<KvStore, SnapshotDecodeError> {
        if bytes.is_empty() {
            return Ok(KvStore::new()); // the empty bootstrap snapshot
        }
        let (records, end) = raft_storage::record::scan(bytes);
        if end != raft_storage::record::ScanEnd::Clean {
            return Err(SnapshotDecodeError::Damaged(format!("{end:?}")));
        }
        let mut store = KvStore::new();
        let mut saw_header = false;
        for (i, (offset, payload)) in records.iter().enumerate() {
            let offset = *offset as u64;
            let rec: SnapshotRecord =
                postcard::from_bytes(payload).map_err(|e| SnapshotDecodeError::Record {
                    offset,
                    reason: e.to_string(),
                })?;
            match rec {
                SnapshotRecord::Header {
                    version: 1,
                    applied_index,
                    members,
                } if i == 0 => {
                    store.applied_index = applied_index;
                    store.members = members;
                    saw_header = true;
                }
                SnapshotRecord::Clients(clients) if i == 1 && saw_header => store.clients = clients,
                SnapshotRecord::Pairs(pairs) if saw_header => store
                    .map
                    .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into()))),
                SnapshotRecord::End { pairs } if saw_header && i + 1 == records.len() => {
                    let held = store.map.len() as u64;
                    if pairs != held {
                        return Err(SnapshotDecodeError::WrongCount { held, said: pairs });
                    }
                    return Ok(store);
                }
                _ => return Err(SnapshotDecodeError::Unexpected { offset }),
            }
        }
        Err(SnapshotDecodeError::NoEndMarker)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn snapshots_round_trip_and_damage_is_detected() {
        let mut s = KvStore::new();
        for i in 0..3000u32 {
            s.apply(&set(&format!("k{i}"), &format!("v{i}")));
        }
        s.set_applied_index(3000);
        let bytes = s.encode_snapshot();
        let back = KvStore::decode_snapshot(&bytes).expect("round trip");
        assert_eq!(back.len(), 3000);
        assert_eq!(back.applied_index(), 3000);
        assert_eq!(back.get(b"k42"), Some(&b"v42"[..]));
        let mut bad = bytes.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        assert!(KvStore::decode_snapshot(&bad).is_err());
        assert!(
            KvStore::decode_snapshot(&bytes[..bytes.len() - 3]).is_err(),
            "truncated"
        );
    }

    use super::*;

    /// The record layout before bulk byte serialization: plain derives.
    #[derive(serde::Serialize)]
    enum LegacyRecord {
        Header {
            version: u32,
            applied_index: u64,
            members: BTreeMap<u64, String>,
        },
        Pairs(Vec<(Vec<u8>, Vec<u8>)>),
        End {
            pairs: u64,
        },
    }

    #[test]
    fn snapshot_records_keep_their_bytes_so_old_snapshots_decode() {
        let pairs = vec![
            (b"a".to_vec(), vec![0u8, 255, 7]),
            (vec![], b"empty key".to_vec()),
        ];
        let members = BTreeMap::from([(1, "127.0.0.1:7001".to_string())]);
        let legacy = [
            LegacyRecord::Header {
                version: 1,
                applied_index: 9,
                members: members.clone(),
            },
            LegacyRecord::Pairs(pairs.clone()),
            LegacyRecord::End { pairs: 2 },
        ];
        let borrowed: Vec<(&Bytes, &Bytes)> = pairs
            .iter()
            .map(|(k, v)| (Bytes::new(k), Bytes::new(v)))
            .collect();
        let current = [
            SnapshotRecordOut::Header {
                version: 1,
                applied_index: 9,
                members: &members,
            },
            SnapshotRecordOut::Pairs(borrowed),
            SnapshotRecordOut::End { pairs: 2 },
        ];
        let mut old_bytes = Vec::new();
        for (old, new) in legacy.iter().zip(&current) {
            let old = postcard::to_stdvec(old).expect("encodes");
            assert_eq!(old, postcard::to_stdvec(new).expect("encodes"));
            raft_storage::record::encode_into(&mut old_bytes, &old);
        }
        let store = KvStore::decode_snapshot(&old_bytes).expect("an old snapshot decodes");
        assert_eq!(store.get(b"a"), Some(&[0u8, 255, 7][..]));
        assert_eq!(store.get(b""), Some(&b"empty key"[..]));
        assert_eq!(store.applied_index(), 9);
    }

    fn set(k: &str, v: &str) -> Command {
        Command::Set {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn checked_incr_reads_the_stored_value_as_redis_does() {
        let mut s = KvStore::new();
        let incr = |key: &str| Command::IncrByChecked {
            key: key.as_bytes().to_vec(),
            delta: 1,
        };
        for (stored, after) in [("0", 1), ("-5", -4), ("41", 42)] {
            s.apply(&set("n", stored));
            assert_eq!(s.apply(&incr("n")), Reply::Int(after), "{stored}");
        }
        for refused in [
            "+5",
            "007",
            "-0",
            " 5",
            "5 ",
            "",
            "-",
            "1e3",
            "99999999999999999999",
        ] {
            s.apply(&set("n", refused));
            assert!(
                matches!(s.apply(&incr("n")), Reply::Error(_)),
                "{refused:?} is not an integer to Redis"
            );
            assert_eq!(s.get(b"n"), Some(refused.as_bytes()), "unchanged");
        }
    }

    #[test]
    fn advertised_client_addresses_are_in_snapshots_and_leave_with_their_member() {
        let mut s = KvStore::new();
        for id in [1, 2] {
            s.apply(&Command::AdvertiseClient {
                id,
                addr: format!("127.0.0.1:600{id}"),
            });
        }
        let back = KvStore::decode_snapshot(&s.encode_snapshot()).expect("decodes");
        assert!(back.clients() == s.clients() && back.clients().len() == 2);
        s.retain_clients(|id| id != 2);
        assert_eq!(s.clients().keys().copied().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn legacy_incr_entries_replay_with_the_results_they_had() {
        // Logged before IncrByChecked: "+5" was read as 5, and a replica
        // replaying the entry must get the same 6 the others applied.
        let mut s = KvStore::new();
        s.apply(&set("n", "+5"));
        let legacy = Command::IncrBy {
            key: b"n".to_vec(),
            delta: 1,
        };
        assert_eq!(s.apply(&legacy), Reply::Int(6));
    }

    #[test]
    fn incr_counts_from_zero_and_refuses_non_integers() {
        let mut s = KvStore::new();
        assert_eq!(
            s.apply(&Command::IncrBy {
                key: b"n".to_vec(),
                delta: 5
            }),
            Reply::Int(5)
        );
        assert_eq!(
            s.apply(&Command::IncrBy {
                key: b"n".to_vec(),
                delta: -7
            }),
            Reply::Int(-2)
        );
        s.apply(&set("t", "abc"));
        assert!(
            matches!(s.apply(&Command::IncrBy { key: b"t".to_vec(), delta: 1 }), Reply::Error(e) if e.starts_with("ERR"))
        );
        s.apply(&set("big", &i64::MAX.to_string()));
        assert!(matches!(
            s.apply(&Command::IncrBy {
                key: b"big".to_vec(),
                delta: 1
            }),
            Reply::Error(_)
        ));
        assert_eq!(
            s.get(b"big"),
            Some(i64::MAX.to_string().as_bytes()),
            "nothing changed on error"
        );
    }

    #[test]
    fn cas_swaps_only_on_a_matching_value() {
        let mut s = KvStore::new();
        let cas = |e: &str, n: &str| Command::Cas {
            key: b"k".to_vec(),
            expected: e.into(),
            new: n.into(),
        };
        assert_eq!(s.apply(&cas("a", "b")), Reply::Int(0), "absent key");
        s.apply(&set("k", "a"));
        assert_eq!(s.apply(&cas("x", "b")), Reply::Int(0));
        assert_eq!(s.apply(&cas("a", "b")), Reply::Int(1));
        assert_eq!(s.get(b"k"), Some(&b"b"[..]));
    }

    #[test]
    fn del_counts_removed_keys_and_mset_sets_all() {
        let mut s = KvStore::new();
        s.apply(&Command::MSet {
            pairs: vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec()),
            ],
        });
        assert_eq!(
            s.apply(&Command::Del {
                keys: vec![b"a".to_vec(), b"a".to_vec(), b"z".to_vec()]
            }),
            Reply::Int(1)
        );
        assert_eq!(s.len(), 1);
    }
}
