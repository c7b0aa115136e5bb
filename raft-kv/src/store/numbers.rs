//! Constants and parsing rules of the state machine that other layers share:
//! Redis's float syntax and the largest value a command may build.

/// Parses a float as Redis's `string2ld` does for INCRBYFLOAT: the whole
/// text, no spaces, no NaN (infinities parse, and then fail as a result).
pub fn parse_redis_float(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    let value: f64 = text.parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// The largest value APPEND may build (Redis's `proto-max-bulk-len`): a
/// constant of the state machine, so every replica refuses the same append.
pub const MAX_VALUE_BYTES: usize = 512 << 20;
