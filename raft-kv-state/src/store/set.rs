//! Sets: SADD, SREM, SPOP, SMOVE, SINTERSTORE, SUNIONSTORE, SDIFFSTORE
//! (writes) and SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SRANDMEMBER, SINTER,
//! SUNION, SDIFF, SINTERCARD, SSCAN (reads). SPOP draws from the entry's seed,
//! so every replica removes the same members.

use super::KvStore;
use super::args::{ScanOptions, bulk, count_arg, int_arg, random_picks};
use super::value::{Set, Slot, Value};
use crate::errors::CommandError;
use crate::family::{Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;
use std::sync::Arc;

type Args<'a> = &'a [Vec<u8>];

/// The set commands.
pub(crate) static COMMANDS: &[Registration] = &[
    write("sadd", |s, a, _| {
        let set = s.collection_or_new::<Set>(&a[0])?;
        let added = a[1..].iter().filter(|m| set.insert((*m).clone())).count();
        Ok(Reply::Int(added as i64))
    }),
    write("srem", |s, a, _| {
        let Some(set) = s.collection_mut::<Set>(&a[0])? else {
            return Ok(Reply::Int(0));
        };
        let removed = a[1..].iter().filter(|m| set.remove(*m)).count();
        s.drop_if_empty(&a[0]);
        Ok(Reply::Int(removed as i64))
    }),
    write("spop", spop).random(),
    write("smove", smove),
    write("sinterstore", |s, a, _| store(s, a, Combine::Inter)),
    write("sunionstore", |s, a, _| store(s, a, Combine::Union)),
    write("sdiffstore", |s, a, _| store(s, a, Combine::Diff)),
    read("smembers", |s, a, _| {
        Ok(members(set(s, &a[0])?.into_iter().flatten()))
    }),
    read("sismember", |s, a, _| {
        Ok(Reply::Int(i64::from(
            set(s, &a[0])?.is_some_and(|m| m.contains(&a[1])),
        )))
    }),
    read("smismember", |s, a, _| {
        let m = set(s, &a[0])?;
        let there = a[1..]
            .iter()
            .map(|x| i64::from(m.is_some_and(|m| m.contains(x))));
        Ok(Reply::Array(there.map(Reply::Int).collect()))
    }),
    read("scard", |s, a, _| {
        Ok(Reply::Int(set(s, &a[0])?.map_or(0, Set::len) as i64))
    }),
    read("srandmember", srandmember).random(),
    read("sinter", |s, a, _| {
        Ok(members(&combine(s, a, Combine::Inter)?))
    }),
    read("sunion", |s, a, _| {
        Ok(members(&combine(s, a, Combine::Union)?))
    }),
    read("sdiff", |s, a, _| {
        Ok(members(&combine(s, a, Combine::Diff)?))
    }),
    read("sintercard", sintercard),
    read("sscan", |s, a, _| {
        let opts = ScanOptions::parse(&a[1..])?;
        let found = set(s, &a[0])?
            .into_iter()
            .flatten()
            .filter(|m| opts.matches(m));
        Ok(Reply::Array(vec![
            bulk(b"0"),
            Reply::Array(found.map(|m| bulk(m)).collect()),
        ]))
    }),
];

fn set<'s>(s: &'s KvStore, key: &[u8]) -> Result<Option<&'s Set>, CommandError> {
    s.collection::<Set>(key)
}

/// Members as a set reply (`~` in RESP3).
fn members<'a>(items: impl IntoIterator<Item = &'a Vec<u8>>) -> Reply {
    Reply::Set(items.into_iter().map(|m| bulk(m)).collect())
}

#[derive(Clone, Copy)]
enum Combine {
    Inter,
    Union,
    Diff,
}

/// The intersection, union or difference of the sets at `keys` (a missing
/// key is an empty set; a key of another type is `WRONGTYPE`).
fn combine(s: &KvStore, keys: Args, how: Combine) -> Result<Set, CommandError> {
    let sets = keys
        .iter()
        .map(|k| set(s, k))
        .collect::<Result<Vec<_>, _>>()?;
    let empty = Set::new();
    let (first, rest) = sets.split_first().expect("arity: at least one key");
    let mut acc: Set = first.unwrap_or(&empty).clone();
    for other in rest {
        let other = other.unwrap_or(&empty);
        match how {
            Combine::Inter => acc.retain(|m| other.contains(m)),
            Combine::Union => acc.extend(other.iter().cloned()),
            Combine::Diff => acc.retain(|m| !other.contains(m)),
        }
    }
    Ok(acc)
}

/// S*STORE destination key [key ...]: the result replaces the destination
/// (removed if empty); the reply is its size.
fn store(s: &mut KvStore, a: Args, how: Combine) -> Result<Reply, CommandError> {
    let result = combine(s, &a[1..], how)?;
    let len = result.len();
    s.remove_key(&a[0]);
    if len > 0 {
        let slot = Slot {
            value: Value::Set(Arc::new(result)),
            version: 0,
            expires_at_ms: 0,
        };
        s.put_slot(a[0][..].into(), slot);
    }
    Ok(Reply::Int(len as i64))
}

fn sintercard(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let numkeys = count_arg(&a[0])
        .ok()
        .filter(|&n| n > 0)
        .ok_or(CommandError::NumkeysNotPositive)?;
    let keys = a.get(1..=numkeys).ok_or(CommandError::TooManyKeys)?;
    let limit = match &a[1 + numkeys..] {
        [] => 0,
        [word, n] if word.eq_ignore_ascii_case(b"LIMIT") => {
            count_arg(n).map_err(|_| CommandError::NegativeLimit)?
        }
        _ => return Err(CommandError::Syntax),
    };
    let len = combine(s, keys, Combine::Inter)?.len();
    Ok(Reply::Int(match limit {
        0 => len,
        l => len.min(l),
    } as i64))
}

/// SPOP key [count]: members removed at random (from the entry's seed).
fn spop(s: &mut KvStore, a: Args, rng: &mut SplitMix64) -> Result<Reply, CommandError> {
    let count = match a.get(1) {
        None => None,
        Some(c) if a.len() == 2 => Some(count_arg(c)?),
        Some(_) => return Err(CommandError::Syntax),
    };
    let Some(members) = s.collection_mut::<Set>(&a[0])? else {
        return Ok(match count {
            None => Reply::Bulk(None),
            Some(_) => Reply::Set(Vec::new()),
        });
    };
    let picks = random_picks(members.len(), count.unwrap_or(1) as i64, rng);
    let chosen: Vec<Vec<u8>> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| picks.binary_search(i).is_ok())
        .map(|(_, m)| m.clone())
        .collect();
    for m in &chosen {
        members.remove(m);
    }
    s.drop_if_empty(&a[0]);
    Ok(match count {
        None => Reply::Bulk(chosen.into_iter().next()),
        Some(_) => Reply::Set(chosen.into_iter().map(|m| Reply::Bulk(Some(m))).collect()),
    })
}

fn smove(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let (from, to, member) = (&a[0], &a[1], &a[2]);
    set(s, to)?; // WRONGTYPE before anything changes
    let Some(source) = s.collection_mut::<Set>(from)? else {
        return Ok(Reply::Int(0));
    };
    if !source.remove(member) {
        return Ok(Reply::Int(0));
    }
    s.drop_if_empty(from);
    let dest = s.collection_or_new::<Set>(to)?;
    dest.insert(member.clone());
    Ok(Reply::Int(1))
}

/// SRANDMEMBER key [count]: a read, with this node's own randomness.
fn srandmember(s: &KvStore, a: Args, rng: &mut SplitMix64) -> Result<Reply, CommandError> {
    let all: Vec<&Vec<u8>> = set(s, &a[0])?.into_iter().flatten().collect();
    let len = all.len();
    let nth = |i: usize| all.get(i).map(|m| (*m).clone());
    match a {
        [_] => Ok(Reply::Bulk(if len == 0 {
            None
        } else {
            nth(rng.below(len))
        })),
        [_, count] => {
            let count = int_arg(count)?;
            if count == i64::MIN {
                return Err(CommandError::OutOfRange);
            }
            let picks = random_picks(len, count, rng);
            Ok(Reply::Array(
                picks.into_iter().map(|i| Reply::Bulk(nth(i))).collect(),
            ))
        }
        _ => Err(CommandError::Syntax),
    }
}
