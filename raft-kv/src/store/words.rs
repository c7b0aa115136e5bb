//! What the commands of the words table ([`super::collections`]) are made
//! of: the table entry, the deterministic random numbers an entry's seed
//! gives, and the argument parsing and replies they share.

use super::{KvStore, glob};
use crate::command::Reply;
use crate::error::ErrorCode;

/// A write: the store, the arguments after the name, the entry's randomness.
pub(super) type WriteFn = fn(&mut KvStore, &[Vec<u8>], &mut Rng) -> Result<Reply, Reply>;
/// A read: the store and the arguments after the name.
pub(super) type ReadFn = fn(&KvStore, &[Vec<u8>]) -> Result<Reply, Reply>;

/// What a command does.
#[derive(Clone, Copy)]
pub(super) enum Run {
    Write(WriteFn),
    Read(ReadFn),
}

/// One command of a collection type.
pub struct WordsSpec {
    /// Upper-case name.
    pub name: &'static str,
    /// Redis-style arity, the name included (`-n`: at least n words).
    pub arity: i32,
    run: Run,
}

impl WordsSpec {
    /// True if the command changes state (goes through the log).
    pub fn is_write(&self) -> bool {
        matches!(self.run, Run::Write(_))
    }

    /// The command's function.
    pub(super) fn run(&self) -> Run {
        self.run
    }

    /// True if `words` words (the name included) fit the arity.
    pub(super) fn arity_ok(&self, words: usize) -> bool {
        arity_fits(self.arity, words)
    }
}

/// True if a call of `words` words (the name included) fits Redis's `arity`:
/// exactly `arity` words, or at least `-arity` if it is negative.
pub fn arity_fits(arity: i32, words: usize) -> bool {
    let words = i64::try_from(words).unwrap_or(i64::MAX);
    let arity = i64::from(arity);
    if arity >= 0 {
        words == arity
    } else {
        words >= -arity
    }
}

/// A table entry.
pub(super) const fn write(name: &'static str, arity: i32, f: WriteFn) -> WordsSpec {
    WordsSpec {
        name,
        arity,
        run: Run::Write(f),
    }
}

/// A table entry.
pub(super) const fn read(name: &'static str, arity: i32, f: ReadFn) -> WordsSpec {
    WordsSpec {
        name,
        arity,
        run: Run::Read(f),
    }
}

/// Deterministic random numbers (splitmix64): every replica draws the same
/// sequence from the seed in an entry.
pub struct Rng(u64);

impl Rng {
    /// The sequence of `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A sequence from a random seed (the standard library's per-process
    /// hash keys): for reads, which change nothing, and for drawing seeds.
    pub fn from_entropy() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        Rng(h.finish())
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0, "below(0) has no answer");
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// An integer argument, as Redis parses one.
pub(super) fn int_arg(word: &[u8]) -> Result<i64, Reply> {
    crate::command::parse_redis_int(word)
        .ok_or_else(|| Reply::error(ErrorCode::Err, "value is not an integer or out of range"))
}

/// A count argument: a non-negative integer.
pub(super) fn count_arg(word: &[u8]) -> Result<usize, Reply> {
    let n = int_arg(word)?;
    usize::try_from(n)
        .map_err(|_| Reply::error(ErrorCode::Err, "value is out of range, must be positive"))
}

/// Redis's reply to a wrong number of arguments.
pub(super) fn arity_error(name: &str) -> Reply {
    Reply::error(
        ErrorCode::Err,
        format!(
            "wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        ),
    )
}

/// Redis's reply to arguments it cannot make sense of.
pub(super) fn syntax_error() -> Reply {
    Reply::error(ErrorCode::Err, "syntax error")
}

/// A bulk reply of `bytes`.
pub(super) fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Some(bytes.to_vec()))
}

/// An array of bulk replies.
pub(super) fn bulks<'a>(items: impl IntoIterator<Item = &'a Vec<u8>>) -> Reply {
    Reply::Array(items.into_iter().map(|v| bulk(v)).collect())
}

/// Positions below `len` chosen at random as Redis's count argument says:
/// `count` > 0 gives distinct positions (at most `len`), `count` < 0 gives
/// `|count|` positions that may repeat, at most 2^24 of them (a limit on
/// the reply: more would not fit the client's output buffer anyway).
pub(super) fn random_picks(len: usize, count: i64, rng: &mut Rng) -> Vec<usize> {
    if len == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        let n = count.unsigned_abs().min(1 << 24) as usize;
        return (0..n).map(|_| rng.below(len)).collect();
    }
    let want = (count as u64).min(len as u64) as usize;
    // A partial Fisher-Yates shuffle of the positions.
    let mut all: Vec<usize> = (0..len).collect();
    for i in 0..want {
        let j = i + rng.below(len - i);
        all.swap(i, j);
    }
    all.truncate(want);
    all.sort_unstable();
    all
}

/// The options of SCAN, HSCAN and SSCAN after the cursor.
pub(super) struct ScanOptions {
    pattern: Option<Vec<u8>>,
    /// HSCAN's NOVALUES.
    no_values: bool,
}

impl ScanOptions {
    /// Parses `cursor [MATCH pattern] [COUNT n] [NOVALUES]`.
    pub(super) fn parse(a: &[Vec<u8>]) -> Result<ScanOptions, Reply> {
        let (cursor, mut rest) = a.split_first().expect("arity: a cursor");
        if !cursor.iter().all(u8::is_ascii_digit) || cursor.is_empty() {
            return Err(Reply::error(ErrorCode::Err, "invalid cursor"));
        }
        let mut opts = ScanOptions {
            pattern: None,
            no_values: false,
        };
        while let Some((word, tail)) = rest.split_first() {
            match (word.to_ascii_uppercase().as_slice(), tail.first()) {
                (b"MATCH", Some(p)) => opts.pattern = Some(p.clone()),
                (b"COUNT", Some(n)) => {
                    if int_arg(n)? < 1 {
                        return Err(syntax_error());
                    }
                }
                (b"NOVALUES", _) => {
                    opts.no_values = true;
                    rest = tail;
                    continue;
                }
                _ => return Err(syntax_error()),
            }
            rest = &tail[1..];
        }
        Ok(opts)
    }

    /// True if HSCAN was asked for fields only.
    pub(super) fn no_values(&self) -> bool {
        self.no_values
    }

    /// True if `item` matches the MATCH pattern (or there is none).
    pub(super) fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .as_deref()
            .is_none_or(|p| glob::matches(p, item))
    }
}

/// The clamp of an inclusive `[start, end]` of positions over `len` items
/// that LRANGE, LTRIM and ZRANGE share (negative counts from the end):
/// `None` if nothing is left.
pub(super) fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = i64::try_from(len).ok()?;
    let start = if start < 0 {
        len.saturating_add(start).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}
