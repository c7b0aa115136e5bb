//! [`Proposer`]: how a write reaches the consensus thread. It registers the
//! write (whose client then waits on its reply), stamps its entry with this
//! node's clock and the cluster's state machine version, and hands it over.
//! The client port's handle and the applier's scripts (their markers)
//! propose through it alike.

use super::clock::{ClusterVersion, unix_ms_now};
use super::events::Event;
use super::lifecycle::Lifecycle;
use super::pending::PendingReply;
use super::requests::{Notifier, Requests, WriteKind};
use super::script_status::ScriptStatus;
use crate::error::RequestError;
use raft_kv_state::{Entry, Op, ProposalId};
use raft_net::mailbox::MailSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Submits writes to the consensus thread.
#[derive(Clone)]
pub(crate) struct Proposer {
    pub(crate) events: MailSender<Event>,
    pub(crate) requests: Arc<Requests>,
    pub(crate) lifecycle: Arc<Lifecycle>,
    pub(crate) version: Arc<ClusterVersion>,
    /// How long a client waits for its outcome.
    pub(crate) timeout: Duration,
}

impl Proposer {
    /// Proposes `op`; the reply comes once it is applied on this node (a
    /// script's waits as long as this node's applier runs a script, with
    /// `scripts`).
    pub(crate) fn propose(
        &self,
        op: Op,
        notify: Option<Notifier>,
        scripts: Option<Arc<ScriptStatus>>,
    ) -> PendingReply {
        let version = self.version.get();
        self.submit(WriteKind::Command, notify, scripts, |id, deadline| {
            let mut entry = Entry::new(id, unix_ms_now(), op);
            entry.version = version;
            Event::Propose {
                id,
                data: entry.encode(),
                deadline,
            }
        })
    }

    /// Registers a write, hands `event(id, deadline)` to the consensus
    /// thread and returns the reply to wait for.
    pub(crate) fn submit(
        &self,
        kind: WriteKind,
        notify: Option<Notifier>,
        scripts: Option<Arc<ScriptStatus>>,
        event: impl FnOnce(ProposalId, Instant) -> Event,
    ) -> PendingReply {
        if self.lifecycle.is_stopping() {
            return PendingReply::ready(Err(RequestError::Shutdown));
        }
        let (id, rx) = self.requests.register_write(kind, notify);
        let deadline = Instant::now() + self.timeout;
        if self
            .events
            .send_deadline(event(id, deadline), deadline)
            .is_err()
        {
            self.requests.expire_write(id);
            return PendingReply::ready(Err(RequestError::Overloaded));
        }
        PendingReply::waiting_write(id, rx, deadline, self.requests.clone(), scripts)
    }
}
