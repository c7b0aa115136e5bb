//! Handlers of the string commands with options or offsets: SET's flags,
//! GETRANGE, SETRANGE, INCRBYFLOAT, GETBIT, SETBIT, BITCOUNT. Arguments are
//! checked here, with Redis's error texts, before anything is proposed; the
//! state machine applies what passed (`store/strings.rs`, `store/ranges.rs`).

use super::outcome::{Outcome, now};
use super::session::Session;
use crate::command::{Command, ReadCommand, Reply, SetCondition, parse_redis_int};
use crate::error::ErrorCode;
use crate::store::parse_redis_float;

type Args<'a> = &'a [Vec<u8>];

/// Largest bit offset (Redis's: 2^32 - 1, bits of a 512 MB string).
const MAX_BIT_OFFSET: u64 = (4 << 30) - 1;

fn err(text: &str) -> Outcome {
    now(Reply::error(ErrorCode::Err, text))
}

fn not_an_integer() -> Outcome {
    err("value is not an integer or out of range")
}

/// `SET key value [NX | XX] [GET]` as one command; with `EX`, `PX`, `EXAT`,
/// `PXAT` or `KEEPTTL` as its words, which the state machine parses
/// (`store/expire.rs`), since times count from its clock.
pub(super) fn set(s: &mut Session, a: Args) -> Outcome {
    let (key, value) = (a[0].clone(), a[1].clone());
    let mut condition = SetCondition::Always;
    let mut get = false;
    for opt in &a[2..] {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" if condition != SetCondition::IfPresent => condition = SetCondition::IfAbsent,
            b"XX" if condition != SetCondition::IfAbsent => condition = SetCondition::IfPresent,
            b"GET" => get = true,
            b"KEEPTTL" | b"EX" | b"PX" | b"EXAT" | b"PXAT" => {
                let mut argv = vec![b"SET".to_vec()];
                argv.extend_from_slice(a);
                let seed = s.next_seed();
                return s.write(Command::Words { argv, seed });
            }
            _ => return err("syntax error"),
        }
    }
    if condition == SetCondition::Always && !get {
        return s.write(Command::Set { key, value });
    }
    s.write(Command::SetWith {
        key,
        value,
        condition,
        get,
    })
}

/// `GETRANGE key start end`.
pub(super) fn get_range(s: &mut Session, a: Args) -> Outcome {
    match (parse_redis_int(&a[1]), parse_redis_int(&a[2])) {
        (Some(start), Some(end)) => s.read(ReadCommand::GetRange(a[0].clone(), start, end)),
        _ => not_an_integer(),
    }
}

/// `SETRANGE key offset value`.
pub(super) fn set_range(s: &mut Session, a: Args) -> Outcome {
    let Some(offset) = parse_redis_int(&a[1]) else {
        return not_an_integer();
    };
    let Ok(offset) = u64::try_from(offset) else {
        return err("offset is out of range");
    };
    let limit = s.limits().max_value as u64;
    if !a[2].is_empty() && offset.saturating_add(a[2].len() as u64) > limit {
        // Redis's text; the limit here is the configured value size.
        return err("string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    s.write(Command::SetRange {
        key: a[0].clone(),
        offset,
        value: a[2].clone(),
    })
}

/// `INCRBYFLOAT key increment`.
pub(super) fn incr_by_float(s: &mut Session, a: Args) -> Outcome {
    if parse_redis_float(&a[1]).is_none() {
        return err("value is not a valid float");
    }
    s.write(Command::IncrByFloat {
        key: a[0].clone(),
        increment: a[1].clone(),
    })
}

/// A bit offset as Redis takes it: an integer in `0..2^32`.
fn bit_offset(text: &[u8]) -> Option<u64> {
    parse_redis_int(text)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n <= MAX_BIT_OFFSET)
}

/// `GETBIT key offset`.
pub(super) fn get_bit(s: &mut Session, a: Args) -> Outcome {
    match bit_offset(&a[1]) {
        Some(offset) => s.read(ReadCommand::GetBit(a[0].clone(), offset)),
        None => err("bit offset is not an integer or out of range"),
    }
}

/// `SETBIT key offset 0|1`.
pub(super) fn set_bit(s: &mut Session, a: Args) -> Outcome {
    let Some(offset) = bit_offset(&a[1]) else {
        return err("bit offset is not an integer or out of range");
    };
    let bit = match a[2].as_slice() {
        b"0" => false,
        b"1" => true,
        _ => return err("bit is not an integer or out of range"),
    };
    let limit = s.limits().max_value as u64;
    if offset / 8 >= limit {
        return err(&format!(
            "value too large (bit offset {offset}, limit {limit} bytes)"
        ));
    }
    s.write(Command::SetBit {
        key: a[0].clone(),
        offset,
        bit,
    })
}

/// `BITCOUNT key [start end [BYTE | BIT]]`.
pub(super) fn bit_count(s: &mut Session, a: Args) -> Outcome {
    let range = match &a[1..] {
        [] => None,
        [start, end, mode @ ..] => {
            let bits = match mode {
                [] => false,
                [m] if m.eq_ignore_ascii_case(b"BYTE") => false,
                [m] if m.eq_ignore_ascii_case(b"BIT") => true,
                _ => return err("syntax error"),
            };
            match (parse_redis_int(start), parse_redis_int(end)) {
                (Some(start), Some(end)) => Some((start, end, bits)),
                _ => return not_an_integer(),
            }
        }
        [_] => return err("syntax error"),
    };
    s.read(ReadCommand::BitCount(a[0].clone(), range))
}
