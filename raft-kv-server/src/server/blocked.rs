//! A blocking command (BLPOP, BLMOVE, BZPOPMIN, ...) on one connection: it
//! is proposed; if it took nothing, the connection blocks on its keys (the
//! node's [waiters](raft_kv::runtime::BlockTicket)) and proposes it again each
//! time it is woken, until it takes something, its timeout passes, or
//! `CLIENT UNBLOCK` ends it. Each attempt is an ordinary write: an element is
//! taken only by an entry of the log, so every replica takes the same one.

use raft_kv::runtime::{BlockTicket, Unblock};
use raft_kv::{NodeHandle, PendingReply, RequestError};
use raft_kv_state::entry::Call;
use raft_kv_state::registry::plan::BlockingForm;
use raft_kv_state::store::blocking::took_nothing;
use raft_kv_state::{CommandError, Op, Reply};
use std::time::Instant;

/// One blocking command until it is answered.
pub(super) struct BlockedCall {
    node: NodeHandle,
    argv: Vec<Vec<u8>>,
    /// What it answers when its time is up.
    nil: Reply,
    /// When the command's own timeout passes (`None`: never).
    deadline: Option<Instant>,
    /// The attempt in flight.
    attempt: Option<PendingReply>,
    /// The place in the node's queues of the keys, until answered.
    ticket: Option<BlockTicket>,
    timed_out: bool,
    /// The client went away: no more attempts.
    cancelled: bool,
}

impl BlockedCall {
    /// Joins the queues of the keys and proposes the first attempt, at once
    /// if no client of this node waited on them before (else in its turn);
    /// an error reply if the node has too many clients blocked.
    pub(super) fn start(
        node: NodeHandle,
        client: u64,
        argv: Vec<Vec<u8>>,
        form: BlockingForm,
    ) -> Result<Self, CommandError> {
        let deadline = form.timeout.map(|t| Instant::now() + t);
        let ticket = node
            .block_on(client, &form.keys, form.awaits)
            .ok_or(CommandError::TooManyBlocked)?;
        let go = ticket.first_in_line() || ticket.take_wake();
        if !go {
            ticket.mark_blocked(); // it waits behind another client
        }
        let mut call = BlockedCall {
            node,
            argv,
            nil: form.nil,
            deadline,
            attempt: None,
            ticket: Some(ticket),
            timed_out: false,
            cancelled: false,
        };
        if go {
            call.propose();
        }
        Ok(call)
    }

    /// Proposes the command once more.
    fn propose(&mut self) {
        self.attempt = Some(self.node.write(Op::Call(Call {
            argv: self.argv.clone(),
            seed: 0,
        })));
    }

    /// The answer, once there is one; moves the call along otherwise (an
    /// attempt that took nothing blocks, a wake-up proposes again).
    pub(super) fn try_take(&mut self) -> Option<Result<Reply, RequestError>> {
        loop {
            if let Some(attempt) = &mut self.attempt {
                let outcome = attempt.try_take()?;
                self.attempt = None;
                match outcome {
                    Ok(reply) if took_nothing(&reply) => {}
                    answer => return Some(self.finish(answer)),
                }
                if let Some(t) = &self.ticket {
                    t.mark_blocked();
                }
            }
            let ticket = self.ticket.as_ref()?;
            match ticket.unblocked() {
                Some(Unblock::Timeout) => return Some(self.finish(Ok(self.nil()))),
                Some(Unblock::Error) => {
                    return Some(self.finish(Ok(CommandError::Unblocked.into())));
                }
                None => {}
            }
            if self.cancelled
                || self.timed_out
                || self.deadline.is_some_and(|d| d <= Instant::now())
            {
                return Some(self.finish(Ok(self.nil())));
            }
            if !ticket.take_wake() {
                return None;
            }
            self.propose();
        }
    }

    /// Leaves the queues (passing a wake-up on) and returns `answer`.
    fn finish(&mut self, answer: Result<Reply, RequestError>) -> Result<Reply, RequestError> {
        self.ticket = None;
        answer
    }

    fn nil(&self) -> Reply {
        self.nil.clone()
    }

    /// The client went away: the call leaves the queues at once, or after
    /// the attempt in flight (whose outcome nobody will read).
    pub(super) fn cancel(&mut self) {
        self.cancelled = true;
        if self.attempt.is_none() {
            self.ticket = None;
        }
    }

    /// When [`BlockedCall::on_deadline`] must run: the attempt's deadline
    /// while one is in flight, the command's timeout while blocked.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match &self.attempt {
            Some(a) => a.deadline(),
            None => self.deadline.filter(|_| !self.timed_out),
        }
    }

    /// A deadline passed: an attempt gives up (its error is the answer), or
    /// the wait ends with nil. An attempt in flight at the timeout is still
    /// awaited: what it took must reach the client.
    pub(super) fn on_deadline(&mut self, now: Instant) {
        if let Some(a) = &mut self.attempt
            && a.deadline().is_some_and(|d| d <= now)
        {
            a.expire();
        }
        if self.deadline.is_some_and(|d| d <= now) {
            self.timed_out = true;
        }
    }
}
