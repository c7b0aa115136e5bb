//! SORT and SORT_RO: `key [BY pattern] [LIMIT offset count] [GET pattern
//! ...] [ASC | DESC] [ALPHA] [STORE destination]` over a list, a set or a
//! sorted set, with Redis's rules: numbers compare as doubles (ties by the
//! element's bytes), `BY nosort` (a pattern without `*`) keeps the native
//! order, `*` in a pattern is replaced by the element and `->field` reads a
//! hash field, `GET #` is the element itself. SORT goes through the log
//! (STORE writes a list); SORT_RO is a read.

use super::KvStore;
use super::args::int_arg;
use super::value::{Collection, Hash, List, Set, Value, ZSet};
use crate::errors::CommandError;
use crate::family::{Registration, read, write};
use crate::reply::Reply;
use raft_core::SplitMix64;
use std::cmp::Ordering;
use std::sync::Arc;

type Args<'a> = &'a [Vec<u8>];

/// SORT and SORT_RO.
pub(crate) static COMMANDS: &[Registration] = &[
    write("sort", |s, a, _: &mut SplitMix64| {
        let opts = Options::parse(a, false)?;
        let items = opts.run(s)?;
        let Some(dest) = opts.store else {
            return Ok(reply_of(items));
        };
        let list: List = items.into_iter().map(Option::unwrap_or_default).collect();
        let len = list.len();
        s.replace_value(dest, (len > 0).then(|| Value::List(Arc::new(list))));
        Ok(Reply::Int(len as i64))
    })
    .keys_by(sort_keys),
    read("sort_ro", |s, a, _| {
        Ok(reply_of(Options::parse(a, true)?.run(s)?))
    }),
];

/// SORT's keys: the key, and the destination after the last `STORE`,
/// skipping the arguments of `LIMIT`, `GET` and `BY` (Redis's `sortGetKeys`).
fn sort_keys(argv: &[Vec<u8>]) -> Vec<(usize, &'static [&'static str])> {
    let mut keys: Vec<(usize, &'static [&'static str])> = vec![(1, &["RO", "access"])];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let w = &argv[i];
        if w.eq_ignore_ascii_case(b"LIMIT") {
            i += 2;
        } else if w.eq_ignore_ascii_case(b"GET") || w.eq_ignore_ascii_case(b"BY") {
            i += 1;
        } else if w.eq_ignore_ascii_case(b"STORE") && i + 1 < argv.len() {
            store = Some((i + 1, &["OW", "update"][..]));
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

fn reply_of(items: Vec<Option<Vec<u8>>>) -> Reply {
    Reply::Array(items.into_iter().map(Reply::Bulk).collect())
}

struct Options<'a> {
    key: &'a [u8],
    by: Option<&'a [u8]>,
    limit: Option<(i64, i64)>,
    gets: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    store: Option<&'a Vec<u8>>,
}

impl<'a> Options<'a> {
    fn parse(a: Args<'a>, readonly: bool) -> Result<Self, CommandError> {
        let mut o = Options {
            key: &a[0],
            by: None,
            limit: None,
            gets: Vec::new(),
            desc: false,
            alpha: false,
            store: None,
        };
        let mut rest = &a[1..];
        while let Some((word, tail)) = rest.split_first() {
            let mut used = 0;
            match (word.to_ascii_uppercase().as_slice(), tail) {
                (b"ASC", _) => o.desc = false,
                (b"DESC", _) => o.desc = true,
                (b"ALPHA", _) => o.alpha = true,
                (b"LIMIT", [start, count, ..]) => {
                    o.limit = Some((int_arg(start)?, int_arg(count)?));
                    used = 2;
                }
                (b"STORE", [dest, ..]) if !readonly => {
                    o.store = Some(dest);
                    used = 1;
                }
                (b"BY", [pattern, ..]) => {
                    o.by = Some(pattern);
                    used = 1;
                }
                (b"GET", [pattern, ..]) => {
                    o.gets.push(pattern);
                    used = 1;
                }
                _ => return Err(CommandError::Syntax),
            }
            rest = &tail[used..];
        }
        Ok(o)
    }

    /// The sorted (and limited) elements, or what GET patterns give for
    /// each (nil for a missing key).
    fn run(&self, s: &KvStore) -> Result<Vec<Option<Vec<u8>>>, CommandError> {
        let dont_sort = self.by.is_some_and(|p| !p.contains(&b'*'));
        let (mut items, is_set) = elements(s, self.key)?;
        // A set's order is only its member order: sorted when stored.
        let (dont_sort, alpha) = match (dont_sort, is_set, self.store.is_some()) {
            (true, true, true) => (false, true),
            _ => (dont_sort, self.alpha),
        };
        if dont_sort && self.desc && !is_set {
            items.reverse();
        }
        if !dont_sort {
            self.sort(s, &mut items, alpha)?;
        }
        let (start, end) = window(self.limit, items.len());
        let chosen = items.get(start..end).unwrap_or(&[]);
        if self.gets.is_empty() {
            return Ok(chosen.iter().map(|e| Some(e.clone())).collect());
        }
        Ok(chosen
            .iter()
            .flat_map(|e| self.gets.iter().map(move |p| lookup(s, p, e)))
            .collect())
    }

    fn sort(&self, s: &KvStore, items: &mut [Vec<u8>], alpha: bool) -> Result<(), CommandError> {
        let by_of = |e: &Vec<u8>| match self.by {
            Some(p) => lookup(s, p, e),
            None => Some(e.clone()),
        };
        let mut keyed: Vec<(Key, Vec<u8>)> = Vec::with_capacity(items.len());
        for e in items.iter() {
            let key = match (alpha, by_of(e)) {
                (true, by) if self.by.is_some() => Key::Text(by),
                (true, _) => Key::Text(Some(e.clone())),
                (false, None) => Key::Number(0.0),
                (false, Some(v)) => Key::Number(number(&v)?),
            };
            keyed.push((key, e.clone()));
        }
        keyed.sort_by(|(ka, ea), (kb, eb)| {
            let c = match (ka, kb) {
                (Key::Number(x), Key::Number(y)) => x.total_cmp(y).then_with(|| ea.cmp(eb)),
                (Key::Text(x), Key::Text(y)) => x.cmp(y),
                _ => Ordering::Equal,
            };
            if self.desc { c.reverse() } else { c }
        });
        for (slot, (_, e)) in items.iter_mut().zip(keyed) {
            *slot = e;
        }
        Ok(())
    }
}

/// What an element sorts by.
enum Key {
    Number(f64),
    /// Bytes; a missing BY value sorts first.
    Text(Option<Vec<u8>>),
}

/// A sort weight as Redis reads one (`strtod` of the whole text, no NaN).
fn number(v: &[u8]) -> Result<f64, CommandError> {
    let text = std::str::from_utf8(v).unwrap_or("").trim_start();
    text.parse::<f64>()
        .ok()
        .filter(|x| !x.is_nan() && !text.ends_with(char::is_whitespace))
        .ok_or(CommandError::SortNotDouble)
}

/// The elements of the list, set or sorted set at `key` in their native
/// order, and whether it is a set; `WRONGTYPE` for a string or a hash.
fn elements(s: &KvStore, key: &[u8]) -> Result<(Vec<Vec<u8>>, bool), CommandError> {
    let Some(slot) = s.slot(key) else {
        return Ok((Vec::new(), false));
    };
    let v = &slot.value;
    if let Some(l) = List::of(v) {
        return Ok((l.iter().cloned().collect(), false));
    }
    if let Some(set) = Set::of(v) {
        return Ok((set.iter().cloned().collect(), true));
    }
    if let Some(z) = ZSet::of(v) {
        return Ok((z.ascending().map(|(m, _)| m.clone()).collect(), false));
    }
    Err(CommandError::WrongType)
}

/// The `[start, end)` positions LIMIT selects, as Redis clamps them.
fn window(limit: Option<(i64, i64)>, len: usize) -> (usize, usize) {
    let Some((start, count)) = limit else {
        return (0, len);
    };
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let start = start.clamp(0, len_i);
    let end = if count < 0 {
        len_i
    } else {
        start.saturating_add(count).min(len_i)
    };
    (start as usize, end.max(start) as usize)
}

/// The value `pattern` names for `element`: `#` is the element, the first
/// `*` is replaced by it, `key->field` reads a hash field; `None` if there
/// is no such string (or field), or the pattern has no `*`.
fn lookup(s: &KvStore, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(i) => (&after[..i], Some(&after[i + 2..])),
        None => (after, None),
    };
    let key = [&pattern[..star], element, suffix].concat();
    let slot = s.slot(&key)?;
    match (field, &slot.value) {
        (None, Value::Str(v)) => Some(v.to_vec()),
        (Some(f), v) => Hash::of(v)?.get(f).cloned(),
        _ => None,
    }
}
