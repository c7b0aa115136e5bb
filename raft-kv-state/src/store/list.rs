//! Lists: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LSET, LREM, LTRIM,
//! LINSERT, LMOVE, RPOPLPUSH (writes) and LLEN, LINDEX, LRANGE, LPOS (reads),
//! with Redis's index rules and error texts. A list left empty is removed.
//! The blocking forms and LMPOP are in [`super::blocking`].

use super::KvStore;
use super::args::{bulk, bulks, count_arg, int_arg, rank_range};
use super::value::List;
use crate::errors::CommandError;
use crate::family::{Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;

type Args<'a> = &'a [Vec<u8>];

/// The list commands.
pub(crate) static COMMANDS: &[Registration] = &[
    write("lpush", |s, a, _| push(s, a, End::Left, true)),
    write("rpush", |s, a, _| push(s, a, End::Right, true)),
    write("lpushx", |s, a, _| push(s, a, End::Left, false)),
    write("rpushx", |s, a, _| push(s, a, End::Right, false)),
    write("lpop", |s, a, _| pop(s, a, End::Left, "lpop")),
    write("rpop", |s, a, _| pop(s, a, End::Right, "rpop")),
    write("lset", lset),
    write("lrem", lrem),
    write("ltrim", ltrim),
    write("linsert", linsert),
    write("lmove", |s, a, _| {
        let from = End::parse(&a[2])?;
        let to = End::parse(&a[3])?;
        lmove(s, &a[0], &a[1], from, to)
    }),
    write("rpoplpush", |s, a, _| {
        lmove(s, &a[0], &a[1], End::Right, End::Left)
    }),
    read("llen", |s, a, _| {
        Ok(Reply::Int(list(s, &a[0])?.map_or(0, List::len) as i64))
    }),
    read("lindex", |s, a, _| {
        let l = list(s, &a[0])?;
        let index = int_arg(&a[1])?;
        Ok(Reply::Bulk(l.and_then(|l| {
            position(index, l.len()).map(|i| l[i].clone())
        })))
    }),
    read("lrange", |s, a, _| {
        let (start, end) = (int_arg(&a[1])?, int_arg(&a[2])?);
        let l = list(s, &a[0])?;
        let part = l.and_then(|l| rank_range(start, end, l.len()).map(|(s, e)| l.range(s..=e)));
        Ok(bulks(part.into_iter().flatten()))
    }),
    read("lpos", lpos),
];

fn list<'s>(s: &'s KvStore, key: &[u8]) -> Result<Option<&'s List>, CommandError> {
    s.collection::<List>(key)
}

/// One end of a list.
#[derive(Clone, Copy)]
pub(super) enum End {
    Left,
    Right,
}

impl End {
    /// `LEFT` or `RIGHT` (any case).
    pub(super) fn parse(word: &[u8]) -> Result<End, CommandError> {
        match word.to_ascii_uppercase().as_slice() {
            b"LEFT" => Ok(End::Left),
            b"RIGHT" => Ok(End::Right),
            _ => Err(CommandError::Syntax),
        }
    }

    fn push(self, l: &mut List, v: Vec<u8>) {
        match self {
            End::Left => l.push_front(v),
            End::Right => l.push_back(v),
        }
    }

    /// Takes the element at this end.
    pub(super) fn pop(self, l: &mut List) -> Option<Vec<u8>> {
        match self {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        }
    }
}

/// The position of Redis index `index` (negative counts from the end).
fn position(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 {
        len.checked_add(index)?
    } else {
        index
    };
    (0..len).contains(&i).then_some(i as usize)
}

fn push(s: &mut KvStore, a: Args, end: End, create: bool) -> Result<Reply, CommandError> {
    let l = match create {
        true => s.collection_or_new::<List>(&a[0])?,
        false => match s.collection_mut::<List>(&a[0])? {
            Some(l) => l,
            None => return Ok(Reply::Int(0)),
        },
    };
    for v in &a[1..] {
        end.push(l, v.clone());
    }
    Ok(Reply::Int(l.len() as i64))
}

/// LPOP/RPOP key [count].
fn pop(s: &mut KvStore, a: Args, end: End, name: &str) -> Result<Reply, CommandError> {
    let count = match a {
        [_] => None,
        [_, c] => Some(count_arg(c)?),
        _ => return Err(CommandError::arity(name)),
    };
    let Some(l) = s.collection_mut::<List>(&a[0])? else {
        return Ok(match count {
            None => Reply::Bulk(None),
            Some(_) => Reply::NullArray,
        });
    };
    let reply = match count {
        None => Reply::Bulk(end.pop(l)),
        Some(n) => {
            let popped = (0..n)
                .map_while(|_| end.pop(l))
                .map(|v| Reply::Bulk(Some(v)));
            Reply::Array(popped.collect())
        }
    };
    s.drop_if_empty(&a[0]);
    Ok(reply)
}

fn lset(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let index = int_arg(&a[1])?;
    let l = s
        .collection_mut::<List>(&a[0])?
        .ok_or(CommandError::NoSuchKey)?;
    let i = position(index, l.len()).ok_or(CommandError::IndexOutOfRange)?;
    l[i] = a[2].clone();
    Ok(Reply::ok())
}

/// LREM key count element: `count` > 0 from the head, < 0 from the tail, 0 all.
fn lrem(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let count = int_arg(&a[1])?;
    let Some(l) = s.collection_mut::<List>(&a[0])? else {
        return Ok(Reply::Int(0));
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut positions: Vec<usize> = (0..l.len()).filter(|&i| l[i] == a[2]).collect();
    if count < 0 {
        positions.reverse();
    }
    positions.truncate(limit);
    positions.sort_unstable();
    for &i in positions.iter().rev() {
        l.remove(i);
    }
    s.drop_if_empty(&a[0]);
    Ok(Reply::Int(positions.len() as i64))
}

fn ltrim(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let (start, end) = (int_arg(&a[1])?, int_arg(&a[2])?);
    let Some(l) = s.collection_mut::<List>(&a[0])? else {
        return Ok(Reply::ok());
    };
    match rank_range(start, end, l.len()) {
        Some((from, to)) => {
            l.truncate(to + 1);
            l.drain(..from);
        }
        None => l.clear(),
    }
    s.drop_if_empty(&a[0]);
    Ok(Reply::ok())
}

/// LINSERT key BEFORE|AFTER pivot element.
fn linsert(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let after = match a[1].to_ascii_uppercase().as_slice() {
        b"BEFORE" => false,
        b"AFTER" => true,
        _ => return Err(CommandError::Syntax),
    };
    if list(s, &a[0])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let l = s.collection_mut::<List>(&a[0])?.expect("present");
    let Some(i) = l.iter().position(|v| *v == a[2]) else {
        return Ok(Reply::Int(-1));
    };
    l.insert(i + usize::from(after), a[3].clone());
    Ok(Reply::Int(l.len() as i64))
}

/// LMOVE / RPOPLPUSH: pops from one end of `from`, pushes to one end of `to`.
/// As Redis checks: the source's type, then (if it has an element) the
/// destination's, before anything changes.
pub(super) fn lmove(
    s: &mut KvStore,
    from: &[u8],
    to: &[u8],
    out: End,
    into: End,
) -> Result<Reply, CommandError> {
    if list(s, from)?.is_none_or(List::is_empty) {
        return Ok(Reply::Bulk(None));
    }
    list(s, to)?;
    let source = s.collection_mut::<List>(from)?.expect("checked above");
    let Some(v) = out.pop(source) else {
        return Ok(Reply::Bulk(None));
    };
    s.drop_if_empty(from);
    let dest = s.collection_or_new::<List>(to)?;
    into.push(dest, v.clone());
    Ok(bulk(&v))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut opts = &a[2..];
    while let [word, value, rest @ ..] = opts {
        let n = int_arg(value)?;
        match word.to_ascii_uppercase().as_slice() {
            b"RANK" if n == 0 => {
                return Err(CommandError::RankZero);
            }
            b"RANK" => rank = n,
            b"COUNT" if n < 0 => {
                return Err(CommandError::NegativeCount);
            }
            b"COUNT" => count = Some(n as usize),
            b"MAXLEN" if n < 0 => {
                return Err(CommandError::NegativeMaxlen);
            }
            b"MAXLEN" => maxlen = n as usize,
            _ => return Err(CommandError::Syntax),
        }
        opts = rest;
    }
    if !opts.is_empty() {
        return Err(CommandError::Syntax);
    }
    let l = list(s, &a[0])?;
    let len = l.map_or(0, List::len);
    let scanned = if maxlen == 0 { len } else { maxlen.min(len) };
    let at = |i: usize| if rank > 0 { i } else { len - 1 - i };
    let matches = (0..scanned)
        .map(at)
        .filter(|&i| l.is_some_and(|l| l[i] == a[1]))
        .skip(rank.unsigned_abs() as usize - 1);
    match count {
        None => Ok(matches
            .map(|i| Reply::Int(i as i64))
            .next()
            .unwrap_or(Reply::Bulk(None))),
        Some(0) => Ok(Reply::Array(
            matches.map(|i| Reply::Int(i as i64)).collect(),
        )),
        Some(n) => Ok(Reply::Array(
            matches.take(n).map(|i| Reply::Int(i as i64)).collect(),
        )),
    }
}
