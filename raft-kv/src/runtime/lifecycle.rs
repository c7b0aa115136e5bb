//! Whether the node runs, is stopping, or stopped itself after a fatal error.
//! Every thread of the runtime reads it; only [`Lifecycle::fail`] and
//! [`Lifecycle::begin_stop`] change it.

use crate::error::FatalError;
use parking_lot::{Condvar, Mutex};
use raft_core::NodeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Asks the owner of a running node to stop it (wakes
/// `Runtime::wait_until_stop_needed`); the stop itself is the owner's.
#[derive(Clone)]
pub struct StopRequest(Arc<Lifecycle>);

impl StopRequest {
    pub(crate) fn new(lifecycle: Arc<Lifecycle>) -> Self {
        StopRequest(lifecycle)
    }

    /// Wakes the owner.
    pub fn request(&self) {
        self.0.ask_owner_to_stop();
    }
}

/// The node's run state, shared by its threads.
pub(crate) struct Lifecycle {
    id: NodeId,
    stopping: AtomicBool,
    fatal: Mutex<Option<FatalError>>,
    failed: AtomicBool,
    removed: AtomicBool,
    /// True once the owner must act: a fatal error, a removal, or a stop
    /// asked for by [`Lifecycle::ask_owner_to_stop`].
    owner_needed: Mutex<bool>,
    owner_woken: Condvar,
}

impl Lifecycle {
    pub(crate) fn new(id: NodeId) -> Self {
        Lifecycle {
            id,
            stopping: AtomicBool::new(false),
            fatal: Mutex::new(None),
            failed: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            owner_needed: Mutex::new(false),
            owner_woken: Condvar::new(),
        }
    }

    /// Wakes [`Lifecycle::wait_for_owner`] (a signal asked the node to stop).
    pub(crate) fn ask_owner_to_stop(&self) {
        *self.owner_needed.lock() = true;
        self.owner_woken.notify_all();
    }

    /// Blocks until the owner must act: the node failed, was removed, or
    /// [`Lifecycle::ask_owner_to_stop`] was called. Sleeps; never polls.
    pub(crate) fn wait_for_owner(&self) {
        let mut needed = self.owner_needed.lock();
        while !*needed {
            self.owner_woken.wait(&mut needed);
        }
    }

    /// True once a graceful stop began or a fatal error stopped the node.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// True once a fatal error stopped the node.
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Starts a graceful stop: new requests are refused with `-SHUTDOWN`.
    pub(crate) fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Stops the node after an unrecoverable error; the first error is kept.
    pub(crate) fn fail(&self, error: FatalError) {
        log::error!("node {}: {error}; stopping", self.id);
        let mut fatal = self.fatal.lock();
        if fatal.is_none() {
            *fatal = Some(error);
        }
        self.failed.store(true, Ordering::SeqCst);
        self.stopping.store(true, Ordering::SeqCst);
        drop(fatal);
        self.ask_owner_to_stop();
    }

    /// This node is no longer a member: it stops serving (`-SHUTDOWN`), and
    /// its owner should stop it (`raft-cli node` exits 0).
    pub(crate) fn mark_removed(&self) {
        if !self.removed.swap(true, Ordering::SeqCst) {
            log::info!(
                "node {} was removed from the cluster; it stops serving",
                self.id
            );
        }
        self.stopping.store(true, Ordering::SeqCst);
        self.ask_owner_to_stop();
    }

    /// True once this node learned it was removed from the cluster.
    pub(crate) fn was_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// The fatal error's text, if one stopped the node.
    pub(crate) fn fatal_text(&self) -> Option<String> {
        self.fatal.lock().as_ref().map(ToString::to_string)
    }

    /// Takes the fatal error out (at shutdown).
    pub(crate) fn take_fatal(&self) -> Option<FatalError> {
        self.fatal.lock().take()
    }
}
