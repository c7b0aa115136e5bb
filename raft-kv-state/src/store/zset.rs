//! Sorted sets: ZADD (NX | XX | GT | LT | CH | INCR), ZINCRBY, ZREM, ZPOPMIN,
//! ZPOPMAX, ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYLEX (writes) and ZSCORE, ZMSCORE,
//! ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK, ZRANGE (BYSCORE | BYLEX | REV |
//! LIMIT | WITHSCORES), ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZREVRANGE,
//! ZRANGEBYLEX, ZREVRANGEBYLEX, ZSCAN (reads). Ranks walk the ordered set
//! (linear in the rank). A sorted set left empty is removed.

use super::KvStore;
use super::args::{ScanOptions, bulk, int_arg, rank_range};
use super::value::{LexBound, ZSet};
use crate::errors::CommandError;
use crate::family::{Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;
use std::ops::Bound;

type Args<'a> = &'a [Vec<u8>];

/// The sorted-set commands.
pub(crate) static COMMANDS: &[Registration] = &[
    write("zadd", zadd),
    write("zincrby", |s, a, _| {
        let delta = float(&a[1])?;
        let z = s.collection_or_new::<ZSet>(&a[0])?;
        let score = z.score(&a[2]).unwrap_or(0.0) + delta;
        if score.is_nan() {
            return Err(nan());
        }
        z.insert(a[2].clone(), score);
        Ok(Reply::Double(score))
    }),
    write("zrem", |s, a, _| {
        let Some(z) = s.collection_mut::<ZSet>(&a[0])? else {
            return Ok(Reply::Int(0));
        };
        let removed = a[1..].iter().filter(|m| z.remove(m)).count();
        s.drop_if_empty(&a[0]);
        Ok(Reply::Int(removed as i64))
    }),
    write("zpopmin", |s, a, _| pop(s, a, false)),
    write("zpopmax", |s, a, _| pop(s, a, true)),
    write("zremrangebyscore", |s, a, _| {
        let (min, max) = (score_bound(&a[1])?, score_bound(&a[2])?);
        remove_where(s, &a[0], |z| {
            z.by_score(min, max).map(|(m, _)| m.clone()).collect()
        })
    }),
    write("zremrangebyrank", |s, a, _| {
        let (start, stop) = (int_arg(&a[1])?, int_arg(&a[2])?);
        remove_where(s, &a[0], |z| {
            let Some((from, to)) = rank_range(start, stop, z.len()) else {
                return Vec::new();
            };
            z.ascending()
                .skip(from)
                .take(to - from + 1)
                .map(|(m, _)| m.clone())
                .collect()
        })
    }),
    write("zremrangebylex", |s, a, _| {
        let (min, max) = (lex_bound(&a[1])?, lex_bound(&a[2])?);
        remove_where(s, &a[0], |z| {
            z.by_lex(min.clone(), max.clone())
                .map(|(m, _)| m.clone())
                .collect()
        })
    }),
    read("zscore", |s, a, _| {
        Ok(double(zset(s, &a[0])?.and_then(|z| z.score(&a[1]))))
    }),
    read("zmscore", |s, a, _| {
        let z = zset(s, &a[0])?;
        Ok(Reply::Array(
            a[1..]
                .iter()
                .map(|m| double(z.and_then(|z| z.score(m))))
                .collect(),
        ))
    }),
    read("zcard", |s, a, _| {
        Ok(Reply::Int(zset(s, &a[0])?.map_or(0, ZSet::len) as i64))
    }),
    read("zcount", |s, a, _| {
        let (min, max) = (score_bound(&a[1])?, score_bound(&a[2])?);
        let n = zset(s, &a[0])?.map_or(0, |z| z.by_score(min, max).count());
        Ok(Reply::Int(n as i64))
    }),
    read("zlexcount", |s, a, _| {
        let (min, max) = (lex_bound(&a[1])?, lex_bound(&a[2])?);
        let n = zset(s, &a[0])?.map_or(0, |z| z.by_lex(min, max).count());
        Ok(Reply::Int(n as i64))
    }),
    read("zrank", |s, a, _| rank(s, a, false)),
    read("zrevrank", |s, a, _| rank(s, a, true)),
    read("zrange", |s, a, _| zrange(s, a, Order::Rank, false)),
    read("zrevrange", |s, a, _| zrange(s, a, Order::Rank, true)),
    read("zrangebyscore", |s, a, _| zrange(s, a, Order::Score, false)),
    read("zrevrangebyscore", |s, a, _| {
        zrange(s, a, Order::Score, true)
    }),
    read("zrangebylex", |s, a, _| zrange(s, a, Order::Lex, false)),
    read("zrevrangebylex", |s, a, _| zrange(s, a, Order::Lex, true)),
    read("zscan", |s, a, _| {
        let opts = ScanOptions::parse(&a[1..])?;
        let mut out = Vec::new();
        for (m, score) in zset(s, &a[0])?.into_iter().flat_map(ZSet::ascending) {
            if opts.matches(m) {
                out.push(bulk(m));
                out.push(bulk(crate::reply::format_double(score).as_bytes()));
            }
        }
        Ok(Reply::Array(vec![bulk(b"0"), Reply::Array(out)]))
    }),
];

pub(super) fn zset<'s>(s: &'s KvStore, key: &[u8]) -> Result<Option<&'s ZSet>, CommandError> {
    s.collection::<ZSet>(key)
}

fn nan() -> CommandError {
    CommandError::ScoreNan
}

/// A score as Redis reads one (`inf`, `-inf` too; never NaN).
pub(super) fn float(word: &[u8]) -> Result<f64, CommandError> {
    let text = std::str::from_utf8(word).unwrap_or("");
    let value = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|v| !v.is_nan())
            .ok_or(CommandError::NotAFloat)?,
    };
    Ok(value)
}

fn double(score: Option<f64>) -> Reply {
    score.map_or(Reply::Bulk(None), Reply::Double)
}

/// A score range end: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
fn score_bound(word: &[u8]) -> Result<Bound<f64>, CommandError> {
    let error = || CommandError::MinMaxNotFloat;
    match word.strip_prefix(b"(") {
        Some(rest) => float(rest).map(Bound::Excluded).map_err(|_| error()),
        None => float(word).map(Bound::Included).map_err(|_| error()),
    }
}

/// A lex range end: `[a` (inclusive), `(a` (exclusive), `-`, `+`.
fn lex_bound(word: &[u8]) -> Result<LexBound, CommandError> {
    match word.split_first() {
        Some((b'-', [])) => Ok(LexBound::Min),
        Some((b'+', [])) => Ok(LexBound::Max),
        Some((b'[', rest)) => Ok(LexBound::At(Bound::Included(rest.to_vec()))),
        Some((b'(', rest)) => Ok(LexBound::At(Bound::Excluded(rest.to_vec()))),
        _ => Err(CommandError::MinMaxNotLex),
    }
}

/// ZADD's flags.
#[derive(Default)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

impl ZaddFlags {
    /// The flags at the front of `a`, and how many words they took.
    fn parse(a: Args) -> (ZaddFlags, usize) {
        let mut f = ZaddFlags::default();
        let mut used = 0;
        for word in a {
            match word.to_ascii_uppercase().as_slice() {
                b"NX" => f.nx = true,
                b"XX" => f.xx = true,
                b"GT" => f.gt = true,
                b"LT" => f.lt = true,
                b"CH" => f.ch = true,
                b"INCR" => f.incr = true,
                _ => break,
            }
            used += 1;
        }
        (f, used)
    }

    /// Redis's refusals of flag combinations, given `words` score/member words.
    fn check(&self, words: usize) -> Result<(), CommandError> {
        if words == 0 || !words.is_multiple_of(2) {
            return Err(CommandError::Syntax);
        }
        if self.nx && self.xx {
            return Err(CommandError::ZaddXxWithNx);
        }
        if ((self.gt || self.lt) && self.nx) || (self.gt && self.lt) {
            return Err(CommandError::ZaddGtLtNx);
        }
        if self.incr && words > 2 {
            return Err(CommandError::ZaddIncrPairs);
        }
        Ok(())
    }
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...].
fn zadd(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let (flags, used) = ZaddFlags::parse(&a[1..]);
    let rest = &a[1 + used..];
    flags.check(rest.len())?;
    let ZaddFlags {
        nx,
        xx,
        gt,
        lt,
        ch,
        incr,
    } = flags;
    let pairs = rest
        .chunks(2)
        .map(|p| Ok((float(&p[0])?, &p[1])))
        .collect::<Result<Vec<_>, CommandError>>()?;
    if xx && zset(s, &a[0])?.is_none() {
        return Ok(if incr {
            Reply::Bulk(None)
        } else {
            Reply::Int(0)
        });
    }
    let z = s.collection_or_new::<ZSet>(&a[0])?;
    let (mut added, mut changed) = (0, 0);
    let mut last = None;
    for (score, member) in pairs {
        let old = z.score(member);
        let new = match (incr, old) {
            (true, Some(o)) => o + score,
            _ => score,
        };
        if new.is_nan() {
            s.drop_if_empty(&a[0]);
            return Err(nan());
        }
        let allowed = match old {
            None => !xx,
            Some(o) => !(nx || (gt && new <= o) || (lt && new >= o)),
        };
        if !allowed {
            continue;
        }
        if old.is_none() {
            added += 1;
        } else if old != Some(new) {
            changed += 1;
        }
        z.insert(member.clone(), new);
        last = Some(new);
    }
    s.drop_if_empty(&a[0]);
    Ok(match incr {
        true => double(last),
        false => Reply::Int(if ch { added + changed } else { added }),
    })
}

/// ZPOPMIN / ZPOPMAX key [count]: without a count a flat `[member, score]`;
/// with one, pairs (nested in RESP3), as Redis answers.
fn pop(s: &mut KvStore, a: Args, max: bool) -> Result<Reply, CommandError> {
    let count = match a.get(1) {
        None => None,
        Some(c) => Some(usize::try_from(int_arg(c)?).map_err(|_| CommandError::MustBePositive)?),
    };
    let Some(z) = s.collection_mut::<ZSet>(&a[0])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picked = take_ends(z, count.unwrap_or(1), max);
    s.drop_if_empty(&a[0]);
    Ok(match count {
        None => Reply::Array(
            picked
                .into_iter()
                .flat_map(|(m, sc)| [Reply::Bulk(Some(m)), Reply::Double(sc)])
                .collect(),
        ),
        Some(_) => Reply::Pairs(
            picked
                .into_iter()
                .map(|(m, sc)| (Reply::Bulk(Some(m)), Reply::Double(sc)))
                .collect(),
        ),
    })
}

/// Removes and returns up to `count` members from the low end (or the high
/// end, `max`), in the order taken. The caller drops the key if it emptied.
pub(super) fn take_ends(z: &mut ZSet, count: usize, max: bool) -> Vec<(Vec<u8>, f64)> {
    let picked: Vec<(Vec<u8>, f64)> = match max {
        false => z
            .ascending()
            .take(count)
            .map(|(m, sc)| (m.clone(), sc))
            .collect(),
        true => z
            .descending()
            .take(count)
            .map(|(m, sc)| (m.clone(), sc))
            .collect(),
    };
    for (m, _) in &picked {
        z.remove(m);
    }
    picked
}

fn remove_where(
    s: &mut KvStore,
    key: &[u8],
    pick: impl Fn(&ZSet) -> Vec<Vec<u8>>,
) -> Result<Reply, CommandError> {
    let Some(z) = s.collection_mut::<ZSet>(key)? else {
        return Ok(Reply::Int(0));
    };
    let doomed = pick(z);
    for m in &doomed {
        z.remove(m);
    }
    s.drop_if_empty(key);
    Ok(Reply::Int(doomed.len() as i64))
}

fn rank(s: &KvStore, a: Args, rev: bool) -> Result<Reply, CommandError> {
    let Some(z) = zset(s, &a[0])? else {
        return Ok(Reply::Bulk(None));
    };
    let position = match rev {
        false => z.ascending().position(|(m, _)| *m == a[1]),
        true => z.descending().position(|(m, _)| *m == a[1]),
    };
    Ok(position.map_or(Reply::Bulk(None), |p| Reply::Int(p as i64)))
}

/// How ZRANGE's range is given.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Order {
    /// By rank (positions).
    Rank,
    /// By score.
    Score,
    /// By member, lexicographically.
    Lex,
}

/// The members ZRANGE's `first` and `second` arguments select, in order.
fn select<'z>(
    z: &'z ZSet,
    order: Order,
    rev: bool,
    first: &[u8],
    second: &[u8],
) -> Result<Vec<(&'z Vec<u8>, f64)>, CommandError> {
    // Reversed score and lex ranges name the upper end first.
    let (lo, hi) = match (order, rev) {
        (Order::Rank, _) | (_, false) => (first, second),
        (_, true) => (second, first),
    };
    let found: Vec<(&'z Vec<u8>, f64)> = match order {
        Order::Rank => {
            let (start, stop) = (int_arg(lo)?, int_arg(hi)?);
            match rank_range(start, stop, z.len()) {
                None => Vec::new(),
                Some((from, to)) if rev => z.descending().skip(from).take(to - from + 1).collect(),
                Some((from, to)) => z.ascending().skip(from).take(to - from + 1).collect(),
            }
        }
        Order::Score => {
            let (min, max) = (score_bound(lo)?, score_bound(hi)?);
            let mut v: Vec<_> = z.by_score(min, max).collect();
            if rev {
                v.reverse();
            }
            v
        }
        Order::Lex => {
            let (min, max) = (lex_bound(lo)?, lex_bound(hi)?);
            let mut v: Vec<_> = z.by_lex(min, max).collect();
            if rev {
                v.reverse();
            }
            v
        }
    };
    Ok(found)
}

/// ZRANGE and its older forms: `key start stop [BYSCORE | BYLEX] [REV]
/// [LIMIT offset count] [WITHSCORES]`.
fn zrange(s: &KvStore, a: Args, order: Order, rev: bool) -> Result<Reply, CommandError> {
    let (found, with_scores) = range_of(s, a, order, rev, false)?;
    Ok(match with_scores {
        true => Reply::Pairs(
            found
                .into_iter()
                .map(|(m, sc)| (Reply::Bulk(Some(m)), Reply::Double(sc)))
                .collect(),
        ),
        false => Reply::Array(
            found
                .into_iter()
                .map(|(m, _)| Reply::Bulk(Some(m)))
                .collect(),
        ),
    })
}

/// Members with their scores, in order.
pub(super) type Members = Vec<(Vec<u8>, f64)>;

/// The members (and scores) ZRANGE's arguments `a` select, and whether
/// WITHSCORES was given; for ZRANGESTORE (`store`) WITHSCORES is refused.
pub(super) fn range_of(
    s: &KvStore,
    a: Args,
    mut order: Order,
    mut rev: bool,
    store: bool,
) -> Result<(Members, bool), CommandError> {
    let generic = order == Order::Rank && !rev;
    let (mut with_scores, mut limit) = (false, None);
    let mut i = 3;
    while let Some(word) = a.get(i) {
        match word.to_ascii_uppercase().as_slice() {
            b"WITHSCORES" if !store => with_scores = true,
            b"LIMIT" => {
                let (Some(off), Some(cnt)) = (a.get(i + 1), a.get(i + 2)) else {
                    return Err(CommandError::Syntax);
                };
                limit = Some((int_arg(off)?, int_arg(cnt)?));
                i += 2;
            }
            b"BYSCORE" if generic => order = Order::Score,
            b"BYLEX" if generic => order = Order::Lex,
            b"REV" if generic => rev = true,
            _ => return Err(CommandError::Syntax),
        }
        i += 1;
    }
    if limit.is_some() && order == Order::Rank {
        return Err(CommandError::LimitNeedsByScoreOrLex);
    }
    if with_scores && order == Order::Lex {
        return Err(CommandError::WithScoresByLex);
    }
    let empty = ZSet::default();
    let z = zset(s, &a[0])?.unwrap_or(&empty);
    let found = select(z, order, rev, &a[1], &a[2])?;
    let found: Vec<(&Vec<u8>, f64)> = match limit {
        None => found,
        Some((offset, _)) if offset < 0 => Vec::new(),
        Some((offset, count)) => {
            let take = usize::try_from(count).unwrap_or(usize::MAX);
            found.into_iter().skip(offset as usize).take(take).collect()
        }
    };
    let found = found.into_iter().map(|(m, sc)| (m.clone(), sc)).collect();
    Ok((found, with_scores))
}
