//! The snapshot format of the store: a stream of checksummed postcard
//! records (a header with the format version, the client addresses, batches
//! of keys, an end marker with the key count), written without copying the
//! keys and values.
//!
//! Version 2 (written now) stores each key as a [`SlotRecord`]: its value of
//! any type, its version (for WATCH) and its expiry time. Version 1 (written
//! before there were types) stored string pairs; it still loads, as strings
//! with version 0 and no expiry.

use super::KvStore;
use super::value::{Slot, Value};
use serde_bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Keys per snapshot record, and bytes: whichever is reached first ends a record.
const PAIRS_PER_RECORD: usize = 1024;
const BYTES_PER_RECORD: usize = 4 << 20;

/// The format version [`KvStore::encode_snapshot`] writes.
const FORMAT_VERSION: u32 = 2;

/// A key as read from a version 2 snapshot.
#[derive(serde::Deserialize)]
struct SlotRecord<'a> {
    key: &'a [u8],
    version: u64,
    expires_at_ms: u64,
    #[serde(borrow)]
    value: ValueRecord<'a>,
}

/// A value as read; the same variants in the same order as [`ValueOut`].
#[derive(serde::Deserialize)]
enum ValueRecord<'a> {
    Str(&'a [u8]),
    #[serde(borrow)]
    Hash(Vec<(&'a [u8], &'a [u8])>),
    #[serde(borrow)]
    List(Vec<&'a [u8]>),
    #[serde(borrow)]
    Set(Vec<&'a [u8]>),
    #[serde(borrow)]
    ZSet(Vec<(&'a [u8], f64)>),
}

/// A key as written, borrowing the store's bytes.
#[derive(serde::Serialize)]
struct SlotOut<'a> {
    key: &'a Bytes,
    version: u64,
    expires_at_ms: u64,
    value: ValueOut<'a>,
}

#[derive(serde::Serialize)]
enum ValueOut<'a> {
    Str(&'a Bytes),
    Hash(Vec<(&'a Bytes, &'a Bytes)>),
    List(Vec<&'a Bytes>),
    Set(Vec<&'a Bytes>),
    ZSet(Vec<(&'a Bytes, f64)>),
}

impl<'a> ValueOut<'a> {
    /// The record of `value`, and roughly how many bytes it holds.
    fn of(value: &'a Value) -> (ValueOut<'a>, usize) {
        let b = |v: &'a [u8]| Bytes::new(v);
        match value {
            Value::Str(v) => (ValueOut::Str(b(v)), v.len()),
            Value::Hash(h) => (
                ValueOut::Hash(h.iter().map(|(f, v)| (b(f), b(v))).collect()),
                h.iter().map(|(f, v)| f.len() + v.len()).sum(),
            ),
            Value::List(l) => (
                ValueOut::List(l.iter().map(|v| b(v)).collect()),
                l.iter().map(Vec::len).sum(),
            ),
            Value::Set(s) => (
                ValueOut::Set(s.iter().map(|v| b(v)).collect()),
                s.iter().map(Vec::len).sum(),
            ),
            Value::ZSet(z) => (
                ValueOut::ZSet(z.ascending().map(|(m, sc)| (b(m), sc)).collect()),
                z.ascending().map(|(m, _)| m.len() + 8).sum(),
            ),
        }
    }
}

impl<'a> SlotOut<'a> {
    /// The record of `key` and `slot`, and roughly how many bytes it holds.
    fn of(key: &'a [u8], slot: &'a Slot) -> (SlotOut<'a>, usize) {
        let b = |v: &'a [u8]| Bytes::new(v);
        let (value, bytes) = ValueOut::of(&slot.value);
        let record = SlotOut {
            key: b(key),
            version: slot.version,
            expires_at_ms: slot.expires_at_ms,
            value,
        };
        (record, key.len() + bytes)
    }
}

impl ValueRecord<'_> {
    fn into_value(self) -> Value {
        let owned = |v: &[u8]| v.to_vec();
        match self {
            ValueRecord::Str(v) => Value::Str(v.into()),
            ValueRecord::Hash(h) => Value::Hash(Arc::new(
                h.into_iter().map(|(f, v)| (owned(f), owned(v))).collect(),
            )),
            ValueRecord::List(l) => Value::List(Arc::new(l.into_iter().map(owned).collect())),
            ValueRecord::Set(s) => Value::Set(Arc::new(s.into_iter().map(owned).collect())),
            ValueRecord::ZSet(z) => {
                let mut set = super::value::ZSet::default();
                for (m, score) in z.into_iter().filter(|(_, sc)| !sc.is_nan()) {
                    set.insert(owned(m), score);
                }
                Value::ZSet(Arc::new(set))
            }
        }
    }
}

impl SlotRecord<'_> {
    fn into_slot(self) -> Slot {
        Slot {
            value: self.value.into_value(),
            version: self.version,
            expires_at_ms: self.expires_at_ms,
        }
    }
}

/// `value` as the postcard bytes of the snapshot format (DUMP's payload).
pub(super) fn value_bytes(value: &Value) -> Vec<u8> {
    postcard::to_stdvec(&ValueOut::of(value).0).expect("values always encode")
}

/// A value from [`value_bytes`]' output; `None` if the bytes are not one.
pub(super) fn value_from_bytes(bytes: &[u8]) -> Option<Value> {
    let record: ValueRecord = postcard::from_bytes(bytes).ok()?;
    Some(record.into_value())
}

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
    /// Keys with their types, versions and expiry times (format version 2).
    #[serde(borrow)]
    Slots(Vec<SlotRecord<'a>>),
    /// The state machine's clock (format version 2), before the keys.
    Clock(u64),
    /// The state machine version each member advertised (after the clock;
    /// absent before versioned entries).
    StateVersions(BTreeMap<u64, u32>),
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
    /// Written by format version 1 only; kept so the later variants keep
    /// their indexes.
    #[cfg_attr(not(test), allow(dead_code))]
    Pairs(Vec<(&'a Bytes, &'a Bytes)>),
    End {
        pairs: u64,
    },
    Clients(&'a BTreeMap<u64, String>),
    Slots(Vec<SlotOut<'a>>),
    Clock(u64),
    StateVersions(&'a BTreeMap<u64, u32>),
}

impl KvStore {
    /// Serializes the whole state as a stream of checksummed postcard records:
    /// a header, batches of keys, and an end marker with the key count.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |r: &SnapshotRecordOut| {
            let bytes = postcard::to_stdvec(r).expect("snapshot records always encode");
            raft_storage::record::encode_into(&mut out, &bytes);
        };
        put(&SnapshotRecordOut::Header {
            version: FORMAT_VERSION,
            applied_index: self.applied_index,
            members: &self.members,
        });
        if !self.clients.is_empty() {
            put(&SnapshotRecordOut::Clients(&self.clients));
        }
        put(&SnapshotRecordOut::Clock(self.clock_ms));
        if !self.state_versions.is_empty() {
            put(&SnapshotRecordOut::StateVersions(&self.state_versions));
        }
        let mut batch = Vec::with_capacity(PAIRS_PER_RECORD);
        let mut bytes = 0;
        for (k, slot) in &self.map {
            let (record, size) = SlotOut::of(k, slot);
            bytes += size;
            batch.push(record);
            if batch.len() == PAIRS_PER_RECORD || bytes >= BYTES_PER_RECORD {
                put(&SnapshotRecordOut::Slots(std::mem::take(&mut batch)));
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            put(&SnapshotRecordOut::Slots(batch));
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
        let mut format = None;
        for (i, (offset, payload)) in records.iter().enumerate() {
            let offset = *offset as u64;
            let rec: SnapshotRecord =
                postcard::from_bytes(payload).map_err(|e| SnapshotDecodeError::Record {
                    offset,
                    reason: e.to_string(),
                })?;
            match rec {
                SnapshotRecord::Header {
                    version: version @ (1 | FORMAT_VERSION),
                    applied_index,
                    members,
                } if i == 0 => {
                    store.applied_index = applied_index;
                    store.members = members;
                    format = Some(version);
                }
                SnapshotRecord::Clients(clients) if i == 1 && format.is_some() => {
                    store.clients = clients
                }
                SnapshotRecord::Pairs(pairs) if format == Some(1) => {
                    store.map.extend(pairs.into_iter().map(|(k, v)| {
                        let slot = Slot {
                            value: Value::Str(v.into()),
                            version: 0,
                            expires_at_ms: 0,
                        };
                        (k.into(), slot)
                    }))
                }
                SnapshotRecord::Clock(ms) if format == Some(FORMAT_VERSION) && i <= 2 => {
                    store.clock_ms = ms
                }
                SnapshotRecord::StateVersions(v) if format == Some(FORMAT_VERSION) && i <= 3 => {
                    store.state_versions = v
                }
                SnapshotRecord::Slots(slots) if format == Some(FORMAT_VERSION) => store
                    .map
                    .extend(slots.into_iter().map(|s| (s.key.into(), s.into_slot()))),
                SnapshotRecord::End { pairs } if format.is_some() && i + 1 == records.len() => {
                    let held = store.map.len() as u64;
                    if pairs != held {
                        return Err(SnapshotDecodeError::WrongCount { held, said: pairs });
                    }
                    store.rebuild_expiries();
                    return Ok(store);
                }
                _ => return Err(SnapshotDecodeError::Unexpected { offset }),
            }
        }
        Err(SnapshotDecodeError::NoEndMarker)
    }
}

/// Why snapshot data does not decode into a store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotDecodeError {
    /// A record failed its checksum or is cut short.
    #[error("snapshot data is damaged: {0}")]
    Damaged(String),
    /// A record's payload does not decode.
    #[error("snapshot record at offset {offset}: {reason}")]
    Record {
        /// Byte offset of the record.
        offset: u64,
        /// The decoder's complaint.
        reason: String,
    },
    /// A record is out of place (no header first, something after the end).
    #[error("unexpected snapshot record at offset {offset}")]
    Unexpected {
        /// Byte offset of the record.
        offset: u64,
    },
    /// The pair count differs from the end marker's.
    #[error("snapshot holds {held} keys, its end marker says {said}")]
    WrongCount {
        /// Pairs decoded.
        held: u64,
        /// Pairs the end marker announced.
        said: u64,
    },
    /// The data stops before the end marker.
    #[error("snapshot data ends without its end marker")]
    NoEndMarker,
}

#[cfg(test)]
mod tests {
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
}
