//! Never-panic and round-trip properties of the port's decoders (the same
//! decoders `fuzz/` fuzzes, here in the normal suite): RESP requests and the
//! RESP replies the client reads.

use proptest::prelude::*;
use raft_kv_server::resp::{ParseLimits, encode_request, parse_request};

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(args, &mut out);
    out
}

fn args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn any_bytes_parse_without_panic_and_within_the_input(buf in prop::collection::vec(any::<u8>(), 0..300)) {
        let limits = ParseLimits { max_request: 256, max_args: 16, max_inline: 64 };
        let mut pos = 0;
        while let Ok(Some((_, used))) = parse_request(&buf[pos..], &limits) {
            prop_assert!(used > 0 && pos + used <= buf.len());
            pos += used;
        }
    }

    #[test]
    fn pipelined_requests_parse_back_whole_at_any_split(reqs in prop::collection::vec(args(), 1..5), cut in any::<prop::sample::Index>()) {
        let wire: Vec<u8> = reqs.iter().flat_map(|r| multibulk(r)).collect();
        let limits = ParseLimits::default();
        let cut = cut.index(wire.len() + 1);
        // Bytes arrive in two reads, split at `cut`, as a connection sees them.
        let mut buf = wire[..cut].to_vec();
        let mut parsed = Vec::new();
        for more in [&wire[cut..], &[][..]] {
            while let Some((args, used)) = parse_request(&buf, &limits).expect("valid RESP") {
                parsed.push(args);
                buf.drain(..used);
            }
            buf.extend_from_slice(more);
        }
        prop_assert_eq!(parsed, reqs);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn any_reply_bytes_read_without_panic(buf in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut r = std::io::BufReader::new(&buf[..]);
        let _ = raft_kv_server::client::read_reply(&mut r);
    }
}
