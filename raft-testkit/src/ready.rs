//! One `Ready`, handled in the contract's order:
//!
//! 1. soft state (role, leader) is reported;
//! 2. `messages` are sent (they need nothing durable: a leader's appends);
//! 3. the snapshot, then the entries, then the hard state are persisted;
//! 4. `persisted_messages` are sent (votes and acks promise durability);
//! 5. committed entries are applied, then safe reads served, failed reads dropped;
//! 6. `advance`.
//!
//! A leader's ready may instead be persisted in the background (raft-core's
//! "A leader's log write in the background"): if the core allows it and
//! [`ReadyHooks::persist_in_background`] takes the entries, step 3 and 4 are
//! skipped and the hooks report the write later through
//! `RawNode::on_persisted`. Before any later ready is persisted the usual way,
//! [`ReadyHooks::finish_background`] completes every such write.
//!
//! A crash may be injected between 2 and 3, after the snapshot, between the
//! entries and the hard state, between 3 and 4, and before 6:
//! [`ReadyHooks::crash_at`] decides, and
//! [`drive_ready`] stops right there, so the storage holds exactly what was
//! durable at that point.

use raft_core::{Entry, HardState, Message, RawNode, ReadState, Snapshot, SoftState, Storage};
use raft_storage::{HardStateStore, LogStore};

/// A persistence boundary inside a ready where a crash can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CrashPoint {
    /// After the non-durable messages left, before anything was persisted.
    BeforePersist,
    /// After a snapshot was installed, before the entries that follow it.
    AfterSnapshot,
    /// After the snapshot and entries were persisted, before the hard state.
    BetweenEntriesAndHardState,
    /// After everything was persisted, before the durable answers were sent.
    BeforeAnswering,
    /// After the answers and applying, before `advance`.
    BeforeAdvance,
}

impl CrashPoint {
    /// Every point, in the order a ready reaches them.
    pub const ALL: [CrashPoint; 5] = [
        CrashPoint::BeforePersist,
        CrashPoint::AfterSnapshot,
        CrashPoint::BetweenEntriesAndHardState,
        CrashPoint::BeforeAnswering,
        CrashPoint::BeforeAdvance,
    ];
}

impl CrashPoint {
    /// A short description for traces.
    pub fn describe(self) -> &'static str {
        match self {
            CrashPoint::BeforePersist => "before persisting a ready",
            CrashPoint::AfterSnapshot => "after installing a snapshot, before its entries",
            CrashPoint::BetweenEntriesAndHardState => "between the entries and the hard state",
            CrashPoint::BeforeAnswering => "after persisting, before answering",
            CrashPoint::BeforeAdvance => "after answering and applying, before advance",
        }
    }
}

/// What [`drive_ready`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driven {
    /// The node had no ready.
    Idle,
    /// One ready was handled and advanced.
    Handled,
    /// The hooks asked for a crash at this point; the ready was abandoned
    /// (the caller must drop the node and restart it from its storage).
    Crashed(CrashPoint),
}

/// The caller's part in each step of a ready. Every method but `send` has a
/// default that does nothing (or never crashes).
pub trait ReadyHooks<S: Storage> {
    /// Step 1: the role or the leader changed.
    fn soft_state(&mut self, _raw: &RawNode<S>, _soft: SoftState) {}
    /// Steps 2 and 4: messages to deliver, from `raw` as it is when they
    /// leave (after step 3 for step 4's).
    fn send(&mut self, raw: &RawNode<S>, messages: Vec<Message>);
    /// Asked at each [`CrashPoint`] reached; true crashes the node there.
    fn crash_at(&mut self, _point: CrashPoint) -> bool {
        false
    }
    /// Step 3 in the background: asked for a ready the core allows to be; true
    /// if the hooks took `entries` and `hard_state` to make durable later, in
    /// order, reporting each write with `RawNode::on_persisted`.
    fn persist_in_background(
        &mut self,
        _raw: &RawNode<S>,
        _entries: &[Entry],
        _hard_state: Option<HardState>,
    ) -> bool {
        false
    }
    /// Before a ready is persisted the usual way: every write taken by
    /// `persist_in_background` must be durable when this returns.
    fn finish_background(&mut self, _raw: &mut RawNode<S>) {}
    /// Step 3: a snapshot is about to be installed.
    fn snapshot(&mut self, _snapshot: &Snapshot) {}
    /// Step 3: entries are about to be appended.
    fn entries(&mut self, _raw: &RawNode<S>, _entries: &[Entry]) {}
    /// Step 3: a hard state is about to be written.
    fn hard_state(&mut self, _raw: &RawNode<S>, _hard_state: &HardState) {}
    /// Step 5: a committed entry, in log order.
    fn apply(&mut self, _entry: &Entry) {}
    /// Step 5: a read that became safe.
    fn read_ready(&mut self, _read: &ReadState) {}
    /// Step 5: a read the node gave up (leadership changed).
    fn read_failed(&mut self, _request: u64) {}
    /// Step 6 done.
    fn advanced(&mut self, _raw: &RawNode<S>) {}
}

/// Handles one ready of `raw`, persisting to `storage` (which must be the
/// storage `raw` reads). Storage failures panic: this drives in-memory test
/// clusters, where they mean a bug.
pub fn drive_ready<S, H>(
    raw: &mut RawNode<S>,
    storage: &S,
    hooks: &mut H,
) -> Result<Driven, raft_core::Error>
where
    S: Storage + LogStore + HardStateStore,
    H: ReadyHooks<S>,
{
    if !raw.has_ready() {
        return Ok(Driven::Idle);
    }
    let rd = raw.ready();
    let may_background = raw.can_persist_in_background(&rd);
    if let Some(soft) = rd.soft_state {
        hooks.soft_state(raw, soft);
    }
    hooks.send(raw, rd.messages);
    if hooks.crash_at(CrashPoint::BeforePersist) {
        return Ok(Driven::Crashed(CrashPoint::BeforePersist));
    }
    let background = may_background && hooks.persist_in_background(raw, &rd.entries, rd.hard_state);
    if !background {
        hooks.finish_background(raw);
        let persisted = persist(raw, storage, hooks, rd.snapshot, &rd.entries, rd.hard_state);
        if let Some(point) = persisted {
            return Ok(Driven::Crashed(point));
        }
        hooks.send(raw, rd.persisted_messages);
    }
    for e in &rd.committed_entries {
        hooks.apply(e);
    }
    for rs in &rd.read_states {
        hooks.read_ready(rs);
    }
    for r in rd.failed_reads {
        hooks.read_failed(r);
    }
    if hooks.crash_at(CrashPoint::BeforeAdvance) {
        return Ok(Driven::Crashed(CrashPoint::BeforeAdvance));
    }
    if background {
        if let Some(applied) = raw.advance_in_background()? {
            raw.advance_apply_to(applied);
        }
    } else {
        raw.advance()?;
    }
    hooks.advanced(raw);
    Ok(Driven::Handled)
}

/// Step 3 the usual way: the snapshot, the entries, then the hard state,
/// with their crash points; the point the hooks crashed the node at, if any.
fn persist<S, H>(
    raw: &RawNode<S>,
    storage: &S,
    hooks: &mut H,
    snapshot: Option<Snapshot>,
    entries: &[Entry],
    hard_state: Option<HardState>,
) -> Option<CrashPoint>
where
    S: Storage + LogStore + HardStateStore,
    H: ReadyHooks<S>,
{
    if let Some(snap) = snapshot {
        hooks.snapshot(&snap);
        storage
            .apply_snapshot(snap)
            .expect("installing a newer snapshot in memory succeeds");
        if hooks.crash_at(CrashPoint::AfterSnapshot) {
            return Some(CrashPoint::AfterSnapshot);
        }
    }
    hooks.entries(raw, entries);
    storage
        .append(entries)
        .expect("appending contiguous entries in memory succeeds");
    if let Some(hs) = hard_state {
        if hooks.crash_at(CrashPoint::BetweenEntriesAndHardState) {
            return Some(CrashPoint::BetweenEntriesAndHardState);
        }
        hooks.hard_state(raw, &hs);
        storage
            .set_hard_state(hs)
            .expect("writing a hard state in memory succeeds");
    }
    hooks
        .crash_at(CrashPoint::BeforeAnswering)
        .then_some(CrashPoint::BeforeAnswering)
}
