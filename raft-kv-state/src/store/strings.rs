//! The string commands: GET, MGET, SET's kin (SETNX, GETSET, GETDEL, MSET,
//! MSETNX), APPEND, STRLEN, INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT and CAS
//! (SET itself, with its expiry options, is in [`super::expire`]).
//! Deterministic like every command: the same state and command give the
//! same state and reply on every replica.

use super::KvStore;
use crate::errors::CommandError;
use crate::family::{Args, Registration, read, write};
use crate::numbers::{MAX_VALUE_BYTES, parse_redis_float, parse_redis_int};
use crate::reply::Reply;
use raft_core::SplitMix64;

/// The string commands.
pub(crate) static COMMANDS: &[Registration] = &[
    read("get", |s, a, _| {
        Ok(Reply::Bulk(s.string(&a[0])?.map(<[u8]>::to_vec)))
    }),
    // MGET answers nil for a key of another type, as Redis does.
    read("mget", |s, a, _| {
        Ok(Reply::Array(
            a.iter()
                .map(|k| Reply::Bulk(s.get(k).map(<[u8]>::to_vec)))
                .collect(),
        ))
    }),
    read("strlen", |s, a, _| {
        Ok(Reply::Int(s.string(&a[0])?.map_or(0, <[u8]>::len) as i64))
    }),
    write("setnx", |s, a, _| Ok(s.set_nx(&a[0], &a[1]))),
    write("getset", |s, a, _| s.get_set(&a[0], &a[1])),
    write("getdel", |s, a, _| s.get_del(&a[0])),
    write("append", |s, a, _| s.append(&a[0], &a[1])),
    write("mset", |s, a, _| {
        for (k, v) in pairs(a, "mset")? {
            s.put_string(k, v, false);
        }
        Ok(Reply::ok())
    }),
    write("msetnx", |s, a, _| s.mset_nx(a)),
    write("incr", |s, a, _| incr_by(s, &a[0], 1, parse_redis_int)),
    write("decr", |s, a, _| incr_by(s, &a[0], -1, parse_redis_int)),
    write("incrby", |s, a, _| add_to(s, a, Some)),
    write("decrby", |s, a, _| add_to(s, a, i64::checked_neg)),
    write("incrbyfloat", |s, a, _| s.incr_by_float(&a[0], &a[1])),
    write("cas", cas),
];

/// `k v [k v ...]` as pairs; the arity error of `name` for an odd count.
fn pairs<'a>(
    a: Args<'a>,
    name: &str,
) -> Result<impl Iterator<Item = (&'a [u8], &'a [u8])>, CommandError> {
    if a.is_empty() || !a.len().is_multiple_of(2) {
        return Err(CommandError::arity(name));
    }
    Ok(a.chunks(2).map(|p| (p[0].as_slice(), p[1].as_slice())))
}

/// INCRBY / DECRBY key amount: `sign` turns the amount into the delta (None:
/// out of range, as `DECRBY k -9223372036854775808`).
fn add_to(s: &mut KvStore, a: Args, sign: fn(i64) -> Option<i64>) -> Result<Reply, CommandError> {
    let delta = parse_redis_int(&a[1])
        .and_then(sign)
        .ok_or(CommandError::NotAnInteger)?;
    incr_by(s, &a[0], delta, parse_redis_int)
}

/// Adds `delta` to the integer at `key` (0 if absent), reading the stored
/// value with `parse`; an unparsable value or an overflow changes nothing.
pub(crate) fn incr_by(
    s: &mut KvStore,
    key: &[u8],
    delta: i64,
    parse: fn(&[u8]) -> Option<i64>,
) -> Result<Reply, CommandError> {
    let current = match s.string(key)? {
        None => 0,
        Some(v) => parse(v).ok_or(CommandError::NotAnInteger)?,
    };
    let n = current.checked_add(delta).ok_or(CommandError::Overflow)?;
    s.put_string(key, n.to_string().as_bytes(), true);
    Ok(Reply::Int(n))
}

/// CAS key expected new: `:1` swapped, `:0` not (another value, or absent).
fn cas(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    if s.string(&a[0])? != Some(a[1].as_slice()) {
        return Ok(Reply::Int(0));
    }
    s.put_string(&a[0], &a[2], true);
    Ok(Reply::Int(1))
}

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

/// When SET sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SetCondition {
    /// Whatever is there.
    Always,
    /// Only if the key is absent (`NX`).
    IfAbsent,
    /// Only if the key exists (`XX`).
    IfPresent,
}

impl KvStore {
    fn set_nx(&mut self, key: &[u8], value: &[u8]) -> Reply {
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
    ) -> Result<Reply, CommandError> {
        let old = match self.string(key) {
            Err(wrong_type) if get => return Err(wrong_type),
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
        Ok(match (get, set) {
            (true, _) => Reply::Bulk(old),
            (false, true) => Reply::ok(),
            (false, false) => Reply::Bulk(None),
        })
    }

    /// INCRBYFLOAT: the new value as text, formatted the shortest way that
    /// reads back the same (`10.5` + `0.1` = `10.6`, `3.0` is `3`). The
    /// stored value is checked before the increment, as Redis does.
    fn incr_by_float(&mut self, key: &[u8], increment: &[u8]) -> Result<Reply, CommandError> {
        let current = match self.string(key)? {
            None => 0.0,
            Some(v) => parse_redis_float(v).ok_or(CommandError::NotAFloat)?,
        };
        let increment = parse_redis_float(increment).ok_or(CommandError::NotAFloat)?;
        let sum = current + increment;
        if !sum.is_finite() {
            return Err(CommandError::NotFinite);
        }
        let text = format!("{sum}");
        self.put_string(key, text.as_bytes(), true);
        Ok(Reply::Bulk(Some(text.into_bytes())))
    }

    fn get_set(&mut self, key: &[u8], value: &[u8]) -> Result<Reply, CommandError> {
        let old = self.string(key)?.map(<[u8]>::to_vec);
        self.put_string(key, value, false);
        Ok(Reply::Bulk(old))
    }

    fn get_del(&mut self, key: &[u8]) -> Result<Reply, CommandError> {
        let old = self.string(key)?.map(<[u8]>::to_vec);
        self.remove_key(key);
        Ok(Reply::Bulk(old))
    }

    fn append(&mut self, key: &[u8], value: &[u8]) -> Result<Reply, CommandError> {
        let old = self.string(key)?.unwrap_or_default();
        if old.len() + value.len() > MAX_VALUE_BYTES {
            return Err(CommandError::StringTooLong);
        }
        let joined = [old, value].concat();
        let len = joined.len();
        self.put_string(key, &joined, true);
        Ok(Reply::Int(len as i64))
    }

    fn mset_nx(&mut self, a: Args) -> Result<Reply, CommandError> {
        let pairs: Vec<_> = pairs(a, "msetnx")?.collect();
        if pairs.iter().any(|(k, _)| self.slot(k).is_some()) {
            return Ok(Reply::Int(0));
        }
        for (k, v) in pairs {
            self.put_string(k, v, false);
        }
        Ok(Reply::Int(1))
    }
}
