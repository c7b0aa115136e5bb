//! Replies in the shape of RESP2, and their encoding in RESP2 or RESP3.

use serde::{Deserialize, Serialize};

/// A reply in the shape of RESP2 (serializable: a transaction's entry
/// carries the replies known when its commands were queued).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// `+text`
    Simple(String),
    /// `-CODE text`
    Error(crate::errors::ReplyError),
    /// `:n`
    Int(i64),
    /// `$len bytes` or the nil bulk.
    Bulk(#[serde(with = "serde_bytes")] Option<Vec<u8>>),
    /// `*n ...`
    Array(Vec<Reply>),
    /// A map: `%n k v ...` in RESP3, a flat array of keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// The nil array: `*-1` in RESP2, `_` in RESP3 (a watched `EXEC` that did
    /// not run, a pop with a count from a missing key).
    NullArray,
    /// A set: `~n ...` in RESP3, an array in RESP2.
    Set(Vec<Reply>),
    /// Pairs: an array of two-element arrays in RESP3, one flat array in
    /// RESP2 (HRANDFIELD WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// A double (a sorted set's score): `,1.5` in RESP3, a bulk string in
    /// RESP2, written as [`format_double`] does.
    Double(f64),
}

/// A double as Redis 7.0 writes one: `inf`, `-inf`, else C's `%.17g`
/// (17 significant digits, trailing zeros dropped, an exponent beyond the
/// fixed-point range: `0.10000000000000001`, `1.7976931348623157e+308`).
pub fn format_double(value: f64) -> String {
    match value {
        f64::INFINITY => "inf".into(),
        f64::NEG_INFINITY => "-inf".into(),
        v if v.is_nan() => "nan".into(),
        v if v == 0.0 && v.is_sign_negative() => "-0".into(),
        0.0 => "0".into(),
        v => g17(v),
    }
}

/// `%.17g` of a finite, non-zero `v`.
fn g17(v: f64) -> String {
    const PRECISION: i32 = 17;
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            trim_fraction(mantissa),
            exp.unsigned_abs()
        )
    } else {
        let decimals = (PRECISION - 1 - exp) as usize;
        trim_fraction(&format!("{v:.decimals$}")).to_string()
    }
}

/// Drops the trailing zeros of a fraction, and its point if nothing is left.
fn trim_fraction(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

/// The protocol a connection speaks (`HELLO 2` or `HELLO 3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3: typed nulls and maps.
    Resp3,
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the RESP2 encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.encode(Protocol::Resp2, out);
    }

    /// Appends the encoding in `protocol` to `out`.
    pub fn encode(&self, protocol: Protocol, out: &mut Vec<u8>) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Reply::Pairs(pairs) if resp3 => {
                let nested = pairs
                    .iter()
                    .map(|(a, b)| Reply::Array(vec![a.clone(), b.clone()]));
                return Reply::Array(nested.collect()).encode(protocol, out);
            }
            Reply::Pairs(pairs) => {
                let flat = pairs.iter().flat_map(|(a, b)| [a.clone(), b.clone()]);
                return Reply::Array(flat.collect()).encode(protocol, out);
            }
            Reply::Double(v) if resp3 => {
                out.push(b',');
                out.extend_from_slice(format_double(*v).as_bytes());
            }
            Reply::Double(v) => {
                return Reply::Bulk(Some(format_double(*v).into_bytes())).encode(protocol, out);
            }
            Reply::Bulk(None) | Reply::NullArray if resp3 => out.extend_from_slice(b"_"),
            Reply::NullArray => out.extend_from_slice(b"*-1"),
            Reply::Map(pairs) => {
                // RESP3 has maps; RESP2 sends the keys and values as one array.
                let (tag, len) = if resp3 {
                    (b'%', pairs.len())
                } else {
                    (b'*', 2 * pairs.len())
                };
                out.push(tag);
                out.extend_from_slice(len.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for (k, v) in pairs {
                    k.encode(protocol, out);
                    v.encode(protocol, out);
                }
                return;
            }
            Reply::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
            }
            Reply::Error(e) => {
                out.push(b'-');
                // An error line must not contain CR or LF.
                out.extend(
                    e.line()
                        .bytes()
                        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
                );
            }
            Reply::Int(n) => {
                out.push(b':');
                out.extend_from_slice(n.to_string().as_bytes());
            }
            Reply::Bulk(None) => out.extend_from_slice(b"$-1"),
            Reply::Bulk(Some(b)) => {
                out.push(b'$');
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(b);
            }
            Reply::Array(items) | Reply::Set(items) => {
                let set = matches!(self, Reply::Set(_));
                out.push(if set && resp3 { b'~' } else { b'*' });
                out.extend_from_slice(items.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for item in items {
                    item.encode(protocol, out);
                }
                return;
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl From<crate::errors::CommandError> for Reply {
    fn from(e: crate::errors::CommandError) -> Reply {
        Reply::Error(e.into())
    }
}

impl From<crate::errors::ReplyError> for Reply {
    fn from(e: crate::errors::ReplyError) -> Reply {
        Reply::Error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_written_as_c_writes_them_with_17_significant_digits() {
        let cases = [
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (-2.0, "-2"),
            (100.0, "100"),
            (0.057_057_252_645_984_87, "0.057057252645984873"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1e-5, "1.0000000000000001e-05"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, text) in cases {
            assert_eq!(format_double(v), text, "{v:e}");
        }
    }

    #[test]
    fn maps_and_nulls_follow_the_protocol() {
        let m = Reply::Map(vec![(Reply::Int(1), Reply::Bulk(None))]);
        let (mut two, mut three) = (Vec::new(), Vec::new());
        m.encode(Protocol::Resp2, &mut two);
        m.encode(Protocol::Resp3, &mut three);
        assert_eq!(two, b"*2\r\n:1\r\n$-1\r\n");
        assert_eq!(three, b"%1\r\n:1\r\n_\r\n");
    }

    #[test]
    fn sets_and_null_arrays_follow_the_protocol() {
        let pair = Reply::Pairs(vec![(Reply::Int(1), Reply::Int(2))]);
        let cases: [(Reply, &[u8], &[u8]); 3] = [
            (pair, b"*2\r\n:1\r\n:2\r\n", b"*1\r\n*2\r\n:1\r\n:2\r\n"),
            (
                Reply::Set(vec![Reply::Int(7)]),
                b"*1\r\n:7\r\n",
                b"~1\r\n:7\r\n",
            ),
            (Reply::NullArray, b"*-1\r\n", b"_\r\n"),
        ];
        for (reply, resp2, resp3) in cases {
            let (mut two, mut three) = (Vec::new(), Vec::new());
            reply.encode(Protocol::Resp2, &mut two);
            reply.encode(Protocol::Resp3, &mut three);
            assert_eq!((&two[..], &three[..]), (resp2, resp3), "{reply:?}");
        }
    }
}
