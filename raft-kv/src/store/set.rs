//! Sets: SADD, SREM, SPOP, SMOVE, SINTERSTORE, SUNIONSTORE, SDIFFSTORE
//! (writes) and SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SRANDMEMBER, SINTER,
//! SUNION, SDIFF, SINTERCARD, SSCAN (reads). SPOP draws from the entry's seed,
//! so every replica removes the same members.

use super::KvStore;
use super::value::{Set, Slot, Value};
use super::words::{
    Rng, ScanOptions, WordsSpec, bulk, count_arg, int_arg, random_picks, read, syntax_error, write,
};
use crate::command::Reply;
use crate::error::ErrorCode;
use std::sync::Arc;

type Args<'a> = &'a [Vec<u8>];

/// The set commands.
pub(super) static COMMANDS: &[WordsSpec] = &[
    write("SADD", -3, |s, a, _| {
        let set = s.collection_mut::<Set>(&a[0], true)?.expect("created");
        let added = a[1..].iter().filter(|m| set.insert((*m).clone())).count();
        Ok(Reply::Int(added as i64))
    }),
    write("SREM", -3, |s, a, _| {
        let Some(set) = s.collection_mut::<Set>(&a[0], false)? else {
            return Ok(Reply::Int(0));
        };
        let removed = a[1..].iter().filter(|m| set.remove(*m)).count();
        s.drop_if_empty(&a[0]);
        Ok(Reply::Int(removed as i64))
    }),
    write("SPOP", -2, spop),
    write("SMOVE", 4, smove),
    write("SINTERSTORE", -3, |s, a, _| store(s, a, Combine::Inter)),
    write("SUNIONSTORE", -3, |s, a, _| store(s, a, Combine::Union)),
    write("SDIFFSTORE", -3, |s, a, _| store(s, a, Combine::Diff)),
    read("SMEMBERS", 2, |s, a| {
        Ok(members(set(s, &a[0])?.into_iter().flatten()))
    }),
    read("SISMEMBER", 3, |s, a| {
        Ok(Reply::Int(i64::from(
            set(s, &a[0])?.is_some_and(|m| m.contains(&a[1])),
        )))
    }),
    read("SMISMEMBER", -3, |s, a| {
        let m = set(s, &a[0])?;
        let there = a[1..]
            .iter()
            .map(|x| i64::from(m.is_some_and(|m| m.contains(x))));
        Ok(Reply::Array(there.map(Reply::Int).collect()))
    }),
    read("SCARD", 2, |s, a| {
        Ok(Reply::Int(set(s, &a[0])?.map_or(0, Set::len) as i64))
    }),
    read("SRANDMEMBER", -2, srandmember),
    read("SINTER", -2, |s, a| {
        Ok(members(&combine(s, a, Combine::Inter)?))
    }),
    read("SUNION", -2, |s, a| {
        Ok(members(&combine(s, a, Combine::Union)?))
    }),
    read("SDIFF", -2, |s, a| {
        Ok(members(&combine(s, a, Combine::Diff)?))
    }),
    read("SINTERCARD", -3, sintercard),
    read("SSCAN", -3, |s, a| {
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

fn set<'s>(s: &'s KvStore, key: &[u8]) -> Result<Option<&'s Set>, Reply> {
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
fn combine(s: &KvStore, keys: Args, how: Combine) -> Result<Set, Reply> {
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
fn store(s: &mut KvStore, a: Args, how: Combine) -> Result<Reply, Reply> {
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

fn sintercard(s: &KvStore, a: Args) -> Result<Reply, Reply> {
    let numkeys = count_arg(&a[0])
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Reply::error(ErrorCode::Err, "numkeys should be greater than 0"))?;
    let keys = a.get(1..=numkeys).ok_or_else(|| {
        Reply::error(
            ErrorCode::Err,
            "Number of keys can't be greater than number of args",
        )
    })?;
    let limit = match &a[1 + numkeys..] {
        [] => 0,
        [word, n] if word.eq_ignore_ascii_case(b"LIMIT") => {
            count_arg(n).map_err(|_| Reply::error(ErrorCode::Err, "LIMIT can't be negative"))?
        }
        _ => return Err(syntax_error()),
    };
    let len = combine(s, keys, Combine::Inter)?.len();
    Ok(Reply::Int(match limit {
        0 => len,
        l => len.min(l),
    } as i64))
}

/// SPOP key [count]: members removed at random (from the entry's seed).
fn spop(s: &mut KvStore, a: Args, rng: &mut Rng) -> Result<Reply, Reply> {
    let count = match a.get(1) {
        None => None,
        Some(c) if a.len() == 2 => Some(count_arg(c)?),
        Some(_) => return Err(syntax_error()),
    };
    let Some(members) = s.collection_mut::<Set>(&a[0], false)? else {
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

fn smove(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    let (from, to, member) = (&a[0], &a[1], &a[2]);
    set(s, to)?; // WRONGTYPE before anything changes
    let Some(source) = s.collection_mut::<Set>(from, false)? else {
        return Ok(Reply::Int(0));
    };
    if !source.remove(member) {
        return Ok(Reply::Int(0));
    }
    s.drop_if_empty(from);
    let dest = s.collection_mut::<Set>(to, true)?.expect("created");
    dest.insert(member.clone());
    Ok(Reply::Int(1))
}

/// SRANDMEMBER key [count]: a read, with this node's own randomness.
fn srandmember(s: &KvStore, a: Args) -> Result<Reply, Reply> {
    let all: Vec<&Vec<u8>> = set(s, &a[0])?.into_iter().flatten().collect();
    let mut rng = Rng::from_entropy();
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
                return Err(Reply::error(ErrorCode::Err, "value is out of range"));
            }
            let picks = random_picks(len, count, &mut rng);
            Ok(Reply::Array(
                picks.into_iter().map(|i| Reply::Bulk(nth(i))).collect(),
            ))
        }
        _ => Err(syntax_error()),
    }
}
