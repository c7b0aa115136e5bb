//! Hashes: HSET, HSETNX, HMSET, HDEL, HINCRBY, HINCRBYFLOAT (writes) and HGET,
//! HMGET, HGETALL, HKEYS, HVALS, HLEN, HEXISTS, HSTRLEN, HRANDFIELD, HSCAN
//! (reads), with Redis's replies and error texts. A hash left empty is removed.

use super::KvStore;
use super::args::{bulk, bulks, int_arg};
use super::value::Hash;
use crate::errors::CommandError;
use crate::family::{Registration, read, write};
use crate::numbers::parse_redis_float;
use crate::reply::Reply;
use raft_core::SplitMix64;

type Args<'a> = &'a [Vec<u8>];

/// The hash commands.
pub(crate) static COMMANDS: &[Registration] = &[
    write("hset", hset),
    write("hmset", hmset),
    write("hsetnx", hsetnx),
    write("hdel", hdel),
    write("hincrby", hincrby),
    write("hincrbyfloat", hincrbyfloat),
    read("hget", |s, a, _| {
        Ok(Reply::Bulk(
            hash(s, &a[0])?.and_then(|h| h.get(&a[1]).cloned()),
        ))
    }),
    read("hmget", |s, a, _| {
        let h = hash(s, &a[0])?;
        let values = a[1..].iter().map(|f| h.and_then(|h| h.get(f)).cloned());
        Ok(Reply::Array(values.map(Reply::Bulk).collect()))
    }),
    read("hgetall", |s, a, _| {
        let pairs = hash(s, &a[0])?.into_iter().flatten();
        Ok(Reply::Map(pairs.map(|(f, v)| (bulk(f), bulk(v))).collect()))
    }),
    read("hkeys", |s, a, _| {
        Ok(bulks(hash(s, &a[0])?.into_iter().flat_map(Hash::keys)))
    }),
    read("hvals", |s, a, _| {
        Ok(bulks(hash(s, &a[0])?.into_iter().flat_map(Hash::values)))
    }),
    read("hlen", |s, a, _| {
        Ok(Reply::Int(hash(s, &a[0])?.map_or(0, Hash::len) as i64))
    }),
    read("hexists", |s, a, _| {
        let there = hash(s, &a[0])?.is_some_and(|h| h.contains_key(&a[1]));
        Ok(Reply::Int(i64::from(there)))
    }),
    read("hstrlen", |s, a, _| {
        let len = hash(s, &a[0])?
            .and_then(|h| h.get(&a[1]))
            .map_or(0, Vec::len);
        Ok(Reply::Int(len as i64))
    }),
    read("hrandfield", hrandfield).random(),
    read("hscan", hscan),
];

fn hash<'s>(s: &'s KvStore, key: &[u8]) -> Result<Option<&'s Hash>, CommandError> {
    s.collection::<Hash>(key)
}

/// `f v [f v ...]` as pairs, or Redis's arity error for `name`.
fn field_pairs<'a>(
    name: &str,
    a: Args<'a>,
) -> Result<std::slice::Chunks<'a, Vec<u8>>, CommandError> {
    if a.is_empty() || !a.len().is_multiple_of(2) {
        return Err(CommandError::arity(name));
    }
    Ok(a.chunks(2))
}

/// Sets the pairs; the number of fields that were new.
fn set_pairs(s: &mut KvStore, name: &str, a: Args) -> Result<i64, CommandError> {
    let pairs = field_pairs(name, &a[1..])?;
    let h = s.collection_or_new::<Hash>(&a[0])?;
    let added = pairs
        .into_iter()
        .filter(|p| h.insert(p[0].clone(), p[1].clone()).is_none())
        .count();
    Ok(added as i64)
}

fn hset(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    set_pairs(s, "hset", a).map(Reply::Int)
}

fn hmset(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    set_pairs(s, "hmset", a).map(|_| Reply::ok())
}

fn hsetnx(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    if hash(s, &a[0])?.is_some_and(|h| h.contains_key(&a[1])) {
        return Ok(Reply::Int(0));
    }
    let h = s.collection_or_new::<Hash>(&a[0])?;
    h.insert(a[1].clone(), a[2].clone());
    Ok(Reply::Int(1))
}

fn hdel(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let Some(h) = s.collection_mut::<Hash>(&a[0])? else {
        return Ok(Reply::Int(0));
    };
    let removed = a[1..]
        .iter()
        .filter(|f| h.swap_remove(*f).is_some())
        .count();
    s.drop_if_empty(&a[0]);
    Ok(Reply::Int(removed as i64))
}

fn hincrby(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let delta = int_arg(&a[2])?;
    let current = match hash(s, &a[0])?.and_then(|h| h.get(&a[1])) {
        None => 0,
        Some(v) => crate::numbers::parse_redis_int(v).ok_or(CommandError::HashValueNotInteger)?,
    };
    let n = current.checked_add(delta).ok_or(CommandError::Overflow)?;
    let h = s.collection_or_new::<Hash>(&a[0])?;
    h.insert(a[1].clone(), n.to_string().into_bytes());
    Ok(Reply::Int(n))
}

fn hincrbyfloat(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let increment = parse_redis_float(&a[2]).ok_or(CommandError::NotAFloat)?;
    if !increment.is_finite() {
        return Err(CommandError::NanOrInfinity);
    }
    let current = match hash(s, &a[0])?.and_then(|h| h.get(&a[1])) {
        None => 0.0,
        Some(v) => parse_redis_float(v).ok_or(CommandError::HashValueNotFloat)?,
    };
    let sum = current + increment;
    if !sum.is_finite() {
        return Err(CommandError::NotFinite);
    }
    let text = format!("{sum}").into_bytes();
    let h = s.collection_or_new::<Hash>(&a[0])?;
    h.insert(a[1].clone(), text.clone());
    Ok(Reply::Bulk(Some(text)))
}

/// HRANDFIELD key [count [WITHVALUES]]: a read, so its randomness is this
/// node's own (it changes nothing).
fn hrandfield(s: &KvStore, a: Args, rng: &mut SplitMix64) -> Result<Reply, CommandError> {
    let h = hash(s, &a[0])?;
    let Some(count) = a.get(1) else {
        let picked = h
            .filter(|h| !h.is_empty())
            .and_then(|h| h.keys().nth(rng.below(h.len())));
        return Ok(Reply::Bulk(picked.cloned()));
    };
    let with_values = match a.get(2) {
        None => false,
        Some(w) if a.len() == 3 && w.eq_ignore_ascii_case(b"WITHVALUES") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    let count = int_arg(count)?;
    // Redis refuses counts whose size (or twice it, with values) overflows.
    if count == i64::MIN || (with_values && count < -(i64::MAX / 2)) {
        return Err(CommandError::OutOfRange);
    }
    let entries: Vec<(&Vec<u8>, &Vec<u8>)> = h.into_iter().flatten().collect();
    let picks = super::args::random_picks(entries.len(), count, rng);
    let picked = picks.into_iter().map(|i| entries[i]);
    Ok(match with_values {
        true => Reply::Pairs(picked.map(|(f, v)| (bulk(f), bulk(v))).collect()),
        false => Reply::Array(picked.map(|(f, _)| bulk(f)).collect()),
    })
}

/// HSCAN key cursor [MATCH pattern] [COUNT n] [NOVALUES]: the whole hash in
/// one reply with cursor 0, as Redis answers for small hashes (a cursor
/// that walks a large hash in steps is not implemented).
fn hscan(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let opts = super::args::ScanOptions::parse(&a[1..])?;
    let pairs = hash(s, &a[0])?.into_iter().flatten();
    let mut out = Vec::new();
    for (f, v) in pairs.filter(|(f, _)| opts.matches(f)) {
        out.push(bulk(f));
        if !opts.no_values() {
            out.push(bulk(v));
        }
    }
    Ok(Reply::Array(vec![bulk(b"0"), Reply::Array(out)]))
}
