//! The string and keyspace commands beyond SET/GET/DEL: SETNX, GETSET,
//! GETDEL, APPEND, MSETNX, RENAME(NX), FLUSHALL, and the reads STRLEN, TYPE,
//! KEYS. Deterministic like every command: the same state and command give the
//! same state and reply on every replica.

use super::{KvStore, glob};
use crate::command::{Reply, SetCondition};
use crate::error::ErrorCode;

/// Parses a float as Redis's `string2ld` does for INCRBYFLOAT: the whole
/// text, no spaces, no NaN (infinities parse, and then fail as a result).
pub fn parse_redis_float(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    let value: f64 = text.parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// The largest value APPEND may build (Redis's `proto-max-bulk-len`): a
/// constant of the state machine, so every replica refuses the same append.
pub const MAX_VALUE_BYTES: usize = 512 << 20;

impl KvStore {
    fn insert(&mut self, key: &[u8], value: &[u8]) {
        self.map.insert(key.into(), value.into());
    }

    pub(super) fn set_nx(&mut self, key: &[u8], value: &[u8]) -> Reply {
        if self.map.contains_key(key) {
            return Reply::Int(0);
        }
        self.insert(key, value);
        Reply::Int(1)
    }

    /// SET with NX/XX and GET: sets if `condition` holds; answers the old
    /// value with `get`, else `OK` or nil (not set).
    pub(super) fn set_with(
        &mut self,
        key: &[u8],
        value: &[u8],
        condition: SetCondition,
        get: bool,
    ) -> Reply {
        let old = self.get(key).map(<[u8]>::to_vec);
        let set = match condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => old.is_none(),
            SetCondition::IfPresent => old.is_some(),
        };
        if set {
            self.insert(key, value);
        }
        match (get, set) {
            (true, _) => Reply::Bulk(old),
            (false, true) => Reply::ok(),
            (false, false) => Reply::Bulk(None),
        }
    }

    /// INCRBYFLOAT: the new value as text, formatted the shortest way that
    /// reads back the same (`10.5` + `0.1` = `10.6`, `3.0` is `3`).
    pub(super) fn incr_by_float(&mut self, key: &[u8], increment: &[u8]) -> Reply {
        let not_float = || Reply::error(ErrorCode::Err, "value is not a valid float");
        let current = match self.get(key) {
            None => 0.0,
            Some(v) => match parse_redis_float(v) {
                Some(n) => n,
                None => return not_float(),
            },
        };
        let Some(increment) = parse_redis_float(increment) else {
            return not_float();
        };
        let sum = current + increment;
        if !sum.is_finite() {
            return Reply::error(ErrorCode::Err, "increment would produce NaN or Infinity");
        }
        let text = format!("{sum}");
        self.insert(key, text.as_bytes());
        Reply::Bulk(Some(text.into_bytes()))
    }

    pub(super) fn get_set(&mut self, key: &[u8], value: &[u8]) -> Reply {
        let old = self.map.insert(key.into(), value.into());
        Reply::Bulk(old.map(|v| v.to_vec()))
    }

    pub(super) fn get_del(&mut self, key: &[u8]) -> Reply {
        Reply::Bulk(self.map.remove(key).map(|v| v.to_vec()))
    }

    pub(super) fn append(&mut self, key: &[u8], value: &[u8]) -> Reply {
        let old = self.get(key).unwrap_or_default();
        if old.len() + value.len() > MAX_VALUE_BYTES {
            return Reply::error(
                ErrorCode::Err,
                "string exceeds maximum allowed size (proto-max-bulk-len)",
            );
        }
        let joined = [old, value].concat();
        let len = joined.len();
        self.insert(key, &joined);
        Reply::Int(len as i64)
    }

    pub(super) fn mset_nx(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Reply {
        if pairs.iter().any(|(k, _)| self.map.contains_key(&k[..])) {
            return Reply::Int(0);
        }
        for (k, v) in pairs {
            self.insert(k, v);
        }
        Reply::Int(1)
    }

    pub(super) fn rename(&mut self, from: &[u8], to: &[u8], only_if_absent: bool) -> Reply {
        if !self.map.contains_key(from) {
            return Reply::error(ErrorCode::Err, "no such key");
        }
        if only_if_absent && self.map.contains_key(to) {
            return Reply::Int(0);
        }
        if from != to {
            let value = self.map.remove(from).expect("present: checked above");
            self.map.insert(to.into(), value);
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

    pub(super) fn strlen(&self, key: &[u8]) -> Reply {
        Reply::Int(self.get(key).map_or(0, <[u8]>::len) as i64)
    }

    pub(super) fn type_of(&self, key: &[u8]) -> Reply {
        Reply::Simple(
            if self.map.contains_key(key) {
                "string"
            } else {
                "none"
            }
            .into(),
        )
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
}
