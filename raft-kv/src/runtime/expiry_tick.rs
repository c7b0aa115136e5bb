//! The leader's part in expiry:
//! - it stamps the proposals followers forward to it with its own clock
//!   ([`stamp_forwarded`]), so every entry carries the time of the leader
//!   that appended it, as Redis's primary decides time for its replicas;
//! - when a key's expiry time has passed by its clock and nothing else moved
//!   the state machine's clock past it, it proposes an empty entry
//!   ([`Op::Tick`]) carrying its time. Applying it moves the clock and
//!   deletes the key on every replica at the same log position, as a Redis
//!   primary sends DEL to its replicas.

use super::clock::unix_ms_now;
use parking_lot::RwLock;
use raft_kv_state::{Entry, KvStore, Op, ProposalId};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// On the leader (`leading`), stamps each proposal a follower forwarded in
/// `m` (about to be appended) with this node's clock and the state machine
/// `version` the cluster runs. Other messages, and a payload that is not an
/// entry of this store, are left as they are.
pub(crate) fn stamp_forwarded(m: &mut raft_core::Message, leading: bool, version: u32) {
    let raft_core::MessageBody::Propose { entries } = &mut m.body else {
        return;
    };
    if !leading {
        return;
    }
    let now = unix_ms_now();
    for e in entries {
        if let raft_core::EntryPayload::Normal(data) = &mut e.payload
            && let Some(stamped) = Entry::restamp(data, now, version)
        {
            *data = stamped;
        }
    }
}

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
    pub(crate) fn due(
        &mut self,
        node: u64,
        now: Instant,
        leading: bool,
        version: u32,
    ) -> Option<Vec<u8>> {
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
        // Nobody waits for a tick's reply: an id no request has.
        let id = ProposalId {
            node,
            nonce: 0,
            seq: 0,
        };
        let mut tick = Entry::new(id, wall, Op::Tick);
        tick.version = version;
        Some(tick.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_kv_state::Reply;

    fn proposal_in(m: &raft_core::Message) -> Entry {
        let raft_core::MessageBody::Propose { entries } = &m.body else {
            panic!("a forwarded proposal");
        };
        let raft_core::EntryPayload::Normal(data) = &entries[0].payload else {
            panic!("a normal entry");
        };
        Entry::decode(data).expect("an entry")
    }

    #[test]
    fn forwarded_proposals_carry_the_leaders_time() {
        let id = ProposalId {
            node: 2,
            nonce: 3,
            seq: 4,
        };
        let proposal = Entry::new(id, 5, Op::Tick);
        let entry = raft_core::Entry {
            index: 1,
            term: 1,
            payload: raft_core::EntryPayload::Normal(proposal.encode()),
        };
        let mut m = raft_core::Message {
            from: 2,
            to: 1,
            term: 1,
            body: raft_core::MessageBody::Propose {
                entries: vec![entry],
            },
        };
        let before = unix_ms_now();
        stamp_forwarded(&mut m, false, 2);
        assert_eq!(proposal_in(&m).at_ms, 5, "only a leader stamps");
        stamp_forwarded(&mut m, true, 2);
        let stamped = proposal_in(&m);
        assert!(stamped.at_ms >= before, "the leader's clock");
        assert_eq!((stamped.id, stamped.op), (proposal.id, proposal.op));
    }

    #[test]
    fn a_tick_waits_for_the_last_one_to_be_applied_or_for_the_retry_time() {
        let store = Arc::new(RwLock::new(KvStore::new()));
        let argv = ["SET", "k", "v", "PX", "1"].map(|w| w.as_bytes().to_vec());
        assert_eq!(store.write().apply_call(&argv, 0), Reply::ok());
        let mut ticker = ExpiryTicker::new(store.clone());
        let t0 = Instant::now();
        assert!(
            ticker.due(1, t0, false, 2).is_none(),
            "only the leader ticks"
        );
        assert!(ticker.due(1, t0, true, 2).is_some(), "the key is due");
        let later = t0 + MIN_TICK_INTERVAL * 2;
        assert!(
            ticker.due(1, later, true, 2).is_none(),
            "the tick is not applied yet"
        );
        assert!(
            ticker.due(1, t0 + UNAPPLIED_TICK_RETRY, true, 2).is_some(),
            "lost? retried"
        );
    }
}
