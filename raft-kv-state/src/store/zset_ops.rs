//! Sorted-set commands over several keys and the ones that store a result:
//! ZUNION, ZINTER, ZDIFF (with WITHSCORES) and their STORE forms,
//! ZINTERCARD, ZRANGESTORE, and ZRANDMEMBER. A set among the inputs counts
//! as a sorted set whose members all score 1, as in Redis.

use super::KvStore;
use super::args::{bulk, int_arg, random_picks};
use super::value::{Collection, Value, ZSet};
use super::zset::{Order, float, range_of, zset};
use crate::errors::CommandError;
use crate::family::{Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;
use std::collections::BTreeMap;
use std::sync::Arc;

type Args<'a> = &'a [Vec<u8>];

/// The commands of this module.
pub(crate) static COMMANDS: &[Registration] = &[
    read("zunion", |s, a, _| combine_reply(s, a, Op::Union, "zunion")),
    read("zinter", |s, a, _| combine_reply(s, a, Op::Inter, "zinter")),
    read("zdiff", |s, a, _| combine_reply(s, a, Op::Diff, "zdiff")),
    write("zunionstore", |s, a, _| {
        combine_store(s, a, Op::Union, "zunionstore")
    }),
    write("zinterstore", |s, a, _| {
        combine_store(s, a, Op::Inter, "zinterstore")
    }),
    write("zdiffstore", |s, a, _| {
        combine_store(s, a, Op::Diff, "zdiffstore")
    }),
    read("zintercard", zintercard),
    write("zrangestore", |s, a, _| {
        let (found, _) = range_of(s, &a[1..], Order::Rank, false, true)?;
        let mut z = ZSet::default();
        for (m, score) in found {
            z.insert(m, score);
        }
        Ok(Reply::Int(store_result(s, &a[0], z) as i64))
    }),
    read("zrandmember", zrandmember).random(),
];

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's rule: `+inf + -inf` is 0, not NaN.
    fn fold(self, acc: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = acc + value;
                if sum.is_nan() { 0.0 } else { sum }
            }
            Aggregate::Min => acc.min(value),
            Aggregate::Max => acc.max(value),
        }
    }
}

/// The parsed arguments after the destination (if any): `numkeys key
/// [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES] [LIMIT n]`.
struct Combine {
    /// Each input's members and scores (empty if the key is absent).
    inputs: Vec<BTreeMap<Vec<u8>, f64>>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
    limit: usize,
}

/// What the caller allows after the keys.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Reply,
    Store,
    Cardinality,
}

/// Parses and looks the inputs up as Redis does: numkeys, the keys' types,
/// then the options.
fn parse(
    s: &KvStore,
    a: Args,
    op: Op,
    form: Form,
    name: &'static str,
) -> Result<Combine, CommandError> {
    let numkeys = crate::numbers::parse_redis_int(&a[0]).ok_or(CommandError::NotAnInteger)?;
    if numkeys < 1 {
        return Err(CommandError::NoInputKeys { command: name });
    }
    let n = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if n > a.len() - 1 {
        return Err(CommandError::Syntax);
    }
    let inputs = a[1..=n]
        .iter()
        .map(|k| members_of(s, k))
        .collect::<Result<Vec<_>, CommandError>>()?;
    let mut c = Combine {
        inputs,
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    let mut rest = &a[n + 1..];
    let weighted = op != Op::Diff && form != Form::Cardinality;
    while let Some((word, tail)) = rest.split_first() {
        let word = word.to_ascii_uppercase();
        match word.as_slice() {
            b"WEIGHTS" if weighted && tail.len() >= n => {
                for (w, text) in c.weights.iter_mut().zip(tail) {
                    *w = float(text).map_err(|_| CommandError::WeightNotFloat)?;
                }
                rest = &tail[n..];
            }
            b"AGGREGATE" if weighted && !tail.is_empty() => {
                c.aggregate = match tail[0].to_ascii_uppercase().as_slice() {
                    b"SUM" => Aggregate::Sum,
                    b"MIN" => Aggregate::Min,
                    b"MAX" => Aggregate::Max,
                    _ => return Err(CommandError::Syntax),
                };
                rest = &tail[1..];
            }
            b"WITHSCORES" if form == Form::Reply => {
                c.with_scores = true;
                rest = tail;
            }
            b"LIMIT" if form == Form::Cardinality && !tail.is_empty() => {
                c.limit = crate::numbers::parse_redis_int(&tail[0])
                    .filter(|l| *l >= 0)
                    .map(|l| usize::try_from(l).unwrap_or(usize::MAX))
                    .ok_or(CommandError::NegativeLimit)?;
                rest = &tail[1..];
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(c)
}

/// The members and scores of a sorted set or a set (score 1) at `key`;
/// `WRONGTYPE` for another type.
fn members_of(s: &KvStore, key: &[u8]) -> Result<BTreeMap<Vec<u8>, f64>, CommandError> {
    let Some(slot) = s.slot(key) else {
        return Ok(BTreeMap::new());
    };
    if let Some(z) = ZSet::of(&slot.value) {
        return Ok(z.ascending().map(|(m, sc)| (m.clone(), sc)).collect());
    }
    match &slot.value {
        Value::Set(set) => Ok(set.iter().map(|m| (m.clone(), 1.0)).collect()),
        _ => Err(CommandError::WrongType),
    }
}

impl Combine {
    /// The weighted score of `score` in input `i` (NaN counts as 0).
    fn weighted(&self, i: usize, score: f64) -> f64 {
        let v = score * self.weights[i];
        if v.is_nan() { 0.0 } else { v }
    }

    /// The result as a sorted set.
    fn run(&self, op: Op) -> ZSet {
        let mut out = ZSet::default();
        match op {
            Op::Union => {
                let mut acc: BTreeMap<&Vec<u8>, f64> = BTreeMap::new();
                for (i, input) in self.inputs.iter().enumerate() {
                    for (m, sc) in input {
                        let v = self.weighted(i, *sc);
                        acc.entry(m)
                            .and_modify(|a| *a = self.aggregate.fold(*a, v))
                            .or_insert(v);
                    }
                }
                for (m, sc) in acc {
                    out.insert(m.clone(), sc);
                }
            }
            Op::Inter => {
                for (m, score) in self.intersection() {
                    out.insert(m.clone(), score);
                }
            }
            Op::Diff => {
                let (first, others) = self.inputs.split_first().expect("at least one input");
                for (m, sc) in first {
                    if others.iter().all(|o| !o.contains_key(m)) {
                        out.insert(m.clone(), *sc);
                    }
                }
            }
        }
        out
    }

    /// The members in every input with their aggregated scores, walking the
    /// smallest input (inputs are aggregated smallest first, as Redis does).
    fn intersection(&self) -> impl Iterator<Item = (&Vec<u8>, f64)> {
        let mut order: Vec<usize> = (0..self.inputs.len()).collect();
        order.sort_by_key(|&i| self.inputs[i].len());
        let (smallest, rest) = order
            .split_first()
            .map(|(f, r)| (*f, r.to_vec()))
            .expect("inputs");
        self.inputs[smallest].iter().filter_map(move |(m, sc)| {
            let mut score = self.weighted(smallest, *sc);
            for &i in &rest {
                let v = self.inputs[i].get(m)?;
                score = self.aggregate.fold(score, self.weighted(i, *v));
            }
            Some((m, score))
        })
    }
}

fn combine_reply(s: &KvStore, a: Args, op: Op, name: &'static str) -> Result<Reply, CommandError> {
    let c = parse(s, a, op, Form::Reply, name)?;
    let z = c.run(op);
    Ok(match c.with_scores {
        true => Reply::Pairs(
            z.ascending()
                .map(|(m, sc)| (bulk(m), Reply::Double(sc)))
                .collect(),
        ),
        false => Reply::Array(z.ascending().map(|(m, _)| bulk(m)).collect()),
    })
}

fn combine_store(
    s: &mut KvStore,
    a: Args,
    op: Op,
    name: &'static str,
) -> Result<Reply, CommandError> {
    let c = parse(s, &a[1..], op, Form::Store, name)?;
    let z = c.run(op);
    Ok(Reply::Int(store_result(s, &a[0], z) as i64))
}

/// Stores `z` at `key` (replacing whatever was there; an empty result
/// deletes the key); its size.
fn store_result(s: &mut KvStore, key: &[u8], z: ZSet) -> usize {
    let len = z.len();
    s.replace_value(key, (len > 0).then(|| Value::ZSet(Arc::new(z))));
    len
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit].
fn zintercard(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let c = parse(s, a, Op::Inter, Form::Cardinality, "zintercard")?;
    let limit = if c.limit == 0 { usize::MAX } else { c.limit };
    Ok(Reply::Int(c.intersection().take(limit).count() as i64))
}

/// ZRANDMEMBER key [count [WITHSCORES]], with Redis's limits on the count;
/// a read, with this node's own randomness.
fn zrandmember(s: &KvStore, a: Args, rng: &mut SplitMix64) -> Result<Reply, CommandError> {
    let Some(count) = a.get(1) else {
        let z = zset(s, &a[0])?.filter(|z| !z.is_empty());
        let picked = z.and_then(|z| z.ascending().nth(rng.below(z.len())));
        return Ok(Reply::Bulk(picked.map(|(m, _)| m.clone())));
    };
    let count = int_arg(count)?;
    let with_scores = match a.get(2) {
        None => false,
        Some(w) if a.len() == 3 && w.eq_ignore_ascii_case(b"WITHSCORES") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    // Redis refuses counts whose size (or twice it, with scores) overflows.
    if count == i64::MIN || (with_scores && count.unsigned_abs() > (i64::MAX / 2) as u64) {
        return Err(CommandError::OutOfRange);
    }
    let all: Vec<(&Vec<u8>, f64)> = zset(s, &a[0])?
        .into_iter()
        .flat_map(ZSet::ascending)
        .collect();
    let picked = random_picks(all.len(), count, rng)
        .into_iter()
        .map(|i| all[i]);
    Ok(match with_scores {
        true => Reply::Pairs(picked.map(|(m, sc)| (bulk(m), Reply::Double(sc))).collect()),
        false => Reply::Array(picked.map(|(m, _)| bulk(m)).collect()),
    })
}
