//! Keyspace commands in the words table: COPY (a write), and SCAN,
//! RANDOMKEY, MEMORY USAGE, OBJECT ENCODING|REFCOUNT (reads).

use super::KvStore;
use super::value::Value;
use super::words::ScanOptions;
use super::words::{Rng, WordsSpec, bulk, read, syntax_error, write};
use crate::command::Reply;
use crate::error::ErrorCode;

type Args<'a> = &'a [Vec<u8>];

/// The keyspace commands of the words table.
pub(super) static COMMANDS: &[WordsSpec] = &[
    write("COPY", -3, copy),
    read("SCAN", -2, scan),
    read("RANDOMKEY", 1, |s, _| {
        let len = s.map.len();
        let mut rng = Rng::from_entropy();
        let picked = (len > 0).then(|| rng.below(len));
        Ok(Reply::Bulk(
            picked.and_then(|i| s.map.keys().nth(i)).map(|k| k.to_vec()),
        ))
    }),
    read("MEMORY", -2, memory),
    read("OBJECT", -2, object),
];

/// COPY source destination [DB 0] [REPLACE]: the value and its expiry.
fn copy(s: &mut KvStore, a: Args, _: &mut Rng) -> Result<Reply, Reply> {
    let mut replace = false;
    let mut opts = &a[2..];
    while let Some((word, rest)) = opts.split_first() {
        match (word.to_ascii_uppercase().as_slice(), rest.first()) {
            (b"REPLACE", _) => replace = true,
            (b"DB", Some(db)) => match super::words::int_arg(db)? {
                0 => opts = &rest[1..],
                _ => return Err(Reply::error(ErrorCode::Err, "DB index is out of range")),
            },
            _ => return Err(syntax_error()),
        }
        if word.eq_ignore_ascii_case(b"REPLACE") {
            opts = rest;
        }
    }
    let (from, to) = (&a[0], &a[1]);
    if from == to {
        return Err(Reply::error(
            ErrorCode::Err,
            "source and destination objects are the same",
        ));
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
fn scan(s: &KvStore, a: Args) -> Result<Reply, Reply> {
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
fn memory(s: &KvStore, a: Args) -> Result<Reply, Reply> {
    match a {
        [sub, key, ..] if sub.eq_ignore_ascii_case(b"USAGE") => {
            let usage = s.slot(key).map(|slot| {
                let elements: usize = match &slot.value {
                    Value::Str(v) => v.len(),
                    Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 48).sum(),
                    Value::List(l) => l.iter().map(|v| v.len() + 24).sum(),
                    Value::Set(m) => m.iter().map(|v| v.len() + 32).sum(),
                    Value::ZSet(z) => z.ascending().map(|(m, _)| m.len() + 64).sum(),
                };
                (key.len() + elements + 64) as i64
            });
            Ok(usage.map_or(Reply::Bulk(None), Reply::Int))
        }
        _ => Err(Reply::error(
            ErrorCode::Err,
            "only MEMORY USAGE key is served",
        )),
    }
}

/// OBJECT ENCODING key (the one encoding each type has here) and OBJECT
/// REFCOUNT key.
fn object(s: &KvStore, a: Args) -> Result<Reply, Reply> {
    match a {
        [sub, key] if sub.eq_ignore_ascii_case(b"ENCODING") => {
            let encoding = s.slot(key).map(|slot| match &slot.value {
                Value::Str(v) if crate::command::parse_redis_int(v).is_some() => "int",
                Value::Str(_) => "raw",
                Value::Hash(_) | Value::Set(_) => "hashtable",
                Value::List(_) => "quicklist",
                Value::ZSet(_) => "skiplist",
            });
            Ok(Reply::Bulk(encoding.map(|e| e.as_bytes().to_vec())))
        }
        // No value is shared between keys here.
        [sub, key] if sub.eq_ignore_ascii_case(b"REFCOUNT") => {
            Ok(s.slot(key).map_or(Reply::Bulk(None), |_| Reply::Int(1)))
        }
        _ => Err(Reply::error(
            ErrorCode::Err,
            "only OBJECT ENCODING key and OBJECT REFCOUNT key are served",
        )),
    }
}
