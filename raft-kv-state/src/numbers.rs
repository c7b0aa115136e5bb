//! Numbers as Redis reads them, and the state machine's size constants:
//! the one home of number parsing for the store, its commands and scripts.

/// Parses `bytes` as Redis's `string2ll` does: `0`, or an optional `-` and
/// digits starting with 1-9, fitting in i64; no sign `+`, no spaces, no
/// leading zeros, at most 20 characters.
pub fn parse_redis_int(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = bytes == b"0" || matches!(digits.first(), Some(b'1'..=b'9'));
    if !canonical || bytes.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse::<i64>().ok()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (text, n) in [("0", Some(0)), ("-12", Some(-12)), ("42", Some(42))] {
            assert_eq!(parse_redis_int(text.as_bytes()), n, "{text}");
        }
        for text in [
            "+5",
            "007",
            " 1",
            "1 ",
            "",
            "-",
            "-0",
            "99999999999999999999",
        ] {
            assert_eq!(parse_redis_int(text.as_bytes()), None, "{text}");
        }
        assert_eq!(
            parse_redis_int(b"-9223372036854775808"),
            Some(i64::MIN),
            "the smallest i64"
        );
    }

    #[test]
    fn floats_take_infinities_but_never_nan() {
        assert_eq!(parse_redis_float(b"1.5"), Some(1.5));
        assert_eq!(parse_redis_float(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_redis_float(b"nan"), None);
        assert_eq!(parse_redis_float(b" 1"), None);
    }
}
