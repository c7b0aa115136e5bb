//! The expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX | XX
//! | GT | LT), PERSIST, SETEX, PSETEX, GETEX and SET with all its options
//! (SET's one parser) (writes); TTL, PTTL, EXPIRETIME, PEXPIRETIME (reads). Relative times count from [`KvStore::now_ms`]: when applying, the
//! state machine's clock, which the log moves (see `expiry.rs`).

use super::KvStore;
use super::args::int_arg;
use super::strings::{SetCondition, SetExpiry};
use crate::errors::CommandError;
use crate::family::{Args, Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;

/// The expiry commands.
pub(crate) static COMMANDS: &[Registration] = &[
    write("expire", |s, a, _| {
        expire(s, a, Unit::Seconds, false, "expire")
    }),
    write("pexpire", |s, a, _| {
        expire(s, a, Unit::Millis, false, "pexpire")
    }),
    write("expireat", |s, a, _| {
        expire(s, a, Unit::Seconds, true, "expireat")
    }),
    write("pexpireat", |s, a, _| {
        expire(s, a, Unit::Millis, true, "pexpireat")
    }),
    write("persist", |s, a, _| {
        let had = s.slot(&a[0]).is_some_and(|x| x.expires_at_ms != 0);
        if had {
            s.set_expiry(&a[0], 0);
        }
        Ok(Reply::Int(i64::from(had)))
    }),
    write("setex", |s, a, _| setex(s, a, Unit::Seconds, "setex")),
    write("psetex", |s, a, _| setex(s, a, Unit::Millis, "psetex")),
    write("getex", getex),
    write("set", set),
    read("ttl", |s, a, _| {
        Ok(Reply::Int(ttl(s, &a[0], |ms| (ms + 500) / 1000)))
    }),
    read("pttl", |s, a, _| Ok(Reply::Int(ttl(s, &a[0], |ms| ms)))),
    read("expiretime", |s, a, _| {
        Ok(Reply::Int(expire_time(s, &a[0], 1000)))
    }),
    read("pexpiretime", |s, a, _| {
        Ok(Reply::Int(expire_time(s, &a[0], 1)))
    }),
];

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
}

fn invalid_time(command: &'static str) -> CommandError {
    CommandError::InvalidExpireTime { command }
}

/// The absolute expiry time (Unix ms) of `amount` in `unit`, relative to now
/// unless `absolute`; `None` on overflow.
fn deadline(s: &KvStore, amount: i64, unit: Unit, absolute: bool) -> Option<i64> {
    let ms = match unit {
        Unit::Seconds => amount.checked_mul(1000)?,
        Unit::Millis => amount,
    };
    match absolute {
        true => Some(ms),
        false => ms.checked_add(i64::try_from(s.now_ms()).ok()?),
    }
}

/// EXPIRE and its kin: `key amount [NX | XX | GT | LT]`.
fn expire(
    s: &mut KvStore,
    a: Args,
    unit: Unit,
    absolute: bool,
    name: &'static str,
) -> Result<Reply, CommandError> {
    let amount = int_arg(&a[1])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &a[2..] {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(CommandError::UnsupportedOption {
                    option: String::from_utf8_lossy(opt).into_owned(),
                });
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::ExpireNxWithOthers);
    }
    if gt && lt {
        return Err(CommandError::ExpireGtWithLt);
    }
    let at = deadline(s, amount, unit, absolute).ok_or_else(|| invalid_time(name))?;
    let Some(slot) = s.slot(&a[0]) else {
        return Ok(Reply::Int(0));
    };
    // A key without an expiry counts as expiring never (an infinite TTL).
    let current = (slot.expires_at_ms != 0).then_some(slot.expires_at_ms as i64);
    let allowed = !(nx && current.is_some()
        || xx && current.is_none()
        || gt && current.is_none_or(|c| at <= c)
        || lt && current.is_some_and(|c| at >= c));
    if !allowed {
        return Ok(Reply::Int(0));
    }
    // A time already passed deletes the key (at 0 or below too).
    let at_ms = u64::try_from(at).unwrap_or(0).max(1);
    s.set_expiry(&a[0], at_ms.min(u64::MAX - 1));
    Ok(Reply::Int(1))
}

/// TTL in the unit `convert` gives from milliseconds: -2 no key, -1 no expiry.
fn ttl(s: &KvStore, key: &[u8], convert: fn(i64) -> i64) -> i64 {
    match s.slot(key) {
        None => -2,
        Some(slot) if slot.expires_at_ms == 0 => -1,
        Some(slot) => convert(slot.expires_at_ms.saturating_sub(s.now_ms()) as i64),
    }
}

fn expire_time(s: &KvStore, key: &[u8], divisor: u64) -> i64 {
    match s.slot(key) {
        None => -2,
        Some(slot) if slot.expires_at_ms == 0 => -1,
        Some(slot) => (slot.expires_at_ms / divisor) as i64,
    }
}

/// A positive amount of time for SET/SETEX/GETEX, as an absolute time.
fn positive_deadline(
    s: &KvStore,
    word: &[u8],
    unit: Unit,
    absolute: bool,
    name: &'static str,
) -> Result<u64, CommandError> {
    let amount = int_arg(word)?;
    if amount <= 0 {
        return Err(invalid_time(name));
    }
    let at = deadline(s, amount, unit, absolute).ok_or_else(|| invalid_time(name))?;
    Ok(u64::try_from(at).unwrap_or(1).max(1))
}

fn setex(s: &mut KvStore, a: Args, unit: Unit, name: &'static str) -> Result<Reply, CommandError> {
    let at = positive_deadline(s, &a[1], unit, false, name)?;
    s.put_string(&a[0], &a[2], false);
    s.set_expiry(&a[0], at);
    Ok(Reply::ok())
}

/// What an `EX | PX | EXAT | PXAT` option sets.
enum ExpiryOption {
    /// No option.
    Unchanged,
    /// KEEPTTL (SET) .
    Keep,
    /// PERSIST (GETEX).
    Clear,
    /// A new absolute time.
    At(u64),
}

/// Parses one expiry option at `a[0]` (its value at `a[1]`); how many words it took.
fn expiry_option(
    s: &KvStore,
    a: Args,
    name: &'static str,
) -> Result<Option<(ExpiryOption, usize)>, CommandError> {
    let timed = |unit, absolute| -> Result<Option<(ExpiryOption, usize)>, CommandError> {
        let word = a.get(1).ok_or(CommandError::Syntax)?;
        let at = positive_deadline(s, word, unit, absolute, name)?;
        Ok(Some((ExpiryOption::At(at), 2)))
    };
    match a[0].to_ascii_uppercase().as_slice() {
        b"EX" => timed(Unit::Seconds, false),
        b"PX" => timed(Unit::Millis, false),
        b"EXAT" => timed(Unit::Seconds, true),
        b"PXAT" => timed(Unit::Millis, true),
        _ => Ok(None),
    }
}

/// GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST].
fn getex(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let option = match &a[1..] {
        [] => ExpiryOption::Unchanged,
        [p] if p.eq_ignore_ascii_case(b"PERSIST") => ExpiryOption::Clear,
        rest => match expiry_option(s, rest, "getex")? {
            Some((opt, used)) if used == rest.len() => opt,
            _ => return Err(CommandError::Syntax),
        },
    };
    let Some(value) = s.string(&a[0])?.map(<[u8]>::to_vec) else {
        return Ok(Reply::Bulk(None));
    };
    match option {
        ExpiryOption::At(at) => {
            s.set_expiry(&a[0], at);
        }
        ExpiryOption::Clear => {
            s.set_expiry(&a[0], 0);
        }
        ExpiryOption::Unchanged | ExpiryOption::Keep => {}
    }
    Ok(Reply::Bulk(Some(value)))
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL].
fn set(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let (mut condition, mut get, mut expiry) =
        (SetCondition::Always, false, ExpiryOption::Unchanged);
    let mut rest = &a[2..];
    while let Some(word) = rest.first() {
        let upper = word.to_ascii_uppercase();
        let unset = matches!(expiry, ExpiryOption::Unchanged);
        let step = match upper.as_slice() {
            b"NX" if condition != SetCondition::IfPresent => {
                condition = SetCondition::IfAbsent;
                1
            }
            b"XX" if condition != SetCondition::IfAbsent => {
                condition = SetCondition::IfPresent;
                1
            }
            b"GET" => {
                get = true;
                1
            }
            b"KEEPTTL" if unset => {
                expiry = ExpiryOption::Keep;
                1
            }
            _ if unset => match expiry_option(s, rest, "set")? {
                Some((opt, used)) => {
                    expiry = opt;
                    used
                }
                None => return Err(CommandError::Syntax),
            },
            _ => return Err(CommandError::Syntax),
        };
        rest = &rest[step..];
    }
    let expiry = match expiry {
        ExpiryOption::Keep => SetExpiry::Keep,
        ExpiryOption::At(at) => SetExpiry::At(at),
        ExpiryOption::Unchanged | ExpiryOption::Clear => SetExpiry::Clear,
    };
    s.set_with(&a[0], &a[1], condition, get, expiry)
}
