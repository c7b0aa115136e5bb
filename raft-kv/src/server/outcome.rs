//! What a request turns into, and the kind of command it is: shared by the
//! command table, the session and the connection.

use super::reply::reply_of;
use crate::command::Reply;
use crate::error::{ErrorCode, RequestError};
use crate::runtime::PendingReply;

/// Whether a command reads or writes replicated state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Reads the state machine (linearizably unless the connection is READONLY).
    Read,
    /// Goes through the log.
    Write,
    /// Goes through the log and may wait for other clients' writes (BLPOP):
    /// nothing after it on the connection runs until it is answered.
    Blocking,
    /// Neither (connection state, introspection, admin outside the log).
    Other,
}

/// What a request turned into.
pub(super) enum Outcome {
    /// A reply, now or later.
    Reply(PendingReply),
    /// A blocking command, answered when it took something or gave up.
    Block(Box<super::blocked::BlockedCall>),
    /// The last reply before the connection closes.
    Close(Reply),
    /// The connection closes with no reply (after `SHUTDOWN`, as Redis's).
    Hangup,
}

/// The `command` label of requests whose name is not in the command table.
pub(super) const UNKNOWN_COMMAND: &str = "unknown";

/// Counts one answered command by name and result.
pub(super) fn count_command(
    node: &crate::runtime::NodeHandle,
    command: &'static str,
    reply: &Reply,
) {
    let ok = !matches!(reply, Reply::Error(_));
    node.metrics().command_answered(command, ok);
}

/// A reply known now.
pub(super) fn now(reply: Reply) -> Outcome {
    Outcome::Reply(PendingReply::ready(Ok(reply)))
}

/// An outcome known now.
pub(super) fn now_result(outcome: Result<Reply, RequestError>) -> Outcome {
    now(reply_of(outcome))
}

/// Redis's reply to a wrong number of arguments.
pub(super) fn arity(name: &str) -> Reply {
    Reply::error(
        ErrorCode::Err,
        format!(
            "wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        ),
    )
}
