//! One-off: writes the version-1 golden log (`tests/golden/v1.log`) with the
//! last binary that proposed version-1 entries. Run with
//! `GOLDEN_WRITE=1 cargo test -p raft-kv --test golden_v1_write`.

use raft_kv::Reply;
use raft_kv::command::{Command, Proposal, ProposalId, ReadCommand, SetCondition, TxOp};

fn w(words: &[&str]) -> Command {
    Command::Words {
        argv: words.iter().map(|s| s.as_bytes().to_vec()).collect(),
        seed: 0x5eed ^ words.len() as u64,
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[allow(clippy::too_many_lines)] // a list of commands, one per line
fn commands() -> Vec<(u64, Command)> {
    let t0: u64 = 1_700_000_000_000;
    let mut out: Vec<Command> = vec![
        Command::Set {
            key: b("gone"),
            value: b("before the flush"),
        },
        Command::FlushAll,
        Command::Set {
            key: b("s1"),
            value: b("hello"),
        },
        Command::Set {
            key: b("n1"),
            value: b("+5"),
        },
        Command::IncrBy {
            key: b("n1"),
            delta: 3,
        },
        Command::Set {
            key: b("n2"),
            value: b("10"),
        },
        Command::IncrByChecked {
            key: b("n2"),
            delta: -4,
        },
        Command::IncrByChecked {
            key: b("s1"),
            delta: 1,
        },
        Command::IncrByChecked {
            key: b("n1"),
            delta: i64::MAX,
        },
        Command::Del {
            keys: vec![b("nokey"), b("n2")],
        },
        Command::MSet {
            pairs: vec![(b("m1"), b("a")), (b("m2"), b("b"))],
        },
        Command::Cas {
            key: b("m1"),
            expected: b("a"),
            new: b("z"),
        },
        Command::Cas {
            key: b("m1"),
            expected: b("a"),
            new: b("y"),
        },
        Command::AdvertiseClient {
            id: 1,
            addr: "127.0.0.1:6001".into(),
        },
        Command::SetNx {
            key: b("m1"),
            value: b("q"),
        },
        Command::SetNx {
            key: b("nx1"),
            value: b("q"),
        },
        Command::GetSet {
            key: b("nx1"),
            value: b("r"),
        },
        Command::GetDel { key: b("nx1") },
        Command::Append {
            key: b("s1"),
            value: b(" world"),
        },
        Command::MSetNx {
            pairs: vec![(b("m1"), b("x")), (b("m3"), b("y"))],
        },
        Command::MSetNx {
            pairs: vec![(b("m4"), b("x")), (b("m5"), b("y"))],
        },
        Command::Rename {
            from: b("m4"),
            to: b("m6"),
            only_if_absent: false,
        },
        Command::Rename {
            from: b("m5"),
            to: b("m6"),
            only_if_absent: true,
        },
        Command::Rename {
            from: b("absent"),
            to: b("m7"),
            only_if_absent: false,
        },
        Command::SetWith {
            key: b("sw"),
            value: b("1"),
            condition: SetCondition::IfAbsent,
            get: false,
        },
        Command::SetWith {
            key: b("sw"),
            value: b("2"),
            condition: SetCondition::IfAbsent,
            get: true,
        },
        Command::SetWith {
            key: b("sw"),
            value: b("3"),
            condition: SetCondition::IfPresent,
            get: true,
        },
        Command::SetWith {
            key: b("sw2"),
            value: b("3"),
            condition: SetCondition::IfPresent,
            get: false,
        },
        Command::SetRange {
            key: b("sr"),
            offset: 5,
            value: b("xyz"),
        },
        Command::SetRange {
            key: b("s1"),
            offset: 0,
            value: b("J"),
        },
        Command::IncrByFloat {
            key: b("f"),
            increment: b("10.5"),
        },
        Command::IncrByFloat {
            key: b("f"),
            increment: b("0.1"),
        },
        Command::IncrByFloat {
            key: b("f"),
            increment: b("abc"),
        },
        Command::SetBit {
            key: b("bits"),
            offset: 7,
            bit: true,
        },
        Command::SetBit {
            key: b("bits"),
            offset: 100,
            bit: true,
        },
        Command::SetBit {
            key: b("bits"),
            offset: 7,
            bit: false,
        },
        Command::Exec {
            ops: vec![
                TxOp::Write(Command::Set {
                    key: b("tx"),
                    value: b("1"),
                }),
                TxOp::Read(ReadCommand::Get(b("tx"))),
                TxOp::Write(Command::IncrByChecked {
                    key: b("tx"),
                    delta: 1,
                }),
                TxOp::Read(ReadCommand::MGet(vec![b("tx"), b("m1")])),
                TxOp::Read(ReadCommand::Exists(vec![b("tx"), b("none")])),
                TxOp::Read(ReadCommand::DbSize),
                TxOp::Read(ReadCommand::Strlen(b("s1"))),
                TxOp::Read(ReadCommand::Type(b("s1"))),
                TxOp::Read(ReadCommand::Keys(b("m*"))),
                TxOp::Read(ReadCommand::GetRange(b("s1"), 0, 3)),
                TxOp::Read(ReadCommand::GetBit(b("bits"), 100)),
                TxOp::Read(ReadCommand::BitCount(b("bits"), None)),
                TxOp::Read(ReadCommand::BitCount(b("bits"), Some((0, -1, true)))),
                TxOp::Read(ReadCommand::Words(vec![b("TTL"), b("tx")])),
                TxOp::Write(w(&["HSET", "txh", "f", "v"])),
                TxOp::Fixed(Reply::Simple("PONG".into())),
                TxOp::Fixed(Reply::error(raft_kv::ErrorCode::Err, "syntax error")),
            ],
        },
        Command::ExecWatched {
            watched: vec![(serde_bytes::ByteBuf::from(b("tx")), Some(1))],
            ops: vec![TxOp::Write(Command::Set {
                key: b("tx"),
                value: b("never"),
            })],
        },
        Command::ExecWatched {
            watched: vec![(serde_bytes::ByteBuf::from(b("absent")), None)],
            ops: vec![TxOp::Write(Command::Set {
                key: b("txw"),
                value: b("ran"),
            })],
        },
    ];
    let words: &[&[&str]] = &[
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
        &["RESTORE", "restored", "0", "\u{0}\u{5}hello\u{a}\u{0}"],
        &["LPUSH", "h", "x"],
        &["NOSUCHCOMMAND", "x"],
        &["HSET", "h"],
    ];
    out.extend(words.iter().map(|c| w(c)));
    out.push(Command::Tick);
    out.push(Command::Set {
        key: b("after"),
        value: b("the tick"),
    });
    out.into_iter()
        .enumerate()
        .map(|(i, c)| {
            // A tick late in the log moves the clock past the short expiries.
            let at = t0
                + 1000 * i as u64
                + if matches!(c, Command::Tick) {
                    400_000
                } else {
                    0
                };
            (at, c)
        })
        .collect()
}

#[test]
fn write_the_version_1_golden_log() {
    if std::env::var_os("GOLDEN_WRITE").is_none() {
        return;
    }
    let mut log = Vec::new();
    for (i, (at_ms, command)) in commands().into_iter().enumerate() {
        let p = Proposal {
            id: ProposalId {
                node: 1,
                nonce: 7,
                seq: i as u64,
            },
            command,
            at_ms,
        };
        let bytes = p.encode();
        log.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        log.extend_from_slice(&bytes);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    std::fs::write(dir.join("v1.log"), log).expect("write v1.log");
}
