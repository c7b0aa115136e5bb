//! The string commands beyond SET/GET: SETNX, SET with NX/XX/GET/KEEPTTL,
//! INCRBYFLOAT, GETSET, GETDEL, APPEND, MSETNX, STRLEN. Deterministic like
//! every command: the same state and command give the same state and reply on
//! every replica.

use super::KvStore;
use super::numbers::{MAX_VALUE_BYTES, parse_redis_float};
use crate::command::{Reply, SetCondition};
use crate::error::ErrorCode;

/// What SET does to the key's expiry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SetExpiry {
    /// Cleared (plain SET).
    Clear,
    /// Kept (KEEPTTL).
    Keep,
    /// Set to this Unix time in ms (EX, PX, EXAT, PXAT).
    At(u64),
}

impl KvStore {
    pub(super) fn set_nx(&mut self, key: &[u8], value: &[u8]) -> Reply {
        if self.slot(key).is_some() {
            return Reply::Int(0);
        }
        self.put_string(key, value, false);
        Reply::Int(1)
    }

    /// SET with NX/XX and GET: sets if `condition` holds; answers the old
    /// value with `get` (`WRONGTYPE` if it is not a string), else `OK` or nil
    /// (not set). The expiry is cleared, kept, or set to `expiry`'s time.
    pub(super) fn set_with(
        &mut self,
        key: &[u8],
        value: &[u8],
        condition: SetCondition,
        get: bool,
        expiry: SetExpiry,
    ) -> Reply {
        let old = match self.string(key) {
            Err(wrong_type) if get => return wrong_type,
            Err(_) => None,
            Ok(old) => old.map(<[u8]>::to_vec),
        };
        let present = self.slot(key).is_some();
        let set = match condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => !present,
            SetCondition::IfPresent => present,
        };
        if set {
            self.put_string(key, value, expiry == SetExpiry::Keep);
            if let SetExpiry::At(at_ms) = expiry {
                self.set_expiry(key, at_ms);
            }
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
        let current = match self.string(key) {
            Err(wrong_type) => return wrong_type,
            Ok(None) => 0.0,
            Ok(Some(v)) => match parse_redis_float(v) {
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
        self.put_string(key, text.as_bytes(), true);
        Reply::Bulk(Some(text.into_bytes()))
    }

    pub(super) fn get_set(&mut self, key: &[u8], value: &[u8]) -> Reply {
        let old = match self.string(key) {
            Ok(old) => old.map(<[u8]>::to_vec),
            Err(wrong_type) => return wrong_type,
        };
        self.put_string(key, value, false);
        Reply::Bulk(old)
    }

    pub(super) fn get_del(&mut self, key: &[u8]) -> Reply {
        let old = match self.string(key) {
            Ok(old) => old.map(<[u8]>::to_vec),
            Err(wrong_type) => return wrong_type,
        };
        self.remove_key(key);
        Reply::Bulk(old)
    }

    pub(super) fn append(&mut self, key: &[u8], value: &[u8]) -> Reply {
        let old = match self.string(key) {
            Ok(old) => old.unwrap_or_default(),
            Err(wrong_type) => return wrong_type,
        };
        if old.len() + value.len() > MAX_VALUE_BYTES {
            return Reply::error(
                ErrorCode::Err,
                "string exceeds maximum allowed size (proto-max-bulk-len)",
            );
        }
        let joined = [old, value].concat();
        let len = joined.len();
        self.put_string(key, &joined, true);
        Reply::Int(len as i64)
    }

    pub(super) fn mset_nx(&mut self, pairs: &[(Vec<u8>, Vec<u8>)]) -> Reply {
        if pairs.iter().any(|(k, _)| self.slot(k).is_some()) {
            return Reply::Int(0);
        }
        for (k, v) in pairs {
            self.put_string(k, v, false);
        }
        Reply::Int(1)
    }

    pub(super) fn strlen(&self, key: &[u8]) -> Reply {
        match self.string(key) {
            Ok(v) => Reply::Int(v.map_or(0, <[u8]>::len) as i64),
            Err(wrong_type) => wrong_type,
        }
    }
}
