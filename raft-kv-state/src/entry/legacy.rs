//! Version 1: the entries written before entries carried a version, read
//! (never written) and mapped to today's ops. Each v1 command maps to the
//! words of the command it was proposed for, whose meaning today is the same
//! (the golden log `tests/golden/v1.log` holds one of each and pins that),
//! except v1's first INCRBY, whose parse differs and which maps to
//! [`Op::LegacyIncrBy`]. The layouts below are frozen: their serde form is
//! what those logs hold.

use super::{Call, Entry, EntryDecodeError, LEGACY_VERSION, MemberAdvert, Op, ProposalId};
use super::{Queued, ScriptCall, Transaction, byte_strings};
use crate::errors::CommandError;
use crate::reply::Reply;
use serde::{Deserialize, Serialize};

/// Lists of byte-string pairs, as v1 wrote them.
mod byte_pairs {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    /// A key and its value (a hash field and its value, say).
    type Pair = (Vec<u8>, Vec<u8>);

    pub fn serialize<S: Serializer>(pairs: &[Pair], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(pairs.iter().map(|(k, v)| (Bytes::new(k), Bytes::new(v))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Pair>, D::Error> {
        let pairs = Vec::<(ByteBuf, ByteBuf)>::deserialize(d)?;
        Ok(pairs
            .into_iter()
            .map(|(k, v)| (k.into_vec(), v.into_vec()))
            .collect())
    }
}

/// A v1 command (the layout of v1's `Command`).
#[derive(Serialize, Deserialize)]
enum CommandV1 {
    Set {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    Del {
        #[serde(with = "byte_strings")]
        keys: Vec<Vec<u8>>,
    },
    MSet {
        #[serde(with = "byte_pairs")]
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    IncrBy {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        delta: i64,
    },
    Cas {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        expected: Vec<u8>,
        #[serde(with = "serde_bytes")]
        new: Vec<u8>,
    },
    IncrByChecked {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        delta: i64,
    },
    AdvertiseClient {
        id: u64,
        addr: String,
    },
    SetNx {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    GetSet {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    GetDel {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    Append {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    MSetNx {
        #[serde(with = "byte_pairs")]
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    Rename {
        #[serde(with = "serde_bytes")]
        from: Vec<u8>,
        #[serde(with = "serde_bytes")]
        to: Vec<u8>,
        only_if_absent: bool,
    },
    FlushAll,
    Exec {
        ops: Vec<TxOpV1>,
    },
    SetWith {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        condition: SetConditionV1,
        get: bool,
    },
    SetRange {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        offset: u64,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    IncrByFloat {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        increment: Vec<u8>,
    },
    SetBit {
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        offset: u64,
        bit: bool,
    },
    Words {
        #[serde(with = "byte_strings")]
        argv: Vec<Vec<u8>>,
        seed: u64,
    },
    Tick,
    Eval(Box<ScriptCall>),
    ScriptMarker {
        script: u64,
        kill: bool,
    },
    ExecWatched {
        watched: Vec<(serde_bytes::ByteBuf, Option<u64>)>,
        ops: Vec<TxOpV1>,
    },
}

#[derive(Serialize, Deserialize)]
enum SetConditionV1 {
    Always,
    IfAbsent,
    IfPresent,
}

#[derive(Serialize, Deserialize)]
enum TxOpV1 {
    Write(CommandV1),
    Read(ReadV1),
    Fixed(Reply),
}

#[derive(Serialize, Deserialize)]
enum ReadV1 {
    Get(#[serde(with = "serde_bytes")] Vec<u8>),
    MGet(#[serde(with = "byte_strings")] Vec<Vec<u8>>),
    Exists(#[serde(with = "byte_strings")] Vec<Vec<u8>>),
    DbSize,
    Backup,
    Strlen(#[serde(with = "serde_bytes")] Vec<u8>),
    Type(#[serde(with = "serde_bytes")] Vec<u8>),
    Keys(#[serde(with = "serde_bytes")] Vec<u8>),
    GetRange(#[serde(with = "serde_bytes")] Vec<u8>, i64, i64),
    GetBit(#[serde(with = "serde_bytes")] Vec<u8>, u64),
    BitCount(
        #[serde(with = "serde_bytes")] Vec<u8>,
        Option<(i64, i64, bool)>,
    ),
    Words(#[serde(with = "byte_strings")] Vec<Vec<u8>>),
}

/// A v1 entry.
#[derive(Serialize, Deserialize)]
struct ProposalV1 {
    id: ProposalId,
    command: CommandV1,
    at_ms: u64,
}

/// The v1 layout before entries carried a time.
#[derive(Deserialize)]
struct ProposalWithoutTime {
    id: ProposalId,
    command: CommandV1,
}

fn decode_v1(bytes: &[u8]) -> Option<ProposalV1> {
    if let Ok(p) = postcard::from_bytes::<ProposalV1>(bytes) {
        return Some(p);
    }
    let old: ProposalWithoutTime = postcard::from_bytes(bytes).ok()?;
    Some(ProposalV1 {
        id: old.id,
        command: old.command,
        at_ms: 0,
    })
}

/// A v1 entry as today's entry (at [`LEGACY_VERSION`]).
pub(super) fn decode(bytes: &[u8]) -> Result<Entry, EntryDecodeError> {
    let p = decode_v1(bytes).ok_or_else(|| {
        EntryDecodeError::Undecodable("neither a versioned nor a version-1 entry".into())
    })?;
    Ok(Entry {
        version: LEGACY_VERSION,
        id: p.id,
        at_ms: p.at_ms,
        op: op_of(p.command),
    })
}

/// A v1 entry with its time set to `at_ms`, still in the v1 layout.
pub(super) fn restamp(bytes: &[u8], at_ms: u64) -> Option<Vec<u8>> {
    let mut p = decode_v1(bytes)?;
    p.at_ms = at_ms;
    Some(postcard::to_stdvec(&p).expect("a v1 entry always encodes"))
}

fn call(argv: Vec<Vec<u8>>) -> Op {
    Op::Call(Call { argv, seed: 0 })
}

/// `name` then `rest`.
fn named(name: &str, rest: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    std::iter::once(name.as_bytes().to_vec())
        .chain(rest)
        .collect()
}

fn flat(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> impl Iterator<Item = Vec<u8>> {
    pairs.into_iter().flat_map(|(k, v)| [k, v])
}

fn int(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

fn op_of(c: CommandV1) -> Op {
    match c {
        CommandV1::IncrBy { key, delta } => Op::LegacyIncrBy { key, delta },
        CommandV1::AdvertiseClient { id, addr } => Op::Member(MemberAdvert {
            id,
            client_addr: addr,
            state_machine_version: None,
        }),
        CommandV1::Exec { ops } => Op::Transaction(Transaction {
            watched: Vec::new(),
            queued: ops.into_iter().map(queued_of).collect(),
        }),
        CommandV1::ExecWatched { watched, ops } => Op::Transaction(Transaction {
            watched,
            queued: ops.into_iter().map(queued_of).collect(),
        }),
        CommandV1::Words { argv, seed } => Op::Call(Call { argv, seed }),
        CommandV1::Tick => Op::Tick,
        CommandV1::Eval(script) => Op::Script(script),
        CommandV1::ScriptMarker { script, kill } => Op::ScriptMarker { script, kill },
        CommandV1::Set { key, value } => call(named("SET", [key, value])),
        CommandV1::Del { keys } => call(named("DEL", keys)),
        CommandV1::MSet { pairs } => call(named("MSET", flat(pairs))),
        CommandV1::Cas { key, expected, new } => call(named("CAS", [key, expected, new])),
        CommandV1::IncrByChecked { key, delta } => call(named("INCRBY", [key, int(delta)])),
        CommandV1::SetNx { key, value } => call(named("SETNX", [key, value])),
        CommandV1::GetSet { key, value } => call(named("GETSET", [key, value])),
        CommandV1::GetDel { key } => call(named("GETDEL", [key])),
        CommandV1::Append { key, value } => call(named("APPEND", [key, value])),
        CommandV1::MSetNx { pairs } => call(named("MSETNX", flat(pairs))),
        CommandV1::Rename {
            from,
            to,
            only_if_absent,
        } => {
            let name = if only_if_absent { "RENAMENX" } else { "RENAME" };
            call(named(name, [from, to]))
        }
        CommandV1::FlushAll => call(named("FLUSHALL", [])),
        CommandV1::SetWith {
            key,
            value,
            condition,
            get,
        } => {
            let condition = match condition {
                SetConditionV1::Always => None,
                SetConditionV1::IfAbsent => Some(b"NX".to_vec()),
                SetConditionV1::IfPresent => Some(b"XX".to_vec()),
            };
            let get = get.then(|| b"GET".to_vec());
            call(named(
                "SET",
                [key, value].into_iter().chain(condition).chain(get),
            ))
        }
        CommandV1::SetRange { key, offset, value } => {
            call(named("SETRANGE", [key, int(offset), value]))
        }
        CommandV1::IncrByFloat { key, increment } => call(named("INCRBYFLOAT", [key, increment])),
        CommandV1::SetBit { key, offset, bit } => {
            call(named("SETBIT", [key, int(offset), int(u8::from(bit))]))
        }
    }
}

/// A v1 transaction's op. What v1 refused inside a transaction is that
/// refusal, carried as a fixed reply.
fn queued_of(op: TxOpV1) -> Queued {
    match op {
        TxOpV1::Fixed(reply) => Queued::Fixed(reply),
        TxOpV1::Read(read) => queued_read(read),
        TxOpV1::Write(write) => match op_of(write) {
            Op::Call(c) => Queued::Call(c),
            Op::LegacyIncrBy { key, delta } => Queued::LegacyIncrBy { key, delta },
            Op::Transaction(_) => Queued::Fixed(CommandError::NestedTransaction.into()),
            Op::Script(_) | Op::ScriptMarker { .. } | Op::Tick | Op::Member(_) => {
                Queued::Fixed(CommandError::ScriptInTransaction.into())
            }
        },
    }
}

fn queued_read(r: ReadV1) -> Queued {
    let argv = match r {
        ReadV1::Backup => {
            let refused = CommandError::NotInMulti {
                command: "raft.backup".into(),
            };
            return Queued::Fixed(refused.into());
        }
        ReadV1::Get(k) => named("GET", [k]),
        ReadV1::MGet(ks) => named("MGET", ks),
        ReadV1::Exists(ks) => named("EXISTS", ks),
        ReadV1::DbSize => named("DBSIZE", []),
        ReadV1::Strlen(k) => named("STRLEN", [k]),
        ReadV1::Type(k) => named("TYPE", [k]),
        ReadV1::Keys(p) => named("KEYS", [p]),
        ReadV1::GetRange(k, s, e) => named("GETRANGE", [k, int(s), int(e)]),
        ReadV1::GetBit(k, o) => named("GETBIT", [k, int(o)]),
        ReadV1::BitCount(k, None) => named("BITCOUNT", [k]),
        ReadV1::BitCount(k, Some((s, e, bits))) => {
            let unit = if bits {
                b"BIT".to_vec()
            } else {
                b"BYTE".to_vec()
            };
            named("BITCOUNT", [k, int(s), int(e), unit])
        }
        ReadV1::Words(argv) => argv,
    };
    Queued::Call(Call { argv, seed: 0 })
}
