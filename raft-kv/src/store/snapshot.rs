//! The snapshot format of the store: a stream of checksummed postcard
//! records (a header, the client addresses, batches of pairs, an end marker
//! with the pair count), written without copying the pairs.

use super::KvStore;
use crate::error::SnapshotDecodeError;
use serde_bytes::Bytes;
use std::collections::BTreeMap;

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
