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

/// How long a tick not yet applied here holds back the next one (it may have
/// been lost with a leader change).
const UNAPPLIED_TICK_RETRY: Duration = Duration::from_secs(1);

/// Decides when the leader proposes a tick.
pub(crate) struct ExpiryTicker {
    store: Arc<RwLock<KvStore>>,
    /// When the last tick was proposed, and the time it carried.
    last: Option<(Instant, u64)>,
}

impl ExpiryTicker {
    pub(crate) fn new(store: Arc<RwLock<KvStore>>) -> Self {
        ExpiryTicker { store, last: None }
    }

    /// The payload of a tick to propose now (on the leader), if a key is due,
    /// no tick went out in the last [`MIN_TICK_INTERVAL`], and the last one
    /// was applied here (or [`UNAPPLIED_TICK_RETRY`] passed): a leader that
    /// cannot commit does not fill its log with ticks. Never waits for the
    /// store (the applier may hold it): a busy store is looked at next time.
    pub(crate) fn due(&mut self, node: u64, now: Instant, leading: bool) -> Option<Vec<u8>> {
        if !leading || self.last.is_some_and(|(t, _)| now < t + MIN_TICK_INTERVAL) {
            return None;
        }
        let store = self.store.try_read()?;
        let next = store.next_expiry_ms()?;
        let wall = unix_ms_now();
        if next > wall {
            return None;
        }
        let unapplied = self
            .last
            .is_some_and(|(t, at_ms)| store.clock_ms() < at_ms && now < t + UNAPPLIED_TICK_RETRY);
        if unapplied {
            return None;
        }
        self.last = Some((now, wall));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Reply;

    #[test]
    fn a_tick_waits_for_the_last_one_to_be_applied_or_for_the_retry_time() {
        let store = Arc::new(RwLock::new(KvStore::new()));
        let argv = ["SET", "k", "v", "PX", "1"].map(|w| w.as_bytes().to_vec());
        let set = Command::Words {
            argv: argv.to_vec(),
            seed: 0,
        };
        assert_eq!(store.write().apply(&set), Reply::ok());
        let mut ticker = ExpiryTicker::new(store.clone());
        let t0 = Instant::now();
        assert!(ticker.due(1, t0, false).is_none(), "only the leader ticks");
        assert!(ticker.due(1, t0, true).is_some(), "the key is due");
        let later = t0 + MIN_TICK_INTERVAL * 2;
        assert!(
            ticker.due(1, later, true).is_none(),
            "the tick is not applied yet"
        );
        assert!(
            ticker.due(1, t0 + UNAPPLIED_TICK_RETRY, true).is_some(),
            "lost? retried"
        );
    }
}
