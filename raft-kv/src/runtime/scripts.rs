//! Scripts on the applier: every replica runs each `EVAL` entry itself, in
//! log order, and `SCRIPT KILL` must stop it the same way on all of them.
//!
//! How a kill stays deterministic: a script first runs a fast phase of
//! [`KILLABLE_AFTER`] Lua instructions (the same point of the computation on
//! every replica). A script that wrote during it, or ran no longer, cannot
//! be killed. One that goes past it without having written becomes
//! killable, and the first [`Op::ScriptMarker`] entry after the script
//! in the log decides its fate: `kill` (from `SCRIPT KILL`) stops it with no
//! effect, a continue marker (which a replica proposes when the script is
//! about to write, or has returned) lets it go on, unkillable from then on.
//! Each replica reads the same first marker, whenever it reaches it, so all
//! of them end the script the same way; the applier's input stays readable
//! while the script runs ([`Feed`]), and the consensus thread keeps
//! committing meanwhile.
//!
//! Between the script's start and its end the applier holds the store:
//! [`ScriptStatus`] tells the client port that it is busy (Redis's `BUSY`
//! after `lua-time-limit`) and which script `SCRIPT KILL` would target.

use super::consensus::ApplyMsg;
use super::propose::Proposer;
use super::script_cache::ScriptCache;
use super::script_status::{RunningScript, ScriptStatus};
use raft_core::EntryPayload;
use raft_kv_state::entry::ScriptCall;
use raft_kv_state::script::{self, Abort, Gate};
use raft_kv_state::{CommandError, Entry, KvStore, Op, Reply};
use raft_net::mailbox::MailReceiver;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lua instructions a script runs before `SCRIPT KILL` can reach it.
pub(crate) const KILLABLE_AFTER: u64 = 1_000_000;

/// How long a replica waits for the deciding marker before proposing its
/// continue marker again (the first may have been lost with a leader).
const REPROPOSE_AFTER: Duration = Duration::from_secs(1);

/// The applier's input: the channel, and what was taken from it but not yet
/// handled (all of it readable while a script runs).
pub(crate) struct Feed {
    rx: MailReceiver<ApplyMsg>,
    backlog: RefCell<VecDeque<ApplyMsg>>,
    /// Entries at the backlog's front already looked at for markers.
    scanned: Cell<usize>,
}

impl Feed {
    pub(crate) fn new(rx: MailReceiver<ApplyMsg>) -> Rc<Feed> {
        Rc::new(Feed {
            rx,
            backlog: RefCell::new(VecDeque::new()),
            scanned: Cell::new(0),
        })
    }

    /// The next message, waiting for one; `None` once every sender is gone.
    pub(crate) fn next(&self) -> Option<ApplyMsg> {
        if self.backlog.borrow().is_empty() {
            self.pull(None, true);
        }
        self.backlog.borrow_mut().pop_front()
    }

    /// Puts `msg` back first.
    pub(crate) fn push_front(&self, msg: ApplyMsg) {
        self.backlog.borrow_mut().push_front(msg);
    }

    /// Moves what arrived to the backlog: waits until `deadline` (or, with
    /// `wait` and no deadline, until something comes) if nothing is there.
    fn pull(&self, deadline: Option<Instant>, wait: bool) {
        let mut got = Vec::new();
        let until = if wait { deadline } else { Some(Instant::now()) };
        if self.rx.recv_batch(&mut got, 256, until).is_ok() {
            self.backlog.borrow_mut().extend(got);
        }
    }

    /// The node stops, or a snapshot is to replace the state.
    fn interrupted(&self) -> bool {
        self.backlog
            .borrow()
            .iter()
            .any(|m| matches!(m, ApplyMsg::Stop | ApplyMsg::Restore(_)))
    }

    /// After a script was interrupted (its entry and the rest of its batch
    /// stay unapplied): with a snapshot queued, the entries before it are
    /// dropped (it replaces them) and what else was queued before it comes
    /// after it; with a stop queued, everything before the stop is dropped.
    pub(crate) fn settle_interruption(&self) {
        let mut backlog = self.backlog.borrow_mut();
        let restore = backlog
            .iter()
            .position(|m| matches!(m, ApplyMsg::Restore(_)));
        let stop = backlog.iter().position(|m| matches!(m, ApplyMsg::Stop));
        match (restore, stop) {
            (Some(at), _) => {
                let before: Vec<ApplyMsg> = backlog.drain(..at).collect();
                let restore = backlog.pop_front();
                let kept = before
                    .into_iter()
                    .filter(|m| !matches!(m, ApplyMsg::Entries(..)));
                let mut next: VecDeque<ApplyMsg> = restore.into_iter().chain(kept).collect();
                next.extend(backlog.drain(..));
                *backlog = next;
            }
            (None, Some(at)) => {
                backlog.drain(..at);
            }
            (None, None) => {
                unreachable!("a script is interrupted only by a queued stop or snapshot")
            }
        }
    }

    /// The first marker for the script at `script` in the backlog: its
    /// index and whether it kills.
    fn first_marker(&self, script: u64) -> Option<(u64, bool)> {
        let backlog = self.backlog.borrow();
        let entries = backlog.iter().flat_map(|m| match m {
            ApplyMsg::Entries(es, _) => es.as_slice(),
            _ => &[],
        });
        let skip = self.scanned.get();
        let mut seen = skip;
        for e in entries.skip(skip) {
            seen += 1;
            let EntryPayload::Normal(data) = &e.payload else {
                continue;
            };
            if let Ok(Entry {
                op: Op::ScriptMarker { script: s, kill },
                ..
            }) = Entry::decode(data)
                && s == script
            {
                return Some((e.index, kill));
            }
        }
        self.scanned.set(seen);
        None
    }
}

/// Where a script is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Within the first [`KILLABLE_AFTER`] instructions.
    Fast,
    /// Past them without a write: the first marker decides.
    Killable,
    /// Runs to its end (it wrote in the fast phase, or a continue marker
    /// came first).
    Unkillable,
}

/// One replica's [`Gate`] for one script.
struct ReplicaGate {
    index: u64,
    instructions: u64,
    wrote: bool,
    phase: Phase,
    aborted: Option<Abort>,
    feed: Rc<Feed>,
    proposer: Proposer,
    status: Arc<ScriptStatus>,
    proposed_at: Option<Instant>,
}

impl ReplicaGate {
    fn abort(&mut self, why: Abort) -> Result<(), Abort> {
        self.aborted = Some(why);
        Err(why)
    }

    /// Reads the first marker if it is there; true once decided.
    fn read_marker(&mut self) -> Result<bool, Abort> {
        match self.feed.first_marker(self.index) {
            Some((at, true)) => self.abort(Abort::Killed(at)).map(|()| true),
            Some((_, false)) => {
                self.phase = Phase::Unkillable;
                self.status.mark_unkillable();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// In the killable phase: waits for the first marker, proposing a
    /// continue marker (again after [`REPROPOSE_AFTER`]).
    fn decide(&mut self) -> Result<(), Abort> {
        while self.phase == Phase::Killable {
            self.feed.pull(None, false);
            if self.feed.interrupted() {
                return self.abort(Abort::Interrupted);
            }
            if self.read_marker()? {
                break;
            }
            if self
                .proposed_at
                .is_none_or(|t| t.elapsed() >= REPROPOSE_AFTER)
            {
                self.proposed_at = Some(Instant::now());
                // Dropped: the marker's own reply says nothing; its place in
                // the log is what counts.
                let marker = Op::ScriptMarker {
                    script: self.index,
                    kill: false,
                };
                let _ = self.proposer.propose(marker, None, None);
            }
            self.feed
                .pull(Some(Instant::now() + Duration::from_millis(50)), true);
        }
        Ok(())
    }
}

impl Gate for ReplicaGate {
    /// Before a write of the script: a killable script is decided first.
    fn before_write(&mut self) -> Result<(), Abort> {
        if let Some(why) = self.aborted {
            return Err(why);
        }
        self.decide()?;
        self.wrote = true;
        Ok(())
    }

    fn tick(&mut self) -> Result<(), Abort> {
        if let Some(why) = self.aborted {
            return Err(why);
        }
        self.instructions += u64::from(script::HOOK_EVERY);
        self.feed.pull(None, false);
        if self.feed.interrupted() {
            return self.abort(Abort::Interrupted);
        }
        if self.phase == Phase::Fast && self.instructions >= KILLABLE_AFTER {
            self.phase = if self.wrote {
                self.status.mark_unkillable();
                Phase::Unkillable
            } else {
                Phase::Killable
            };
        }
        if self.phase == Phase::Killable {
            self.read_marker()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Abort> {
        self.decide()
    }

    fn aborted(&self) -> Option<Abort> {
        self.aborted
    }
}

/// How a script ended, kept for the `SCRIPT KILL` entries after it.
#[derive(Clone, Copy, Debug)]
struct Ended {
    index: u64,
    killed_by: Option<u64>,
    unkillable: bool,
}

/// Most ended scripts remembered for the kill markers that follow them.
const ENDED_KEPT: usize = 64;

/// The applier's script runner.
pub(crate) struct ScriptRunner {
    /// Proposes the continue markers.
    proposer: Proposer,
    status: Arc<ScriptStatus>,
    cache: Arc<ScriptCache>,
    ended: VecDeque<Ended>,
}

/// Why a script entry could not be applied on this replica: it stops or is
/// about to install a snapshot.
#[derive(Debug)]
pub(crate) struct Interrupted;

impl ScriptRunner {
    pub(crate) fn new(
        proposer: Proposer,
        status: Arc<ScriptStatus>,
        cache: Arc<ScriptCache>,
    ) -> Self {
        ScriptRunner {
            proposer,
            status,
            cache,
            ended: VecDeque::new(),
        }
    }

    /// Runs the script of entry `index` against `store`.
    pub(crate) fn run(
        &mut self,
        store: &mut KvStore,
        index: u64,
        call: &ScriptCall,
        feed: &Rc<Feed>,
    ) -> Result<Reply, Interrupted> {
        let sha = self.cache.insert(&call.body);
        let started = Instant::now();
        self.status.set(Some(RunningScript {
            index,
            started,
            unkillable: false,
        }));
        feed.scanned.set(0);
        let gate = Rc::new(RefCell::new(ReplicaGate {
            index,
            instructions: 0,
            wrote: false,
            phase: Phase::Fast,
            aborted: None,
            feed: feed.clone(),
            proposer: self.proposer.clone(),
            status: self.status.clone(),
            proposed_at: None,
        }));
        let outcome = script::run_script(store, call, &sha, gate.clone());
        self.status.set(None);
        let unkillable = gate.borrow().phase == Phase::Unkillable || gate.borrow().wrote;
        log::debug!(
            "script at {index} ended after {:?}: {outcome:?}",
            started.elapsed()
        );
        let killed_by = match outcome {
            Err(Abort::Interrupted) => return Err(Interrupted),
            Err(Abort::Killed(at)) => Some(at),
            Ok(_) => None,
        };
        if self.ended.len() >= ENDED_KEPT {
            self.ended.pop_front();
        }
        self.ended.push_back(Ended {
            index,
            killed_by,
            unkillable,
        });
        Ok(outcome.unwrap_or_else(|_| CommandError::ScriptKilled { sha }.into()))
    }

    /// The reply to the marker at `at` for the script at `script`: for a
    /// kill, `OK` if this marker killed it, else why it did not.
    pub(crate) fn marker_reply(&self, script: u64, kill: bool, at: u64) -> Reply {
        if !kill {
            return Reply::ok();
        }
        match self.ended.iter().rev().find(|e| e.index == script) {
            Some(e) if e.killed_by == Some(at) => Reply::ok(),
            Some(e) if e.unkillable => CommandError::Unkillable.into(),
            _ => CommandError::NotBusy.into(),
        }
    }
}
