//! `MULTI`, `EXEC`, `DISCARD` and the queue between them. A queued command
//! runs its handler at once, but its write or read is captured instead of
//! submitted; `EXEC` proposes everything captured as one log entry
//! ([`Command::Exec`]), applied atomically on every replica, and answers the
//! array of the replies. As in Redis, an unknown command or a wrong number
//! of arguments while queuing makes `EXEC` fail with `EXECABORT` (nothing
//! runs), while an error the command's own checks find (a bad option, a key
//! too large) is its reply inside the array.

use super::outcome::{Outcome, now};
use super::queued::{MAX_QUEUED, Transaction, queued_reply};
use super::session::Session;
use crate::command::{Command, Reply, TxOp};
use crate::error::ErrorCode;

type Args<'a> = &'a [Vec<u8>];

/// What a connection inside `MULTI` sends that does not get queued.
pub(super) const TRANSACTION_CONTROL: [&str; 5] = ["MULTI", "EXEC", "DISCARD", "QUIT", "WATCH"];

/// Commands refused inside `MULTI` (connection state that would change before
/// `EXEC`, or administration outside the key space), as Redis refuses some.
const NOT_QUEUED: [&str; 17] = [
    "EVAL",
    "EVAL_RO",
    "EVALSHA",
    "EVALSHA_RO",
    "SCRIPT",
    "SAVE",
    "BGSAVE",
    "SHUTDOWN",
    "AUTH",
    "HELLO",
    "READONLY",
    "READWRITE",
    "RAFT.ADDNODE",
    "RAFT.REMOVENODE",
    "RAFT.TRANSFER",
    "RAFT.BACKUP",
    "RAFT.SNAPSHOT",
];

/// A command's handler, as the command table holds it.
pub(super) type Handler = fn(&mut Session, Args) -> Outcome;

/// Marks the transaction failed and answers `reply` (an error).
fn refuse(s: &mut Session, reply: Reply) -> Outcome {
    abort(s);
    now(reply)
}

/// Makes a pending `EXEC` fail with `EXECABORT` (no-op outside `MULTI`).
pub(super) fn abort(s: &mut Session) {
    if let Some(tx) = s.multi.as_mut() {
        tx.abort();
    }
}

/// `MULTI`.
pub(super) fn multi(s: &mut Session, _: Args) -> Outcome {
    if s.multi.is_some() {
        return now(Reply::error(
            ErrorCode::Err,
            "MULTI calls can not be nested",
        ));
    }
    s.multi = Some(Transaction::default());
    now(Reply::ok())
}

/// `EXEC`: proposes the queued commands as one entry.
pub(super) fn exec(s: &mut Session, _: Args) -> Outcome {
    let Some(tx) = s.multi.take() else {
        return now(Reply::error(ErrorCode::Err, "EXEC without MULTI"));
    };
    let watched = std::mem::take(&mut s.watched);
    if tx.is_aborted() {
        return now(Reply::error(
            ErrorCode::ExecAbort,
            "Transaction discarded because of previous errors.",
        ));
    }
    let ops = tx.into_ops();
    if !watched.is_empty() {
        let watched = watched
            .into_iter()
            .map(|(key, seen)| (serde_bytes::ByteBuf::from(key), seen))
            .collect();
        return Outcome::Reply(s.node.write(Command::ExecWatched { watched, ops }));
    }
    if ops.iter().all(|op| matches!(op, TxOp::Fixed(_))) {
        // Nothing touches the state: no entry needed.
        let replies = ops.into_iter().filter_map(|op| match op {
            TxOp::Fixed(r) => Some(r),
            _ => None,
        });
        return now(Reply::Array(replies.collect()));
    }
    Outcome::Reply(s.node.write(Command::Exec { ops }))
}

/// `DISCARD`.
pub(super) fn discard(s: &mut Session, _: Args) -> Outcome {
    if s.multi.take().is_none() {
        return now(Reply::error(ErrorCode::Err, "DISCARD without MULTI"));
    }
    s.watched.clear();
    now(Reply::ok())
}

/// Queues one command (`name`, `args` without it) inside `MULTI`:
/// `+QUEUED`, or an error that aborts the transaction.
pub(super) fn queue(s: &mut Session, name: &'static str, handler: Handler, args: Args) -> Outcome {
    let limit = s.limits().max_request;
    if NOT_QUEUED.contains(&name) {
        let error = format!(
            "Command not allowed inside a transaction: '{}'",
            name.to_ascii_lowercase()
        );
        return refuse(s, Reply::error(ErrorCode::Err, error));
    }
    let bytes = args.iter().map(Vec::len).sum::<usize>();
    if !s.multi.as_mut().is_some_and(|tx| tx.reserve(bytes, limit)) {
        return refuse(
            s,
            Reply::error(
                ErrorCode::Err,
                format!("transaction too large (limits: {MAX_QUEUED} commands, {limit} bytes)"),
            ),
        );
    }
    s.capturing = true;
    let outcome = handler(s, args);
    s.capturing = false;
    let op = match (s.captured.take(), outcome) {
        (Some(op), _) => op,
        (None, Outcome::Reply(mut pending)) => match pending.try_take() {
            Some(result) => TxOp::Fixed(super::reply::reply_of(result)),
            None => {
                // Every command that answers later is in NOT_QUEUED.
                log::error!("{name} answered later inside MULTI; refused");
                let error =
                    Reply::error(ErrorCode::Err, "command not allowed inside a transaction");
                return refuse(s, error);
            }
        },
        (None, Outcome::Close(reply)) => return Outcome::Close(reply),
        (None, Outcome::Hangup) => return Outcome::Hangup,
        (None, Outcome::Block(_)) => {
            // A blocking command is captured as a write while queuing.
            log::error!("{name} blocked inside MULTI; refused");
            let error = Reply::error(ErrorCode::Err, "command not allowed inside a transaction");
            return refuse(s, error);
        }
    };
    if let Some(tx) = s.multi.as_mut() {
        tx.push(op);
    }
    now(queued_reply())
}
