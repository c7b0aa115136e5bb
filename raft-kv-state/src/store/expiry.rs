//! Time in the state machine. Every entry carries the wall clock of the
//! leader that appended it (`Proposal::at_ms`: the leader restamps the
//! proposals followers forward); the state machine's clock is the largest
//! such time applied, so it is a function of the log and the same on every
//! replica.
//! Applying an entry first moves the clock and removes every key whose
//! expiry time it passed, so no write ever sees an expired key and every
//! replica deletes the same keys at the same log position. When nothing is
//! written, the leader proposes an empty entry (`Op::Tick`) once a key
//! is due, which moves the clock and so deletes it through the log.
//!
//! Reads judge liveness by the serving node's own clock ([`KvStore::read_at`]),
//! so a read never returns a key whose expiry has passed by that clock. The
//! assumption is that the nodes' clocks differ by a bounded skew (NTP): a
//! relative TTL is measured from the leader's clock, so a key lives its TTL
//! give or take the skew between leaders (after an election) and readers.

use super::KvStore;
use super::value::Slot;
use std::cell::Cell;

thread_local! {
    /// The reader's clock while [`KvStore::read_at`] runs on this thread.
    static READ_NOW: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Restores the previous read clock when a read ends (even by a panic).
struct ReadClock(Option<u64>);

impl ReadClock {
    fn set(now_ms: u64) -> ReadClock {
        ReadClock(READ_NOW.with(|c| c.replace(Some(now_ms))))
    }
}

impl Drop for ReadClock {
    fn drop(&mut self) {
        READ_NOW.with(|c| c.set(self.0));
    }
}

impl KvStore {
    /// Moves the clock to `at_ms` if that is later, and removes every key
    /// that expired by the clock.
    pub fn advance_clock(&mut self, at_ms: u64) {
        self.clock_ms = self.clock_ms.max(at_ms);
        while let Some((at, key)) = self.expiries.first().cloned() {
            if at > self.clock_ms {
                break;
            }
            self.expiries.pop_first();
            if self.map.get(&key).is_some_and(|s| s.expires_at_ms == at) {
                self.map.remove(&key);
            }
        }
    }

    /// The state machine's clock (Unix ms).
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    /// The earliest expiry time of any key, if a key has one.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.expiries.first().map(|(at, _)| *at)
    }

    /// Runs the read `argv` (the name first) with liveness judged by
    /// `now_ms` (the serving node's clock; never earlier than the state
    /// machine's).
    pub fn read_at(&self, argv: &[Vec<u8>], now_ms: u64) -> crate::reply::Reply {
        let _clock = ReadClock::set(now_ms.max(self.clock_ms));
        self.read_call(argv)
    }

    /// The versions of `keys` ([`KvStore::key_version`]) with liveness
    /// judged by `now_ms` (the serving node's clock), for WATCH.
    pub fn versions_at(&self, keys: &[Vec<u8>], now_ms: u64) -> Vec<Option<u64>> {
        let _clock = ReadClock::set(now_ms.max(self.clock_ms));
        keys.iter().map(|k| self.key_version(k)).collect()
    }

    /// The slot of `key` whether or not it expired (tests look at expiry
    /// times the readers must respect).
    #[cfg(test)]
    pub(super) fn slot_anytime(&self, key: &[u8]) -> Option<&Slot> {
        self.map.get(key)
    }

    /// The time liveness is judged by now: the reader's clock inside
    /// [`KvStore::read_at`], the state machine's clock otherwise (applying).
    pub(super) fn now_ms(&self) -> u64 {
        READ_NOW.with(Cell::get).unwrap_or(self.clock_ms)
    }

    /// True if `slot` has not expired by [`KvStore::now_ms`].
    pub(super) fn is_live(&self, slot: &Slot) -> bool {
        slot.expires_at_ms == 0 || slot.expires_at_ms > self.now_ms()
    }

    /// Records `slot`'s expiry (if it has one) for `key` in the index.
    pub(super) fn index_expiry(&mut self, key: &super::value::SharedBytes, slot: &Slot) {
        if slot.expires_at_ms != 0 {
            self.expiries.insert((slot.expires_at_ms, key.clone()));
        }
    }

    /// Forgets `slot`'s expiry for `key` in the index.
    pub(super) fn unindex_expiry(&mut self, key: &[u8], slot: &Slot) {
        if slot.expires_at_ms != 0 {
            self.expiries.remove(&(slot.expires_at_ms, key.into()));
        }
    }

    /// Sets the expiry of the live key `key` to `at_ms` (0: none); a time
    /// the clock has passed removes the key. False if there is no such key.
    pub(super) fn set_expiry(&mut self, key: &[u8], at_ms: u64) -> bool {
        let Some(mut slot) = self.take_slot(key) else {
            return false;
        };
        if at_ms != 0 && at_ms <= self.clock_ms {
            return true; // expired already: gone, as Redis deletes it
        }
        slot.expires_at_ms = at_ms;
        self.put_slot(key.into(), slot);
        true
    }

    /// Rebuilds the expiry index from the keys (after loading a snapshot).
    pub(super) fn rebuild_expiries(&mut self) {
        self.expiries = self
            .map
            .iter()
            .filter(|(_, s)| s.expires_at_ms != 0)
            .map(|(k, s)| (s.expires_at_ms, k.clone()))
            .collect();
    }
}
