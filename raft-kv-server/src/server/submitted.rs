//! A request a connection submitted and the answer it waits for: a reply
//! of the node ([`PendingReply`]) or a blocking command ([`BlockedCall`]).

use super::blocked::BlockedCall;
use raft_kv::{PendingReply, RequestError};
use raft_kv_state::registry::Command;
use raft_kv_state::{Protocol, Reply};
use std::time::Instant;

/// A submitted request: its reply, the protocol the reply is encoded in, and
/// the command it ran (for the command statistics).
pub(super) struct Submitted {
    pub(super) reply: Awaiting,
    pub(super) protocol: Protocol,
    pub(super) counted: Counted,
    /// Its reply is not sent (`CLIENT REPLY OFF | SKIP`).
    pub(super) silent: bool,
}

/// How a submitted request's reply counts in the command statistics.
pub(super) enum Counted {
    /// The command ran: its reply is counted when it comes.
    Ran(&'static Command),
    /// It was counted when refused (or names no command).
    Already,
}

/// What a submitted request's answer comes from.
pub(super) enum Awaiting {
    Reply(PendingReply),
    Blocked(Box<BlockedCall>),
    /// Frames encoded already (subscribe confirmations), not a reply: the
    /// connection writes them at their place, nothing takes them as one.
    Encoded(Vec<u8>),
}

impl Awaiting {
    pub(super) fn try_take(&mut self) -> Option<Result<Reply, RequestError>> {
        match self {
            Awaiting::Reply(r) => r.try_take(),
            Awaiting::Blocked(b) => b.try_take(),
            Awaiting::Encoded(_) => None,
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Awaiting::Reply(r) => r.deadline(),
            Awaiting::Blocked(b) => b.deadline(),
            Awaiting::Encoded(_) => None,
        }
    }

    /// Its deadline passed (or one of a blocked command's).
    pub(super) fn on_deadline(&mut self, now: Instant) {
        match self {
            Awaiting::Reply(r) => {
                if r.deadline().is_some_and(|d| d <= now) {
                    r.expire();
                }
            }
            Awaiting::Blocked(b) => b.on_deadline(now),
            Awaiting::Encoded(_) => {}
        }
    }

    /// The client went away.
    pub(super) fn cancel(&mut self) {
        if let Awaiting::Blocked(b) = self {
            b.cancel();
        }
    }
}
