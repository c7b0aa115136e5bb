//! Hashes: HSET, HSETNX, HMSET, HDEL, HINCRBY, HINCRBYFLOAT (writes) and HGET,
//! HMGET, HGETALL, HKEYS, HVALS, HLEN, HEXISTS, HSTRLEN, HRANDFIELD, HSCAN
//! (reads), with Redis's replies and error texts. A hash left empty is removed.

use super::KvStore;
use super::numbers::parse_redis_float;
use super::value::Hash;
use super::words::{Rng, WordsSpec, bulk, bulks, int_arg, read, syntax_error, write};
use crate::command::Reply;
use crate::error::ErrorCode;

type Args<'a> = &'a [Vec<u8>];

/// The hash commands.
pub(super) static COMMANDS: &[WordsSpec] = &[
    write("HSET", -4, hset),
    write("HMSET", -4, hmset),
    write("HSETNX", 4, hsetnx),
    write("HDEL", -3, hdel),
    write("HINCRBY", 4, hincrby),
    write("HINCRBYFLOAT", 4, hincrbyfloat),
    read("HGET", 3, |s, a| {
        Ok(Reply::Bulk(
            hash(s, &a[0])?.and_then(|h| h.get(&a[1]).cloned()),
        ))
    }),
    read("HMGET", -3, |s, a| {
        let h = hash(s, &a[0])?;
        let values = a[1..].iter().map(|f| h.and_then(|h| h.get(f)).cloned());
        Ok(Reply::Array(values.map(Reply::Bulk).collect()))
    }),
    read("HGETALL", 2, |s, a| {
        let pairs = hash(s, &a[0])?.into_iter().flatten();
        Ok(Reply::Map(pairs.map(|(f, v)| (bulk(f), bulk(v))).collect()))
    }),
    read("HKEYS", 2, |s, a| {
        Ok(bulks(hash(s, &a[0])?.into_iter().flat_map(Hash::keys)))
    }),
    read("HVALS", 2, |s, a| {
        Ok(bulks(hash(s, &a[0])?.into_iter().flat_map(Hash::values)))
    }),
    read("HLEN", 2, |s, a| {
        Ok(Reply::Int(hash(s, &a[0])?.map_or(0, Hash::len) as i64))
    }),
    read("HEXISTS", 3, |s, a| {
        let there = hash(s, &a[0])?.is_some_and(|h| h.contains_key(&a[1]));
        Ok(Reply::Int(i64::from(there)))
    }),
    read("HSTRLEN", 3, |s, a| {
        let len = hash(s, &a[0])?
            .and_then(|h| h.get(&a[1]))
            .map_or(0, Vec::len);
        Ok(Reply::Int(len as i64))
    }),
    read("HRANDFIELD", -2, hrandfield),
    read("HSCAN", -3, hscan),
];

fn hash<'s>(s: &'s KvStore, key: &[u8]) -> Result<Option<&'s Hash>, Reply> {
    s.collection::<Hash>(key)
}

/// `f v [f v ...]` as pairs, or Redis's arity error for `name`.
fn field_pairs<'a>(name: &str, a: Args<'a>) -> Result<std::slice::Chunks<'a, Vec<u8>>, Reply> {
    if a.is_empty() || !a.len().is_multiple_of(2) {
        return Err(super::words::arity_error(name));
    }
    Ok(a.chunks(2))
}

/// Sets the pairs; the number of fields that were new.
fn set_pairs(s: &mut KvStore, name: &str, a: Args) -> Result<i64, Reply> {
    let pairs = field_pairs(name, &a[1..])?;
    let h = s.collection_mut::<Hash>(&a[0], true)?.expect("created");
    let added = pairs
        .into_iter()
        .filter(|p| h.insert(p[0].clone(), p[1].clone()).is_none())
        .count();
    Ok(added as i64)
}

fn hset(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    set_pairs(s, "hset", a).map(Reply::Int)
}

fn hmset(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    set_pairs(s, "hmset", a).map(|_| Reply::ok())
}

fn hsetnx(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    if hash(s, &a[0])?.is_some_and(|h| h.contains_key(&a[1])) {
        return Ok(Reply::Int(0));
    }
    let h = s.collection_mut::<Hash>(&a[0], true)?.expect("created");
    h.insert(a[1].clone(), a[2].clone());
    Ok(Reply::Int(1))
}

fn hdel(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    let Some(h) = s.collection_mut::<Hash>(&a[0], false)? else {
        return Ok(Reply::Int(0));
    };
    let removed = a[1..]
        .iter()
        .filter(|f| h.swap_remove(*f).is_some())
        .count();
    s.drop_if_empty(&a[0]);
    Ok(Reply::Int(removed as i64))
}

fn hincrby(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    let delta = int_arg(&a[2])?;
    let current = match hash(s, &a[0])?.and_then(|h| h.get(&a[1])) {
        None => 0,
        Some(v) => crate::command::parse_redis_int(v)
            .ok_or_else(|| Reply::error(ErrorCode::Err, "hash value is not an integer"))?,
    };
    let n = current
        .checked_add(delta)
        .ok_or_else(|| Reply::error(ErrorCode::Err, "increment or decrement would overflow"))?;
    let h = s.collection_mut::<Hash>(&a[0], true)?.expect("created");
    h.insert(a[1].clone(), n.to_string().into_bytes());
    Ok(Reply::Int(n))
}

fn hincrbyfloat(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    let increment = parse_redis_float(&a[2])
        .ok_or_else(|| Reply::error(ErrorCode::Err, "value is not a valid float"))?;
    if !increment.is_finite() {
        return Err(Reply::error(ErrorCode::Err, "value is NaN or Infinity"));
    }
    let current = match hash(s, &a[0])?.and_then(|h| h.get(&a[1])) {
        None => 0.0,
        Some(v) => parse_redis_float(v)
            .ok_or_else(|| Reply::error(ErrorCode::Err, "hash value is not a float"))?,
    };
    let sum = current + increment;
    if !sum.is_finite() {
        return Err(Reply::error(
            ErrorCode::Err,
            "increment would produce NaN or Infinity",
        ));
    }
    let text = format!("{sum}").into_bytes();
    let h = s.collection_mut::<Hash>(&a[0], true)?.expect("created");
    h.insert(a[1].clone(), text.clone());
    Ok(Reply::Bulk(Some(text)))
}

/// HRANDFIELD key [count [WITHVALUES]]: a read, so its randomness is this
/// node's own (it changes nothing).
fn hrandfield(s: &KvStore, a: Args) -> Result<Reply, Reply> {
    let h = hash(s, &a[0])?;
    let mut rng = Rng::from_entropy();
    let Some(count) = a.get(1) else {
        let picked = h
            .filter(|h| !h.is_empty())
            .and_then(|h| h.keys().nth(rng.below(h.len())));
        return Ok(Reply::Bulk(picked.cloned()));
    };
    let with_values = match a.get(2) {
        None => false,
        Some(w) if a.len() == 3 && w.eq_ignore_ascii_case(b"WITHVALUES") => true,
        Some(_) => return Err(syntax_error()),
    };
    let count = int_arg(count)?;
    // Redis refuses counts whose size (or twice it, with values) overflows.
    if count == i64::MIN || (with_values && count < -(i64::MAX / 2)) {
        return Err(Reply::error(ErrorCode::Err, "value is out of range"));
    }
    let entries: Vec<(&Vec<u8>, &Vec<u8>)> = h.into_iter().flatten().collect();
    let picks = super::words::random_picks(entries.len(), count, &mut rng);
    let picked = picks.into_iter().map(|i| entries[i]);
    Ok(match with_values {
        true => Reply::Pairs(picked.map(|(f, v)| (bulk(f), bulk(v))).collect()),
        false => Reply::Array(picked.map(|(f, _)| bulk(f)).collect()),
    })
}

/// HSCAN key cursor [MATCH pattern] [COUNT n] [NOVALUES]: the whole hash in
/// one reply with cursor 0, as Redis answers for small hashes (a cursor
/// that walks a large hash in steps is not implemented).
fn hscan(s: &KvStore, a: Args) -> Result<Reply, Reply> {
    let opts = super::words::ScanOptions::parse(&a[1..])?;
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
