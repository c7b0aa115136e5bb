//! Commands on parts of a string value: GETRANGE, SETRANGE, GETBIT, SETBIT,
//! BITCOUNT, with Redis's index rules (negative indexes count from the end,
//! ranges are clamped, bits are numbered from the most significant bit of the
//! first byte).

use super::KvStore;
use crate::errors::CommandError;
use crate::family::{Args, Registration, checked_write, read};
use crate::limits::Limits;
use crate::numbers::{MAX_VALUE_BYTES, parse_redis_int};
use crate::reply::Reply;
use raft_core::SplitMix64;

/// The commands on parts of strings.
pub(crate) static COMMANDS: &[Registration] = &[
    read("getrange", |s, a, _| {
        let (start, end) = (int(&a[1])?, int(&a[2])?);
        s.get_range(&a[0], start, end)
    }),
    checked_write("setrange", set_range, check_set_range),
    read("getbit", |s, a, _| s.get_bit(&a[0], bit_offset(&a[1])?)),
    checked_write("setbit", set_bit, check_set_bit),
    read("bitcount", bit_count),
];

/// Largest bit offset (Redis's: 2^32 - 1, bits of a 512 MB string).
const MAX_BIT_OFFSET: u64 = (4 << 30) - 1;

fn int(word: &[u8]) -> Result<i64, CommandError> {
    parse_redis_int(word).ok_or(CommandError::NotAnInteger)
}

/// SETRANGE's offset: a non-negative integer.
fn offset(word: &[u8]) -> Result<u64, CommandError> {
    u64::try_from(int(word)?).map_err(|_| CommandError::OffsetOutOfRange)
}

/// The proposer's value limit holds for the string SETRANGE would build.
fn check_set_range(a: Args, limits: &Limits) -> Result<(), CommandError> {
    let offset = offset(&a[1])?;
    if !a[2].is_empty() && offset.saturating_add(a[2].len() as u64) > limits.max_value as u64 {
        // Redis's text; the limit here is the configured value size.
        return Err(CommandError::StringTooLong);
    }
    Ok(())
}

/// SETRANGE key offset value: the length after writing.
fn set_range(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    s.set_range(&a[0], offset(&a[1])?, &a[2])
}

/// A bit offset as Redis takes it: an integer in `0..2^32`.
fn bit_offset(text: &[u8]) -> Result<u64, CommandError> {
    parse_redis_int(text)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n <= MAX_BIT_OFFSET)
        .ok_or(CommandError::BadBitOffset)
}

/// SETBIT's bit: `0` or `1`.
fn bit(word: &[u8]) -> Result<bool, CommandError> {
    match word {
        b"0" => Ok(false),
        b"1" => Ok(true),
        _ => Err(CommandError::BadBit),
    }
}

/// The proposer's value limit holds for the string SETBIT would build.
fn check_set_bit(a: Args, limits: &Limits) -> Result<(), CommandError> {
    let offset = bit_offset(&a[1])?;
    bit(&a[2])?;
    if offset / 8 >= limits.max_value as u64 {
        return Err(CommandError::BitOffsetTooLarge {
            offset,
            limit: limits.max_value,
        });
    }
    Ok(())
}

/// SETBIT key offset 0|1: the bit's old value.
fn set_bit(s: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    s.set_bit(&a[0], bit_offset(&a[1])?, bit(&a[2])?)
}

/// BITCOUNT key [start end [BYTE | BIT]].
fn bit_count(s: &KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    let range = match &a[1..] {
        [] => None,
        [start, end, mode @ ..] => {
            let bits = match mode {
                [] => false,
                [m] if m.eq_ignore_ascii_case(b"BYTE") => false,
                [m] if m.eq_ignore_ascii_case(b"BIT") => true,
                _ => return Err(CommandError::Syntax),
            };
            Some((int(start)?, int(end)?, bits))
        }
        [_] => return Err(CommandError::Syntax),
    };
    s.bit_count(&a[0], range)
}

/// Redis's clamp of an inclusive `[start, end]` range over `len` items:
/// `None` if it selects nothing.
fn clamp(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return None;
    }
    let from_end = |i: i64| if i < 0 { len.saturating_add(i) } else { i };
    let start = from_end(start).max(0);
    let end = from_end(end).max(0).min(len - 1);
    (start <= end).then_some((start as usize, end as usize))
}

impl KvStore {
    fn get_range(&self, key: &[u8], start: i64, end: i64) -> Result<Reply, CommandError> {
        let value = self.string(key)?.unwrap_or_default();
        let part = clamp(start, end, value.len()).map_or(&[][..], |(s, e)| &value[s..=e]);
        Ok(Reply::Bulk(Some(part.to_vec())))
    }

    fn set_range(&mut self, key: &[u8], offset: u64, bytes: &[u8]) -> Result<Reply, CommandError> {
        let old = self.string(key)?;
        if bytes.is_empty() {
            return Ok(Reply::Int(old.map_or(0, <[u8]>::len) as i64));
        }
        let end = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(bytes.len()))
            .filter(|&e| e <= MAX_VALUE_BYTES)
            .ok_or(CommandError::StringTooLong)?;
        let mut value = old.unwrap_or_default().to_vec();
        if value.len() < end {
            value.resize(end, 0);
        }
        value[end - bytes.len()..end].copy_from_slice(bytes);
        let len = value.len();
        self.put_string(key, &value, true);
        Ok(Reply::Int(len as i64))
    }

    fn get_bit(&self, key: &[u8], offset: u64) -> Result<Reply, CommandError> {
        let value = self.string(key)?.unwrap_or_default();
        let byte = usize::try_from(offset / 8).ok().and_then(|i| value.get(i));
        let bit = byte.map_or(0, |b| (b >> (7 - offset % 8)) & 1);
        Ok(Reply::Int(i64::from(bit)))
    }

    fn set_bit(&mut self, key: &[u8], offset: u64, bit: bool) -> Result<Reply, CommandError> {
        let index = usize::try_from(offset / 8)
            .ok()
            .filter(|&i| i < MAX_VALUE_BYTES)
            .ok_or(CommandError::StringTooLong)?;
        let mut value = self.string(key)?.unwrap_or_default().to_vec();
        if value.len() <= index {
            value.resize(index + 1, 0);
        }
        let mask = 1u8 << (7 - offset % 8);
        let old = value[index] & mask != 0;
        if bit {
            value[index] |= mask;
        } else {
            value[index] &= !mask;
        }
        self.put_string(key, &value, true);
        Ok(Reply::Int(i64::from(old)))
    }

    fn bit_count(
        &self,
        key: &[u8],
        range: Option<(i64, i64, bool)>,
    ) -> Result<Reply, CommandError> {
        let value = self.string(key)?.unwrap_or_default();
        let count = match range {
            None => value.iter().map(|b| b.count_ones() as usize).sum(),
            Some((start, end, false)) => clamp(start, end, value.len()).map_or(0, |(s, e)| {
                value[s..=e].iter().map(|b| b.count_ones() as usize).sum()
            }),
            Some((start, end, true)) => clamp(start, end, value.len() * 8).map_or(0, |(s, e)| {
                (s..=e)
                    .filter(|i| value[i / 8] & (1 << (7 - i % 8)) != 0)
                    .count()
            }),
        };
        Ok(Reply::Int(count as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_as_redis_does() {
        assert_eq!(clamp(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp(-3, -1, 5), Some((2, 4)));
        assert_eq!(clamp(-1, -3, 5), None, "both negative, start after end");
        assert_eq!(clamp(3, 100, 5), Some((3, 4)));
        assert_eq!(clamp(-100, 1, 5), Some((0, 1)));
        assert_eq!(clamp(4, 2, 5), None);
        assert_eq!(clamp(0, 0, 0), None, "nothing in an empty value");
        assert_eq!(clamp(i64::MIN, i64::MAX, 3), Some((0, 2)));
    }
}
