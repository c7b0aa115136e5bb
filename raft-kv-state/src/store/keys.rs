//! More commands on keys: COPY (a write), and SCAN, RANDOMKEY, MEMORY
//! USAGE, OBJECT ENCODING | REFCOUNT (reads).

use super::KvStore;
use super::args::ScanOptions;
use super::args::bulk;
use super::value::Value;
use crate::errors::CommandError;
use crate::family::{Args, Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;

/// The keyspace commands of the words table.
pub(crate) static COMMANDS: &[Registration] = &[
    write("copy", copy),
    read("scan", scan),
    // The key whose hash under a drawn seed is least: one pass over the keys
    // (as walking a hash map to a random place is), and the same key on
    // every replica for the same seed (a script's RANDOMKEY).
    read("randomkey", |s, _, rng| {
        let seed = rng.next_u64();
        let picked = s
            .live()
            .map(|(k, _)| k)
            .min_by_key(|k| raft_core::rng::mix(raft_core::fnv1a(k) ^ seed));
        Ok(Reply::Bulk(picked.map(|k| k.to_vec())))
    })
    .random(),
    read("memory|usage", memory_usage),
    read("object|encoding", object_encoding),
    // No value is shared between keys here.
    read("object|refcount", |s, a, _| {
        Ok(s.slot(&a[0]).map_or(Reply::Bulk(None), |_| Reply::Int(1)))
    }),
];

/// COPY source destination [DB 0] [REPLACE]: the value and its expiry.
fn copy(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let mut replace = false;
    let mut opts = &a[2..];
    while let Some((word, rest)) = opts.split_first() {
        match (word.to_ascii_uppercase().as_slice(), rest.first()) {
            (b"REPLACE", _) => replace = true,
            (b"DB", Some(db)) => match super::args::int_arg(db)? {
                0 => opts = &rest[1..],
                _ => return Err(CommandError::DbIndexOutOfRange),
            },
            _ => return Err(CommandError::Syntax),
        }
        if word.eq_ignore_ascii_case(b"REPLACE") {
            opts = rest;
        }
    }
    let (from, to) = (&a[0], &a[1]);
    if from == to {
        return Err(CommandError::SameObject);
    }
    let Some(slot) = s.slot(from).cloned() else {
        return Ok(Reply::Int(0));
    };
    if s.slot(to).is_some() && !replace {
        return Ok(Reply::Int(0));
    }
    s.put_slot(to[..].into(), slot);
    Ok(Reply::Int(1))
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]: every matching key in
/// one reply with cursor 0 (sorted); a cursor that walks the keyspace in
/// steps is not implemented.
fn scan(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let (rest, type_filter) = match a {
        [head @ .., word, t] if word.eq_ignore_ascii_case(b"TYPE") => (head, Some(t)),
        _ => (a, None),
    };
    let opts = ScanOptions::parse(rest)?;
    let mut keys: Vec<&[u8]> = s
        .live()
        .filter(|(k, slot)| {
            let type_ok = type_filter
                .is_none_or(|t| t.eq_ignore_ascii_case(slot.value.type_name().as_bytes()));
            type_ok && opts.matches(k)
        })
        .map(|(k, _)| &**k)
        .collect();
    keys.sort_unstable();
    let found = keys.into_iter().map(bulk).collect();
    Ok(Reply::Array(vec![bulk(b"0"), Reply::Array(found)]))
}

/// MEMORY USAGE key [SAMPLES n]: an estimate of the bytes the key takes.
fn memory_usage(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    match &a[1..] {
        [] => {}
        [w, n] if w.eq_ignore_ascii_case(b"SAMPLES") => {
            super::args::int_arg(n)?;
        }
        _ => return Err(CommandError::Syntax),
    }
    let usage = s.slot(&a[0]).map(|slot| {
        let elements: usize = match &slot.value {
            Value::Str(v) => v.len(),
            Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 48).sum(),
            Value::List(l) => l.iter().map(|v| v.len() + 24).sum(),
            Value::Set(m) => m.iter().map(|v| v.len() + 32).sum(),
            Value::ZSet(z) => z.ascending().map(|(m, _)| m.len() + 64).sum(),
        };
        (a[0].len() + elements + 64) as i64
    });
    Ok(usage.map_or(Reply::Bulk(None), Reply::Int))
}

/// OBJECT ENCODING key: the one encoding each type has here.
fn object_encoding(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let encoding = s.slot(&a[0]).map(|slot| match &slot.value {
        Value::Str(v) if crate::numbers::parse_redis_int(v).is_some() => "int",
        Value::Str(_) => "raw",
        Value::Hash(_) | Value::Set(_) => "hashtable",
        Value::List(_) => "quicklist",
        Value::ZSet(_) => "skiplist",
    });
    Ok(Reply::Bulk(encoding.map(|e| e.as_bytes().to_vec())))
}
