//! Unit tests of the typed values: WRONGTYPE, empty collections removed,
//! versions, replicas agreeing on randomness, snapshots of every type.

use super::test_support::{bulk, is_wrong_type, read, run, run_seeded};
use super::*;
use crate::reply::Reply;

#[test]
fn a_command_on_a_key_of_another_type_is_wrongtype_and_changes_nothing() {
    let mut s = KvStore::new();
    run(&mut s, &["HSET", "h", "f", "v"]);
    run(&mut s, &["SET", "str", "5"]);
    let (before, index) = (s.encode_snapshot(), s.applied_index());
    assert!(is_wrong_type(&read(&s, &["GET", "h"])));
    assert!(is_wrong_type(&run(&mut s, &["LPUSH", "h", "x"])));
    assert!(is_wrong_type(&run(&mut s, &["SADD", "str", "x"])));
    assert!(is_wrong_type(&run(&mut s, &["HSET", "str", "f", "v"])));
    let incr = run(&mut s, &["INCR", "h"]);
    assert!(is_wrong_type(&incr), "{incr:?}");
    assert!(is_wrong_type(&run(
        &mut s,
        &["SMOVE", "nosuch", "str", "m"]
    )));
    // Only the applied index moved.
    s.applied_index = index;
    assert_eq!(s.encode_snapshot(), before);
    assert_eq!(read(&s, &["TYPE", "h"]), Reply::Simple("hash".into()));
    assert_eq!(read(&s, &["TYPE", "str"]), Reply::Simple("string".into()));
}

#[test]
fn a_collection_left_empty_is_removed() {
    let mut s = KvStore::new();
    for (fill, empty) in [
        (&["HSET", "k", "f", "v"][..], &["HDEL", "k", "f"][..]),
        (&["RPUSH", "k", "a"], &["LPOP", "k"]),
        (&["SADD", "k", "m"], &["SREM", "k", "m"]),
        (&["RPUSH", "k", "a", "b"], &["LTRIM", "k", "5", "9"]),
    ] {
        run(&mut s, fill);
        assert_eq!(s.len(), 1, "{fill:?}");
        run(&mut s, empty);
        assert_eq!(s.len(), 0, "{empty:?} left the key");
    }
}

#[test]
fn a_change_stamps_the_key_with_the_index_of_its_entry() {
    let mut s = KvStore::new();
    run(&mut s, &["RPUSH", "l", "a"]); // entry 1
    run(&mut s, &["HSET", "h", "f", "v"]); // entry 2
    assert_eq!(s.slot(b"l").map(|x| x.version), Some(1));
    assert_eq!(s.slot(b"h").map(|x| x.version), Some(2));
    run(&mut s, &["RPUSH", "l", "b"]); // entry 3
    assert_eq!(s.slot(b"l").map(|x| x.version), Some(3));
    let _ = read(&s, &["LRANGE", "l", "0", "-1"]);
    assert_eq!(
        s.slot(b"l").map(|x| x.version),
        Some(3),
        "a read is no change"
    );
}

#[test]
fn replicas_applying_the_same_spop_entry_remove_the_same_members() {
    let mut a = KvStore::new();
    let members: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "s"];
    sadd.extend(members.iter().map(String::as_str));
    run(&mut a, &sadd);
    let mut b = a.clone();
    let popped_a = run_seeded(&mut a, &["SPOP", "s", "5"], 99);
    let popped_b = run_seeded(&mut b, &["SPOP", "s", "5"], 99);
    assert_eq!(popped_a, popped_b);
    assert_eq!(a.map, b.map);
    let Reply::Set(items) = popped_a else {
        panic!("a set: {popped_a:?}")
    };
    assert_eq!(items.len(), 5);
    assert_eq!(read(&a, &["SCARD", "s"]), Reply::Int(45));
}

#[test]
fn snapshots_keep_every_type_version_and_expiry() {
    let mut s = KvStore::new();
    run(&mut s, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    run(&mut s, &["RPUSH", "l", "a", "b", "a"]);
    run(&mut s, &["SADD", "s", "x", "y"]);
    s.apply_call(&[b"SET".to_vec(), b"str".to_vec(), vec![0, 255]], 0);
    s.set_applied_index(s.applied_index() + 1);
    s.map.get_mut(&b"l"[..]).expect("l").expires_at_ms = 1_700_000_000_000;
    let back = KvStore::decode_snapshot(&s.encode_snapshot()).expect("round trip");
    assert_eq!(back.map, s.map);
    assert_eq!(back.applied_index(), s.applied_index());
}

#[test]
fn words_from_a_damaged_or_foreign_entry_get_an_error_not_a_panic() {
    let mut s = KvStore::new();
    for words in [
        &[][..],
        &["HSET"],
        &["HSET", "k", "f"],
        &["LPOS", "k"],
        &["NOSUCH", "k"],
    ] {
        let reply = run(&mut s, words);
        assert!(matches!(reply, Reply::Error(_)), "{words:?}: {reply:?}");
    }
    assert!(s.is_empty());
}

#[test]
fn list_commands_follow_redis_index_rules() {
    let mut s = KvStore::new();
    run(&mut s, &["RPUSH", "l", "a", "b", "c", "b", "d"]);
    let range = |s: &KvStore, a: &str, b: &str| read(s, &["LRANGE", "l", a, b]);
    assert_eq!(
        range(&s, "1", "2"),
        Reply::Array(vec![bulk("b"), bulk("c")])
    );
    assert_eq!(
        range(&s, "-2", "-1"),
        Reply::Array(vec![bulk("b"), bulk("d")])
    );
    assert_eq!(range(&s, "0", "-100"), Reply::Array(vec![]));
    assert_eq!(range(&s, "4", "100"), Reply::Array(vec![bulk("d")]));
    assert_eq!(read(&s, &["LINDEX", "l", "-1"]), bulk("d"));
    assert_eq!(read(&s, &["LINDEX", "l", "5"]), Reply::Bulk(None));
    assert_eq!(read(&s, &["LPOS", "l", "b"]), Reply::Int(1));
    assert_eq!(read(&s, &["LPOS", "l", "b", "RANK", "-1"]), Reply::Int(3));
    assert_eq!(
        read(&s, &["LPOS", "l", "b", "COUNT", "0"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(3)])
    );
    assert_eq!(run(&mut s, &["LREM", "l", "-1", "b"]), Reply::Int(1));
    assert_eq!(
        range(&s, "0", "-1"),
        Reply::Array(vec![bulk("a"), bulk("b"), bulk("c"), bulk("d")])
    );
    assert_eq!(
        run(&mut s, &["LINSERT", "l", "AFTER", "c", "z"]),
        Reply::Int(5)
    );
    assert_eq!(
        run(&mut s, &["LINSERT", "l", "BEFORE", "q", "z"]),
        Reply::Int(-1)
    );
    assert_eq!(
        run(&mut s, &["LMOVE", "l", "l2", "LEFT", "RIGHT"]),
        bulk("a")
    );
    assert_eq!(run(&mut s, &["LTRIM", "l", "1", "-2"]), Reply::ok());
    assert_eq!(
        range(&s, "0", "-1"),
        Reply::Array(vec![bulk("c"), bulk("z")])
    );
    assert_eq!(run(&mut s, &["LPOP", "nosuch", "2"]), Reply::NullArray);
}

#[test]
fn sorted_sets_order_by_score_then_member_and_honour_zadd_flags() {
    let mut s = KvStore::new();
    assert_eq!(
        run(&mut s, &["ZADD", "z", "2", "b", "1", "a", "2", "a2"]),
        Reply::Int(3)
    );
    let range = |s: &KvStore, w: &[&str]| {
        let mut words = vec!["ZRANGE", "z"];
        words.extend_from_slice(w);
        read(s, &words)
    };
    let all = Reply::Array(vec![bulk("a"), bulk("a2"), bulk("b")]);
    assert_eq!(range(&s, &["0", "-1"]), all);
    assert_eq!(
        range(&s, &["(1", "+inf", "BYSCORE", "LIMIT", "1", "5"]),
        Reply::Array(vec![bulk("b")])
    );
    assert_eq!(run(&mut s, &["ZADD", "z", "NX", "9", "a"]), Reply::Int(0));
    assert_eq!(
        run(&mut s, &["ZADD", "z", "GT", "CH", "0", "b", "5", "a2"]),
        Reply::Int(1)
    );
    assert_eq!(read(&s, &["ZSCORE", "z", "a2"]), Reply::Double(5.0));
    assert_eq!(
        run(&mut s, &["ZADD", "z", "INCR", "1.5", "a"]),
        Reply::Double(2.5)
    );
    assert_eq!(read(&s, &["ZRANK", "z", "b"]), Reply::Int(0));
    assert_eq!(read(&s, &["ZREVRANK", "z", "b"]), Reply::Int(2));
    assert_eq!(read(&s, &["ZCOUNT", "z", "-inf", "(5"]), Reply::Int(2));
    // x is new: -inf is its score (no NaN); adding +inf to it would be NaN.
    assert_eq!(
        run(&mut s, &["ZADD", "z", "INCR", "-inf", "x"]),
        Reply::Double(f64::NEG_INFINITY)
    );
    assert!(matches!(
        run(&mut s, &["ZINCRBY", "z", "+inf", "x"]),
        Reply::Error(_)
    ));
    assert_eq!(run(&mut s, &["ZREM", "z", "x"]), Reply::Int(1));
    assert!(matches!(
        run(&mut s, &["ZADD", "z", "NX", "XX", "1", "q"]),
        Reply::Error(_)
    ));
    // Without a count a flat [member, score] (RESP3 too), with one pairs.
    assert_eq!(
        run(&mut s, &["ZPOPMAX", "z"]),
        Reply::Array(vec![bulk("a2"), Reply::Double(5.0)])
    );
    run(&mut s, &["ZADD", "z", "5", "a2"]);
    assert_eq!(
        run(&mut s, &["ZPOPMAX", "z", "1"]),
        Reply::Pairs(vec![(bulk("a2"), Reply::Double(5.0))])
    );
    let back = KvStore::decode_snapshot(&s.encode_snapshot()).expect("round trip");
    assert_eq!(back.map, s.map);
    assert_eq!(
        run(&mut s, &["ZREMRANGEBYRANK", "z", "0", "-1"]),
        Reply::Int(2)
    );
    assert!(s.is_empty(), "an emptied sorted set is removed");
}

#[test]
fn random_counts_that_overflow_are_refused_as_redis_refuses_them() {
    let mut s = KvStore::new();
    run(&mut s, &["HSET", "h", "a", "1"]);
    run(&mut s, &["SADD", "s", "a"]);
    let min = i64::MIN.to_string();
    for words in [
        vec!["HRANDFIELD", "h", min.as_str()],
        vec!["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"],
        vec!["SRANDMEMBER", "s", min.as_str()],
    ] {
        assert!(matches!(read(&s, &words), Reply::Error(_)), "{words:?}");
    }
    let Reply::Array(repeated) = read(&s, &["SRANDMEMBER", "s", "-5"]) else {
        panic!("an array")
    };
    assert_eq!(repeated.len(), 5, "a negative count repeats members");
}

#[test]
fn a_hash_answers_in_the_order_its_fields_were_added_on_every_replica() {
    let mut s = KvStore::new();
    run(
        &mut s,
        &["HSET", "h", "zeta", "1", "alpha", "2", "mid", "3"],
    );
    run(&mut s, &["HSET", "h", "alpha", "20"]);
    let order = |s: &KvStore| read(s, &["HKEYS", "h"]);
    let expected = Reply::Array(vec![bulk("zeta"), bulk("alpha"), bulk("mid")]);
    assert_eq!(order(&s), expected, "an update keeps the field's place");
    let back = KvStore::decode_snapshot(&s.encode_snapshot()).expect("round trip");
    assert_eq!(order(&back), expected, "a snapshot keeps the order");
    run(&mut s, &["HDEL", "h", "zeta"]);
    assert_eq!(
        order(&s),
        Reply::Array(vec![bulk("mid"), bulk("alpha")]),
        "the last field takes a deleted one's place"
    );
}
