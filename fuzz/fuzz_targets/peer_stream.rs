//! What a stranger may send to the peer port: the handshake and the frames
//! after it, for a member node and for a joining one. Never panics; only
//! messages addressed to this node are delivered (asserted inside).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    raft_net::fuzz_peer_stream(rest, mode & 1 == 1);
    let mut reader = rest;
    let mut buf = Vec::new();
    while let Ok(Some(_)) = raft_net::frame::read_frame(&mut reader, 1 << 20, &mut buf) {}
});
