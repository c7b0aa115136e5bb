//! Membership: the configuration in force is the one of the newest membership
//! entry in the log, from the moment it is appended (Raft dissertation §4.1), so
//! it follows appends and truncations. Changes go through a joint configuration
//! that the leader leaves automatically once it is committed; a leader removed
//! from the configuration steps down once the final configuration commits.

use super::Raft;
use crate::confchange::{self, ConfChangeError};
use crate::error::Result;
use crate::storage::Storage;
use crate::types::{ConfChange, ConfState, Entry, EntryPayload, LogIndex, Role};

impl<S: Storage> Raft<S> {
    /// The configuration in force (the newest in the log).
    pub fn conf_in_force(&self) -> &ConfState {
        self.conf_history.last().map_or(&self.conf_base, |(_, c)| c)
    }

    /// The configuration in force at log index `index` (for snapshots).
    pub fn conf_state_at(&self, index: LogIndex) -> ConfState {
        self.conf_history
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or_else(|| self.conf_base.clone(), |(_, c)| c.clone())
    }

    /// Rebuilds the membership history from the stored log at start-up.
    pub(super) fn load_conf_history(&mut self) -> Result<()> {
        let (first, last) = (self.log.first_index(), self.log.last_index());
        let mut from = first;
        while from <= last {
            let ents = self.log.slice(from, last + 1, Some(16 << 20))?;
            let Some(end) = ents.last().map(|e| e.index) else {
                break;
            };
            self.track_conf_entries(&ents);
            from = end + 1;
        }
        let conf = self.conf_in_force().clone();
        let next = self.log.last_index() + 1;
        self.tracker.apply_conf(conf, next);
        Ok(())
    }

    /// Records the membership entries among `ents` (just appended, contiguous);
    /// entries at or after `ents[0].index` replaced whatever was there before.
    pub(super) fn on_entries_appended(&mut self, ents: &[Entry]) {
        let Some(first) = ents.first().map(|e| e.index) else {
            return;
        };
        let before = self.conf_history.len();
        self.conf_history.retain(|(i, _)| *i < first);
        let truncated = self.conf_history.len() != before;
        let added = self.track_conf_entries(ents);
        if truncated || added {
            let conf = self.conf_in_force().clone();
            log::info!(
                "raft {} configuration in force: voters {:?}, outgoing {:?}, learners {:?}",
                self.id,
                conf.voters,
                conf.voters_outgoing,
                conf.learners
            );
            let next = self.log.last_index() + 1;
            self.tracker.apply_conf(conf, next);
            if self.role == Role::Leader && self.maybe_commit() {
                self.bcast_append();
            }
        }
    }

    /// Pushes the configurations of the membership entries in `ents`; returns
    /// true if there were any.
    fn track_conf_entries(&mut self, ents: &[Entry]) -> bool {
        let mut added = false;
        for e in ents {
            if let EntryPayload::ConfChange(cc) = &e.payload {
                let next = match &cc.result {
                    Some(conf) => confchange::check(conf).map(|()| conf.clone()),
                    None => confchange::apply(self.conf_in_force(), cc),
                };
                match next {
                    Ok(next) => {
                        self.conf_history.push((e.index, next));
                        added = true;
                    }
                    // Every node skips the same invalid entry the same way.
                    Err(why) => log::error!(
                        "raft {} ignores membership entry {}: {why}",
                        self.id,
                        e.index
                    ),
                }
            }
        }
        added
    }

    /// Replaces the membership with a snapshot's.
    pub(super) fn reset_conf(&mut self, conf: ConfState) {
        self.conf_history.clear();
        self.conf_base = conf;
    }

    /// Refuses a membership change while another is in progress or if it is
    /// invalid. The leader knows what is committed; a follower, whose commit
    /// index lags, refuses only while its configuration in force is joint and
    /// leaves the rest to the leader.
    pub(super) fn check_conf_change(&self, cc: &ConfChange) -> Result<()> {
        if cc.changes.is_empty() {
            return Err(ConfChangeError::LeftAutomatically.into());
        }
        let uncommitted = self
            .conf_history
            .last()
            .is_some_and(|(i, _)| *i > self.log.committed());
        let in_progress =
            self.conf_in_force().is_joint() || (self.role == Role::Leader && uncommitted);
        if in_progress {
            return Err(ConfChangeError::InProgress.into());
        }
        confchange::apply(self.conf_in_force(), cc)?;
        Ok(())
    }

    /// Leader, after commit moved: leaves a committed joint configuration, and
    /// steps down if a committed configuration no longer has it as a voter.
    pub(super) fn after_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let committed = self.log.committed();
        let Some((index, conf)) = self.conf_history.last() else {
            return;
        };
        let index = *index;
        if index > committed {
            return;
        }
        let leave = (conf.is_joint() && conf.auto_leave).then(|| conf.clone());
        let demoted = !conf.is_joint() && !conf.voters.contains(&self.id);
        if let Some(conf) = leave {
            log::info!(
                "raft {} leaves the joint configuration committed at {index}",
                self.id
            );
            // The outgoing members leave the tracker with C(new): tell them now
            // that the joint configuration committed, so that one being
            // removed learns it (and stops) instead of waiting forever.
            self.bcast_heartbeat();
            let next = self.log.last_index() + 1;
            let mut cc = ConfChange::default();
            cc.result = confchange::apply(&conf, &cc).ok();
            let leave = Entry {
                term: self.term,
                index: next,
                payload: EntryPayload::ConfChange(cc),
            };
            self.log.append(std::slice::from_ref(&leave));
            self.on_entries_appended(std::slice::from_ref(&leave));
            self.bcast_append();
        } else if demoted {
            log::info!(
                "raft {} steps down: the committed configuration at {index} no longer has it as a voter",
                self.id
            );
            // Tell the remaining members first that C(new) is committed, so they
            // apply it (and answer whoever asked for it) without waiting for
            // the next leader.
            self.bcast_heartbeat();
            self.become_follower(self.term, None);
        }
    }
}
