//! The RESP request parser on arbitrary client bytes: never panics, always
//! makes progress, never claims more bytes than it was given, and parses the
//! same requests whether the bytes arrive at once or split anywhere.
#![no_main]
use libfuzzer_sys::fuzz_target;
use raft_kv_server::resp::{ParseLimits, parse_request};

fn parse_all(buf: &[u8], limits: &ParseLimits) -> (Vec<Vec<Vec<u8>>>, usize, bool) {
    let (mut out, mut pos) = (Vec::new(), 0);
    loop {
        match parse_request(&buf[pos..], limits) {
            Ok(Some((args, used))) => {
                assert!(used > 0 && pos + used <= buf.len(), "progress within the input");
                pos += used;
                out.push(args);
            }
            Ok(None) => return (out, pos, false),
            Err(_) => return (out, pos, true),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits { max_request: 4096, max_args: 64, max_inline: 512 };
    let (whole, used, failed) = parse_all(data, &limits);
    if !failed && data.len() > 1 {
        // The same bytes in two reads: every request complete in the first part
        // comes out the same.
        let cut = data.len() / 2;
        let (first, used_first, _) = parse_all(&data[..cut], &limits);
        assert!(used_first <= used);
        assert_eq!(&whole[..first.len()], &first[..]);
    }
});
