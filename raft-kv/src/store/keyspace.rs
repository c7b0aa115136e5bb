//! Access to the keys whatever they hold: the typed accessors every command
//! goes through (which stamp a changed key with the index of the entry being
//! applied and answer `WRONGTYPE` for a key of another type), and the
//! commands on keys as such: DEL, EXISTS, TYPE, KEYS, RENAME(NX), FLUSHALL.

use super::value::{Collection, SharedBytes, Slot, Value, wrong_type};
use super::{KvStore, glob};
use crate::command::Reply;
use crate::error::ErrorCode;
use std::sync::Arc;

impl KvStore {
    /// The index of the entry being applied: the version a change stamps.
    fn version_now(&self) -> u64 {
        self.applied_index + 1
    }

    /// The slot of `key`.
    pub(super) fn slot(&self, key: &[u8]) -> Option<&Slot> {
        self.map.get(key)
    }

    /// The string at `key`; `WRONGTYPE` if it holds another type.
    pub(super) fn string(&self, key: &[u8]) -> Result<Option<&[u8]>, Reply> {
        match self.map.get(key).map(|s| &s.value) {
            None => Ok(None),
            Some(Value::Str(v)) => Ok(Some(v)),
            Some(_) => Err(wrong_type()),
        }
    }

    /// Stores the string `value` at `key`, whatever it held. `keep_ttl`
    /// keeps the key's expiry (APPEND, INCR, SETRANGE do; SET does not).
    pub(super) fn put_string(&mut self, key: &[u8], value: &[u8], keep_ttl: bool) {
        let version = self.version_now();
        let value = Value::Str(value.into());
        match self.map.get_mut(key) {
            Some(slot) => {
                slot.value = value;
                slot.version = version;
                if !keep_ttl {
                    slot.expires_at_ms = 0;
                }
            }
            None => {
                self.map.insert(
                    key.into(),
                    Slot {
                        value,
                        version,
                        expires_at_ms: 0,
                    },
                );
            }
        }
    }

    /// The collection of type `T` at `key`; `WRONGTYPE` for another type.
    pub(super) fn collection<T: Collection>(&self, key: &[u8]) -> Result<Option<&T>, Reply> {
        match self.map.get(key) {
            None => Ok(None),
            Some(slot) => T::of(&slot.value)
                .map(|c| Some(&**c))
                .ok_or_else(wrong_type),
        }
    }

    /// The collection of type `T` at `key` to change, created empty if absent
    /// and `create`; `WRONGTYPE` for another type. The key counts as changed
    /// (its version moves); call [`KvStore::drop_if_empty`] after the change.
    pub(super) fn collection_mut<T: Collection>(
        &mut self,
        key: &[u8],
        create: bool,
    ) -> Result<Option<&mut T>, Reply> {
        let version = self.version_now();
        if !self.map.contains_key(key) {
            if !create {
                return Ok(None);
            }
            let slot = Slot {
                value: T::wrap(Arc::default()),
                version,
                expires_at_ms: 0,
            };
            self.map.insert(key.into(), slot);
        }
        let slot = self
            .map
            .get_mut(key)
            .expect("present: checked or inserted above");
        let c = T::of_mut(&mut slot.value).ok_or_else(wrong_type)?;
        slot.version = version;
        Ok(Some(Arc::make_mut(c)))
    }

    /// Removes `key` if it holds an empty collection (as Redis does).
    pub(super) fn drop_if_empty(&mut self, key: &[u8]) {
        if self
            .map
            .get(key)
            .is_some_and(|s| s.value.is_empty_collection())
        {
            self.map.remove(key);
        }
    }

    /// Stores `slot` at `key` as changed now.
    pub(super) fn put_slot(&mut self, key: SharedBytes, mut slot: Slot) {
        slot.version = self.version_now();
        self.map.insert(key, slot);
    }

    /// Removes `key`; true if it was there.
    pub(super) fn remove_key(&mut self, key: &[u8]) -> bool {
        self.map.remove(key).is_some()
    }

    /// DEL and UNLINK.
    pub(super) fn del(&mut self, keys: &[Vec<u8>]) -> Reply {
        let removed = keys.iter().filter(|k| self.remove_key(k)).count();
        Reply::Int(removed as i64)
    }

    pub(super) fn exists(&self, keys: &[Vec<u8>]) -> Reply {
        Reply::Int(
            keys.iter()
                .filter(|k| self.map.contains_key(&k[..]))
                .count() as i64,
        )
    }

    pub(super) fn type_of(&self, key: &[u8]) -> Reply {
        let name = self.map.get(key).map_or("none", |s| s.value.type_name());
        Reply::Simple(name.into())
    }

    /// The keys matching `pattern`, sorted (Redis gives no order; sorted is
    /// one that is the same on every node).
    pub(super) fn keys(&self, pattern: &[u8]) -> Reply {
        let mut keys: Vec<&[u8]> = self
            .map
            .keys()
            .map(|k| &**k)
            .filter(|k| glob::matches(pattern, k))
            .collect();
        keys.sort_unstable();
        Reply::Array(
            keys.into_iter()
                .map(|k| Reply::Bulk(Some(k.to_vec())))
                .collect(),
        )
    }

    /// RENAME and RENAMENX: the value moves with its expiry.
    pub(super) fn rename(&mut self, from: &[u8], to: &[u8], only_if_absent: bool) -> Reply {
        if !self.map.contains_key(from) {
            return Reply::error(ErrorCode::Err, "no such key");
        }
        if only_if_absent && self.map.contains_key(to) {
            return Reply::Int(0);
        }
        if from != to {
            let slot = self.map.remove(from).expect("present: checked above");
            self.put_slot(to.into(), slot);
        }
        if only_if_absent {
            Reply::Int(i64::from(from != to))
        } else {
            Reply::ok()
        }
    }

    pub(super) fn flush_all(&mut self) -> Reply {
        self.map.clear();
        Reply::ok()
    }
}
