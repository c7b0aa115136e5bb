//! A request a connection submitted and the answer it waits for: a reply
//! of the node ([`PendingReply`]) or a blocking command ([`BlockedCall`]).

use super::blocked::BlockedCall;
use crate::command::{Protocol, Reply};
use crate::error::RequestError;
use crate::runtime::PendingReply;
use std::time::Instant;

/// A submitted request: its reply, the protocol the reply is encoded in, and
/// the command's name (for `raft_commands_total`).
pub(super) struct Submitted {
    pub(super) reply: Awaiting,
    pub(super) protocol: Protocol,
    pub(super) command: &'static str,
}

/// What a submitted request's answer comes from.
pub(super) enum Awaiting {
    Reply(PendingReply),
    Blocked(Box<BlockedCall>),
}

impl Awaiting {
    pub(super) fn try_take(&mut self) -> Option<Result<Reply, RequestError>> {
        match self {
            Awaiting::Reply(r) => r.try_take(),
            Awaiting::Blocked(b) => b.try_take(),
        }
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Awaiting::Reply(r) => r.deadline(),
            Awaiting::Blocked(b) => b.deadline(),
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
        }
    }

    /// The client went away.
    pub(super) fn cancel(&mut self) {
        if let Awaiting::Blocked(b) = self {
            b.cancel();
        }
    }
}
