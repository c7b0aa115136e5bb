//! `MULTI`, `EXEC`, `DISCARD`, `WATCH` and the queue between them. A queued
//! command is planned at once; its write or read is kept as its words, and
//! `EXEC` proposes everything queued as one log entry
//! ([`raft_kv_state::entry::Transaction`]), applied atomically on every
//! replica, and answers the array of the replies. As in Redis, an unknown
//! command or a wrong number of arguments while queuing makes `EXEC` fail
//! with `EXECABORT` (nothing runs), while an error the command's own checks
//! find (a bad option, a key too large) is its reply inside the array.

use super::outcome::{Outcome, now};
use super::queued::{MAX_QUEUED, Transaction};
use super::session::Session;
use raft_kv_state::entry::{Call, Queued};
use raft_kv_state::registry::plan::{CallContext, Plan};
use raft_kv_state::registry::{Command, InMulti};
use raft_kv_state::{CommandError, Op, Reply};

/// Most keys one connection may watch.
const MAX_WATCHED: usize = 100_000;

/// The reply to a command queued inside `MULTI`.
fn queued_reply() -> Reply {
    Reply::Simple("QUEUED".into())
}

impl Session {
    /// Makes a pending `EXEC` fail with `EXECABORT` (no-op outside `MULTI`).
    pub(super) fn abort_transaction(&mut self) {
        if let Some(tx) = self.multi.as_mut() {
            tx.abort();
        }
    }

    /// `MULTI`.
    pub(super) fn multi(&mut self) -> Outcome {
        if self.multi.is_some() {
            return now(CommandError::NestedMulti);
        }
        self.multi = Some(Transaction::default());
        now(Reply::ok())
    }

    /// `EXEC`: proposes the queued commands as one entry.
    pub(super) fn exec(&mut self) -> Outcome {
        let Some(tx) = self.multi.take() else {
            return now(CommandError::ExecWithoutMulti);
        };
        let watched = std::mem::take(&mut self.watched);
        if tx.is_aborted() {
            return now(CommandError::ExecAbort);
        }
        let queued = tx.into_queued();
        if watched.is_empty() && queued.iter().all(|q| matches!(q, Queued::Fixed(_))) {
            // Nothing touches the state: no entry needed.
            let replies = queued.into_iter().filter_map(|q| match q {
                Queued::Fixed(r) => Some(r),
                _ => None,
            });
            return now(Reply::Array(replies.collect()));
        }
        let watched = watched
            .into_iter()
            .map(|(key, seen)| (serde_bytes::ByteBuf::from(key), seen))
            .collect();
        let tx = raft_kv_state::entry::Transaction { watched, queued };
        Outcome::Reply(self.node.write(Op::Transaction(tx)))
    }

    /// `DISCARD`.
    pub(super) fn discard(&mut self) -> Outcome {
        if self.multi.take().is_none() {
            return now(CommandError::DiscardWithoutMulti);
        }
        self.watched.clear();
        now(Reply::ok())
    }

    /// `WATCH key [key ...]`: remembers the version of each key in this
    /// node's applied state. Ordered after this connection's earlier writes
    /// (a read), so on the leader it sees them; on a follower a version not
    /// yet applied there only makes `EXEC` answer nil (the client retries),
    /// never pass over a change.
    pub(super) fn watch(&mut self, keys: &[Vec<u8>]) -> Outcome {
        if self.multi.is_some() {
            return now(CommandError::WatchInsideMulti);
        }
        if self.watched.len() + keys.len() > MAX_WATCHED {
            return now(CommandError::TooManyWatched { limit: MAX_WATCHED });
        }
        match self.node.key_versions(keys) {
            Ok(versions) => {
                self.watched.extend(keys.iter().cloned().zip(versions));
                now(Reply::ok())
            }
            Err(busy) => now(busy),
        }
    }

    /// Queues `argv` (served by `c`) inside `MULTI`: `+QUEUED`, or a refusal
    /// that aborts the transaction.
    pub(super) fn queue(&mut self, c: &'static Command, argv: Vec<Vec<u8>>) -> Outcome {
        if c.in_multi() == InMulti::Refused {
            let name = c.name().to_string();
            return self.refuse(c, &argv, CommandError::NotInMulti { command: name });
        }
        let limit = self.limits.max_request;
        let bytes = argv.iter().map(Vec::len).sum::<usize>();
        if !self
            .multi
            .as_mut()
            .is_some_and(|tx| tx.reserve(bytes, limit))
        {
            let too_large = CommandError::TransactionTooLarge {
                commands: MAX_QUEUED,
                bytes: limit,
            };
            return self.refuse(c, &argv, too_large);
        }
        let queued = match self.plan_queued(c, argv) {
            Ok(q) => q,
            Err(refusal) => return refusal,
        };
        if let Some(tx) = self.multi.as_mut() {
            tx.push(queued);
        }
        now(queued_reply())
    }

    /// What a queued command becomes at its place in the transaction: its
    /// words (a write or a read of the state machine), or the reply it has
    /// now (its own error, or a command outside the state machine, which
    /// runs now as Redis runs it at `EXEC`); `Err` if it cannot be queued.
    fn plan_queued(&mut self, c: &'static Command, argv: Vec<Vec<u8>>) -> Result<Queued, Outcome> {
        if let Err(e) = c.check_limits(&argv, &self.limits) {
            return Ok(Queued::Fixed(e.into()));
        }
        let ctx = CallContext {
            limits: &self.limits,
            may_block: false,
        };
        let plan = match c.plan(&argv, &ctx) {
            Ok(plan) => plan,
            Err(e) => return Ok(Queued::Fixed(e.into())),
        };
        match plan {
            // A blocking command inside MULTI runs as its attempt, as in
            // Redis (planned without blocking, it is a plain write).
            Plan::Write | Plan::Read | Plan::Block(_) => {
                let seed = if c.is_random() { self.next_seed() } else { 0 };
                Ok(Queued::Call(Call { argv, seed }))
            }
            Plan::Reply(r) => Ok(Queued::Fixed(r)),
            other => match self.execute(c, argv, other) {
                Outcome::Reply(mut pending) => match pending.try_take() {
                    Some(result) => Ok(Queued::Fixed(super::reply::reply_of(result))),
                    None => {
                        // Every command answered later is refused in MULTI.
                        log::error!("{} answered later inside MULTI; refused", c.name());
                        let refused = CommandError::NotInMulti {
                            command: c.name().to_string(),
                        };
                        self.abort_transaction();
                        Err(Outcome::Refused(refused.into()))
                    }
                },
                Outcome::Refused(r) => Ok(Queued::Fixed(r)),
                other => Err(other),
            },
        }
    }
}
