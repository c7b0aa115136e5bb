//! The leader's part in expiry: when a key's expiry time has passed by the
//! leader's clock and nothing else moved the state machine's clock past it,
//! the leader proposes an empty entry (`Command::Tick`) carrying its time.
//! Applying it moves the clock and deletes the key on every replica at the
//! same log position, as a Redis primary sends DEL to its replicas.

use crate::command::{Command, Proposal, ProposalId, unix_ms_now};
use crate::store::KvStore;
use parking_lot::RwLock;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest time between two ticks the leader proposes.
const MIN_TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Decides when the leader proposes a tick.
pub(crate) struct ExpiryTicker {
    store: Arc<RwLock<KvStore>>,
    last: Option<Instant>,
}

impl ExpiryTicker {
    pub(crate) fn new(store: Arc<RwLock<KvStore>>) -> Self {
        ExpiryTicker { store, last: None }
    }

    /// The payload of a tick to propose now, if a key is due and no tick went
    /// out in the last [`MIN_TICK_INTERVAL`]. Never waits for the store (the
    /// applier may hold it): a busy store is looked at next time.
    pub(crate) fn due(&mut self, node: u64, now: Instant) -> Option<Vec<u8>> {
        if self.last.is_some_and(|t| now < t + MIN_TICK_INTERVAL) {
            return None;
        }
        let next = self.store.try_read()?.next_expiry_ms()?;
        let wall = unix_ms_now();
        if next > wall {
            return None;
        }
        self.last = Some(now);
        let proposal = Proposal {
            // Nobody waits for a tick's reply: an id no request has.
            id: ProposalId {
                node,
                nonce: 0,
                seq: 0,
            },
            command: Command::Tick,
            at_ms: wall,
        };
        Some(proposal.encode())
    }
}
