//! The golden logs: fixed logs (kept in `tests/golden/`) replayed into a
//! fresh store, whose replies and final state must equal the recorded ones,
//! so a change to what a logged entry means fails here.
//!
//! - `v1.log`: version-1 entries (written by the last binary that wrote
//!   them, commit 14a3f5e), one of every command that version logged;
//! - `v2.log`: version-2 entries (the last written at commit 455452d), one
//!   or more of every write command that version had;
//! - `v3.log`: entries of this version, one or more of every write command
//!   of the registry (a test says so), transactions, scripts, ticks and
//!   member advertisements. A new command appends its entries: recording
//!   refuses a log that is not the old one plus new entries. A new state
//!   machine version freezes this log as the older ones are and starts
//!   its own.
//!
//! Each entry is applied at its own version, as the applier applies it.
//! `GOLDEN_WRITE=1` records the current results (and the v3 log) instead;
//! review the diff before committing it.

use raft_kv_state::entry::{Call, MemberAdvert, Queued, ScriptCall, Transaction};
use raft_kv_state::script::{Abort, Gate, run_script, sha1_hex};
use raft_kv_state::{Entry, KvStore, Limits, Op, ProposalId, Reply, registry::registry};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn writing() -> bool {
    std::env::var_os("GOLDEN_WRITE").is_some()
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

/// A gate that lets every script run to its end.
struct Open;

impl Gate for Open {
    fn tick(&mut self) -> Result<(), Abort> {
        Ok(())
    }
    fn before_write(&mut self) -> Result<(), Abort> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Abort> {
        Ok(())
    }
    fn aborted(&self) -> Option<Abort> {
        None
    }
}

/// Replays `log` as the applier does; the replies (one line each) and the
/// final state's canonical text.
fn replay(log: &[u8]) -> (String, String) {
    let mut store = KvStore::new();
    let mut replies = String::new();
    for (i, data) in entries(log).into_iter().enumerate() {
        let index = i as u64 + 1;
        let e = Entry::decode(data).expect("every golden entry decodes");
        store.advance_clock(e.at_ms);
        store.set_entry_version(e.version);
        let reply = match &e.op {
            Op::Script(call) => run_script(
                &mut store,
                call,
                &sha1_hex(&call.body),
                Rc::new(RefCell::new(Open)),
            )
            .expect("an open gate stops no script"),
            op => store.apply_op(op),
        };
        store.set_applied_index(index);
        let mut wire = Vec::new();
        reply.encode_into(&mut wire);
        replies.push_str(&format!("{index} {}\n", wire.escape_ascii()));
    }
    (replies, store.canonical_text())
}

fn check(name: &str, actual: &str) {
    let path = golden(name);
    if writing() {
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

/// Replays the frozen log `name` (every entry of `version`) and checks
/// its replies and final state against the recorded ones.
fn replays_as_recorded(name: &str, version: u32) {
    let log = std::fs::read(golden(&format!("{name}.log"))).expect("the log is in the repo");
    for data in entries(&log) {
        assert_eq!(Entry::decode(data).map(|e| e.version), Ok(version));
    }
    let (replies, state) = replay(&log);
    check(&format!("{name}.replies"), &replies);
    check(&format!("{name}.state"), &state);
}

#[test]
fn the_version_1_log_replays_to_the_recorded_replies_and_state() {
    replays_as_recorded("v1", 1);
}

#[test]
fn the_version_2_log_replays_to_the_recorded_replies_and_state() {
    replays_as_recorded("v2", 2);
}

fn words(ws: &[&str]) -> Vec<Vec<u8>> {
    ws.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// The calls of the version-3 log, in order (append new ones at the end).
const CALLS: &[&[&str]] = &[
    &["SET", "gone", "before the flush"],
    &["FLUSHALL"],
    &["SET", "gone too", "before the next flush"],
    &["FLUSHDB", "ASYNC"],
    &["SET", "s1", "hello"],
    &["SET", "n1", "+5"],
    &["INCR", "n1"],
    &["SET", "n2", "10"],
    &["DECRBY", "n2", "4"],
    &["INCRBY", "n2", "-3"],
    &["DECR", "n2"],
    &["INCR", "s1"],
    &["INCRBY", "n2", "9223372036854775807"],
    &["DEL", "nokey", "n1"],
    &["UNLINK", "nokey"],
    &["MSET", "m1", "a", "m2", "b"],
    &["CAS", "m1", "a", "z"],
    &["CAS", "m1", "a", "y"],
    &["SETNX", "m1", "q"],
    &["SETNX", "nx1", "q"],
    &["GETSET", "nx1", "r"],
    &["GETDEL", "nx1"],
    &["APPEND", "s1", " world"],
    &["MSETNX", "m1", "x", "m3", "y"],
    &["MSETNX", "m4", "x", "m5", "y"],
    &["RENAME", "m4", "m6"],
    &["RENAMENX", "m5", "m6"],
    &["RENAME", "absent", "m7"],
    &["SET", "sw", "1", "NX"],
    &["SET", "sw", "2", "NX", "GET"],
    &["SET", "sw", "3", "XX", "GET"],
    &["SET", "sw2", "3", "XX"],
    &["SETRANGE", "sr", "5", "xyz"],
    &["SETRANGE", "s1", "0", "J"],
    &["INCRBYFLOAT", "f", "10.5"],
    &["INCRBYFLOAT", "f", "0.1"],
    &["INCRBYFLOAT", "f", "abc"],
    &["SETBIT", "bits", "7", "1"],
    &["SETBIT", "bits", "100", "1"],
    &["SETBIT", "bits", "7", "0"],
    &["SET", "ex1", "v", "EX", "100"],
    &["SET", "ex2", "v", "PX", "100000", "NX", "GET"],
    &["SET", "ex3", "v", "EXAT", "1700000100", "XX"],
    &["SET", "s1", "v", "KEEPTTL"],
    &["SET", "bad", "v", "EX", "0"],
    &["SET", "bad", "v", "EX", "10", "PX", "10"],
    &["SETEX", "se", "50", "v"],
    &["PSETEX", "pse", "50000", "v"],
    &["EXPIRE", "m1", "1000"],
    &["EXPIRE", "m1", "10", "GT"],
    &["EXPIRE", "m1", "10", "LT"],
    &["PEXPIRE", "m3", "500000", "NX"],
    &["EXPIREAT", "m6", "1800000000"],
    &["PEXPIREAT", "m6", "1800000000000", "XX"],
    &["PERSIST", "m6"],
    &["GETEX", "se", "PERSIST"],
    &["GETEX", "pse", "EX", "99"],
    &["HSET", "h", "a", "1", "b", "2", "c", "3"],
    &["HMSET", "h", "d", "4"],
    &["HSETNX", "h", "a", "9"],
    &["HSETNX", "h", "e", "5"],
    &["HDEL", "h", "b", "zz"],
    &["HINCRBY", "h", "a", "41"],
    &["HINCRBY", "h", "d", "x"],
    &["HINCRBYFLOAT", "h", "c", "0.25"],
    &["HSET", "s1", "a", "1"],
    &["RPUSH", "l", "a", "b", "c", "d", "e"],
    &["LPUSH", "l", "z"],
    &["LPUSHX", "nolist", "a"],
    &["RPUSHX", "l", "f"],
    &["LINSERT", "l", "BEFORE", "c", "bc"],
    &["LSET", "l", "0", "Z"],
    &["LREM", "l", "1", "a"],
    &["LTRIM", "l", "0", "5"],
    &["LPOP", "l"],
    &["RPOP", "l", "2"],
    &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
    &["RPOPLPUSH", "l", "l2"],
    &["LMPOP", "2", "nolist", "l", "LEFT", "COUNT", "1"],
    &["BLPOP", "l2", "0"],
    &["BRPOP", "nolist", "l2", "1"],
    &["BLMOVE", "l", "l3", "RIGHT", "LEFT", "0"],
    &["BRPOPLPUSH", "l3", "l4", "0"],
    &["BLMPOP", "0", "1", "l4", "RIGHT"],
    &["SADD", "st", "a", "b", "c", "d", "e", "f"],
    &["SADD", "st2", "c", "d", "x"],
    &["SREM", "st", "f", "q"],
    &["SPOP", "st"],
    &["SPOP", "st", "2"],
    &["SMOVE", "st2", "st", "x"],
    &["SINTERSTORE", "st3", "st", "st2"],
    &["SUNIONSTORE", "st4", "st", "st2"],
    &["SDIFFSTORE", "st5", "st", "st2"],
    &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
    &["ZADD", "z", "NX", "CH", "INCR", "5", "a"],
    &["ZADD", "z", "XX", "GT", "CH", "10", "b", "0", "c"],
    &["ZADD", "z2", "1.5", "a", "-inf", "q", "inf", "r"],
    &["ZINCRBY", "z", "0.5", "d"],
    &["ZREM", "z", "nope", "a"],
    &["ZPOPMIN", "z"],
    &["ZPOPMAX", "z", "1"],
    &[
        "ZADD", "z", "1", "m", "1", "n", "1", "o", "1", "p", "7", "x",
    ],
    &["ZREMRANGEBYLEX", "z", "[m", "(o"],
    &["ZREMRANGEBYRANK", "z", "0", "0"],
    &["ZREMRANGEBYSCORE", "z", "(1", "7"],
    &[
        "ZUNIONSTORE",
        "zu",
        "2",
        "z",
        "z2",
        "WEIGHTS",
        "2",
        "3",
        "AGGREGATE",
        "MAX",
    ],
    &["ZINTERSTORE", "zi", "2", "z", "z2"],
    &["ZDIFFSTORE", "zd", "2", "z2", "z"],
    &["ZRANGESTORE", "zr", "z2", "0", "-1"],
    &["ZMPOP", "1", "zr", "MAX", "COUNT", "2"],
    &["BZPOPMIN", "zu", "0"],
    &["BZPOPMAX", "zu", "0"],
    &["BZMPOP", "0", "1", "zi", "MIN"],
    &["COPY", "h", "hcopy"],
    &["COPY", "h", "hcopy", "REPLACE"],
    &["SORT", "st", "ALPHA", "STORE", "sorted"],
    &["RESTORE", "restored", "0", "not a payload"],
    &["LPUSH", "h", "x"],
    &["NOSUCHCOMMAND", "x"],
    &["HSET", "h"],
    &["PUBLISH", "news", "published through the log"],
    &["SPUBLISH", "shard-news", "in a shard channel"],
];

/// The version-3 log: every call of [`CALLS`] (with seeds), then a
/// transaction, a watched one, a script, a member's advertisement and a
/// tick that expires the short TTLs (the log is replayed from a fresh
/// store, so these come after the calls, whatever is appended to them).
fn current_entries() -> Vec<Entry> {
    let t0: u64 = 1_700_000_000_000;
    let mut ops: Vec<Op> = CALLS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Op::Call(Call {
                argv: words(c),
                seed: 0x5eed ^ i as u64,
            })
        })
        .collect();
    let queued = |ws: &[&str]| {
        Queued::Call(Call {
            argv: words(ws),
            seed: 3,
        })
    };
    ops.push(Op::Transaction(Transaction {
        watched: Vec::new(),
        queued: vec![
            queued(&["SET", "tx", "1"]),
            queued(&["GET", "tx"]),
            queued(&["INCR", "tx"]),
            queued(&["MGET", "tx", "m2"]),
            queued(&["SRANDMEMBER", "st4", "2"]),
            queued(&["HSET", "txh", "f", "v"]),
            queued(&["PUBLISH", "news", "from a transaction"]),
            Queued::Fixed(Reply::Simple("PONG".into())),
        ],
    }));
    ops.push(Op::Transaction(Transaction {
        watched: vec![(serde_bytes::ByteBuf::from(b"tx".to_vec()), Some(1))],
        queued: vec![queued(&["SET", "tx", "never"])],
    }));
    ops.push(Op::Script(Box::new(ScriptCall {
        body: b"redis.call('SET', KEYS[1], ARGV[1]) \
                local m = redis.call('SRANDMEMBER', 'st4') \
                redis.call('SADD', 'picked', m) \
                local t = redis.call('TIME') \
                redis.call('SET', 'script-time', t[1]) \
                redis.call('SET', 'receivers', redis.call('PUBLISH', 'news', 'from a script')) \
                return {redis.call('SPOP', 'st4'), math.random(1000)}"
            .to_vec(),
        keys: words(&["script-key"]),
        args: words(&["script-value"]),
        seed: 42,
        read_only: false,
        limits: Limits::default(),
    })));
    ops.push(Op::Member(MemberAdvert {
        id: 1,
        client_addr: "127.0.0.1:6001".into(),
        state_machine_version: Some(3),
    }));
    ops.push(Op::Tick);
    ops.push(Op::Call(Call {
        argv: words(&["SET", "after", "the tick"]),
        seed: 0,
    }));
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| {
            // The tick moves the clock past the short expiries.
            let at = t0 + 1000 * i as u64 + if op == Op::Tick { 400_000 } else { 0 };
            let id = ProposalId {
                node: 1,
                nonce: 7,
                seq: i as u64,
            };
            Entry::new(id, at, op)
        })
        .collect()
}

fn encode_log(entries: &[Entry]) -> Vec<u8> {
    let mut log = Vec::new();
    for e in entries {
        let bytes = e.encode();
        log.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        log.extend_from_slice(&bytes);
    }
    log
}

#[test]
fn the_version_3_log_replays_to_the_recorded_replies_and_state() {
    let path = golden("v3.log");
    if writing() {
        let new = encode_log(&current_entries());
        if let Ok(old) = std::fs::read(&path) {
            // The recorded calls (the entries before the first transaction)
            // must keep their bytes: new calls are appended after them.
            let recorded = entries(&old)
                .iter()
                .take_while(|d| matches!(Entry::decode(d).map(|e| e.op), Ok(Op::Call(_))))
                .count();
            let kept = entries(&old)
                .iter()
                .zip(entries(&new))
                .take_while(|(a, b)| **a == *b)
                .count();
            assert!(
                kept >= recorded || std::env::var_os("GOLDEN_REWRITE").is_some(),
                "the calls already recorded changed their bytes: append instead \
                 (GOLDEN_REWRITE=1 forces it, for a new state machine version)"
            );
        }
        std::fs::write(&path, new).expect("write v3.log");
    }
    replays_as_recorded("v3", 3);
}

#[test]
fn the_version_3_log_holds_every_write_command() {
    let log = std::fs::read(golden("v3.log")).expect("v3.log is in the repo");
    let mut logged = std::collections::HashSet::new();
    for data in entries(&log) {
        let e = Entry::decode(data).expect("decodes");
        let mut note = |argv: &[Vec<u8>]| {
            if let Ok(c) = registry().lookup(argv) {
                logged.insert(c.name().to_string());
            }
        };
        match &e.op {
            Op::Call(c) => note(&c.argv),
            Op::Transaction(tx) => tx.queued.iter().for_each(|q| {
                if let Queued::Call(c) = q {
                    note(&c.argv)
                }
            }),
            _ => {}
        }
    }
    let missing: Vec<&str> = registry()
        .commands()
        .filter(|c| c.is_write() && !logged.contains(c.name()))
        .map(|c| c.name())
        .collect();
    assert!(
        missing.is_empty(),
        "add these write commands to CALLS and record the log: {missing:?}"
    );
}
