//! [`PendingReply`]: a reply that arrives later, and how a request whose
//! deadline passed leaves the registry.

use super::requests::{Outcome, ReadId, Requests};
use super::script_status::ScriptStatus;
use crate::error::RequestError;
use crossbeam_channel::Receiver;
use raft_kv_state::{ProposalId, Reply};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far a deadline moves when it passes while a script runs.
const SCRIPT_WAIT_STEP: Duration = Duration::from_millis(250);

/// A reply that will arrive later; [`PendingReply::wait`] blocks for it, and
/// an event loop polls it with [`PendingReply::try_take`] when its notifier
/// says it is there and expires it with [`PendingReply::expire`] at its
/// [deadline](PendingReply::deadline).
pub struct PendingReply {
    inner: PendingInner,
}

enum PendingInner {
    Ready(Option<Outcome>),
    Waiting {
        key: Registration,
        rx: Receiver<Outcome>,
        deadline: Instant,
        requests: Arc<Requests>,
        /// A script's reply: it waits while the applier runs a script.
        scripts: Option<Arc<ScriptStatus>>,
    },
    /// Registered nowhere: work on a thread of its own, with its own timeouts
    /// (or a registered request whose deadline passed just as it was answered).
    Background(Receiver<Outcome>),
}

/// Where a waiting request is registered, so that a timeout can unregister it.
enum Registration {
    Write(ProposalId),
    Read(ReadId),
}

impl PendingReply {
    /// A reply that is already known.
    pub fn ready(outcome: Result<Reply, RequestError>) -> Self {
        PendingReply {
            inner: PendingInner::Ready(Some(outcome)),
        }
    }

    /// The outcome if it is there, without blocking; `None` until then (and
    /// after it was taken once).
    pub fn try_take(&mut self) -> Option<Result<Reply, RequestError>> {
        match &mut self.inner {
            PendingInner::Ready(r) => r.take(),
            PendingInner::Waiting { rx, .. } | PendingInner::Background(rx) => rx.try_recv().ok(),
        }
    }

    /// When [`PendingReply::expire`] must be called if no outcome came;
    /// `None` if there is no deadline (the outcome is known, or comes from
    /// work with timeouts of its own).
    pub fn deadline(&self) -> Option<Instant> {
        match &self.inner {
            PendingInner::Waiting { deadline, .. } => Some(*deadline),
            PendingInner::Ready(_) | PendingInner::Background(_) => None,
        }
    }

    /// Gives up at the deadline: from now on the reply is the error a
    /// blocking [`PendingReply::wait`] returns at its deadline. If the answer
    /// raced the deadline it stands, and arrives (and is notified) as usual.
    /// A script's reply waits on while the node's applier runs a script (as
    /// a Redis client waits for its script to end): the deadline moves by
    /// [`SCRIPT_WAIT_STEP`] instead.
    pub fn expire(&mut self) {
        if let PendingInner::Waiting {
            deadline, scripts, ..
        } = &mut self.inner
            && scripts.as_ref().is_some_and(|s| s.running().is_some())
        {
            *deadline = Instant::now() + SCRIPT_WAIT_STEP;
            return;
        }
        let inner = std::mem::replace(&mut self.inner, PendingInner::Ready(None));
        self.inner = match inner {
            PendingInner::Waiting {
                key, rx, requests, ..
            } => match give_up(&key, &requests) {
                Some(error) => PendingInner::Ready(Some(Err(error))),
                None => PendingInner::Background(rx),
            },
            other => other,
        };
    }

    /// Waits for the outcome. At the deadline a write not yet proposed is
    /// [`RequestError::NotProposed`] (and never will be), a proposed one
    /// [`RequestError::OutcomeUnknown`], a read no leader took
    /// [`RequestError::ReadNotServed`], one a leader took
    /// [`RequestError::ReadTimedOut`].
    pub fn wait(self) -> Result<Reply, RequestError> {
        self.wait_at_most(None)
    }

    /// [`PendingReply::wait`], but gives up by `limit` if that comes before
    /// the request's own deadline (with the same errors as at the deadline),
    /// for a caller that retries an idempotent write sooner than clients do.
    pub fn wait_within(self, limit: Duration) -> Result<Reply, RequestError> {
        self.wait_at_most(Some(Instant::now() + limit))
    }

    fn wait_at_most(self, limit: Option<Instant>) -> Result<Reply, RequestError> {
        let (key, rx, deadline, requests) = match self.inner {
            PendingInner::Ready(r) => return r.unwrap_or(Err(RequestError::OutcomeUnknown)),
            PendingInner::Background(rx) => {
                return rx.recv().unwrap_or(Err(RequestError::Shutdown));
            }
            PendingInner::Waiting {
                key,
                rx,
                deadline,
                requests,
                ..
            } => (
                key,
                rx,
                limit.map_or(deadline, |l| l.min(deadline)),
                requests,
            ),
        };
        if let Ok(r) = rx.recv_deadline(deadline) {
            return r;
        }
        match give_up(&key, &requests) {
            Some(error) => Err(error),
            // Answered just as the deadline passed: the answer stands, and
            // whoever removed the registration sends it now.
            None => rx.recv().unwrap_or(Err(RequestError::OutcomeUnknown)),
        }
    }
}

/// Removes the registration of a request whose deadline passed, under the
/// registry's lock (which settles the race with the consensus thread): the
/// error its client gets, or `None` if it was answered meanwhile.
fn give_up(key: &Registration, requests: &Requests) -> Option<RequestError> {
    match *key {
        Registration::Write(id) => requests.expire_write(id),
        Registration::Read(id) => requests.expire_read(id),
    }
}

impl PendingReply {
    /// A registered write's reply.
    pub(super) fn waiting_write(
        id: ProposalId,
        rx: Receiver<Outcome>,
        deadline: Instant,
        requests: Arc<Requests>,
        scripts: Option<Arc<ScriptStatus>>,
    ) -> Self {
        Self::waiting(Registration::Write(id), rx, deadline, requests, scripts)
    }

    /// A registered read's reply.
    pub(super) fn waiting_read(
        id: ReadId,
        rx: Receiver<Outcome>,
        deadline: Instant,
        requests: Arc<Requests>,
    ) -> Self {
        Self::waiting(Registration::Read(id), rx, deadline, requests, None)
    }

    fn waiting(
        key: Registration,
        rx: Receiver<Outcome>,
        deadline: Instant,
        requests: Arc<Requests>,
        scripts: Option<Arc<ScriptStatus>>,
    ) -> Self {
        PendingReply {
            inner: PendingInner::Waiting {
                key,
                rx,
                deadline,
                requests,
                scripts,
            },
        }
    }

    /// The reply of work on a thread of its own.
    pub(super) fn background(rx: Receiver<Outcome>) -> Self {
        PendingReply {
            inner: PendingInner::Background(rx),
        }
    }
}
