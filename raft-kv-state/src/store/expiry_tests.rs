//! Unit tests of expiry: replicas applying the same log agree whatever their
//! own clocks say, a snapshot keeps the clock and the expiry times, reads
//! never return a key past its expiry by the reader's clock, and WATCH sees
//! every change.

use super::*;
use crate::entry::{Call, Op, Queued, Transaction};
use crate::reply::Reply;
use proptest::prelude::*;

fn words(ws: &[&str]) -> Op {
    Op::Call(Call {
        argv: super::test_support::words(ws),
        seed: 1,
    })
}

/// Applies `op` as the next entry, proposed at `at_ms`.
fn apply_at(s: &mut KvStore, op: &Op, at_ms: u64) -> Reply {
    s.advance_clock(at_ms);
    let reply = s.apply_op(op);
    s.set_applied_index(s.applied_index() + 1);
    reply
}

fn get_at(s: &KvStore, key: &str, now_ms: u64) -> Reply {
    s.read_at(&super::test_support::words(&["GET", key]), now_ms)
}

#[test]
fn the_log_decides_when_a_key_expires_not_the_applying_node() {
    let mut s = KvStore::new();
    apply_at(&mut s, &words(&["SET", "k", "v", "PX", "100"]), 1_000);
    assert_eq!(s.slot(b"k").map(|x| x.expires_at_ms), Some(1_100));
    // A reader whose clock passed the expiry does not see the key ...
    assert_eq!(get_at(&s, "k", 1_100), Reply::Bulk(None));
    assert_eq!(get_at(&s, "k", 1_099), Reply::Bulk(Some(b"v".to_vec())));
    // ... but the state keeps it until an entry moves the clock past it.
    assert_eq!(s.len(), 1);
    apply_at(&mut s, &Op::Tick, 1_100);
    assert_eq!(s.len(), 0);
    assert_eq!(s.next_expiry_ms(), None);
}

#[test]
fn an_expiry_change_moves_the_index_with_it() {
    let mut s = KvStore::new();
    apply_at(&mut s, &words(&["SET", "k", "v", "PX", "100"]), 1_000);
    apply_at(&mut s, &words(&["PEXPIRE", "k", "5000"]), 1_010);
    assert_eq!(s.next_expiry_ms(), Some(6_010));
    apply_at(&mut s, &Op::Tick, 2_000);
    assert_eq!(s.len(), 1, "the old expiry time is forgotten");
    // SET without KEEPTTL clears the expiry; RENAME moves it.
    apply_at(&mut s, &words(&["SET", "k", "w", "KEEPTTL"]), 2_001);
    assert_eq!(s.next_expiry_ms(), Some(6_010));
    let rename = words(&["RENAME", "k", "j"]);
    apply_at(&mut s, &rename, 2_002);
    assert_eq!(s.slot(b"j").map(|x| x.expires_at_ms), Some(6_010));
    let set = words(&["SET", "j", "x"]);
    apply_at(&mut s, &set, 2_003);
    assert_eq!(s.next_expiry_ms(), None);
    apply_at(&mut s, &Op::Tick, 10_000);
    assert_eq!(s.get(b"j"), Some(&b"x"[..]));
}

#[test]
fn exec_after_watch_runs_only_if_no_watched_key_changed() {
    let mut s = KvStore::new();
    let set = |v: &str| words(&["SET", "w", v]);
    apply_at(&mut s, &set("1"), 1);
    let seen = s.key_version(b"w");
    let exec = |seen: Option<u64>| {
        Op::Transaction(Transaction {
            watched: vec![(serde_bytes::ByteBuf::from(b"w".to_vec()), seen)],
            queued: vec![Queued::Call(Call {
                argv: super::test_support::words(&["SET", "t", "ran"]),
                seed: 0,
            })],
        })
    };
    assert_eq!(
        apply_at(&mut s, &exec(seen), 2),
        Reply::Array(vec![Reply::ok()])
    );
    apply_at(&mut s, &set("1"), 3); // the same value, still a change
    assert_eq!(apply_at(&mut s, &exec(seen), 4), Reply::NullArray);
    let del = words(&["DEL", "w"]);
    let seen = s.key_version(b"w");
    apply_at(&mut s, &del, 5);
    assert_eq!(
        apply_at(&mut s, &exec(seen), 6),
        Reply::NullArray,
        "deleted"
    );
    assert_eq!(
        apply_at(&mut s, &exec(None), 7),
        Reply::Array(vec![Reply::ok()])
    );
}

/// One step of a random history: a command kind, a key, the proposer's
/// clock skew and a TTL.
fn step() -> impl Strategy<Value = (u8, u8, i64, u64)> {
    (0u8..8, 0u8..4, -50i64..50, 0u64..300)
}

fn command_of(kind: u8, key: u8, ttl: u64) -> Op {
    let key = format!("k{key}");
    let ttl = (ttl + 1).to_string();
    match kind {
        0 => words(&["SET", &key, "v", "PX", &ttl]),
        1 => words(&["PEXPIRE", &key, &ttl]),
        2 => words(&["PERSIST", &key]),
        3 => words(&["INCR", &key]),
        4 => words(&["RPUSH", &key, "x"]),
        5 => words(&["GETEX", &key, "PX", &ttl]),
        6 => words(&["DEL", &key]),
        _ => Op::Tick,
    }
}

proptest! {
    #[test]
    fn replicas_agree_and_reads_never_see_an_expired_key(
        steps in proptest::collection::vec(step(), 1..120),
        reader_skew in 0u64..200,
    ) {
        let (mut a, mut b) = (KvStore::new(), KvStore::new());
        let mut wall = 10_000u64;
        for (i, &(kind, key, skew, ttl)) in steps.iter().enumerate() {
            wall += 7;
            let at = wall.saturating_add_signed(skew); // each proposer's clock is skewed
            let cmd = command_of(kind, key, ttl);
            let ra = apply_at(&mut a, &cmd, at);
            let rb = apply_at(&mut b, &cmd, at);
            prop_assert_eq!(ra, rb);
            if i == steps.len() / 2 {
                b = KvStore::decode_snapshot(&b.encode_snapshot()).expect("round trip");
            }
            let reader = wall + reader_skew;
            for k in 0..4 {
                let key = format!("k{k}");
                let seen = get_at(&a, &key, reader) != Reply::Bulk(None);
                let expires = a.slot_anytime(key.as_bytes()).map_or(0, |s| s.expires_at_ms);
                prop_assert!(!seen || expires == 0 || expires > reader, "{} seen past its expiry", key);
            }
        }
        prop_assert_eq!(&a.map, &b.map);
        prop_assert_eq!(a.clock_ms(), b.clock_ms());
    }
}
