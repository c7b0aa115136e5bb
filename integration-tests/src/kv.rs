//! The simulated clients' state machine: a map of registers, with per-client
//! sequence numbers so that a write delivered twice (a duplicated forward) or after
//! its client gave up on it applies at most once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A client write as carried in a log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// Issuing client.
    pub client: u64,
    /// The client's sequence number (increasing).
    pub seq: u64,
    /// Register.
    pub key: u64,
    /// Value (unique in the run).
    pub value: u64,
    /// The proposing node's clock (Unix ms), as the runtime stamps entries.
    pub at_ms: u64,
    /// When the value expires (Unix ms); 0: never.
    pub expires_at_ms: u64,
}

impl Write {
    /// An entry that writes nothing and moves the state machine's clock to
    /// `at_ms` (see [`crate::expiry::TICK_CLIENT`]).
    pub fn tick(at_ms: u64) -> Write {
        Write {
            client: crate::expiry::TICK_CLIENT,
            seq: 0,
            key: 0,
            value: 0,
            at_ms,
            expires_at_ms: 0,
        }
    }

    /// Encodes for a log entry.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("a Write always encodes")
    }

    /// Decodes a log entry's payload.
    pub fn decode(bytes: &[u8]) -> Option<Write> {
        postcard::from_bytes(bytes).ok()
    }
}

/// The replicated registers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registers {
    values: BTreeMap<u64, u64>,
    last_seq: BTreeMap<u64, u64>,
}

impl Registers {
    /// Applies a write; returns false if it was a stale duplicate and was
    /// skipped, or a tick (no write at all).
    pub fn apply(&mut self, w: &Write) -> bool {
        if w.client == crate::expiry::TICK_CLIENT {
            return false;
        }
        let last = self.last_seq.entry(w.client).or_insert(0);
        if w.seq <= *last {
            return false;
        }
        *last = w.seq;
        self.values.insert(w.key, w.value);
        true
    }

    /// The register's value.
    pub fn get(&self, key: u64) -> Option<u64> {
        self.values.get(&key).copied()
    }

    /// A fingerprint of the whole state, to compare nodes at one log index.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        self.values.hash(&mut h);
        self.last_seq.hash(&mut h);
        h.finish()
    }

    /// Serialized state for a snapshot.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("registers always encode")
    }

    /// State from a snapshot.
    pub fn decode(bytes: &[u8]) -> Option<Registers> {
        if bytes.is_empty() {
            return Some(Registers::default());
        }
        postcard::from_bytes(bytes).ok()
    }
}
