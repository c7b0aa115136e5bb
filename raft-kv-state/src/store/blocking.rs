//! The pops that take from the first of several keys and the blocking forms:
//! BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, LMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP, ZMPOP.
//!
//! In the state machine a blocking command never blocks: it takes what is
//! there now or answers nil, as Redis answers it inside `MULTI`. Blocking is
//! the client port's business (a [`BlockingForm`] tells it the keys and the
//! timeout): it proposes the command, and on a nil reply waits until one of the
//! keys holds the awaited type on its node, then proposes it again. Every
//! replica runs the same entry and takes the same elements.

use super::KvStore;
use super::args::bulk;
use super::list::{End, lmove};
use super::value::{List, ZSet};
use super::zset::take_ends;
use crate::errors::CommandError;
use crate::family::{Args, Registration, blocking, write};
use crate::registry::plan::{Awaited, BlockingForm};
use crate::reply::Reply;
use std::time::Duration;

/// The blocking commands and the multi-key pops.
pub(crate) static COMMANDS: &[Registration] = &[
    blocking(
        "blpop",
        |s, a, _| first_list_pop(s, a, End::Left),
        |a| last_is_timeout(a, Awaited::List),
    ),
    blocking(
        "brpop",
        |s, a, _| first_list_pop(s, a, End::Right),
        |a| last_is_timeout(a, Awaited::List),
    ),
    blocking(
        "blmove",
        |s, a, _| {
            let (from, to) = (End::parse(&a[2])?, End::parse(&a[3])?);
            timeout_arg(&a[4])?;
            lmove(s, &a[0], &a[1], from, to)
        },
        |a| {
            End::parse(&a[2])?;
            End::parse(&a[3])?;
            form(&a[..1], Awaited::List, &a[4], Reply::Bulk(None))
        },
    ),
    blocking(
        "brpoplpush",
        |s, a, _| {
            timeout_arg(&a[2])?;
            lmove(s, &a[0], &a[1], End::Right, End::Left)
        },
        |a| form(&a[..1], Awaited::List, &a[2], Reply::Bulk(None)),
    ),
    blocking(
        "blmpop",
        |s, a, _| {
            let m = MultiPop::parse(&a[1..], list_end)?;
            timeout_arg(&a[0])?;
            m.pop_list(s)
        },
        |a| {
            let m = MultiPop::parse(&a[1..], list_end)?;
            form(m.key_list(), Awaited::List, &a[0], Reply::NullArray)
        },
    ),
    write("lmpop", |s, a, _| MultiPop::parse(a, list_end)?.pop_list(s)),
    blocking(
        "bzpopmin",
        |s, a, _| first_zset_pop(s, a, false),
        |a| last_is_timeout(a, Awaited::ZSet),
    ),
    blocking(
        "bzpopmax",
        |s, a, _| first_zset_pop(s, a, true),
        |a| last_is_timeout(a, Awaited::ZSet),
    ),
    blocking(
        "bzmpop",
        |s, a, _| {
            let m = MultiPop::parse(&a[1..], zset_end)?;
            timeout_arg(&a[0])?;
            m.pop_zset(s)
        },
        |a| {
            let m = MultiPop::parse(&a[1..], zset_end)?;
            form(m.key_list(), Awaited::ZSet, &a[0], Reply::NullArray)
        },
    ),
    write("zmpop", |s, a, _| MultiPop::parse(a, zset_end)?.pop_zset(s)),
];

/// A form waiting on `keys` for `awaits`, for the time `timeout` says.
fn form(
    keys: Args,
    awaits: Awaited,
    timeout: &[u8],
    nil: Reply,
) -> Result<BlockingForm, CommandError> {
    Ok(BlockingForm {
        keys: keys.to_vec(),
        awaits,
        timeout: timeout_arg(timeout)?,
        nil,
    })
}

/// `key [key ...] timeout` (BLPOP, BRPOP, BZPOPMIN, BZPOPMAX).
fn last_is_timeout(a: Args, awaits: Awaited) -> Result<BlockingForm, CommandError> {
    let (timeout, keys) = a.split_last().ok_or(CommandError::Syntax)?;
    form(keys, awaits, timeout, Reply::NullArray)
}

/// True if `reply` is what a blocking command answers when it took nothing.
pub fn took_nothing(reply: &Reply) -> bool {
    matches!(reply, Reply::NullArray | Reply::Bulk(None))
}

/// A timeout in seconds, as Redis reads one (a float; 0: for ever).
fn timeout_arg(word: &[u8]) -> Result<Option<Duration>, CommandError> {
    let text = std::str::from_utf8(word).unwrap_or("");
    let seconds = text
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or(CommandError::TimeoutNotFloat)?;
    if seconds < 0.0 {
        return Err(CommandError::TimeoutNegative);
    }
    let ms = (seconds * 1000.0).ceil();
    // Redis adds the time now to it in a 64-bit count of milliseconds.
    if ms > (i64::MAX / 2) as f64 {
        return Err(CommandError::TimeoutOutOfRange);
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

fn list_end(word: &[u8]) -> Result<End, CommandError> {
    End::parse(word)
}

/// `MIN` or `MAX`: true for MAX.
fn zset_end(word: &[u8]) -> Result<bool, CommandError> {
    match word.to_ascii_uppercase().as_slice() {
        b"MIN" => Ok(false),
        b"MAX" => Ok(true),
        _ => Err(CommandError::Syntax),
    }
}

/// BLPOP / BRPOP `key [key ...] timeout`: `[key, element]` from the first
/// non-empty list, nil if there is none.
fn first_list_pop(s: &mut KvStore, a: Args, end: End) -> Result<Reply, CommandError> {
    let (keys, timeout) = a.split_at(a.len() - 1);
    timeout_arg(&timeout[0])?;
    let Some(key) = first_holding(s, keys, Awaited::List)? else {
        return Ok(Reply::NullArray);
    };
    let l = s.collection_mut::<List>(key)?.expect("non-empty");
    let v = end.pop(l).expect("non-empty");
    s.drop_if_empty(key);
    Ok(Reply::Array(vec![bulk(key), Reply::Bulk(Some(v))]))
}

/// BZPOPMIN / BZPOPMAX `key [key ...] timeout`: `[key, member, score]` from
/// the first non-empty sorted set, nil if there is none.
fn first_zset_pop(s: &mut KvStore, a: Args, max: bool) -> Result<Reply, CommandError> {
    let (keys, timeout) = a.split_at(a.len() - 1);
    timeout_arg(&timeout[0])?;
    let Some(key) = first_holding(s, keys, Awaited::ZSet)? else {
        return Ok(Reply::NullArray);
    };
    let z = s.collection_mut::<ZSet>(key)?.expect("non-empty");
    let (member, score) = take_ends(z, 1, max).pop().expect("non-empty");
    s.drop_if_empty(key);
    Ok(Reply::Array(vec![
        bulk(key),
        Reply::Bulk(Some(member)),
        Reply::Double(score),
    ]))
}

/// The first of `keys` that holds a non-empty value of the `awaits` type;
/// `WRONGTYPE` if a key before it (or it) holds another type, as Redis checks
/// them in order.
fn first_holding<'k>(
    s: &KvStore,
    keys: &'k [Vec<u8>],
    awaits: Awaited,
) -> Result<Option<&'k Vec<u8>>, CommandError> {
    for key in keys {
        if s.non_empty(key, awaits)? {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// A number of at least 1, else Redis's `refusal` (for a non-number too).
fn positive(word: &[u8], refusal: CommandError) -> Result<usize, CommandError> {
    crate::numbers::parse_redis_int(word)
        .filter(|n| *n >= 1)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .ok_or(refusal)
}

/// The arguments of LMPOP / ZMPOP (and their blocking forms after the
/// timeout): `numkeys key [key ...] where [COUNT count]`.
struct MultiPop<'a, W> {
    keys: usize,
    args: Args<'a>,
    end: W,
    count: usize,
}

impl<'a, W: Copy> MultiPop<'a, W> {
    /// Parses as Redis does: numkeys, the end, then COUNT once.
    fn parse(
        a: Args<'a>,
        end_of: fn(&[u8]) -> Result<W, CommandError>,
    ) -> Result<Self, CommandError> {
        let keys = positive(&a[0], CommandError::NumkeysNotPositive)?;
        let Some(where_word) = keys.checked_add(1).and_then(|i| a.get(i)) else {
            return Err(CommandError::Syntax);
        };
        let end = end_of(where_word)?;
        let mut count = None;
        let mut rest = &a[keys + 2..];
        while let Some((word, tail)) = rest.split_first() {
            match tail.first() {
                Some(n) if count.is_none() && word.eq_ignore_ascii_case(b"COUNT") => {
                    count = Some(positive(n, CommandError::CountNotPositive)?);
                    rest = &tail[1..];
                }
                _ => return Err(CommandError::Syntax),
            }
        }
        Ok(MultiPop {
            keys,
            args: a,
            end,
            count: count.unwrap_or(1),
        })
    }

    fn key_list(&self) -> Args<'a> {
        &self.args[1..=self.keys]
    }
}

impl MultiPop<'_, End> {
    /// `[key, [element ...]]` from the first non-empty list, nil if none.
    fn pop_list(&self, s: &mut KvStore) -> Result<Reply, CommandError> {
        let Some(key) = first_holding(s, self.key_list(), Awaited::List)? else {
            return Ok(Reply::NullArray);
        };
        let l = s.collection_mut::<List>(key)?.expect("non-empty");
        let taken: Vec<Reply> = (0..self.count)
            .map_while(|_| self.end.pop(l))
            .map(|v| Reply::Bulk(Some(v)))
            .collect();
        s.drop_if_empty(key);
        Ok(Reply::Array(vec![bulk(key), Reply::Array(taken)]))
    }
}

impl MultiPop<'_, bool> {
    /// `[key, [[member, score] ...]]` from the first non-empty sorted set,
    /// nil if none.
    fn pop_zset(&self, s: &mut KvStore) -> Result<Reply, CommandError> {
        let Some(key) = first_holding(s, self.key_list(), Awaited::ZSet)? else {
            return Ok(Reply::NullArray);
        };
        let z = s.collection_mut::<ZSet>(key)?.expect("non-empty");
        let taken = take_ends(z, self.count, self.end)
            .into_iter()
            .map(|(m, sc)| Reply::Array(vec![Reply::Bulk(Some(m)), Reply::Double(sc)]))
            .collect();
        s.drop_if_empty(key);
        Ok(Reply::Array(vec![bulk(key), Reply::Array(taken)]))
    }
}

impl KvStore {
    /// True if `key` holds a non-empty value of the `awaits` type (by the
    /// state machine's clock): a client blocked on it may take from it now.
    pub fn holds(&self, key: &[u8], awaits: Awaited) -> bool {
        self.non_empty(key, awaits).unwrap_or(false)
    }

    /// Whether `key` holds a non-empty value of the `awaits` type;
    /// `WRONGTYPE` if it holds another type.
    fn non_empty(&self, key: &[u8], awaits: Awaited) -> Result<bool, CommandError> {
        Ok(match awaits {
            Awaited::List => self.collection::<List>(key)?.is_some_and(|l| !l.is_empty()),
            Awaited::ZSet => self.collection::<ZSet>(key)?.is_some_and(|z| !z.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{bulk as bulk_of, run as run_at, words};
    use super::*;
    use crate::registry::plan::{CallContext, Plan};

    fn run(s: &mut KvStore, w: &[&str]) -> Reply {
        run_at(s, w)
    }

    fn error_text(r: &Reply) -> String {
        match r {
            Reply::Error(e) => e.line(),
            other => panic!("an error, not {other:?}"),
        }
    }

    #[test]
    fn a_blocking_pop_takes_from_the_first_non_empty_key_or_answers_nil() {
        let mut s = KvStore::new();
        assert_eq!(run(&mut s, &["BLPOP", "a", "b", "0"]), Reply::NullArray);
        run(&mut s, &["RPUSH", "b", "1", "2"]);
        assert_eq!(
            run(&mut s, &["BRPOP", "a", "b", "0"]),
            Reply::Array(vec![bulk_of("b"), bulk_of("2")])
        );
        assert_eq!(
            run(&mut s, &["BLMOVE", "b", "c", "LEFT", "RIGHT", "1.5"]),
            bulk_of("1")
        );
        assert!(!s.holds(b"b", Awaited::List), "emptied lists are removed");
        assert!(s.holds(b"c", Awaited::List));
        assert_eq!(
            run(&mut s, &["BRPOPLPUSH", "b", "c", "0"]),
            Reply::Bulk(None)
        );
        run(&mut s, &["SET", "str", "x"]);
        let wrong = run(&mut s, &["BLPOP", "a", "str", "c", "0"]);
        assert!(error_text(&wrong).starts_with("WRONGTYPE"), "keys in order");
    }

    #[test]
    fn multi_pops_take_up_to_count_and_sorted_set_pops_carry_scores() {
        let mut s = KvStore::new();
        run(&mut s, &["RPUSH", "l", "a", "b", "c"]);
        assert_eq!(
            run(&mut s, &["LMPOP", "2", "none", "l", "RIGHT", "COUNT", "2"]),
            Reply::Array(vec![
                bulk_of("l"),
                Reply::Array(vec![bulk_of("c"), bulk_of("b")])
            ])
        );
        run(&mut s, &["ZADD", "z", "1", "m1", "2", "m2"]);
        assert_eq!(
            run(&mut s, &["BZPOPMAX", "z", "0"]),
            Reply::Array(vec![bulk_of("z"), bulk_of("m2"), Reply::Double(2.0)])
        );
        assert_eq!(
            run(&mut s, &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "9"]),
            Reply::Array(vec![
                bulk_of("z"),
                Reply::Array(vec![Reply::Array(vec![bulk_of("m1"), Reply::Double(1.0)])])
            ])
        );
        assert_eq!(run(&mut s, &["ZMPOP", "1", "z", "MIN"]), Reply::NullArray);
    }

    #[test]
    fn arguments_are_refused_with_redis_texts() {
        let mut s = KvStore::new();
        let cases: [(&[&str], &str); 6] = [
            (
                &["LMPOP", "0", "l", "LEFT"],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["LMPOP", "a", "l", "LEFT"],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["LMPOP", "1", "l", "LEFT", "COUNT", "0"],
                "ERR count should be greater than 0",
            ),
            (
                &["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"],
                "ERR syntax error",
            ),
            (&["BLPOP", "l", "-1"], "ERR timeout is negative"),
            (
                &["BLPOP", "l", "0x10"],
                "ERR timeout is not a float or out of range",
            ),
        ];
        for (argv, text) in cases {
            assert_eq!(error_text(&run(&mut s, argv)), text, "{argv:?}");
        }
    }

    #[test]
    fn the_blocking_form_names_keys_type_timeout_and_nil() {
        let limits = crate::limits::Limits::default();
        let ctx = CallContext {
            limits: &limits,
            may_block: true,
        };
        let form = |w: &[&str]| {
            let a = words(w);
            crate::registry::registry()
                .lookup(&a)
                .expect("a command")
                .plan(&a, &ctx)
        };
        assert_eq!(form(&["LPOP", "a"]), Ok(Plan::Write), "never blocks");
        assert_eq!(
            form(&["blpop", "a", "b", "0.25"]),
            Ok(Plan::Block(BlockingForm {
                keys: words(&["a", "b"]),
                awaits: Awaited::List,
                timeout: Some(Duration::from_millis(250)),
                nil: Reply::NullArray,
            }))
        );
        assert_eq!(
            form(&["BZMPOP", "0", "2", "x", "y", "MAX"]),
            Ok(Plan::Block(BlockingForm {
                keys: words(&["x", "y"]),
                awaits: Awaited::ZSet,
                timeout: None,
                nil: Reply::NullArray,
            }))
        );
        assert!(matches!(
            form(&["BRPOPLPUSH", "a", "b", "0"]),
            Ok(Plan::Block(BlockingForm {
                nil: Reply::Bulk(None),
                ..
            }))
        ));
        assert_eq!(
            form(&["BLMOVE", "src", "dst", "LEFT", "UP", "0"]),
            Err(CommandError::Syntax)
        );
        assert!(took_nothing(&Reply::NullArray) && took_nothing(&Reply::Bulk(None)));
    }
}
