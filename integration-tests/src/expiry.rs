//! Expiry under the simulator: each node also runs the store's real state
//! machine ([`KvStore`]) on the simulated writes, which carry the virtual
//! time of the leader that appended them (a forwarded write is restamped by
//! the leader) and (some of them) an absolute expiry time, as the node
//! runtime's entries do. Every node's clock is the simulation's time plus a
//! skew of its own, fixed per run and bounded by [`MAX_SKEW_MS`] (the
//! assumption `raft-kv/src/store/expiry.rs` writes down).
//!
//! What is checked:
//! - every replica's store is the same at every log index (its fingerprint
//!   goes into the state check of [`crate::invariants`]), however the nodes'
//!   clocks disagree and whatever crashes, restarts and snapshots happen;
//! - a read never returns a value whose expiry has passed by the serving
//!   node's clock, and a value vanishes only once its expiry has passed by the
//!   reader's clock or the state machine's.

use crate::kv::Write;
use raft_kv_state::{KvStore, Reply};
use std::collections::BTreeMap;

/// The largest skew between a node's clock and the simulation's time (ms).
pub const MAX_SKEW_MS: u64 = 400;

/// Milliseconds of virtual time per simulation time unit.
pub const MS_PER_UNIT: u64 = 10;

/// The virtual wall clock at simulation time 0 (any fixed Unix time).
pub const EPOCH_MS: u64 = 1_700_000_000_000;

/// The `client` of an empty entry that only moves the state machine's clock
/// (the runtime's `Tick`, proposed by the leader when a key is due).
pub const TICK_CLIENT: u64 = u64::MAX - 7;

/// What a checked read found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadSeen {
    /// The register's value (or no value at all).
    Current,
    /// Nothing: the value expired by the reader's clock, and the state
    /// machine (whose clock is behind) still held it.
    HiddenByReaderClock,
    /// Nothing: the state machine's clock passed the expiry and removed it.
    RemovedByStateMachine,
}

/// One node's store.
#[derive(Clone, Debug, Default)]
pub struct KvMirror {
    store: KvStore,
}

fn key_of(register: u64) -> Vec<u8> {
    format!("k{register}").into_bytes()
}

impl KvMirror {
    /// Applies `w` at log `index`: the clock moves to the entry's time
    /// first (deleting what expired by it), then the write, if it is one.
    pub fn apply(&mut self, index: u64, w: &Write, is_new: bool) {
        self.store.advance_clock(w.at_ms);
        if w.client != TICK_CLIENT && is_new {
            let mut argv = vec![
                b"SET".to_vec(),
                key_of(w.key),
                w.value.to_string().into_bytes(),
            ];
            if w.expires_at_ms != 0 {
                argv.push(b"PXAT".to_vec());
                argv.push(w.expires_at_ms.to_string().into_bytes());
            }
            let reply = self.store.apply_call(&argv, 0);
            assert_eq!(reply, Reply::ok(), "a simulated SET always succeeds");
        }
        self.store.set_applied_index(index);
    }

    /// The state from a snapshot's part for the store.
    pub fn restore(bytes: &[u8], index: u64) -> KvMirror {
        let mut store = KvStore::decode_snapshot(bytes).expect("the sim's snapshots decode");
        store.set_applied_index(index);
        KvMirror { store }
    }

    /// The store's part of a snapshot.
    pub fn encode(&self) -> Vec<u8> {
        self.store.encode_snapshot()
    }

    /// The state machine's clock (the largest proposer time applied).
    pub fn clock_ms(&self) -> u64 {
        self.store.clock_ms()
    }

    /// The earliest expiry time of any key.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.store.next_expiry_ms()
    }

    /// A fingerprint of what the state machine holds (the clock, and each
    /// live key's value and expiry, in key order).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut h = DefaultHasher::new();
        self.store.clock_ms().hash(&mut h);
        let words = |ws: &[&[u8]]| ws.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
        let keys = match self.store.read_at(&words(&[b"KEYS", b"*"]), 0) {
            Reply::Array(keys) => keys,
            other => vec![other],
        };
        for k in keys {
            let Reply::Bulk(Some(k)) = k else { continue };
            k.hash(&mut h);
            format!("{:?}", self.store.read_at(&words(&[b"GET", &k]), 0)).hash(&mut h);
            let expiry = words(&[b"PEXPIRETIME", &k]);
            format!("{:?}", self.store.read_at(&expiry, 0)).hash(&mut h);
        }
        h.finish()
    }

    /// Checks a read of `register` at a node whose clock reads `reader_ms`,
    /// whose registers hold `current`; `expiry_of` maps each written value to
    /// its absolute expiry (0: none).
    pub fn check_read(
        &self,
        register: u64,
        current: Option<u64>,
        reader_ms: u64,
        expiry_of: &BTreeMap<u64, u64>,
    ) -> Result<ReadSeen, String> {
        let got = match self
            .store
            .read_at(&[b"GET".to_vec(), key_of(register)], reader_ms)
        {
            Reply::Bulk(v) => v.and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok()),
            other => return Err(format!("GET answered {other:?}")),
        };
        let expiry = |v: u64| expiry_of.get(&v).copied().unwrap_or(0);
        match (current, got) {
            (_, Some(v)) if Some(v) != current => Err(format!(
                "register {register}: the store holds {v}, the registers {current:?}"
            )),
            (_, Some(v)) if expiry(v) != 0 && expiry(v) <= reader_ms => Err(format!(
                "register {register}: read {v} at {reader_ms}, past its expiry {}",
                expiry(v)
            )),
            (Some(v), None) if expiry(v) == 0 => Err(format!(
                "register {register}: {v} has no expiry, yet the store lost it"
            )),
            (Some(v), None) if expiry(v) > reader_ms.max(self.store.clock_ms()) => Err(format!(
                "register {register}: {v} vanished before its expiry {} (reader at {reader_ms}, state machine at {})",
                expiry(v),
                self.store.clock_ms()
            )),
            (Some(v), None) if expiry(v) > self.store.clock_ms() => {
                Ok(ReadSeen::HiddenByReaderClock)
            }
            (Some(_), None) => Ok(ReadSeen::RemovedByStateMachine),
            _ => Ok(ReadSeen::Current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(seq: u64, value: u64, at_ms: u64, expires_at_ms: u64) -> Write {
        Write {
            client: 0,
            seq,
            key: 1,
            value,
            at_ms,
            expires_at_ms,
        }
    }

    #[test]
    fn a_key_is_served_until_its_expiry_by_the_readers_clock_and_no_longer() {
        let mut m = KvMirror::default();
        m.apply(1, &write(1, 7, 1_000, 1_500), true);
        let expiries = BTreeMap::from([(7, 1_500)]);
        assert_eq!(
            m.check_read(1, Some(7), 1_499, &expiries),
            Ok(ReadSeen::Current)
        );
        assert_eq!(
            m.check_read(1, Some(7), 1_500, &expiries),
            Ok(ReadSeen::HiddenByReaderClock),
            "gone by the reader's clock"
        );
        let tick = Write {
            client: TICK_CLIENT,
            ..write(0, 0, 1_600, 0)
        };
        m.apply(2, &tick, true);
        assert_eq!(m.next_expiry_ms(), None, "the tick deleted it");
        assert_eq!(
            m.check_read(1, Some(7), 1_000, &expiries),
            Ok(ReadSeen::RemovedByStateMachine),
            "gone for a reader whose clock is behind, too"
        );
        let restored = KvMirror::restore(&m.encode(), 2);
        assert_eq!(restored.fingerprint(), m.fingerprint());
    }

    #[test]
    fn a_value_lost_without_expiry_or_read_past_it_is_reported() {
        let mut m = KvMirror::default();
        m.apply(1, &write(1, 7, 1_000, 0), true);
        let none = BTreeMap::new();
        assert!(m.check_read(1, Some(8), 1_000, &none).is_err(), "differs");
        let lying = BTreeMap::from([(7, 900)]);
        assert!(
            m.check_read(1, Some(7), 950, &lying).is_err(),
            "served past the expiry the writer set"
        );
    }
}
