//! Commands on parts of a string value: GETRANGE, SETRANGE, GETBIT, SETBIT,
//! BITCOUNT, with Redis's index rules (negative indexes count from the end,
//! ranges are clamped, bits are numbered from the most significant bit of the
//! first byte).

use super::KvStore;
use super::numbers::MAX_VALUE_BYTES;
use crate::command::Reply;
use crate::error::ErrorCode;

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

fn too_large() -> Reply {
    Reply::error(
        ErrorCode::Err,
        "string exceeds maximum allowed size (proto-max-bulk-len)",
    )
}

impl KvStore {
    pub(super) fn get_range(&self, key: &[u8], start: i64, end: i64) -> Reply {
        let value = match self.string(key) {
            Ok(v) => v.unwrap_or_default(),
            Err(wrong_type) => return wrong_type,
        };
        let part = clamp(start, end, value.len()).map_or(&[][..], |(s, e)| &value[s..=e]);
        Reply::Bulk(Some(part.to_vec()))
    }

    pub(super) fn set_range(&mut self, key: &[u8], offset: u64, bytes: &[u8]) -> Reply {
        let old = match self.string(key) {
            Ok(v) => v,
            Err(wrong_type) => return wrong_type,
        };
        if bytes.is_empty() {
            return Reply::Int(old.map_or(0, <[u8]>::len) as i64);
        }
        let end = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(bytes.len()));
        let Some(end) = end.filter(|&e| e <= MAX_VALUE_BYTES) else {
            return too_large();
        };
        let mut value = old.unwrap_or_default().to_vec();
        if value.len() < end {
            value.resize(end, 0);
        }
        value[end - bytes.len()..end].copy_from_slice(bytes);
        let len = value.len();
        self.put_string(key, &value, true);
        Reply::Int(len as i64)
    }

    pub(super) fn get_bit(&self, key: &[u8], offset: u64) -> Reply {
        let value = match self.string(key) {
            Ok(v) => v.unwrap_or_default(),
            Err(wrong_type) => return wrong_type,
        };
        let byte = usize::try_from(offset / 8).ok().and_then(|i| value.get(i));
        let bit = byte.map_or(0, |b| (b >> (7 - offset % 8)) & 1);
        Reply::Int(i64::from(bit))
    }

    pub(super) fn set_bit(&mut self, key: &[u8], offset: u64, bit: bool) -> Reply {
        let Some(index) = usize::try_from(offset / 8)
            .ok()
            .filter(|&i| i < MAX_VALUE_BYTES)
        else {
            return too_large();
        };
        let mut value = match self.string(key) {
            Ok(v) => v.unwrap_or_default().to_vec(),
            Err(wrong_type) => return wrong_type,
        };
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
        Reply::Int(i64::from(old))
    }

    pub(super) fn bit_count(&self, key: &[u8], range: Option<(i64, i64, bool)>) -> Reply {
        let value = match self.string(key) {
            Ok(v) => v.unwrap_or_default(),
            Err(wrong_type) => return wrong_type,
        };
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
        Reply::Int(count as i64)
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
