//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest
//! common subsequence of two strings, by Redis's dynamic programming and its
//! walk back for the matching ranges. A read; its table is bounded
//! ([`MAX_TABLE_BYTES`]) since it runs where reads run.

use super::KvStore;
use super::args::{bulk, int_arg};
use super::value::Value;
use crate::errors::CommandError;
use crate::family::{Registration, read};
use crate::reply::Reply;
use raft_core::SplitMix64;

/// The LCS command.
pub(crate) static COMMANDS: &[Registration] = &[read("lcs", lcs)];

/// The largest table LCS builds (4 bytes per cell): 64 MiB, two strings of
/// about 4,000 bytes each.
const MAX_TABLE_BYTES: u64 = 64 << 20;

/// The options after the two keys.
#[derive(Default)]
struct Options {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

impl Options {
    fn parse(a: &[Vec<u8>]) -> Result<Options, CommandError> {
        let mut o = Options::default();
        let mut rest = a;
        while let Some((word, tail)) = rest.split_first() {
            rest = tail;
            match word.to_ascii_uppercase().as_slice() {
                b"IDX" => o.idx = true,
                b"LEN" => o.len = true,
                b"WITHMATCHLEN" => o.with_match_len = true,
                b"MINMATCHLEN" if !tail.is_empty() => {
                    o.min_match_len = int_arg(&tail[0])?.max(0) as u64;
                    rest = &tail[1..];
                }
                _ => return Err(CommandError::Syntax),
            }
        }
        if o.len && o.idx {
            return Err(CommandError::LcsLenAndIdx);
        }
        Ok(o)
    }
}

/// The string at `key` ("" if absent); an error for another type.
fn string_of<'s>(s: &'s KvStore, key: &[u8]) -> Result<&'s [u8], CommandError> {
    match s.slot(key).map(|slot| &slot.value) {
        None => Ok(&[]),
        Some(Value::Str(v)) => Ok(v),
        Some(_) => Err(CommandError::LcsNotStrings),
    }
}

fn lcs(s: &KvStore, a: &[Vec<u8>], _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let (x, y) = (string_of(s, &a[0])?, string_of(s, &a[1])?);
    let o = Options::parse(&a[2..])?;
    let cells = (x.len() as u64 + 1) * (y.len() as u64 + 1);
    if cells.saturating_mul(4) > MAX_TABLE_BYTES {
        return Err(CommandError::LcsTooLarge {
            limit: MAX_TABLE_BYTES,
        });
    }
    let table = Table::build(x, y);
    let total = table.at(x.len(), y.len());
    if o.len {
        return Ok(Reply::Int(i64::from(total)));
    }
    let (common, ranges) = table.walk_back(x, y);
    if !o.idx {
        return Ok(bulk(&common));
    }
    let matches = ranges
        .into_iter()
        .filter(|r| o.min_match_len == 0 || r.len() >= o.min_match_len)
        .map(|r| {
            let pair = |from: usize, to: usize| {
                Reply::Array(vec![Reply::Int(from as i64), Reply::Int(to as i64)])
            };
            let mut item = vec![pair(r.x.0, r.x.1), pair(r.y.0, r.y.1)];
            if o.with_match_len {
                item.push(Reply::Int(r.len() as i64));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Reply::Map(vec![
        (bulk(b"matches"), Reply::Array(matches)),
        (bulk(b"len"), Reply::Int(i64::from(total))),
    ]))
}

/// LCS lengths of every pair of prefixes.
struct Table {
    width: usize,
    cells: Vec<u32>,
}

/// A run of matching bytes: inclusive positions in each string.
struct Range {
    x: (usize, usize),
    y: (usize, usize),
}

impl Range {
    fn len(&self) -> u64 {
        (self.x.1 - self.x.0 + 1) as u64
    }
}

impl Table {
    fn build(x: &[u8], y: &[u8]) -> Table {
        let width = y.len() + 1;
        let mut t = Table {
            width,
            cells: vec![0; (x.len() + 1) * width],
        };
        for i in 1..=x.len() {
            for j in 1..=y.len() {
                let v = if x[i - 1] == y[j - 1] {
                    t.at(i - 1, j - 1) + 1
                } else {
                    t.at(i - 1, j).max(t.at(i, j - 1))
                };
                t.cells[i * width + j] = v;
            }
        }
        t
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// The common subsequence and its matching ranges, last first, as
    /// Redis walks back from the end of both strings.
    fn walk_back(&self, x: &[u8], y: &[u8]) -> (Vec<u8>, Vec<Range>) {
        let mut common = Vec::with_capacity(self.at(x.len(), y.len()) as usize);
        let mut ranges = Vec::new();
        let mut open: Option<Range> = None;
        let (mut i, mut j) = (x.len(), y.len());
        while i > 0 && j > 0 {
            let mut emit = false;
            if x[i - 1] == y[j - 1] {
                common.push(x[i - 1]);
                match &mut open {
                    None => {
                        open = Some(Range {
                            x: (i - 1, i - 1),
                            y: (j - 1, j - 1),
                        })
                    }
                    Some(r) if r.x.0 == i && r.y.0 == j => {
                        r.x.0 -= 1;
                        r.y.0 -= 1;
                    }
                    Some(_) => emit = true,
                }
                if open.as_ref().is_some_and(|r| r.x.0 == 0 || r.y.0 == 0) {
                    emit = true;
                }
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = open.is_some();
            }
            if emit && let Some(r) = open.take() {
                ranges.push(r);
            }
        }
        common.reverse();
        (common, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{read, run};
    use super::*;

    fn store() -> KvStore {
        let mut s = KvStore::new();
        for (k, v) in [("key1", "ohmytext"), ("key2", "mynewtext")] {
            run(&mut s, &["SET", k, v]);
        }
        s
    }

    fn lcs_of(s: &KvStore, words: &[&str]) -> Reply {
        read(s, words)
    }

    #[test]
    fn lcs_answers_as_redis_documents_it() {
        let s = store();
        assert_eq!(lcs_of(&s, &["LCS", "key1", "key2"]), bulk(b"mytext"));
        assert_eq!(lcs_of(&s, &["LCS", "key1", "key2", "LEN"]), Reply::Int(6));
        let range = |a: i64, b: i64| Reply::Array(vec![Reply::Int(a), Reply::Int(b)]);
        assert_eq!(
            lcs_of(
                &s,
                &[
                    "LCS",
                    "key1",
                    "key2",
                    "IDX",
                    "MINMATCHLEN",
                    "4",
                    "WITHMATCHLEN"
                ]
            ),
            Reply::Map(vec![
                (
                    bulk(b"matches"),
                    Reply::Array(vec![Reply::Array(vec![
                        range(4, 7),
                        range(5, 8),
                        Reply::Int(4)
                    ])])
                ),
                (bulk(b"len"), Reply::Int(6)),
            ])
        );
        let Reply::Map(all) = lcs_of(&s, &["LCS", "key1", "key2", "IDX"]) else {
            panic!("a map");
        };
        assert_eq!(
            all[0].1,
            Reply::Array(vec![
                Reply::Array(vec![range(4, 7), range(5, 8)]),
                Reply::Array(vec![range(2, 3), range(0, 1)]),
            ])
        );
        assert!(matches!(
            lcs_of(&s, &["LCS", "key1", "key2", "LEN", "IDX"]),
            Reply::Error(_)
        ));
        assert_eq!(lcs_of(&s, &["LCS", "none", "key2"]), bulk(b""));
    }
}
