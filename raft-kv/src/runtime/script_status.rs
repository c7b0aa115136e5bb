//! What the client port sees of the applier's script: whether one runs,
//! which (for `SCRIPT KILL`), and whether it has run past the busy threshold
//! (`BUSY`); and how threads other than the applier read the store without
//! hanging on a script that does not end.

use parking_lot::Mutex;
use raft_kv_state::KvStore;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The script a node's applier is running, if any.
#[derive(Clone, Copy, Debug)]
pub struct RunningScript {
    /// The log index of its entry.
    pub index: u64,
    /// When this replica started it.
    pub started: Instant,
    /// It wrote, or passed the point where it could be killed.
    pub unkillable: bool,
}

/// What the client port reads of the applier's script (shared).
pub(crate) struct ScriptStatus {
    running: Mutex<Option<RunningScript>>,
    /// `running` is `Some`: read without the lock by every command's
    /// `BUSY` check.
    active: AtomicBool,
    /// `lua-time-limit` / `busy-reply-threshold`: after this long a running
    /// script makes the node answer `BUSY`.
    busy_after_ms: AtomicU64,
}

impl Default for ScriptStatus {
    fn default() -> Self {
        ScriptStatus {
            running: Mutex::new(None),
            active: AtomicBool::new(false),
            busy_after_ms: AtomicU64::new(5_000),
        }
    }
}

impl ScriptStatus {
    /// The running script, if any.
    pub(crate) fn running(&self) -> Option<RunningScript> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        *self.running.lock()
    }

    /// True once a script has run longer than the busy threshold.
    pub(crate) fn busy(&self) -> bool {
        let after = Duration::from_millis(self.busy_after_ms.load(Ordering::Relaxed));
        self.running().is_some_and(|r| r.started.elapsed() >= after)
    }

    /// The busy threshold in milliseconds.
    pub(crate) fn busy_after_ms(&self) -> u64 {
        self.busy_after_ms.load(Ordering::Relaxed)
    }

    /// Sets the busy threshold.
    pub(crate) fn set_busy_after_ms(&self, ms: u64) {
        self.busy_after_ms.store(ms, Ordering::Relaxed);
    }

    pub(super) fn set(&self, running: Option<RunningScript>) {
        let mut slot = self.running.lock();
        *slot = running;
        self.active.store(slot.is_some(), Ordering::Release);
    }

    pub(super) fn mark_unkillable(&self) {
        if let Some(r) = self.running.lock().as_mut() {
            r.unkillable = true;
        }
    }
}

/// Reads the store for a thread other than the applier: waits while the
/// applier holds it, but gives up (`None`) once a script has held it past
/// the busy threshold, so that a client port thread never hangs on a script
/// that does not end (it answers `BUSY` instead, and `SCRIPT KILL` gets
/// through).
pub(crate) fn read_unless_busy<'a>(
    store: &'a parking_lot::RwLock<KvStore>,
    status: &ScriptStatus,
) -> Option<parking_lot::RwLockReadGuard<'a, KvStore>> {
    loop {
        if let Some(guard) = store.try_read_for(Duration::from_millis(10)) {
            return Some(guard);
        }
        if status.busy() {
            return None;
        }
    }
}
