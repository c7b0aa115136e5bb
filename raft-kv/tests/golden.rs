//! The golden logs: fixed logs (kept in `tests/golden/`) replayed into a
//! fresh store, whose replies and final state must equal the recorded ones.
//! A change to what a logged command means fails here. `GOLDEN_WRITE=1`
//! records the current results instead (review the diff before committing).

use raft_kv::command::Proposal;
use raft_kv::store::KvStore;
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// The entries of a golden log: each a little-endian u32 length, then the bytes.
fn entries(log: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = log;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        out.push(&tail[..len]);
        rest = &tail[len..];
    }
    out
}

/// Replays `log` as the applier does; the replies (one line each) and the
/// final state's canonical text.
fn replay(log: &[u8]) -> (String, String) {
    let mut store = KvStore::new();
    let mut replies = String::new();
    for (i, data) in entries(log).into_iter().enumerate() {
        let index = i as u64 + 1;
        let p = Proposal::decode(data).expect("every golden entry decodes");
        store.advance_clock(p.at_ms);
        let reply = store.apply(&p.command);
        store.set_applied_index(index);
        let mut wire = Vec::new();
        reply.encode_into(&mut wire);
        replies.push_str(&format!("{index} {}\n", wire.escape_ascii()));
    }
    (replies, store.canonical_text())
}

fn check(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("GOLDEN_WRITE").is_some() {
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("the golden file is in the repo");
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from the recording at line {}:\n  recorded: {}\n  now:      {}",
            first + 1,
            expected.lines().nth(first).unwrap_or(""),
            actual.lines().nth(first).unwrap_or("")
        );
    }
}

#[test]
fn the_version_1_log_replays_to_the_recorded_replies_and_state() {
    let log = std::fs::read(golden("v1.log")).expect("v1.log is in the repo");
    let (replies, state) = replay(&log);
    check("v1.replies", &replies);
    check("v1.state", &state);
}
