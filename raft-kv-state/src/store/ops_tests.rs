//! Unit tests of the sorted-set combinations (ZUNION, ZINTER, ZDIFF and their
//! STORE forms, ZINTERCARD, ZRANGESTORE, ZRANDMEMBER) and of SORT.

use super::test_support::{read, run};
use super::*;
use crate::reply::Reply;

fn bulks(items: &[&str]) -> Reply {
    Reply::Array(
        items
            .iter()
            .map(|i| Reply::Bulk(Some(i.as_bytes().to_vec())))
            .collect(),
    )
}

fn pairs(items: &[(&str, f64)]) -> Reply {
    Reply::Pairs(
        items
            .iter()
            .map(|(m, sc)| (Reply::Bulk(Some(m.as_bytes().to_vec())), Reply::Double(*sc)))
            .collect(),
    )
}

fn setup() -> KvStore {
    let mut s = KvStore::new();
    run(&mut s, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    run(&mut s, &["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
    run(&mut s, &["SADD", "set", "x", "w"]);
    s
}

#[test]
fn union_inter_and_diff_weigh_aggregate_and_take_sets_as_score_one() {
    let s = setup();
    assert_eq!(
        read(&s, &["ZUNION", "2", "a", "b", "WITHSCORES"]),
        pairs(&[("x", 1.0), ("y", 12.0), ("z", 23.0), ("w", 30.0)])
    );
    assert_eq!(
        read(
            &s,
            &[
                "ZINTER",
                "2",
                "a",
                "b",
                "WEIGHTS",
                "2",
                "1",
                "AGGREGATE",
                "MAX",
                "WITHSCORES"
            ]
        ),
        pairs(&[("y", 10.0), ("z", 20.0)])
    );
    assert_eq!(read(&s, &["ZDIFF", "2", "a", "b"]), bulks(&["x"]));
    assert_eq!(
        read(&s, &["ZINTER", "2", "a", "set", "WITHSCORES"]),
        pairs(&[("x", 2.0)])
    );
    assert_eq!(
        read(&s, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        Reply::Int(1)
    );
    assert_eq!(read(&s, &["ZINTERCARD", "2", "a", "b"]), Reply::Int(2));
}

#[test]
fn store_forms_replace_the_destination_and_an_empty_result_deletes_it() {
    let mut s = setup();
    run(&mut s, &["SET", "dst", "string"]);
    assert_eq!(
        run(&mut s, &["ZUNIONSTORE", "dst", "2", "a", "b"]),
        Reply::Int(4)
    );
    assert_eq!(read(&s, &["ZRANGE", "dst", "0", "0"]), bulks(&["x"]));
    assert_eq!(
        run(&mut s, &["ZDIFFSTORE", "dst", "2", "a", "a"]),
        Reply::Int(0)
    );
    assert_eq!(read(&s, &["TYPE", "dst"]), Reply::Simple("none".into()));
    assert_eq!(
        run(
            &mut s,
            &[
                "ZRANGESTORE",
                "dst",
                "b",
                "15",
                "+inf",
                "BYSCORE",
                "LIMIT",
                "0",
                "1"
            ]
        ),
        Reply::Int(1)
    );
    assert_eq!(read(&s, &["ZRANGE", "dst", "0", "-1"]), bulks(&["z"]));
}

#[test]
fn combinations_refuse_what_redis_refuses() {
    let mut s = setup();
    run(&mut s, &["SET", "str", "v"]);
    let error = |r: Reply| match r {
        Reply::Error(e) => e.line(),
        other => panic!("an error, not {other:?}"),
    };
    assert_eq!(
        error(read(&s, &["ZUNION", "0", "a"])),
        "ERR at least 1 input key is needed for 'zunion' command"
    );
    assert_eq!(
        error(read(&s, &["ZUNION", "3", "a", "b"])),
        "ERR syntax error"
    );
    assert!(error(read(&s, &["ZINTER", "2", "a", "str"])).starts_with("WRONGTYPE"));
    assert_eq!(
        error(run(
            &mut s,
            &["ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"]
        )),
        "ERR syntax error"
    );
    assert_eq!(
        error(read(&s, &["ZUNION", "2", "a", "b", "WEIGHTS", "1", "nope"])),
        "ERR weight value is not a float"
    );
    assert_eq!(
        error(read(&s, &["ZRANDMEMBER", "a", "-9223372036854775808"])),
        "ERR value is out of range"
    );
    assert_eq!(
        error(run(
            &mut s,
            &["ZRANGESTORE", "d", "a", "0", "-1", "WITHSCORES"]
        )),
        "ERR syntax error"
    );
}

#[test]
fn zrandmember_picks_distinct_members_or_repeats_for_a_negative_count() {
    let s = setup();
    let Reply::Array(distinct) = read(&s, &["ZRANDMEMBER", "a", "10"]) else {
        panic!("an array");
    };
    assert_eq!(distinct.len(), 3);
    let Reply::Array(repeated) = read(&s, &["ZRANDMEMBER", "a", "-10"]) else {
        panic!("an array");
    };
    assert_eq!(repeated.len(), 10);
    assert_eq!(read(&s, &["ZRANDMEMBER", "none"]), Reply::Bulk(None));
}

#[test]
fn sort_orders_numbers_and_text_reads_by_and_get_patterns_and_stores_a_list() {
    let mut s = KvStore::new();
    run(&mut s, &["RPUSH", "l", "3", "1", "2"]);
    assert_eq!(read(&s, &["SORT_RO", "l"]), bulks(&["1", "2", "3"]));
    assert_eq!(
        read(&s, &["SORT_RO", "l", "DESC", "LIMIT", "0", "2"]),
        bulks(&["3", "2"])
    );
    for (id, weight, name) in [("1", "30", "one"), ("2", "10", "two"), ("3", "20", "three")] {
        run(&mut s, &["SET", &format!("w_{id}"), weight]);
        run(&mut s, &["HSET", &format!("h_{id}"), "name", name]);
    }
    assert_eq!(
        read(
            &s,
            &["SORT_RO", "l", "BY", "w_*", "GET", "#", "GET", "h_*->name"]
        ),
        bulks(&["2", "two", "3", "three", "1", "one"])
    );
    assert_eq!(
        read(&s, &["SORT_RO", "l", "BY", "nosort", "DESC"]),
        bulks(&["2", "1", "3"])
    );
    run(&mut s, &["RPUSH", "words", "b", "a", "c"]);
    let Reply::Error(e) = read(&s, &["SORT_RO", "words"]) else {
        panic!("text is not a number");
    };
    assert_eq!(
        e.line(),
        "ERR One or more scores can't be converted into double"
    );
    assert_eq!(
        run(&mut s, &["SORT", "words", "ALPHA", "STORE", "out"]),
        Reply::Int(3)
    );
    assert_eq!(
        read(&s, &["LRANGE", "out", "0", "-1"]),
        bulks(&["a", "b", "c"])
    );
    assert_eq!(
        run(&mut s, &["SORT", "none", "STORE", "out"]),
        Reply::Int(0)
    );
    assert_eq!(read(&s, &["EXISTS", "out"]), Reply::Int(0));
    assert!(matches!(
        read(&s, &["SORT_RO", "l", "STORE", "x"]),
        Reply::Error(_)
    ));
}
