//! Coverage you can read: how often each rare situation, where Raft bugs
//! live, happened in a run. A situation that never happens across the default
//! seeds is a gap in the simulator, and `tests/simulation.rs` fails on it.

use raft_testkit::CrashPoint;

/// Counts of the rare situations of one run (or, added up, of many).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Two different candidates campaigned in the same term.
    pub competing_candidates: u64,
    /// A node granted a vote and crashed before its next durable write.
    pub crash_after_vote: u64,
    /// An append ended below the follower's last index, and the follower's
    /// entry right after it conflicts with the leader's log.
    pub append_below_conflicting_suffix: u64,
    /// A snapshot was installed over a log that disagrees with it at its index.
    pub snapshot_over_divergent_log: u64,
    /// The leader's own removal was proposed while it was transferring leadership.
    pub leader_removed_during_transfer: u64,
    /// A read was served within one election timeout of the serving node's
    /// last leader change.
    pub read_after_leader_change: u64,
    /// Crashes inside a ready, per [`CrashPoint`] (in `CrashPoint::ALL` order).
    pub ready_crashes: [u64; CrashPoint::ALL.len()],
    /// A ready's non-durable messages left only in part before a crash.
    pub partial_sends: u64,
    /// An append the receiver accepts conflicted with entries it held but
    /// had not yet handed out for persistence, after the first of them (the
    /// unstable suffix is cut in its middle).
    pub append_over_unpersisted_entries: u64,
    /// A read found nothing because the value expired by the serving node's
    /// clock while the state machine's clock (the proposers') was behind.
    pub expired_by_reader_clock: u64,
    /// A read found nothing because the state machine removed the expired
    /// value (a later write or a leader's tick moved its clock past it).
    pub expired_by_state_machine: u64,
    /// A leader handed a write to its background disk.
    pub background_writes: u64,
    /// A leader's background write completed after the entries it held were
    /// already committed (by its followers alone).
    pub committed_before_leader_wrote: u64,
    /// A node crashed with background writes pending: some were lost.
    pub background_writes_lost: u64,
    /// A leader's snapshot waited for its own background write.
    pub snapshot_before_own_write: u64,
    /// A background write was reported durable after the entries it held had
    /// been replaced in the node's log (a deposed leader truncated by its
    /// successor while its disk still wrote the old suffix).
    pub persist_report_for_replaced_entries: u64,
}

impl Coverage {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Coverage) {
        self.competing_candidates += other.competing_candidates;
        self.crash_after_vote += other.crash_after_vote;
        self.append_below_conflicting_suffix += other.append_below_conflicting_suffix;
        self.snapshot_over_divergent_log += other.snapshot_over_divergent_log;
        self.leader_removed_during_transfer += other.leader_removed_during_transfer;
        self.read_after_leader_change += other.read_after_leader_change;
        for (a, b) in self.ready_crashes.iter_mut().zip(other.ready_crashes) {
            *a += b;
        }
        self.partial_sends += other.partial_sends;
        self.append_over_unpersisted_entries += other.append_over_unpersisted_entries;
        self.expired_by_reader_clock += other.expired_by_reader_clock;
        self.expired_by_state_machine += other.expired_by_state_machine;
        self.background_writes += other.background_writes;
        self.committed_before_leader_wrote += other.committed_before_leader_wrote;
        self.background_writes_lost += other.background_writes_lost;
        self.snapshot_before_own_write += other.snapshot_before_own_write;
        self.persist_report_for_replaced_entries += other.persist_report_for_replaced_entries;
    }

    /// Records a crash inside a ready at `point`.
    pub fn ready_crash(&mut self, point: CrashPoint) {
        if let Some(i) = CrashPoint::ALL.iter().position(|p| *p == point) {
            self.ready_crashes[i] += 1;
        }
    }

    /// Every situation with its count, in a fixed order.
    pub fn rows(&self) -> Vec<(String, u64)> {
        let mut rows = vec![
            (
                "two candidates in one term".to_string(),
                self.competing_candidates,
            ),
            (
                "vote granted, then a crash before the next durable write".into(),
                self.crash_after_vote,
            ),
            (
                "append ending below the follower's last index, conflict after it".into(),
                self.append_below_conflicting_suffix,
            ),
            (
                "snapshot installed over a divergent log".into(),
                self.snapshot_over_divergent_log,
            ),
            (
                "leader removal proposed during its transfer".into(),
                self.leader_removed_during_transfer,
            ),
            (
                "read served right after a leader change".into(),
                self.read_after_leader_change,
            ),
            (
                "non-durable messages sent in part, then a crash".into(),
                self.partial_sends,
            ),
            (
                "append conflicting with entries not yet persisted".into(),
                self.append_over_unpersisted_entries,
            ),
            (
                "read of a value expired by the reader's clock only".into(),
                self.expired_by_reader_clock,
            ),
            (
                "read of a value the state machine expired".into(),
                self.expired_by_state_machine,
            ),
            (
                "leader's log write handed to its background disk".into(),
                self.background_writes,
            ),
            (
                "leader's background write done after its entries committed".into(),
                self.committed_before_leader_wrote,
            ),
            (
                "crash with background writes pending (some lost)".into(),
                self.background_writes_lost,
            ),
            (
                "leader's snapshot waiting for its own background write".into(),
                self.snapshot_before_own_write,
            ),
            (
                "persist report for entries no longer in the log".into(),
                self.persist_report_for_replaced_entries,
            ),
        ];
        for (p, n) in CrashPoint::ALL.iter().zip(self.ready_crashes) {
            rows.push((format!("crash {}", p.describe()), n));
        }
        rows
    }

    /// A table for humans.
    pub fn report(&self) -> String {
        self.rows()
            .iter()
            .map(|(name, n)| format!("  {n:>9}  {name}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
