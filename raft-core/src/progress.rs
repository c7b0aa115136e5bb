//! What a leader knows about one follower's log, and the flow control that keeps
//! it from flooding that follower. Modeled on etcd-io/raft `tracker/progress.go`.
//!
//! States:
//! - **Probe**: the follower's log position is unknown; send at most one append per
//!   heartbeat interval and wait for the answer.
//! - **Replicate**: the position is known; stream appends optimistically, bounded by
//!   the inflight window.
//! - **Snapshot**: the needed entries are compacted; a snapshot is on its way and
//!   nothing else is sent until it is acknowledged.

use crate::types::LogIndex;
use std::collections::VecDeque;

/// The replication state of a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// Searching for the follower's last matching index.
    Probe,
    /// Streaming entries.
    Replicate,
    /// Waiting for a snapshot to be installed.
    Snapshot,
}

/// A bounded window of appends sent but not yet acknowledged: each slot is the last
/// index an append carried and its size. Full means: stop sending.
#[derive(Clone, Debug)]
pub struct Inflights {
    slots: VecDeque<(LogIndex, u64)>,
    bytes: u64,
    max_count: usize,
    max_bytes: u64,
}

impl Inflights {
    /// A window of at most `max_count` appends and `max_bytes` bytes (0: no byte limit).
    pub fn new(max_count: usize, max_bytes: u64) -> Self {
        assert!(
            max_count > 0,
            "inflight window must hold at least one append"
        );
        Inflights {
            slots: VecDeque::with_capacity(max_count),
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    /// Records an append whose last entry is `last_index`, of `bytes` bytes.
    pub fn add(&mut self, last_index: LogIndex, bytes: u64) {
        debug_assert!(!self.full(), "add to a full inflight window");
        debug_assert!(
            self.slots.back().is_none_or(|&(i, _)| i <= last_index),
            "inflight indexes must not decrease"
        );
        self.slots.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Frees every append whose last index is at most `index`.
    pub fn free_to(&mut self, index: LogIndex) {
        while let Some(&(i, b)) = self.slots.front() {
            if i > index {
                break;
            }
            self.bytes -= b;
            self.slots.pop_front();
        }
    }

    /// Frees the oldest append (a heartbeat response shows the follower is alive).
    pub fn free_first_one(&mut self) {
        if let Some((_, b)) = self.slots.pop_front() {
            self.bytes -= b;
        }
    }

    /// True when no more appends may be sent.
    pub fn full(&self) -> bool {
        self.slots.len() >= self.max_count || (self.max_bytes > 0 && self.bytes >= self.max_bytes)
    }

    /// Number of appends in flight.
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    /// Forgets everything in flight.
    pub fn reset(&mut self) {
        self.slots.clear();
        self.bytes = 0;
    }
}

/// A leader's view of one follower (or of itself).
#[derive(Clone, Debug)]
pub struct Progress {
    matched: LogIndex,
    next: LogIndex,
    state: ProgressState,
    /// In Probe: an append is outstanding, wait for its answer or a heartbeat.
    probe_sent: bool,
    /// In Snapshot: the index of the snapshot being sent.
    pending_snapshot: LogIndex,
    /// Heard from since the last CheckQuorum round.
    recent_active: bool,
    inflights: Inflights,
    is_learner: bool,
    /// `matched` when the previous heartbeat response arrived.
    matched_at_heartbeat: LogIndex,
}

impl Progress {
    /// Fresh progress for a follower believed to need entries from `next`.
    pub fn new(next: LogIndex, max_inflight: usize, max_inflight_bytes: u64) -> Self {
        assert!(next > 0, "progress: log indexes start at 1");
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            pending_snapshot: 0,
            recent_active: false,
            inflights: Inflights::new(max_inflight, max_inflight_bytes),
            is_learner: false,
            matched_at_heartbeat: 0,
        }
    }

    /// The highest index known to be replicated on the follower.
    pub fn matched(&self) -> LogIndex {
        self.matched
    }
    /// The next index to send.
    pub fn next(&self) -> LogIndex {
        self.next
    }
    /// The current state.
    pub fn state(&self) -> ProgressState {
        self.state
    }
    /// The snapshot index being sent, in the Snapshot state.
    pub fn pending_snapshot(&self) -> LogIndex {
        self.pending_snapshot
    }
    /// Heard from since the last CheckQuorum round.
    pub fn recent_active(&self) -> bool {
        self.recent_active
    }
    /// Marks the follower as heard from (or clears the mark).
    pub fn set_recent_active(&mut self, active: bool) {
        self.recent_active = active;
    }
    /// True if the follower is a learner.
    pub fn is_learner(&self) -> bool {
        self.is_learner
    }
    /// Marks the follower as learner or voter.
    pub fn set_learner(&mut self, learner: bool) {
        self.is_learner = learner;
    }
    /// The inflight window.
    pub fn inflights(&self) -> &Inflights {
        &self.inflights
    }

    /// The invariants every transition keeps: the follower is sent what it
    /// lacks (`matched < next`), and a snapshot index is pending exactly in the
    /// Snapshot state.
    fn check(&self) {
        assert!(
            self.matched < self.next,
            "progress: matched {} must stay below next {}",
            self.matched,
            self.next
        );
        assert_eq!(
            self.state == ProgressState::Snapshot,
            self.pending_snapshot > 0,
            "progress: a pending snapshot ({}) exactly in the Snapshot state ({:?})",
            self.pending_snapshot,
            self.state
        );
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.probe_sent = false;
        self.pending_snapshot = 0;
        self.state = state;
        self.inflights.reset();
    }

    /// Enters Probe: resume from just after the known match.
    pub fn become_probe(&mut self) {
        if self.state == ProgressState::Snapshot {
            let pending = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next = (self.matched + 1).max(pending + 1);
        } else {
            self.reset_state(ProgressState::Probe);
            self.next = self.matched + 1;
        }
        self.check();
    }

    /// Enters Replicate: stream from just after the match.
    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next = self.matched + 1;
        self.check();
    }

    /// Enters Snapshot: a snapshot at `snapshot_index` is being sent.
    pub fn become_snapshot(&mut self, snapshot_index: LogIndex) {
        assert!(
            snapshot_index > 0,
            "a snapshot sent to a follower has an index"
        );
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
        self.check();
    }

    /// Records that the follower holds the leader's log up to `index`. Returns true
    /// if that is news. Unpauses a probe.
    pub fn maybe_update(&mut self, index: LogIndex) -> bool {
        let updated = self.matched < index;
        if updated {
            self.matched = index;
            self.probe_sent = false;
        }
        self.next = self.next.max(index + 1);
        self.check();
        updated
    }

    /// Records that an append ending at `last` was sent (optimistic in Replicate).
    pub fn sent_entries(&mut self, last: LogIndex, count: usize, bytes: u64) {
        match self.state {
            ProgressState::Replicate => {
                if count > 0 {
                    self.next = last + 1;
                    self.inflights.add(last, bytes);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot => {
                panic!("progress: entries sent to a follower in the Snapshot state")
            }
        }
        self.check();
    }

    /// Handles a rejection of the append at `rejected` (its prev index); `hint` is the
    /// index to retry from. Returns false if the rejection is stale and was ignored.
    /// In Replicate the follower lacks what was streamed to it: fall back to
    /// Probe from just after the match.
    pub fn maybe_decr_to(&mut self, rejected: LogIndex, hint: LogIndex) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.matched {
                return false;
            }
            self.become_probe();
            return true;
        }
        // Probe (or Snapshot): only the answer to the latest probe counts.
        if self.next == 0 || self.next - 1 != rejected {
            return false;
        }
        self.next = hint.min(rejected).max(self.matched) + 1;
        self.probe_sent = false;
        self.check();
        true
    }

    /// True if nothing may be sent now.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot => true,
        }
    }

    /// A heartbeat response arrived: the follower is alive, allow one more send.
    /// A follower in Replicate that is behind `last_index` and made no progress
    /// since the previous heartbeat response has lost an append: fall back to
    /// Probe so that the missing entries are sent again.
    pub fn on_heartbeat_response(&mut self, last_index: LogIndex) {
        self.probe_sent = false;
        if self.state == ProgressState::Replicate {
            if self.matched < last_index && self.matched == self.matched_at_heartbeat {
                self.become_probe();
            } else if self.inflights.full() {
                self.inflights.free_first_one();
            }
        }
        self.matched_at_heartbeat = self.matched;
    }

    /// Frees inflight appends acknowledged up to `index`.
    pub fn free_inflights_to(&mut self, index: LogIndex) {
        self.inflights.free_to(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicate_pauses_when_inflight_window_is_full() {
        let mut p = Progress::new(1, 2, 0);
        p.become_replicate();
        p.sent_entries(1, 1, 10);
        assert!(!p.is_paused());
        p.sent_entries(2, 1, 10);
        assert!(p.is_paused());
        p.maybe_update(1);
        p.free_inflights_to(1);
        assert!(!p.is_paused());
        assert_eq!(p.next(), 3);
    }

    #[test]
    fn inflight_byte_limit_pauses_replication() {
        let mut p = Progress::new(1, 100, 25);
        p.become_replicate();
        p.sent_entries(1, 1, 20);
        assert!(!p.is_paused());
        p.sent_entries(2, 1, 20);
        assert!(p.is_paused());
    }

    #[test]
    fn heartbeat_response_frees_one_slot_of_a_full_window() {
        let mut p = Progress::new(1, 1, 0);
        p.become_replicate();
        p.maybe_update(2);
        p.sent_entries(5, 3, 1);
        assert!(p.is_paused());
        p.on_heartbeat_response(5);
        assert!(!p.is_paused());
        assert_eq!(p.state(), ProgressState::Replicate);
    }

    #[test]
    fn replicate_falls_back_to_probe_when_a_follower_stalls_behind() {
        let mut p = Progress::new(1, 8, 0);
        p.maybe_update(3);
        p.become_replicate();
        p.sent_entries(6, 3, 1); // lost on the way
        p.on_heartbeat_response(6);
        assert_eq!(
            p.state(),
            ProgressState::Replicate,
            "one quiet heartbeat is not a stall"
        );
        p.on_heartbeat_response(6);
        assert_eq!(
            p.state(),
            ProgressState::Probe,
            "no progress across two heartbeats"
        );
        assert_eq!(p.next(), 4, "resend from after the match");
    }

    #[test]
    fn probe_sends_one_append_until_answered() {
        let mut p = Progress::new(10, 4, 0);
        assert!(!p.is_paused());
        p.sent_entries(12, 2, 1);
        assert!(p.is_paused());
        assert!(p.maybe_decr_to(9, 5));
        assert_eq!(p.next(), 6);
        assert!(!p.is_paused());
    }

    #[test]
    fn stale_rejection_is_ignored() {
        let mut p = Progress::new(10, 4, 0);
        assert!(!p.maybe_decr_to(5, 3), "probe answer for an old prev index");
        assert_eq!(p.next(), 10);
        p.maybe_update(8);
        p.become_replicate();
        assert!(!p.maybe_decr_to(7, 3), "rejection below match");
        assert_eq!(p.next(), 9);
    }

    #[test]
    fn snapshot_state_resumes_after_snapshot_index() {
        let mut p = Progress::new(3, 4, 0);
        p.become_snapshot(50);
        assert_eq!(p.pending_snapshot(), 50);
        assert!(p.is_paused());
        p.become_probe();
        assert_eq!(
            p.pending_snapshot(),
            0,
            "no snapshot pending outside Snapshot"
        );
        assert_eq!(p.next(), 51);
    }

    #[test]
    fn free_to_frees_exactly_the_acknowledged_appends() {
        let mut w = Inflights::new(4, 0);
        w.add(1, 10);
        w.add(2, 10);
        w.add(3, 10);
        assert_eq!(w.count(), 3);
        w.free_to(0);
        assert_eq!(w.count(), 3, "nothing acknowledged yet");
        w.free_to(2);
        assert_eq!(w.count(), 1, "appends ending at 1 and 2 are acknowledged");
        w.free_to(3);
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn freed_appends_give_their_bytes_back() {
        let mut w = Inflights::new(10, 25);
        w.add(1, 10);
        w.add(2, 10);
        assert!(!w.full(), "20 of 25 bytes");
        w.add(3, 10);
        assert!(w.full(), "30 of 25 bytes");
        w.free_to(1);
        assert!(!w.full(), "20 of 25 bytes after the first ack");
        w.add(4, 10);
        assert!(w.full());
        w.free_first_one();
        assert!(!w.full(), "20 of 25 bytes after a heartbeat frees one");
    }

    #[test]
    fn learner_flag_follows_the_configuration() {
        let mut p = Progress::new(1, 4, 0);
        assert!(!p.is_learner(), "a new follower is a voter");
        p.set_learner(true);
        assert!(p.is_learner());
        p.set_learner(false);
        assert!(!p.is_learner());
    }

    #[test]
    fn a_repeated_ack_is_not_news_and_keeps_a_probe_paused() {
        let mut p = Progress::new(5, 4, 0);
        assert!(p.maybe_update(4));
        p.sent_entries(6, 2, 1);
        assert!(p.is_paused());
        assert!(!p.maybe_update(4), "the same match again");
        assert!(p.is_paused(), "only news unpauses a probe");
        assert!(!p.maybe_update(3), "an older match");
        assert_eq!(p.matched(), 4);
    }

    #[test]
    fn a_caught_up_follower_stays_in_replicate_across_quiet_heartbeats() {
        let mut p = Progress::new(1, 8, 0);
        p.maybe_update(6);
        p.become_replicate();
        p.on_heartbeat_response(6);
        p.on_heartbeat_response(6);
        p.on_heartbeat_response(6);
        assert_eq!(
            p.state(),
            ProgressState::Replicate,
            "nothing to send is no stall"
        );
    }

    #[test]
    fn a_rejection_in_replicate_falls_back_to_probe_after_the_match() {
        let mut p = Progress::new(1, 8, 0);
        p.maybe_update(4);
        p.become_replicate();
        p.sent_entries(9, 5, 1);
        assert_eq!(p.next(), 10);
        assert!(p.maybe_decr_to(7, 2));
        assert_eq!(p.state(), ProgressState::Probe);
        assert_eq!(
            p.next(),
            5,
            "resend from after the match, not from the hint"
        );
        assert!(!p.is_paused(), "the probe goes out at once");
    }
}
