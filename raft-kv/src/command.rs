//! Replicated commands (what log entries carry) and the replies clients get.

use serde::{Deserialize, Serialize};

pub use crate::reply::{Protocol, Reply};

/// Identifies one proposal so that the node that proposed it can answer its
/// client when the entry is applied. `nonce` differs between process starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProposalId {
    /// The proposing node.
    pub node: u64,
    /// Random per process start, so ids never repeat across restarts.
    pub nonce: u64,
    /// Increasing per proposal.
    pub seq: u64,
}

/// Lists of byte strings (de)serialized in bulk; the postcard bytes are those of
/// a plain `Vec<Vec<u8>>`.
mod byte_strings {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|b| Bytes::new(b)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let list = Vec::<ByteBuf>::deserialize(d)?;
        Ok(list.into_iter().map(ByteBuf::into_vec).collect())
    }
}

/// Lists of byte-string pairs (de)serialized in bulk; the postcard bytes are
/// those of a plain `Vec<(Vec<u8>, Vec<u8>)>`.
mod byte_pairs {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_bytes::{ByteBuf, Bytes};

    /// Key-value pairs of byte strings.
    pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    pub fn serialize<S: Serializer>(pairs: &[(Vec<u8>, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(pairs.iter().map(|(k, v)| (Bytes::new(k), Bytes::new(v))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
        let pairs = Vec::<(ByteBuf, ByteBuf)>::deserialize(d)?;
        Ok(pairs
            .into_iter()
            .map(|(k, v)| (k.into_vec(), v.into_vec()))
            .collect())
    }
}

/// A state-changing command, applied deterministically in log order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// SET key value.
    Set {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// DEL key [key ...].
    Del {
        /// Keys to remove.
        #[serde(with = "byte_strings")]
        keys: Vec<Vec<u8>>,
    },
    /// MSET k v [k v ...], atomically.
    MSet {
        /// Pairs to set.
        #[serde(with = "byte_pairs")]
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// INCRBY key delta as the first version logged it: the stored value is
    /// read with Rust's integer parse, which also takes `+5` and `007`. Kept
    /// so that entries logged before [`Command::IncrByChecked`] replay with
    /// the result every replica already applied; no longer proposed.
    IncrBy {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Amount.
        delta: i64,
    },
    /// CAS key expected new: swap only if the current value equals `expected`.
    Cas {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Required current value.
        #[serde(with = "serde_bytes")]
        expected: Vec<u8>,
        /// Value to install.
        #[serde(with = "serde_bytes")]
        new: Vec<u8>,
    },
    /// INCRBY key delta (INCR is delta 1; DECR/DECRBY negate it), reading the
    /// stored value as Redis does: an optional `-`, then digits without a
    /// leading zero (`0` itself aside), within i64. Appended last, so a
    /// version that does not know it fails to decode it and stops instead of
    /// skipping it (`FatalError::UnknownCommand`).
    IncrByChecked {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Amount.
        delta: i64,
    },
    /// Member `id` serves clients at `addr`: recorded beside the peer
    /// addresses so that any node can tell a client where every member is
    /// (`raft-cli status`). Dropped when the member leaves the configuration.
    AdvertiseClient {
        /// The member.
        id: u64,
        /// Its client address (`host:port`).
        addr: String,
    },
    /// SETNX key value: sets only an absent key; 1 if it did.
    SetNx {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// GETSET key value: sets, answering the old value.
    GetSet {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// GETDEL key: removes, answering the old value.
    GetDel {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
    },
    /// APPEND key value: the length after appending.
    Append {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Bytes to append.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// MSETNX k v [k v ...]: sets every pair only if no key exists; 1 if it did.
    MSetNx {
        /// Pairs to set.
        #[serde(with = "byte_pairs")]
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// RENAME / RENAMENX from to.
    Rename {
        /// The key to move.
        #[serde(with = "serde_bytes")]
        from: Vec<u8>,
        /// Its new name.
        #[serde(with = "serde_bytes")]
        to: Vec<u8>,
        /// RENAMENX: only if `to` is absent (answers 1 or 0 instead of OK).
        only_if_absent: bool,
    },
    /// FLUSHDB / FLUSHALL: removes every key.
    FlushAll,
    /// `MULTI` ... `EXEC`: the queued commands, applied in order as one
    /// entry (no other command runs between them); the reply is the array of
    /// their replies.
    Exec {
        /// What was queued.
        ops: Vec<TxOp>,
    },
    /// SET key value with `NX`/`XX` and `GET` (plain SET is [`Command::Set`]).
    SetWith {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        /// When to set.
        condition: SetCondition,
        /// Answer the old value instead of `OK`.
        get: bool,
    },
    /// SETRANGE key offset value: the length after writing.
    SetRange {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Where to write (checked: offset + length within the value limit).
        offset: u64,
        /// Bytes to write.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// INCRBYFLOAT key increment, with the increment as the client wrote it
    /// (parsed where it is applied, the same way on every replica).
    IncrByFloat {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// The increment's text.
        #[serde(with = "serde_bytes")]
        increment: Vec<u8>,
    },
    /// SETBIT key offset bit: the bit's old value.
    SetBit {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Bit offset, most significant bit of the first byte first.
        offset: u64,
        /// The new bit.
        bit: bool,
    },
    /// A command on a hash, list or set, as its words (the name first): every
    /// replica parses and runs it, so argument errors come from the apply.
    Words {
        /// The command's words, its name first.
        #[serde(with = "byte_strings")]
        argv: Vec<Vec<u8>>,
        /// Randomness for the command (SPOP), drawn by the proposing node, so
        /// every replica makes the same choice.
        seed: u64,
    },
    /// Changes nothing: carries the leader's time (`Proposal::at_ms`), which
    /// moves the state machine's clock and so deletes the keys that expired.
    Tick,
    /// EVAL and its kin: a Lua script, run by every replica's applier
    /// (`runtime::scripts`), deterministically: its randomness comes from
    /// the entry, its clock is the entry's, the limits are the proposer's.
    Eval(Box<ScriptCall>),
    /// `SCRIPT KILL` (`kill`), or a replica's word that the script of entry
    /// `script` goes on to write or to finish: the first marker after a
    /// script in the log decides, on every replica, whether a script that
    /// ran past its fast phase without writing is killed.
    ScriptMarker {
        /// The log index of the script's entry.
        script: u64,
        /// Kill it (else: let it go on).
        kill: bool,
    },
    /// EXEC after WATCH: runs `ops` as [`Command::Exec`] does if every
    /// watched key still has the version the connection saw (`None`: absent),
    /// else nothing and the nil array.
    ExecWatched {
        /// The watched keys and the versions seen when they were watched.
        watched: Vec<(serde_bytes::ByteBuf, Option<u64>)>,
        /// The queued commands.
        ops: Vec<TxOp>,
    },
}

/// A script to run ([`Command::Eval`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptCall {
    /// The Lua source.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// `KEYS`.
    #[serde(with = "byte_strings")]
    pub keys: Vec<Vec<u8>>,
    /// `ARGV`.
    #[serde(with = "byte_strings")]
    pub args: Vec<Vec<u8>>,
    /// Seeds `math.random` and the commands with randomness the script calls.
    pub seed: u64,
    /// `EVAL_RO` / `EVALSHA_RO`: writes are refused.
    pub read_only: bool,
    /// The proposing node's request limits, which the script's commands are
    /// held to on every replica.
    pub limits: crate::config::Limits,
}

/// When `SET` sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    /// Whatever is there.
    Always,
    /// Only if the key is absent (`NX`).
    IfAbsent,
    /// Only if the key exists (`XX`).
    IfPresent,
}

/// One command queued in a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TxOp {
    /// A write, applied at its place.
    Write(Command),
    /// A read, answered from the state at its place (after the writes
    /// queued before it).
    Read(ReadCommand),
    /// A reply known when the command was queued (`PING`, `ECHO`, or an
    /// error the command's own checks found), carried to its place.
    Fixed(Reply),
}

/// Parses `bytes` as Redis's `string2ll` does: `0`, or an optional `-` and
/// digits starting with 1-9, fitting in i64; no sign `+`, no spaces, no
/// leading zeros, at most 20 characters.
pub fn parse_redis_int(bytes: &[u8]) -> Option<i64> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let canonical = bytes == b"0" || matches!(digits.first(), Some(b'1'..=b'9'));
    if !canonical || bytes.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse::<i64>().ok()
}

/// What a log entry of the KV store holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Who proposed it (for the reply).
    pub id: ProposalId,
    /// What to do.
    pub command: Command,
    /// The wall clock (Unix ms) of the leader that appended it (a follower
    /// stamps its own, and the leader restamps what followers forward): the
    /// state machine's clock moves to the largest such time in the log, so
    /// expiry is decided by the log, never by the applying node's clock. 0
    /// in entries written before entries carried a time.
    pub at_ms: u64,
}

/// The layout of entries written before they carried a time.
#[derive(Deserialize)]
struct ProposalWithoutTime {
    id: ProposalId,
    command: Command,
}

impl Proposal {
    /// Encodes for a log entry.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("a Proposal always encodes")
    }

    /// Decodes a log entry's payload (either layout); None if it is not a
    /// proposal of this store.
    pub fn decode(bytes: &[u8]) -> Option<Proposal> {
        if let Ok(p) = postcard::from_bytes::<Proposal>(bytes) {
            return Some(p);
        }
        let old: ProposalWithoutTime = postcard::from_bytes(bytes).ok()?;
        Some(Proposal {
            id: old.id,
            command: old.command,
            at_ms: 0,
        })
    }
}

/// This machine's wall clock in Unix milliseconds (0 before 1970).
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A read executed against the state machine (linearizably through ReadIndex,
/// or locally when the client allowed stale reads; inside a transaction's
/// entry too, hence serializable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadCommand {
    /// GET key.
    Get(#[serde(with = "serde_bytes")] Vec<u8>),
    /// MGET key [key ...].
    MGet(#[serde(with = "byte_strings")] Vec<Vec<u8>>),
    /// EXISTS key [key ...].
    Exists(#[serde(with = "byte_strings")] Vec<Vec<u8>>),
    /// DBSIZE.
    DbSize,
    /// The whole state in the snapshot format (`RAFT.BACKUP`): linearizable
    /// like every read, so it holds every write acknowledged before it.
    Backup,
    /// STRLEN key.
    Strlen(#[serde(with = "serde_bytes")] Vec<u8>),
    /// TYPE key.
    Type(#[serde(with = "serde_bytes")] Vec<u8>),
    /// KEYS pattern (Redis's glob syntax).
    Keys(#[serde(with = "serde_bytes")] Vec<u8>),
    /// GETRANGE key start end (inclusive, negative from the end).
    GetRange(#[serde(with = "serde_bytes")] Vec<u8>, i64, i64),
    /// GETBIT key offset.
    GetBit(#[serde(with = "serde_bytes")] Vec<u8>, u64),
    /// BITCOUNT key [start end [BYTE | BIT]]: the range and whether it
    /// counts bits (`BIT`) rather than bytes.
    BitCount(
        #[serde(with = "serde_bytes")] Vec<u8>,
        Option<(i64, i64, bool)>,
    ),
    /// A read of a hash, list or set, as its words (the name first).
    Words(#[serde(with = "byte_strings")] Vec<Vec<u8>>),
}

impl ReadCommand {
    /// The keys it reads.
    pub fn keys(&self) -> &[Vec<u8>] {
        match self {
            ReadCommand::Get(k)
            | ReadCommand::Strlen(k)
            | ReadCommand::Type(k)
            | ReadCommand::GetRange(k, ..)
            | ReadCommand::GetBit(k, _)
            | ReadCommand::BitCount(k, _) => std::slice::from_ref(k),
            ReadCommand::MGet(ks) | ReadCommand::Exists(ks) => ks,
            ReadCommand::Words(argv) => argv.get(1..2).unwrap_or_default(),
            ReadCommand::DbSize | ReadCommand::Backup | ReadCommand::Keys(_) => &[],
        }
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
