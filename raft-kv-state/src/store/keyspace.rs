//! Access to the keys whatever they hold: the typed accessors every command
//! goes through (which stamp a changed key with the index of the entry being
//! applied and answer `WRONGTYPE` for a key of another type), and the
//! commands on keys as such: DEL, EXISTS, TYPE, KEYS, RENAME(NX), FLUSHALL.

use super::value::{Collection, SharedBytes, Slot, Value};
use super::{KvStore, glob};
use crate::errors::CommandError;
use crate::family::{Args, Registration, read, write};
use crate::reply::Reply;
use std::sync::Arc;

/// The commands on keys as such.
pub(crate) static COMMANDS: &[Registration] = &[
    write("del", |s, a, _| Ok(s.del(a))),
    write("unlink", |s, a, _| Ok(s.del(a))),
    read("exists", |s, a, _| Ok(s.exists(a))),
    read("touch", |s, a, _| Ok(s.exists(a))),
    read("type", |s, a, _| Ok(s.type_of(&a[0]))),
    read("keys", |s, a, _| Ok(s.keys(&a[0]))),
    read("dbsize", |s, _, _| Ok(Reply::Int(s.len() as i64))),
    write("rename", |s, a, _| s.rename(&a[0], &a[1], false)),
    write("renamenx", |s, a, _| s.rename(&a[0], &a[1], true)),
    write("flushdb", |s, a, _| flush(s, a)),
    write("flushall", |s, a, _| flush(s, a)),
];

/// FLUSHDB / FLUSHALL [ASYNC | SYNC] (both flush at once).
fn flush(s: &mut KvStore, a: Args) -> Result<Reply, CommandError> {
    match a {
        [] => {}
        [mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {}
        _ => return Err(CommandError::Syntax),
    }
    s.map.clear();
    s.expiries.clear();
    Ok(Reply::ok())
}

impl KvStore {
    /// The index of the entry being applied: the version a change stamps.
    fn version_now(&self) -> u64 {
        self.applied_index + 1
    }

    /// The slot of `key`, if it has not expired.
    pub(super) fn slot(&self, key: &[u8]) -> Option<&Slot> {
        self.map.get(key).filter(|s| self.is_live(s))
    }

    /// The live keys and their slots.
    pub(super) fn live(&self) -> impl Iterator<Item = (&SharedBytes, &Slot)> {
        self.map.iter().filter(|(_, s)| self.is_live(s))
    }

    /// The string at `key`; `WRONGTYPE` if it holds another type.
    pub(super) fn string(&self, key: &[u8]) -> Result<Option<&[u8]>, CommandError> {
        match self.slot(key).map(|s| &s.value) {
            None => Ok(None),
            Some(Value::Str(v)) => Ok(Some(v)),
            Some(_) => Err(CommandError::WrongType),
        }
    }

    /// Stores the string `value` at `key`, whatever it held. `keep_ttl`
    /// keeps the key's expiry (APPEND, INCR, SETRANGE do; SET does not).
    pub(super) fn put_string(&mut self, key: &[u8], value: &[u8], keep_ttl: bool) {
        let version = self.version_now();
        let value = Value::Str(value.into());
        // One lookup on the common path: a key without an expiry to clear.
        let clears_expiry = match self.map.get_mut(key) {
            Some(slot) if keep_ttl || slot.expires_at_ms == 0 => {
                slot.value = value;
                slot.version = version;
                return;
            }
            Some(_) => true,
            None => false,
        };
        let slot = Slot {
            value,
            version,
            expires_at_ms: 0,
        };
        match clears_expiry {
            true => self.put_slot(key.into(), slot),
            false => {
                self.map.insert(key.into(), slot);
            }
        }
    }

    /// The collection of type `T` at `key`; `WRONGTYPE` for another type.
    pub(super) fn collection<T: Collection>(&self, key: &[u8]) -> Result<Option<&T>, CommandError> {
        match self.slot(key) {
            None => Ok(None),
            Some(slot) => T::of(&slot.value)
                .map(|c| Some(&**c))
                .ok_or(CommandError::WrongType),
        }
    }

    /// The collection of type `T` at `key` to change, if there is one;
    /// `WRONGTYPE` for another type. The key counts as changed (its version
    /// moves); call [`KvStore::drop_if_empty`] after the change.
    pub(super) fn collection_mut<T: Collection>(
        &mut self,
        key: &[u8],
    ) -> Result<Option<&mut T>, CommandError> {
        if self.slot(key).is_none() {
            return Ok(None);
        }
        self.changed_collection(key).map(Some)
    }

    /// The collection of type `T` at `key` to change, created empty if
    /// absent; `WRONGTYPE` for another type. The key counts as changed.
    pub(super) fn collection_or_new<T: Collection>(
        &mut self,
        key: &[u8],
    ) -> Result<&mut T, CommandError> {
        if self.slot(key).is_none() {
            self.take_slot(key);
            let slot = Slot {
                value: T::wrap(Arc::default()),
                version: self.version_now(),
                expires_at_ms: 0,
            };
            self.map.insert(key.into(), slot);
        }
        self.changed_collection(key)
    }

    /// The collection at the live `key`, its version moved to now.
    fn changed_collection<T: Collection>(&mut self, key: &[u8]) -> Result<&mut T, CommandError> {
        let version = self.version_now();
        let slot = self
            .map
            .get_mut(key)
            .expect("the caller checked or inserted the key");
        let c = T::of_mut(&mut slot.value).ok_or(CommandError::WrongType)?;
        slot.version = version;
        Ok(Arc::make_mut(c))
    }

    /// Removes `key` if it holds an empty collection (as Redis does).
    pub(super) fn drop_if_empty(&mut self, key: &[u8]) {
        if self
            .map
            .get(key)
            .is_some_and(|s| s.value.is_empty_collection())
        {
            self.remove_key(key);
        }
    }

    /// Stores `slot` at `key` (replacing what was there) as changed now.
    pub(super) fn put_slot(&mut self, key: SharedBytes, mut slot: Slot) {
        self.take_slot(&key);
        slot.version = self.version_now();
        self.index_expiry(&key, &slot);
        self.map.insert(key, slot);
    }

    /// Stores `value` at `key` as changed now, replacing whatever was there
    /// (its expiry too); `None` deletes the key (a command's empty result).
    pub(super) fn replace_value(&mut self, key: &[u8], value: Option<Value>) {
        match value {
            None => {
                self.remove_key(key);
            }
            Some(value) => {
                let slot = Slot {
                    value,
                    version: 0,
                    expires_at_ms: 0,
                };
                self.put_slot(key.into(), slot);
            }
        }
    }

    /// Removes `key` and its expiry; what it held.
    pub(super) fn take_slot(&mut self, key: &[u8]) -> Option<Slot> {
        let slot = self.map.remove(key)?;
        self.unindex_expiry(key, &slot);
        Some(slot)
    }

    /// Removes `key`; true if it was there (and had not expired).
    pub(super) fn remove_key(&mut self, key: &[u8]) -> bool {
        let live = self.slot(key).is_some();
        self.take_slot(key);
        live
    }

    /// DEL and UNLINK.
    fn del(&mut self, keys: &[Vec<u8>]) -> Reply {
        let removed = keys.iter().filter(|k| self.remove_key(k)).count();
        Reply::Int(removed as i64)
    }

    fn exists(&self, keys: &[Vec<u8>]) -> Reply {
        Reply::Int(
            keys.iter()
                .filter(|k| self.map.contains_key(&k[..]))
                .count() as i64,
        )
    }

    fn type_of(&self, key: &[u8]) -> Reply {
        let name = self.map.get(key).map_or("none", |s| s.value.type_name());
        Reply::Simple(name.into())
    }

    /// The keys matching `pattern`, sorted (Redis gives no order; sorted is
    /// one that is the same on every node).
    fn keys(&self, pattern: &[u8]) -> Reply {
        let mut keys: Vec<&[u8]> = self
            .live()
            .map(|(k, _)| &**k)
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
    fn rename(
        &mut self,
        from: &[u8],
        to: &[u8],
        only_if_absent: bool,
    ) -> Result<Reply, CommandError> {
        if self.slot(from).is_none() {
            return Err(CommandError::NoSuchKey);
        }
        if only_if_absent && self.slot(to).is_some() {
            return Ok(Reply::Int(0));
        }
        if from != to {
            let slot = self.take_slot(from).expect("present: checked above");
            self.put_slot(to.into(), slot);
        }
        Ok(if only_if_absent {
            Reply::Int(i64::from(from != to))
        } else {
            Reply::ok()
        })
    }
}
