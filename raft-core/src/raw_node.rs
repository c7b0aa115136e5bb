//! The caller-facing API: feed inputs in, take a [`Ready`] out, do what it says,
//! then `advance`. Modeled on raft-rs `raw_node.rs` and etcd-io/raft `doc.go`.
//!
//! # The Ready / advance contract
//!
//! After any input (`tick`, `step`, `propose`, `read_index`, ...) check
//! [`RawNode::has_ready`]. If it is true, take [`RawNode::ready`] and, in order:
//!
//! 1. Send `ready.messages` now: they are a leader's appends and heartbeats, which
//!    may leave before the leader's own log is durable (it counts itself only once
//!    persisted).
//! 2. If `ready.snapshot` is set, install it in storage and in the application
//!    (it replaces the log and the state up to its index).
//! 3. Append `ready.entries` to storage, truncating any conflicting suffix, then
//!    save `ready.hard_state` if set, then make both durable (one fsync covers all).
//! 4. Send `ready.persisted_messages`: votes and append answers promise durability,
//!    so they may only leave after step 3.
//! 5. Apply `ready.committed_entries` in order (membership changes included).
//! 6. Serve `ready.read_states` (their index is already applied) and fail
//!    `ready.failed_reads`.
//! 7. Call [`RawNode::advance`] (or [`RawNode::advance_append`] after step 3 and
//!    [`RawNode::advance_apply_to`] after applying, if the application applies on
//!    another thread). No other input may be given between `ready` and
//!    `advance_append`, except [`RawNode::on_persisted`].
//!
//! # A leader's log write in the background
//!
//! A leader need not wait for its own fsync: followers can form a quorum
//! without it, and it counts itself only once its entries are durable. If
//! [`RawNode::can_persist_in_background`] says so for a ready, the caller may
//! replace steps 3, 4 and 7 with:
//!
//! 3. Hand `ready.entries` and `ready.hard_state` to a writer that makes them
//!    durable in the order handed over (after every earlier hand-over).
//! 7. Call [`RawNode::advance_in_background`].
//! 8. Whenever the writer has made entries up to (`index`, `term`) durable,
//!    call [`RawNode::on_persisted`] (at any time, also between `ready` and
//!    `advance`). A report for entries replaced in the meantime is ignored.
//!
//! Before persisting any later ready the usual way (step 3), the caller must
//! wait until everything handed to the writer is durable (and may report it),
//! so that the storage sees every write in log order.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::progress::ProgressState;
use crate::raft::{Raft, ReadState};
use crate::storage::Storage;
use crate::types::{
    ConfChange, ConfState, Entry, EntryPayload, HardState, LogIndex, NodeId, Role, Snapshot,
    SoftState, Term,
};
use std::collections::BTreeMap;

/// Everything the caller must do after a batch of inputs. See the module docs for
/// the order of duties.
#[derive(Debug, Default)]
pub struct Ready {
    /// The new leader/role, if it changed.
    pub soft_state: Option<SoftState>,
    /// The hard state to persist, if it changed.
    pub hard_state: Option<HardState>,
    /// A snapshot to install before anything else.
    pub snapshot: Option<Snapshot>,
    /// Entries to append to stable storage.
    pub entries: Vec<Entry>,
    /// Messages to send at once.
    pub messages: Vec<Message>,
    /// Messages to send only after persisting this ready.
    pub persisted_messages: Vec<Message>,
    /// Committed entries to apply, in order.
    pub committed_entries: Vec<Entry>,
    /// Reads that are safe to serve now.
    pub read_states: Vec<ReadState>,
    /// Local reads that will never complete (leadership was lost).
    pub failed_reads: Vec<u64>,
}

#[derive(Debug, Default)]
struct InProgress {
    last_entry: Option<(LogIndex, Term)>,
    snapshot_index: Option<LogIndex>,
    hard_state: Option<HardState>,
    applied_to: Option<LogIndex>,
}

/// A follower's replication state as a leader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Highest index known replicated on the peer.
    pub matched: LogIndex,
    /// Next index to send.
    pub next: LogIndex,
    /// Probe, Replicate or Snapshot.
    pub state: ProgressState,
}

/// A snapshot of a node's consensus state for status pages and metrics.
#[derive(Clone, Debug)]
pub struct Status {
    /// Node id.
    pub id: NodeId,
    /// Hard state (term, vote, commit).
    pub hard_state: HardState,
    /// Role and leader.
    pub soft_state: SoftState,
    /// Applied index.
    pub applied: LogIndex,
    /// Last log index.
    pub last_index: LogIndex,
    /// Membership.
    pub conf_state: ConfState,
    /// Followers' progress (leader only).
    pub progress: BTreeMap<NodeId, PeerStatus>,
}

/// A Raft node driven by its caller. See the module docs for the contract.
pub struct RawNode<S: Storage> {
    raft: Raft<S>,
    prev_soft: SoftState,
    prev_hard: HardState,
    in_progress: Option<InProgress>,
}

impl<S: Storage> RawNode<S> {
    /// A node over `storage`, which holds the persisted state (empty for a new
    /// node, with the initial membership as its `ConfState`).
    pub fn new(config: Config, storage: S) -> Result<Self> {
        let raft = Raft::new(config, storage)?;
        let prev_soft = raft.soft_state();
        let prev_hard = raft.hard_state();
        Ok(RawNode {
            raft,
            prev_soft,
            prev_hard,
            in_progress: None,
        })
    }

    /// The consensus state, read-only.
    pub fn raft(&self) -> &Raft<S> {
        &self.raft
    }

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Campaigns at once (as if the election timeout had passed).
    pub fn campaign(&mut self) {
        self.raft.hup(false);
    }

    /// Proposes one application command.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<()> {
        self.raft.propose_payloads(vec![EntryPayload::Normal(data)])
    }

    /// Proposes many commands as one batch (one append, one message per follower).
    pub fn propose_batch(&mut self, data: Vec<Vec<u8>>) -> Result<()> {
        self.raft
            .propose_payloads(data.into_iter().map(EntryPayload::Normal).collect())
    }

    /// Proposes a membership change (through a joint configuration, left
    /// automatically). Refused while another change is in progress or if invalid.
    pub fn propose_conf_change(&mut self, cc: ConfChange) -> Result<()> {
        if cc.changes.is_empty() {
            return Err(crate::confchange::ConfChangeError::NoSteps.into());
        }
        self.raft
            .propose_payloads(vec![EntryPayload::ConfChange(cc)])
    }

    /// The membership in force at log index `index` (what a snapshot taken at
    /// `index` must record).
    pub fn conf_state_at(&self, index: LogIndex) -> ConfState {
        self.raft.conf_state_at(index)
    }

    /// Handles a message from a peer.
    pub fn step(&mut self, m: Message) -> Result<()> {
        self.raft.step(m)
    }

    /// Requests a linearizable read identified by `request`.
    pub fn read_index(&mut self, request: u64) -> Result<()> {
        self.raft.read_index(request)
    }

    /// Starts a leadership transfer to `to` (leader only).
    pub fn transfer_leader(&mut self, to: NodeId) {
        self.raft.transfer_leader(to);
    }

    /// True if a `Ready` has work in it.
    pub fn has_ready(&self) -> bool {
        let r = &self.raft;
        r.soft_state() != self.prev_soft
            || r.hard_state() != self.prev_hard
            || r.log().unstable_snapshot().is_some()
            || !r.log().entries_to_persist().is_empty()
            || r.has_messages()
            || r.log().has_next_committed_entries()
            || r.has_read_work()
    }

    /// Collects what the caller must do. Call [`RawNode::advance`] (or
    /// `advance_append`) before the next `ready`.
    pub fn ready(&mut self) -> Ready {
        debug_assert!(
            self.in_progress.is_none(),
            "ready called twice without advance"
        );
        self.raft.flush_reads();
        let r = &mut self.raft;
        let mut rd = Ready::default();
        let soft = r.soft_state();
        if soft != self.prev_soft {
            rd.soft_state = Some(soft);
            self.prev_soft = soft;
        }
        let hard = r.hard_state();
        if hard != self.prev_hard {
            let prev = self.prev_hard;
            assert!(
                hard.term > prev.term
                    || (hard.term == prev.term && (prev.vote.is_none() || hard.vote == prev.vote)),
                "raft {}: hard state {hard:?} cannot follow {prev:?} (term back, or a second vote in one term)",
                r.id()
            );
            rd.hard_state = Some(hard);
        }
        rd.snapshot = r.log().unstable_snapshot().cloned();
        rd.entries = r.log().entries_to_persist().to_vec();
        if let Some(last) = rd.entries.last() {
            r.log_mut().handed_out_to(last.index);
        }
        assert!(
            rd.entries
                .windows(2)
                .all(|w| w[1].index == w[0].index + 1 && w[1].term >= w[0].term),
            "raft {}: entries to persist are contiguous with non-decreasing terms",
            r.id()
        );
        let max_apply = r.config().max_committed_size_per_ready;
        // Committed entries are in the unstable log or in storage by
        // definition; failing to read them means the storage lost what it said
        // was durable. Going on would spin on `has_ready` forever.
        rd.committed_entries = match r.log_mut().take_committed_entries(Some(max_apply)) {
            Ok(ents) => ents,
            Err(e) => panic!("raft {} cannot read its own committed entries: {e}", r.id()),
        };
        (rd.messages, rd.persisted_messages) = r.take_messages();
        rd.read_states = r.take_ready_reads();
        rd.failed_reads = r.take_failed_reads();
        self.in_progress = Some(InProgress {
            last_entry: rd.entries.last().map(|e| (e.index, e.term)),
            snapshot_index: rd.snapshot.as_ref().map(|s| s.meta.index),
            hard_state: rd.hard_state,
            applied_to: rd.committed_entries.last().map(|e| e.index),
        });
        rd
    }

    /// Steps 3-5 of the contract are done: the ready's state is durable and its
    /// committed entries are applied.
    pub fn advance(&mut self) -> Result<()> {
        let applied = self.advance_append()?;
        if let Some(index) = applied {
            self.advance_apply_to(index);
        }
        Ok(())
    }

    /// The ready's snapshot, entries and hard state are durable. Returns the index
    /// up to which the ready handed out committed entries, for
    /// [`RawNode::advance_apply_to`].
    pub fn advance_append(&mut self) -> Result<Option<LogIndex>> {
        let p = self
            .in_progress
            .take()
            .ok_or(Error::Contract("advance without a pending ready"))?;
        if let Some(index) = p.snapshot_index {
            self.raft.log_mut().stable_snapshot_to(index);
        }
        if let Some((index, term)) = p.last_entry {
            self.raft.on_persisted(index, term);
        }
        if let Some(hs) = p.hard_state {
            self.prev_hard = hs;
        }
        Ok(p.applied_to)
    }

    /// True if `ready` (the one just taken) may be persisted by a background
    /// writer (see the module docs): this node is the leader, the ready has no
    /// snapshot and no message that promises durability, and its hard state,
    /// if any, changes only the commit index.
    pub fn can_persist_in_background(&self, ready: &Ready) -> bool {
        let same_vote =
            |hs: &HardState| hs.term == self.prev_hard.term && hs.vote == self.prev_hard.vote;
        self.raft.role() == Role::Leader
            && ready.snapshot.is_none()
            && ready.persisted_messages.is_empty()
            && ready.hard_state.as_ref().is_none_or(same_vote)
    }

    /// The ready's entries and hard state were handed to a background writer
    /// (which reports through [`RawNode::on_persisted`]); its committed entries
    /// are being applied. Returns the index up to which the ready handed out
    /// committed entries, for [`RawNode::advance_apply_to`].
    pub fn advance_in_background(&mut self) -> Result<Option<LogIndex>> {
        let p = self
            .in_progress
            .take()
            .ok_or(Error::Contract("advance without a pending ready"))?;
        if p.snapshot_index.is_some() {
            return Err(Error::Contract(
                "a snapshot is installed before the ready is advanced",
            ));
        }
        if let Some(hs) = p.hard_state {
            self.prev_hard = hs;
        }
        Ok(p.applied_to)
    }

    /// Entries up to (`index`, `term`) are durable (reported by a background
    /// writer). Ignored if the entry at `index` is no longer of `term`.
    pub fn on_persisted(&mut self, index: LogIndex, term: Term) {
        self.raft.on_persisted(index, term);
    }

    /// The application applied every committed entry up to `index`.
    pub fn advance_apply_to(&mut self, index: LogIndex) {
        self.raft.log_mut().applied_to(index);
    }

    /// The node's current status.
    pub fn status(&self) -> Status {
        let r = &self.raft;
        let progress = if r.role() == Role::Leader {
            r.tracker()
                .iter()
                .map(|(&id, p)| {
                    (
                        id,
                        PeerStatus {
                            matched: p.matched(),
                            next: p.next(),
                            state: p.state(),
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        Status {
            id: r.id(),
            hard_state: r.hard_state(),
            soft_state: r.soft_state(),
            applied: r.log().applied(),
            last_index: r.log().last_index(),
            conf_state: r.tracker().conf().clone(),
            progress,
        }
    }
}
