//! What the commands' arguments are made of: the argument parsing and the
//! replies the families of the state machine share.

use super::glob;
use crate::errors::CommandError;
use crate::reply::Reply;
use raft_core::SplitMix64;

/// An integer argument, as Redis parses one.
pub(crate) fn int_arg(word: &[u8]) -> Result<i64, CommandError> {
    crate::numbers::parse_redis_int(word).ok_or(CommandError::NotAnInteger)
}

/// A count argument: a non-negative integer.
pub(super) fn count_arg(word: &[u8]) -> Result<usize, CommandError> {
    let n = int_arg(word)?;
    usize::try_from(n).map_err(|_| CommandError::MustBePositive)
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
pub(super) fn random_picks(len: usize, count: i64, rng: &mut SplitMix64) -> Vec<usize> {
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
    pub(super) fn parse(a: &[Vec<u8>]) -> Result<ScanOptions, CommandError> {
        let (cursor, mut rest) = a.split_first().expect("arity: a cursor");
        if !cursor.iter().all(u8::is_ascii_digit) || cursor.is_empty() {
            return Err(CommandError::InvalidCursor);
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
                        return Err(CommandError::Syntax);
                    }
                }
                (b"NOVALUES", _) => {
                    opts.no_values = true;
                    rest = tail;
                    continue;
                }
                _ => return Err(CommandError::Syntax),
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
