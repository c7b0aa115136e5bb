//! An incremental RESP2 request parser: multibulk (`*N` then `$len` bulks) and
//! inline commands (a line of space-separated words), with limits on everything.

/// Limits applied while parsing.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// Largest whole request (all arguments), in bytes.
    pub max_request: usize,
    /// Most arguments in one request.
    pub max_args: usize,
    /// Longest inline command line.
    pub max_inline: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_request: 16 << 20,
            max_args: 1 << 20,
            max_inline: 64 << 10,
        }
    }
}

/// A parsed request's arguments and the bytes it used; `None` if incomplete.
pub type ParseResult = Result<Option<(Vec<Vec<u8>>, usize)>, ParseError>;

/// A request the parser cannot accept. After `Protocol` the stream cannot be
/// resynchronized and the connection must be closed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed framing.
    #[error("Protocol error: {0}")]
    Protocol(String),
    /// The request is larger than allowed (Redis's words for a bulk over
    /// its limit).
    #[error("Protocol error: invalid bulk length (a request of {0} bytes exceeds the limit)")]
    TooLarge(usize),
    /// An inline line longer than allowed (Redis's words).
    #[error("Protocol error: too big inline request ({0} bytes)")]
    InlineTooLarge(usize),
}

/// Appends the request `args` (the command's name first) to `out` as a RESP
/// multibulk: what every client of this store sends.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one request from the front of `buf`. `Ok(None)`: incomplete, read more.
/// `Ok(Some((args, consumed)))`: a whole request. An empty `args` is an empty
/// inline line (to be ignored).
pub fn parse_request(buf: &[u8], limits: &ParseLimits) -> ParseResult {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits)
    } else {
        parse_inline(buf, limits)
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

fn parse_int(bytes: &[u8], what: &str) -> Result<i64, ParseError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| ParseError::Protocol(format!("invalid {what}")))
}

fn parse_multibulk(buf: &[u8], limits: &ParseLimits) -> ParseResult {
    let Some(eol) = find_crlf(buf, 1) else {
        if buf.len() > 32 {
            return Err(ParseError::Protocol("invalid multibulk length".into()));
        }
        return Ok(None);
    };
    let count = parse_int(&buf[1..eol], "multibulk length")?;
    if count <= 0 {
        return Ok(Some((Vec::new(), eol + 2)));
    }
    if count as usize > limits.max_args {
        return Err(ParseError::Protocol("invalid multibulk length".into()));
    }
    let mut pos = eol + 2;
    let mut args = Vec::with_capacity((count as usize).min(1024));
    let mut total = 0usize;
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ParseError::Protocol(format!(
                "expected '$', got '{}'",
                buf[pos] as char
            )));
        }
        let Some(eol) = find_crlf(buf, pos + 1) else {
            if buf.len() - pos > 32 {
                return Err(ParseError::Protocol("invalid bulk length".into()));
            }
            return Ok(None);
        };
        let len = parse_int(&buf[pos + 1..eol], "bulk length")?;
        if len < 0 {
            return Err(ParseError::Protocol("invalid bulk length".into()));
        }
        let len = len as usize;
        total = total.saturating_add(len);
        if total > limits.max_request {
            return Err(ParseError::TooLarge(total));
        }
        let start = eol + 2;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        if &buf[start + len..start + len + 2] != b"\r\n" {
            return Err(ParseError::Protocol(
                "bulk data not followed by CRLF".into(),
            ));
        }
        args.push(buf[start..start + len].to_vec());
        pos = start + len + 2;
    }
    Ok(Some((args, pos)))
}

fn parse_inline(buf: &[u8], limits: &ParseLimits) -> ParseResult {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline {
            return Err(ParseError::InlineTooLarge(buf.len()));
        }
        return Ok(None);
    };
    if nl > limits.max_inline {
        return Err(ParseError::InlineTooLarge(nl));
    }
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = split_inline(line)?;
    Ok(Some((args, nl + 1)))
}

/// Splits an inline line into words as Redis's `sdssplitargs` does: double
/// quotes group words, with `\"`, `\\`, `\n`, `\r`, `\t` and `\xHH` escapes
/// inside them; single quotes group words with only `\'` escaped; a closing
/// quote must end the word.
fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ParseError> {
    let unbalanced = || ParseError::Protocol("unbalanced quotes in request".into());
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut word = Vec::new();
        if line[i] == b'"' {
            i += 1;
            loop {
                let Some(&c) = line.get(i) else {
                    return Err(unbalanced());
                };
                i += 1;
                match c {
                    b'"' => break,
                    b'\\' => {
                        let Some(&e) = line.get(i) else {
                            return Err(unbalanced());
                        };
                        i += 1;
                        match e {
                            b'n' => word.push(b'\n'),
                            b'r' => word.push(b'\r'),
                            b't' => word.push(b'\t'),
                            b'x' if i + 2 <= line.len() => {
                                let hex = std::str::from_utf8(&line[i..i + 2]).ok();
                                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                                    Some(b) => {
                                        word.push(b);
                                        i += 2;
                                    }
                                    None => word.push(b'x'),
                                }
                            }
                            other => word.push(other),
                        }
                    }
                    other => word.push(other),
                }
            }
            if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                return Err(unbalanced());
            }
        } else if line[i] == b'\'' {
            i += 1;
            loop {
                match (line.get(i), line.get(i + 1)) {
                    (None, _) => return Err(unbalanced()),
                    (Some(b'\\'), Some(b'\'')) => {
                        word.push(b'\'');
                        i += 2;
                    }
                    (Some(b'\''), _) => {
                        i += 1;
                        break;
                    }
                    (Some(&c), _) => {
                        word.push(c);
                        i += 1;
                    }
                }
            }
            if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                return Err(unbalanced());
            }
        } else {
            while i < line.len() && !line[i].is_ascii_whitespace() {
                word.push(line[i]);
                i += 1;
            }
        }
        args.push(word);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> ParseResult {
        parse_request(buf, &ParseLimits::default())
    }

    fn words(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_parses_at_every_split_point() {
        let req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nal\r\n";
        for cut in 0..req.len() {
            assert_eq!(
                parse(&req[..cut]).expect("no error on a prefix"),
                None,
                "cut {cut}"
            );
        }
        let (args, used) = parse(req).expect("ok").expect("complete");
        assert_eq!(
            args,
            vec![b"SET".to_vec(), b"k".to_vec(), b"v\r\nal".to_vec()],
            "binary safe"
        );
        assert_eq!(used, req.len());
    }

    #[test]
    fn pipelined_requests_parse_one_after_another() {
        let buf = b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
        let mut pos = 0;
        let mut got = Vec::new();
        while let Some((args, used)) = parse(&buf[pos..]).expect("ok") {
            got.push(args);
            pos += used;
        }
        assert_eq!(
            got,
            vec![words(&["PING"]), words(&["PING"]), words(&["GET", "a"])]
        );
        assert_eq!(pos, buf.len());
    }

    #[test]
    fn inline_commands_split_on_spaces_and_quotes() {
        let (args, _) = parse(b"SET \"a b\" \"x\\n\\x41\"\r\n")
            .expect("ok")
            .expect("complete");
        assert_eq!(
            args,
            vec![b"SET".to_vec(), b"a b".to_vec(), b"x\nA".to_vec()]
        );
        assert_eq!(
            parse(b"\r\n").expect("ok").expect("complete").0,
            Vec::<Vec<u8>>::new()
        );
        let (args, _) = parse(b"SET 'it\\'s' '\\n'\r\n")
            .expect("ok")
            .expect("complete");
        assert_eq!(
            args,
            vec![b"SET".to_vec(), b"it's".to_vec(), b"\\n".to_vec()]
        );
    }

    #[test]
    fn malformed_requests_are_protocol_errors() {
        for bad in [
            &b"*x\r\n"[..],
            b"*1\r\n:3\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$1\r\nab\r\n",
            b"\"unclosed\r\n",
            b"set \"\"\"k\"\"\" v\r\n",
            b"'unclosed\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(ParseError::Protocol(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn oversized_requests_are_refused_before_buffering_them() {
        let limits = ParseLimits {
            max_request: 100,
            ..ParseLimits::default()
        };
        assert_eq!(
            parse_request(b"*1\r\n$1000\r\n", &limits),
            Err(ParseError::TooLarge(1000))
        );
        let long = vec![b'a'; 70_000];
        assert!(matches!(parse(&long), Err(ParseError::InlineTooLarge(_))));
    }
}
