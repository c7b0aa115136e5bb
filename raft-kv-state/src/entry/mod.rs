//! The log's entry format: what an entry of the store holds and how it is
//! written.
//!
//! Every client write reaches the log in one form: a command's words
//! ([`Call`]), or a transaction of them, or a script. An entry carries the
//! state machine version it was proposed at ([`STATE_MACHINE_VERSION`] is
//! this binary's): the leader proposes at the highest version every voter
//! supports (members advertise theirs through the log, [`Op::Member`]), and a
//! node stops before it applies an entry of a version it does not know
//! ([`EntryDecodeError::UnknownVersion`]), so replicas on different binaries
//! never apply one entry two ways.
//!
//! On the wire an entry is [`MARK`], then its version and body in postcard.
//! Entries written before versions existed (version 1) start otherwise and
//! are read by [`legacy`], which maps each to the ops below.
//!
//! The variant order of every enum here is part of the format: new variants
//! go last, and none is ever removed while a log may hold it.

mod legacy;

use crate::limits::Limits;
use crate::reply::Reply;
use serde::{Deserialize, Serialize};

/// The state machine version this binary proposes at and applies up to.
/// Version 2 is the first versioned format; version 3 brought `PUBLISH` and
/// `SPUBLISH` into the log (a command's registration says which version
/// knows it, [`crate::registry::Command::since_version`]).
pub const STATE_MACHINE_VERSION: u32 = 3;

/// The version of entries written before entries carried one.
pub const LEGACY_VERSION: u32 = 1;

/// The first two bytes of a versioned entry: a varint no postcard encoder
/// writes (a zero continued by a zero), so no version-1 entry starts so.
pub const MARK: [u8; 2] = [0x80, 0x00];

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

/// Lists of byte strings (de)serialized in bulk; the postcard bytes are those
/// of a plain `Vec<Vec<u8>>`.
pub(crate) mod byte_strings {
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

/// One command as its words, the name first, with the randomness its
/// proposer drew for it (0 for a command without randomness).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The words.
    #[serde(with = "byte_strings")]
    pub argv: Vec<Vec<u8>>,
    /// Seeds the command's random choices, the same on every replica.
    pub seed: u64,
}

/// A script to run ([`Op::Script`]).
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
    pub limits: Limits,
}

/// One command queued in a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Queued {
    /// A command, applied (a write) or answered (a read) at its place.
    Call(Call),
    /// A reply known when the command was queued (an error its own checks
    /// found, or a command outside the state machine), carried to its place.
    Fixed(Reply),
    /// Version 1's INCRBY ([`Op::LegacyIncrBy`]) inside a transaction.
    LegacyIncrBy {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Amount.
        delta: i64,
    },
}

/// `MULTI` ... `EXEC`: the queued commands, applied in order as one entry
/// (nothing else runs between them); with watched keys, only if none
/// changed since the connection saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// The watched keys and the versions seen when they were watched
    /// (`None`: absent).
    pub watched: Vec<(serde_bytes::ByteBuf, Option<u64>)>,
    /// The queued commands.
    pub queued: Vec<Queued>,
}

/// What a member tells the cluster about itself ([`Op::Member`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAdvert {
    /// The member.
    pub id: u64,
    /// Its client address (`host:port`).
    pub client_addr: String,
    /// The highest state machine version it applies (`None`: a version-1
    /// member, which did not say).
    pub state_machine_version: Option<u32>,
}

/// What an entry does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// A client's write as its words.
    Call(Call),
    /// `MULTI` ... `EXEC`.
    Transaction(Transaction),
    /// `EVAL` and its kin: a Lua script, run by every replica's applier,
    /// deterministically: its randomness comes from the entry, its clock is
    /// the entry's, the limits are the proposer's.
    Script(Box<ScriptCall>),
    /// `SCRIPT KILL` (`kill`), or a replica's word that the script of entry
    /// `script` goes on: the first marker after a script in the log decides,
    /// on every replica, whether a script past its fast phase is killed.
    ScriptMarker {
        /// The log index of the script's entry.
        script: u64,
        /// Kill it (else: let it go on).
        kill: bool,
    },
    /// Changes nothing: carries the leader's time, which moves the state
    /// machine's clock and so deletes the keys that expired.
    Tick,
    /// A member's client address and state machine version.
    Member(MemberAdvert),
    /// INCRBY as version 1 logged it at first, reading the stored value with
    /// Rust's integer parse (which takes `+5` and `007`): kept so that such
    /// entries replay as every replica applied them. Never proposed.
    LegacyIncrBy {
        /// Key.
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        /// Amount.
        delta: i64,
    },
}

/// One entry of the store's log.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The state machine version it was proposed at (the leader's).
    pub version: u32,
    /// Who proposed it (for the reply).
    pub id: ProposalId,
    /// The wall clock (Unix ms) of the leader that appended it (a follower
    /// stamps its own, and the leader restamps what followers forward): the
    /// state machine's clock moves to the largest such time in the log, so
    /// expiry is decided by the log, never by the applying node's clock. 0
    /// in entries written before entries carried a time.
    pub at_ms: u64,
    /// What it does.
    pub op: Op,
}

/// An entry's fields after its version, as written.
#[derive(Serialize, Deserialize)]
struct Body {
    id: ProposalId,
    at_ms: u64,
    op: Op,
}

/// Why a log entry's payload is not an entry this binary applies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryDecodeError {
    /// Written at a state machine version this binary does not know.
    #[error(
        "it was written at state machine version {version}, and this binary applies versions up to {STATE_MACHINE_VERSION}"
    )]
    UnknownVersion {
        /// The entry's version.
        version: u32,
    },
    /// Not an entry of this store, or damaged.
    #[error("it does not decode as an entry of this store ({0})")]
    Undecodable(String),
}

impl Entry {
    /// An entry of this binary's version.
    pub fn new(id: ProposalId, at_ms: u64, op: Op) -> Entry {
        Entry {
            version: STATE_MACHINE_VERSION,
            id,
            at_ms,
            op,
        }
    }

    /// Encodes for a log entry.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MARK.to_vec();
        postcard::to_io(&self.version, &mut out).expect("a vector takes every write");
        let body = BodyRef {
            id: &self.id,
            at_ms: self.at_ms,
            op: &self.op,
        };
        postcard::to_io(&body, &mut out).expect("an entry always encodes");
        out
    }

    /// Decodes a log entry's payload (any version this binary knows).
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryDecodeError> {
        let Some(rest) = bytes.strip_prefix(&MARK) else {
            return legacy::decode(bytes);
        };
        let undecodable = |e: postcard::Error| EntryDecodeError::Undecodable(e.to_string());
        let (version, rest) = postcard::take_from_bytes::<u32>(rest).map_err(undecodable)?;
        if !(LEGACY_VERSION + 1..=STATE_MACHINE_VERSION).contains(&version) {
            return Err(EntryDecodeError::UnknownVersion { version });
        }
        let body: Body = postcard::from_bytes(rest).map_err(undecodable)?;
        Ok(Entry {
            version,
            id: body.id,
            at_ms: body.at_ms,
            op: body.op,
        })
    }

    /// `bytes` (an entry of this store) with its time set to `at_ms` and,
    /// for a versioned entry, its version to `version`: how a leader stamps
    /// what a follower forwarded. A version-1 entry stays in its format, so a
    /// node that knows only that format can still apply it. `None` if
    /// `bytes` is not an entry this binary reads.
    pub fn restamp(bytes: &[u8], at_ms: u64, version: u32) -> Option<Vec<u8>> {
        if !bytes.starts_with(&MARK) {
            return legacy::restamp(bytes, at_ms);
        }
        let mut entry = Entry::decode(bytes).ok()?;
        entry.at_ms = at_ms;
        entry.version = version;
        Some(entry.encode())
    }
}

/// [`Body`] borrowing an entry's fields (the same bytes).
#[derive(Serialize)]
struct BodyRef<'a> {
    id: &'a ProposalId,
    at_ms: u64,
    op: &'a Op,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ProposalId {
        ProposalId {
            node: 3,
            nonce: 9,
            seq: 1,
        }
    }

    fn set() -> Op {
        Op::Call(Call {
            argv: vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()],
            seed: 0,
        })
    }

    #[test]
    fn an_entry_round_trips_with_its_version() {
        let e = Entry::new(id(), 17, set());
        let bytes = e.encode();
        assert!(bytes.starts_with(&MARK));
        assert_eq!(Entry::decode(&bytes), Ok(e));
    }

    #[test]
    fn an_entry_of_a_newer_version_is_refused_before_its_body_is_read() {
        let mut e = Entry::new(id(), 17, set());
        e.version = STATE_MACHINE_VERSION + 1;
        let mut bytes = e.encode();
        bytes.truncate(MARK.len() + 1); // a body it could not read anyway
        assert_eq!(
            Entry::decode(&bytes),
            Err(EntryDecodeError::UnknownVersion {
                version: STATE_MACHINE_VERSION + 1
            })
        );
    }

    #[test]
    fn restamping_sets_the_leaders_time_and_version() {
        let bytes = Entry::new(id(), 17, set()).encode();
        let stamped = Entry::restamp(&bytes, 99, STATE_MACHINE_VERSION).expect("ours");
        let e = Entry::decode(&stamped).expect("decodes");
        assert_eq!((e.at_ms, e.op), (99, set()));
        assert_eq!(Entry::restamp(b"\x80\x00\xff", 1, 2), None);
    }
}
