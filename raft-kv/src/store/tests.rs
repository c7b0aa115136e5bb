//! Unit tests of the state machine and its snapshots.

#[test]
fn snapshots_round_trip_and_damage_is_detected() {
    let mut s = KvStore::new();
    for i in 0..3000u32 {
        s.apply(&set(&format!("k{i}"), &format!("v{i}")));
    }
    s.set_applied_index(3000);
    let bytes = s.encode_snapshot();
    let back = KvStore::decode_snapshot(&bytes).expect("round trip");
    assert_eq!(back.len(), 3000);
    assert_eq!(back.applied_index(), 3000);
    assert_eq!(back.get(b"k42"), Some(&b"v42"[..]));
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(KvStore::decode_snapshot(&bad).is_err());
    assert!(
        KvStore::decode_snapshot(&bytes[..bytes.len() - 3]).is_err(),
        "truncated"
    );
}

use super::*;
use crate::command::ReadCommand;

fn set(k: &str, v: &str) -> Command {
    Command::Set {
        key: k.into(),
        value: v.into(),
    }
}

#[test]
fn checked_incr_reads_the_stored_value_as_redis_does() {
    let mut s = KvStore::new();
    let incr = |key: &str| Command::IncrByChecked {
        key: key.as_bytes().to_vec(),
        delta: 1,
    };
    for (stored, after) in [("0", 1), ("-5", -4), ("41", 42)] {
        s.apply(&set("n", stored));
        assert_eq!(s.apply(&incr("n")), Reply::Int(after), "{stored}");
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
        s.apply(&set("n", refused));
        assert!(
            matches!(s.apply(&incr("n")), Reply::Error(_)),
            "{refused:?} is not an integer to Redis"
        );
        assert_eq!(s.get(b"n"), Some(refused.as_bytes()), "unchanged");
    }
}

#[test]
fn advertised_client_addresses_are_in_snapshots_and_leave_with_their_member() {
    let mut s = KvStore::new();
    for id in [1, 2] {
        s.apply(&Command::AdvertiseClient {
            id,
            addr: format!("127.0.0.1:600{id}"),
        });
    }
    let back = KvStore::decode_snapshot(&s.encode_snapshot()).expect("decodes");
    assert!(back.clients() == s.clients() && back.clients().len() == 2);
    s.retain_clients(|id| id != 2);
    assert_eq!(s.clients().keys().copied().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn legacy_incr_entries_replay_with_the_results_they_had() {
    // Logged before IncrByChecked: "+5" was read as 5, and a replica
    // replaying the entry must get the same 6 the others applied.
    let mut s = KvStore::new();
    s.apply(&set("n", "+5"));
    let legacy = Command::IncrBy {
        key: b"n".to_vec(),
        delta: 1,
    };
    assert_eq!(s.apply(&legacy), Reply::Int(6));
}

#[test]
fn incr_counts_from_zero_and_refuses_non_integers() {
    let mut s = KvStore::new();
    assert_eq!(
        s.apply(&Command::IncrBy {
            key: b"n".to_vec(),
            delta: 5
        }),
        Reply::Int(5)
    );
    assert_eq!(
        s.apply(&Command::IncrBy {
            key: b"n".to_vec(),
            delta: -7
        }),
        Reply::Int(-2)
    );
    s.apply(&set("t", "abc"));
    assert!(
        matches!(s.apply(&Command::IncrBy { key: b"t".to_vec(), delta: 1 }), Reply::Error(e) if e.starts_with("ERR"))
    );
    s.apply(&set("big", &i64::MAX.to_string()));
    assert!(matches!(
        s.apply(&Command::IncrBy {
            key: b"big".to_vec(),
            delta: 1
        }),
        Reply::Error(_)
    ));
    assert_eq!(
        s.get(b"big"),
        Some(i64::MAX.to_string().as_bytes()),
        "nothing changed on error"
    );
}

#[test]
fn cas_swaps_only_on_a_matching_value() {
    let mut s = KvStore::new();
    let cas = |e: &str, n: &str| Command::Cas {
        key: b"k".to_vec(),
        expected: e.into(),
        new: n.into(),
    };
    assert_eq!(s.apply(&cas("a", "b")), Reply::Int(0), "absent key");
    s.apply(&set("k", "a"));
    assert_eq!(s.apply(&cas("x", "b")), Reply::Int(0));
    assert_eq!(s.apply(&cas("a", "b")), Reply::Int(1));
    assert_eq!(s.get(b"k"), Some(&b"b"[..]));
}

#[test]
fn del_counts_removed_keys_and_mset_sets_all() {
    let mut s = KvStore::new();
    s.apply(&Command::MSet {
        pairs: vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
        ],
    });
    assert_eq!(
        s.apply(&Command::Del {
            keys: vec![b"a".to_vec(), b"a".to_vec(), b"z".to_vec()]
        }),
        Reply::Int(1)
    );
    assert_eq!(s.len(), 1);
}

#[test]
fn string_commands_answer_as_redis_does() {
    let mut s = KvStore::new();
    let b = |v: &str| Reply::Bulk(Some(v.as_bytes().to_vec()));
    let key = |k: &str| k.as_bytes().to_vec();
    let setnx = |k: &str, v: &str| Command::SetNx {
        key: key(k),
        value: key(v),
    };
    assert_eq!(s.apply(&setnx("a", "1")), Reply::Int(1));
    assert_eq!(s.apply(&setnx("a", "2")), Reply::Int(0));
    let getset = Command::GetSet {
        key: key("a"),
        value: key("3"),
    };
    assert_eq!(s.apply(&getset), b("1"));
    let append = Command::Append {
        key: key("a"),
        value: key("45"),
    };
    assert_eq!(s.apply(&append), Reply::Int(3));
    assert_eq!(s.read(&ReadCommand::Strlen(key("a"))), Reply::Int(3));
    assert_eq!(
        s.read(&ReadCommand::Type(key("a"))),
        Reply::Simple("string".into())
    );
    assert_eq!(
        s.read(&ReadCommand::Type(key("zz"))),
        Reply::Simple("none".into())
    );
    let pairs = |ps: &[(&str, &str)]| ps.iter().map(|(k, v)| (key(k), key(v))).collect();
    assert_eq!(
        s.apply(&Command::MSetNx {
            pairs: pairs(&[("b", "1"), ("a", "x")])
        }),
        Reply::Int(0)
    );
    assert_eq!(s.get(b"b"), None, "nothing set when one key exists");
    assert_eq!(
        s.apply(&Command::MSetNx {
            pairs: pairs(&[("b", "1"), ("c", "2")])
        }),
        Reply::Int(1)
    );
    let rename = |from: &str, to: &str, nx| Command::Rename {
        from: key(from),
        to: key(to),
        only_if_absent: nx,
    };
    assert_eq!(s.apply(&rename("b", "d", false)), Reply::ok());
    assert_eq!(s.apply(&rename("c", "d", true)), Reply::Int(0));
    assert!(
        matches!(s.apply(&rename("nope", "x", false)), Reply::Error(e) if e.ends_with("no such key"))
    );
    assert_eq!(
        s.read(&ReadCommand::Keys(key("*"))),
        Reply::Array(vec![b("a"), b("c"), b("d")])
    );
    assert_eq!(
        s.read(&ReadCommand::Keys(key("[ab]"))),
        Reply::Array(vec![b("a")])
    );
    assert_eq!(s.apply(&Command::GetDel { key: key("a") }), b("345"));
    assert_eq!(
        s.apply(&Command::GetDel { key: key("a") }),
        Reply::Bulk(None)
    );
    assert_eq!(s.apply(&Command::FlushAll), Reply::ok());
    assert_eq!(s.len(), 0);
}

#[test]
fn a_transaction_applies_in_order_reads_see_earlier_writes_and_survives_encoding() {
    use crate::command::{Proposal, ProposalId, TxOp};
    let ops = vec![
        TxOp::Write(set("a", "1")),
        TxOp::Read(ReadCommand::Get(b"a".to_vec())),
        TxOp::Write(Command::IncrByChecked {
            key: b"a".to_vec(),
            delta: 2,
        }),
        TxOp::Fixed(Reply::Simple("PONG".into())),
        TxOp::Write(Command::Exec { ops: Vec::new() }),
        TxOp::Read(ReadCommand::Backup),
        TxOp::Read(ReadCommand::MGet(vec![b"a".to_vec(), b"z".to_vec()])),
    ];
    let proposal = Proposal {
        id: ProposalId {
            node: 1,
            nonce: 2,
            seq: 3,
        },
        command: Command::Exec { ops },
        at_ms: 1_700_000_000_000,
    };
    let decoded = Proposal::decode(&proposal.encode()).expect("a transaction entry decodes");
    assert_eq!(decoded, proposal);
    let mut s = KvStore::new();
    let Reply::Array(replies) = s.apply(&decoded.command) else {
        panic!("a transaction answers an array");
    };
    assert_eq!(replies[0], Reply::ok());
    assert_eq!(
        replies[1],
        Reply::Bulk(Some(b"1".to_vec())),
        "sees the SET before it"
    );
    assert_eq!(replies[2], Reply::Int(3));
    assert_eq!(replies[3], Reply::Simple("PONG".into()));
    assert_eq!(
        replies[4],
        Reply::error(ErrorCode::Err, "MULTI calls can not be nested")
    );
    assert_eq!(
        replies[5],
        Reply::error(
            ErrorCode::Err,
            "RAFT.BACKUP is not allowed in a transaction"
        )
    );
    assert_eq!(
        replies[6],
        Reply::Array(vec![Reply::Bulk(Some(b"3".to_vec())), Reply::Bulk(None)])
    );
    assert_eq!(s.get(b"a"), Some(&b"3"[..]));
}

fn bulk(v: &str) -> Reply {
    Reply::Bulk(Some(v.as_bytes().to_vec()))
}

#[test]
fn set_flags_decide_whether_to_set_and_what_to_answer() {
    use crate::command::SetCondition::{IfAbsent, IfPresent};
    let mut s = KvStore::new();
    let set = |k: &str, v: &str, condition, get| Command::SetWith {
        key: k.into(),
        value: v.into(),
        condition,
        get,
    };
    assert_eq!(
        s.apply(&set("k", "1", IfPresent, false)),
        Reply::Bulk(None),
        "XX on a missing key"
    );
    assert_eq!(s.get(b"k"), None);
    assert_eq!(s.apply(&set("k", "1", IfAbsent, false)), Reply::ok());
    assert_eq!(
        s.apply(&set("k", "2", IfAbsent, false)),
        Reply::Bulk(None),
        "NX on a present key"
    );
    assert_eq!(
        s.apply(&set("k", "3", IfAbsent, true)),
        bulk("1"),
        "NX GET: the old value, not set"
    );
    assert_eq!(s.get(b"k"), Some(&b"1"[..]));
    assert_eq!(s.apply(&set("k", "4", IfPresent, true)), bulk("1"));
    assert_eq!(s.get(b"k"), Some(&b"4"[..]));
    assert_eq!(
        s.apply(&set("n", "5", crate::command::SetCondition::Always, true)),
        Reply::Bulk(None)
    );
}

#[test]
fn ranges_and_bits_follow_redis() {
    let mut s = KvStore::new();
    let read = |s: &KvStore, r: ReadCommand| s.read(&r);
    s.apply(&set("k", "Hello World"));
    assert_eq!(
        read(&s, ReadCommand::GetRange(b"k".to_vec(), 0, 4)),
        bulk("Hello")
    );
    assert_eq!(
        read(&s, ReadCommand::GetRange(b"k".to_vec(), -5, -1)),
        bulk("World")
    );
    assert_eq!(
        read(&s, ReadCommand::GetRange(b"none".to_vec(), 0, -1)),
        bulk("")
    );
    let setrange = |k: &str, offset, v: &str| Command::SetRange {
        key: k.into(),
        offset,
        value: v.into(),
    };
    assert_eq!(s.apply(&setrange("k", 6, "Redis")), Reply::Int(11));
    assert_eq!(s.get(b"k"), Some(&b"Hello Redis"[..]));
    assert_eq!(s.apply(&setrange("pad", 3, "x")), Reply::Int(4));
    assert_eq!(s.get(b"pad"), Some(&b"\0\0\0x"[..]), "zero-padded");
    assert_eq!(s.apply(&setrange("empty", 5, "")), Reply::Int(0));
    assert_eq!(s.get(b"empty"), None, "an empty write creates nothing");
    let setbit = |offset, bit| Command::SetBit {
        key: b"b".to_vec(),
        offset,
        bit,
    };
    assert_eq!(s.apply(&setbit(7, true)), Reply::Int(0));
    assert_eq!(s.apply(&setbit(7, true)), Reply::Int(1), "the old bit");
    assert_eq!(
        s.get(b"b"),
        Some(&[1u8][..]),
        "bit 7 is the least significant of byte 0"
    );
    s.apply(&setbit(8, true));
    assert_eq!(
        read(&s, ReadCommand::GetBit(b"b".to_vec(), 8)),
        Reply::Int(1)
    );
    assert_eq!(
        read(&s, ReadCommand::GetBit(b"b".to_vec(), 1000)),
        Reply::Int(0)
    );
    s.apply(&set("c", "foobar"));
    let count = |range| read(&s, ReadCommand::BitCount(b"c".to_vec(), range));
    assert_eq!(count(None), Reply::Int(26));
    assert_eq!(count(Some((1, 1, false))), Reply::Int(6));
    assert_eq!(count(Some((5, 30, true))), Reply::Int(17));
}

#[test]
fn incrbyfloat_formats_the_shortest_exact_text_and_refuses_non_floats() {
    let mut s = KvStore::new();
    let incr = |k: &str, by: &str| Command::IncrByFloat {
        key: k.into(),
        increment: by.into(),
    };
    s.apply(&set("f", "10.50"));
    assert_eq!(s.apply(&incr("f", "0.1")), bulk("10.6"));
    assert_eq!(s.apply(&incr("f", "-5.6")), bulk("5"));
    assert_eq!(s.apply(&incr("new", "5.0e3")), bulk("5000"));
    s.apply(&set("text", "abc"));
    let not_float = Reply::error(ErrorCode::Err, "value is not a valid float");
    assert_eq!(s.apply(&incr("text", "1")), not_float);
    assert_eq!(s.apply(&incr("f", "nan")), not_float);
    assert_eq!(
        s.apply(&incr("f", "inf")),
        Reply::error(ErrorCode::Err, "increment would produce NaN or Infinity")
    );
    assert_eq!(
        s.get(b"f"),
        Some(&b"5"[..]),
        "a refused increment changes nothing"
    );
}
