//! Replicated commands (what log entries carry) and the replies clients get.

use serde::{Deserialize, Serialize};

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

/// A state-changing command, applied deterministically in log order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// SET key value.
    Set {
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// DEL key [key ...].
    Del {
        /// Keys to remove.
        keys: Vec<Vec<u8>>,
    },
    /// MSET k v [k v ...], atomically.
    MSet {
        /// Pairs to set.
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// INCRBY key delta (INCR is delta 1).
    IncrBy {
        /// Key.
        key: Vec<u8>,
        /// Amount.
        delta: i64,
    },
    /// CAS key expected new: swap only if the current value equals `expected`.
    Cas {
        /// Key.
        key: Vec<u8>,
        /// Required current value.
        expected: Vec<u8>,
        /// Value to install.
        new: Vec<u8>,
    },
}

/// What a log entry of the KV store holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Who proposed it (for the reply).
    pub id: ProposalId,
    /// What to do.
    pub command: Command,
}

impl Proposal {
    /// Encodes for a log entry.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("a Proposal always encodes")
    }

    /// Decodes a log entry's payload; None if it is not a proposal of this store.
    pub fn decode(bytes: &[u8]) -> Option<Proposal> {
        postcard::from_bytes(bytes).ok()
    }
}

/// A reply in the shape of RESP2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+text`
    Simple(String),
    /// `-CODE text`
    Error(String),
    /// `:n`
    Int(i64),
    /// `$len bytes` or the nil bulk.
    Bulk(Option<Vec<u8>>),
    /// `*n ...`
    Array(Vec<Reply>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// An error reply with a code word (`ERR`, `NOLEADER`, `TIMEOUT`, `SHUTDOWN`).
    pub fn error(code: &str, text: impl std::fmt::Display) -> Reply {
        Reply::Error(format!("{code} {text}"))
    }

    /// Appends the RESP2 encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
            }
            Reply::Error(s) => {
                out.push(b'-');
                // An error line must not contain CR or LF.
                out.extend(
                    s.bytes()
                        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
                );
            }
            Reply::Int(n) => {
                out.push(b':');
                out.extend_from_slice(n.to_string().as_bytes());
            }
            Reply::Bulk(None) => out.extend_from_slice(b"$-1"),
            Reply::Bulk(Some(b)) => {
                out.push(b'$');
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(b);
            }
            Reply::Array(items) => {
                out.push(b'*');
                out.extend_from_slice(items.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for item in items {
                    item.encode_into(out);
                }
                return;
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}
