//! What a request turns into once its session has carried out its plan.

use super::blocked::BlockedCall;
use super::reply::reply_of;
use raft_kv::{PendingReply, RequestError};
use raft_kv_state::Reply;

/// What a request turned into.
pub(super) enum Outcome {
    /// A reply, now or later.
    Reply(PendingReply),
    /// Refused before it ran (an unknown command, the wrong arity, `NOAUTH`,
    /// `BUSY`, a refusal inside `MULTI`): counted as `rejected_calls`.
    Refused(Reply),
    /// Frames encoded now that are not a reply (subscribe confirmations):
    /// sent at their place, whatever `CLIENT REPLY` says.
    Encoded(Vec<u8>),
    /// A blocking command, answered when it took something or gave up.
    Block(Box<BlockedCall>),
    /// The last reply before the connection closes.
    Close(Reply),
    /// The connection closes with no reply (after `SHUTDOWN`, as Redis's).
    Hangup,
}

/// A reply known now.
pub(super) fn now(reply: impl Into<Reply>) -> Outcome {
    Outcome::Reply(PendingReply::ready(Ok(reply.into())))
}

/// An outcome known now.
pub(super) fn now_result(outcome: Result<Reply, RequestError>) -> Outcome {
    now(reply_of(outcome))
}
