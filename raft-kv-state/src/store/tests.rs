//! Unit tests of the state machine and its snapshots.

use super::test_support::{bulk, error, read, run, words};
use super::*;
use crate::entry::Op;
use crate::entry::{Call, Entry, MemberAdvert, ProposalId, Queued, Transaction};
use crate::errors::CommandError;
use crate::reply::Reply;

#[test]
fn snapshots_round_trip_and_damage_is_detected() {
    let mut s = KvStore::new();
    for i in 0..3000u32 {
        run(&mut s, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    let bytes = s.encode_snapshot();
    let back = KvStore::decode_snapshot(&bytes).expect("round trip");
    assert_eq!(back.len(), 3000);
    assert_eq!(back.applied_index(), 3000);
    assert_eq!(back.get(b"k42"), Some(&b"v42"[..]));
    assert_eq!(back.fingerprint(), s.fingerprint(), "the same state");
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(KvStore::decode_snapshot(&bad).is_err());
    assert!(
        KvStore::decode_snapshot(&bytes[..bytes.len() - 3]).is_err(),
        "truncated"
    );
}

#[test]
fn incr_reads_the_stored_value_as_redis_does() {
    let mut s = KvStore::new();
    for (stored, after) in [("0", 1), ("-5", -4), ("41", 42)] {
        run(&mut s, &["SET", "n", stored]);
        assert_eq!(run(&mut s, &["INCR", "n"]), Reply::Int(after), "{stored}");
    }
    for refused in [
        "+5",
        "007",
        "-0",
        " 5",
        "5 ",
        "",
        "-",
        "1e3",
        "99999999999999999999",
    ] {
        run(&mut s, &["SET", "n", refused]);
        assert_eq!(
            run(&mut s, &["INCR", "n"]),
            error(CommandError::NotAnInteger),
            "{refused:?} is not an integer to Redis"
        );
        assert_eq!(s.get(b"n"), Some(refused.as_bytes()), "unchanged");
    }
}

#[test]
fn members_advertisements_are_in_snapshots_and_leave_with_their_member() {
    let mut s = KvStore::new();
    for id in [1, 2] {
        s.apply_op(&Op::Member(MemberAdvert {
            id,
            client_addr: format!("127.0.0.1:600{id}"),
            state_machine_version: Some(crate::entry::STATE_MACHINE_VERSION),
        }));
    }
    let back = KvStore::decode_snapshot(&s.encode_snapshot()).expect("decodes");
    assert!(back.clients() == s.clients() && back.clients().len() == 2);
    assert_eq!(back.state_versions(), s.state_versions());
    s.retain_clients(|id| id != 2);
    assert_eq!(s.clients().keys().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(
        s.state_versions().keys().copied().collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn legacy_incr_entries_replay_with_the_results_they_had() {
    // Logged before version 1 read values as Redis does: "+5" was read as
    // 5, and a replica replaying the entry must get the same 6.
    let mut s = KvStore::new();
    run(&mut s, &["SET", "n", "+5"]);
    let legacy = Op::LegacyIncrBy {
        key: b"n".to_vec(),
        delta: 1,
    };
    assert_eq!(s.apply_op(&legacy), Reply::Int(6));
}

#[test]
fn incr_counts_from_zero_and_refuses_non_integers_and_overflow() {
    let mut s = KvStore::new();
    assert_eq!(run(&mut s, &["INCRBY", "n", "5"]), Reply::Int(5));
    assert_eq!(run(&mut s, &["DECRBY", "n", "7"]), Reply::Int(-2));
    assert_eq!(
        run(&mut s, &["DECRBY", "n", "-9223372036854775808"]),
        error(CommandError::NotAnInteger),
        "its negation does not fit"
    );
    run(&mut s, &["SET", "big", &i64::MAX.to_string()]);
    assert_eq!(run(&mut s, &["INCR", "big"]), error(CommandError::Overflow));
    assert_eq!(
        s.get(b"big"),
        Some(i64::MAX.to_string().as_bytes()),
        "nothing changed on error"
    );
}

#[test]
fn cas_swaps_only_on_a_matching_value() {
    let mut s = KvStore::new();
    assert_eq!(
        run(&mut s, &["CAS", "k", "a", "b"]),
        Reply::Int(0),
        "absent key"
    );
    run(&mut s, &["SET", "k", "a"]);
    assert_eq!(run(&mut s, &["CAS", "k", "x", "b"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["CAS", "k", "a", "b"]), Reply::Int(1));
    assert_eq!(s.get(b"k"), Some(&b"b"[..]));
}

#[test]
fn del_counts_removed_keys_and_mset_sets_all() {
    let mut s = KvStore::new();
    run(&mut s, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(run(&mut s, &["DEL", "a", "a", "z"]), Reply::Int(1));
    assert_eq!(s.len(), 1);
    assert_eq!(
        run(&mut s, &["MSET", "a", "1", "b"]),
        error(CommandError::arity("mset"))
    );
}

#[test]
fn string_commands_answer_as_redis_does() {
    let mut s = KvStore::new();
    assert_eq!(run(&mut s, &["SETNX", "a", "1"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["SETNX", "a", "2"]), Reply::Int(0));
    assert_eq!(run(&mut s, &["GETSET", "a", "3"]), bulk("1"));
    assert_eq!(run(&mut s, &["APPEND", "a", "45"]), Reply::Int(3));
    assert_eq!(read(&s, &["STRLEN", "a"]), Reply::Int(3));
    assert_eq!(read(&s, &["TYPE", "a"]), Reply::Simple("string".into()));
    assert_eq!(read(&s, &["TYPE", "zz"]), Reply::Simple("none".into()));
    assert_eq!(run(&mut s, &["MSETNX", "b", "1", "a", "x"]), Reply::Int(0));
    assert_eq!(s.get(b"b"), None, "nothing set when one key exists");
    assert_eq!(run(&mut s, &["MSETNX", "b", "1", "c", "2"]), Reply::Int(1));
    assert_eq!(run(&mut s, &["RENAME", "b", "d"]), Reply::ok());
    assert_eq!(run(&mut s, &["RENAMENX", "c", "d"]), Reply::Int(0));
    assert_eq!(
        run(&mut s, &["RENAME", "nope", "x"]),
        error(CommandError::NoSuchKey)
    );
    assert_eq!(
        read(&s, &["KEYS", "*"]),
        Reply::Array(vec![bulk("a"), bulk("c"), bulk("d")])
    );
    assert_eq!(read(&s, &["KEYS", "[ab]"]), Reply::Array(vec![bulk("a")]));
    assert_eq!(run(&mut s, &["GETDEL", "a"]), bulk("345"));
    assert_eq!(run(&mut s, &["GETDEL", "a"]), Reply::Bulk(None));
    assert_eq!(run(&mut s, &["FLUSHALL"]), Reply::ok());
    assert_eq!(s.len(), 0);
}

#[test]
fn a_transaction_applies_in_order_reads_see_earlier_writes_and_survives_encoding() {
    let call = |ws: &[&str]| {
        Queued::Call(Call {
            argv: words(ws),
            seed: 0,
        })
    };
    let tx = Transaction {
        watched: Vec::new(),
        queued: vec![
            call(&["SET", "a", "1"]),
            call(&["GET", "a"]),
            call(&["INCRBY", "a", "2"]),
            Queued::Fixed(Reply::Simple("PONG".into())),
            call(&["PING"]),
            call(&["MGET", "a", "z"]),
        ],
    };
    let id = ProposalId {
        node: 1,
        nonce: 2,
        seq: 3,
    };
    let entry = Entry::new(id, 1_700_000_000_000, Op::Transaction(tx));
    let decoded = Entry::decode(&entry.encode()).expect("a transaction entry decodes");
    assert_eq!(decoded, entry);
    let mut s = KvStore::new();
    let Reply::Array(replies) = s.apply_op(&decoded.op) else {
        panic!("a transaction answers an array");
    };
    assert_eq!(replies[0], Reply::ok());
    assert_eq!(replies[1], bulk("1"), "sees the SET before it");
    assert_eq!(replies[2], Reply::Int(3));
    assert_eq!(replies[3], Reply::Simple("PONG".into()));
    assert_eq!(
        replies[4],
        error(CommandError::NotLoggable {
            command: "ping".into()
        }),
        "what is not applied from the log is refused, alike on every replica"
    );
    assert_eq!(replies[5], Reply::Array(vec![bulk("3"), Reply::Bulk(None)]));
    assert_eq!(s.get(b"a"), Some(&b"3"[..]));
}

#[test]
fn a_watched_transaction_runs_only_if_no_watched_key_changed() {
    let mut s = KvStore::new();
    run(&mut s, &["SET", "w", "1"]);
    let seen = s.key_version(b"w");
    let tx = |watched| {
        Op::Transaction(Transaction {
            watched,
            queued: vec![Queued::Call(Call {
                argv: words(&["SET", "out", "ran"]),
                seed: 0,
            })],
        })
    };
    let key = serde_bytes::ByteBuf::from(b"w".to_vec());
    assert_eq!(
        s.apply_op(&tx(vec![(key.clone(), seen)])),
        Reply::Array(vec![Reply::ok()])
    );
    run(&mut s, &["SET", "w", "2"]);
    assert_eq!(s.apply_op(&tx(vec![(key, seen)])), Reply::NullArray);
}

#[test]
fn set_flags_decide_whether_to_set_and_what_to_answer() {
    let mut s = KvStore::new();
    assert_eq!(
        run(&mut s, &["SET", "k", "1", "XX"]),
        Reply::Bulk(None),
        "XX on a missing key"
    );
    assert_eq!(s.get(b"k"), None);
    assert_eq!(run(&mut s, &["SET", "k", "1", "NX"]), Reply::ok());
    assert_eq!(
        run(&mut s, &["SET", "k", "2", "NX"]),
        Reply::Bulk(None),
        "NX on a present key"
    );
    assert_eq!(
        run(&mut s, &["SET", "k", "3", "NX", "GET"]),
        bulk("1"),
        "NX GET: the old value, not set"
    );
    assert_eq!(s.get(b"k"), Some(&b"1"[..]));
    assert_eq!(run(&mut s, &["SET", "k", "4", "XX", "GET"]), bulk("1"));
    assert_eq!(s.get(b"k"), Some(&b"4"[..]));
    assert_eq!(run(&mut s, &["SET", "n", "5", "GET"]), Reply::Bulk(None));
    assert_eq!(
        run(&mut s, &["SET", "n", "5", "NX", "XX"]),
        error(CommandError::Syntax)
    );
}

#[test]
fn ranges_and_bits_follow_redis() {
    let mut s = KvStore::new();
    run(&mut s, &["SET", "k", "Hello World"]);
    assert_eq!(read(&s, &["GETRANGE", "k", "0", "4"]), bulk("Hello"));
    assert_eq!(read(&s, &["GETRANGE", "k", "-5", "-1"]), bulk("World"));
    assert_eq!(read(&s, &["GETRANGE", "none", "0", "-1"]), bulk(""));
    assert_eq!(
        run(&mut s, &["SETRANGE", "k", "6", "Redis"]),
        Reply::Int(11)
    );
    assert_eq!(s.get(b"k"), Some(&b"Hello Redis"[..]));
    assert_eq!(run(&mut s, &["SETRANGE", "pad", "3", "x"]), Reply::Int(4));
    assert_eq!(s.get(b"pad"), Some(&b"\0\0\0x"[..]), "zero-padded");
    assert_eq!(run(&mut s, &["SETRANGE", "empty", "5", ""]), Reply::Int(0));
    assert_eq!(s.get(b"empty"), None, "an empty write creates nothing");
    assert_eq!(
        run(&mut s, &["SETRANGE", "k", "-1", "x"]),
        error(CommandError::OffsetOutOfRange)
    );
    assert_eq!(run(&mut s, &["SETBIT", "b", "7", "1"]), Reply::Int(0));
    assert_eq!(
        run(&mut s, &["SETBIT", "b", "7", "1"]),
        Reply::Int(1),
        "the old bit"
    );
    assert_eq!(
        s.get(b"b"),
        Some(&[1u8][..]),
        "bit 7 is the least significant of byte 0"
    );
    run(&mut s, &["SETBIT", "b", "8", "1"]);
    assert_eq!(read(&s, &["GETBIT", "b", "8"]), Reply::Int(1));
    assert_eq!(read(&s, &["GETBIT", "b", "1000"]), Reply::Int(0));
    assert_eq!(
        read(&s, &["GETBIT", "b", "4294967296"]),
        error(CommandError::BadBitOffset)
    );
    assert_eq!(
        run(&mut s, &["SETBIT", "b", "1", "2"]),
        error(CommandError::BadBit)
    );
    run(&mut s, &["SET", "c", "foobar"]);
    assert_eq!(read(&s, &["BITCOUNT", "c"]), Reply::Int(26));
    assert_eq!(read(&s, &["BITCOUNT", "c", "1", "1"]), Reply::Int(6));
    assert_eq!(
        read(&s, &["BITCOUNT", "c", "5", "30", "BIT"]),
        Reply::Int(17)
    );
    assert_eq!(
        read(&s, &["BITCOUNT", "c", "1"]),
        error(CommandError::Syntax)
    );
}

#[test]
fn incrbyfloat_formats_the_shortest_exact_text_and_refuses_non_floats() {
    let mut s = KvStore::new();
    run(&mut s, &["SET", "f", "10.50"]);
    assert_eq!(run(&mut s, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(run(&mut s, &["INCRBYFLOAT", "f", "-5.6"]), bulk("5"));
    assert_eq!(run(&mut s, &["INCRBYFLOAT", "new", "5.0e3"]), bulk("5000"));
    run(&mut s, &["SET", "text", "abc"]);
    let not_float = error(CommandError::NotAFloat);
    assert_eq!(run(&mut s, &["INCRBYFLOAT", "text", "1"]), not_float);
    assert_eq!(run(&mut s, &["INCRBYFLOAT", "f", "nan"]), not_float);
    assert_eq!(
        run(&mut s, &["INCRBYFLOAT", "f", "inf"]),
        error(CommandError::NotFinite)
    );
    assert_eq!(
        s.get(b"f"),
        Some(&b"5"[..]),
        "a refused increment changes nothing"
    );
}

#[test]
fn a_logged_call_that_no_command_serves_is_refused_alike_everywhere() {
    let mut s = KvStore::new();
    assert_eq!(
        run(&mut s, &["NOSUCH", "x"]),
        error(CommandError::unknown_command(&words(&["NOSUCH", "x"])))
    );
    assert_eq!(run(&mut s, &["GET"]), error(CommandError::arity("get")));
    assert_eq!(
        s.apply_op(&Op::Tick),
        Reply::ok(),
        "a tick changes nothing by itself"
    );
}
