//! How a session serves one request: the registry's entry decides every
//! gate (arity, `NOAUTH`, `BUSY`, `MULTI`), the entry's handler plans the
//! request, and the session carries the plan out through the node.

use super::outcome::{Outcome, now};
use super::session::Session;
use raft_kv_state::entry::Call;
use raft_kv_state::registry::flags::Flags;
use raft_kv_state::registry::plan::{CallContext, ConnectionOp, Plan};
use raft_kv_state::registry::{Command, InMulti, Ordering};
use raft_kv_state::{CommandError, Op, ReplyError};

/// What the registry found for a request (or why it found nothing).
pub(super) type Found = Result<&'static Command, CommandError>;

impl Session {
    /// How `found` is ordered on this connection now: as its entry says,
    /// unless it is only queued (inside `MULTI`) or the connection reads
    /// stale (`READONLY`).
    pub(super) fn ordering_of(&self, found: &Found) -> Ordering {
        let Ok(c) = found else {
            return Ordering::Other;
        };
        match c.ordering() {
            _ if self.multi.is_some() && c.in_multi() != InMulti::RunsNow => Ordering::Other,
            Ordering::Read if self.readonly => Ordering::Other,
            o => o,
        }
    }

    /// Serves one request (`argv[0]` is the name, `found` its entry).
    pub(super) fn dispatch(&mut self, found: Found, argv: Vec<Vec<u8>>) -> Outcome {
        let c = match found {
            Ok(c) => c,
            Err(unknown) => {
                self.abort_transaction();
                return Outcome::Refused(unknown.into());
            }
        };
        if !c.arity_fits(argv.len()) {
            return self.refuse(c, &argv, CommandError::arity(c.name()));
        }
        if !self.authenticated && !c.answers_before_auth() {
            return Outcome::Refused(CommandError::NoAuth.into());
        }
        if self.in_subscribed_mode() && !c.allowed_when_subscribed() {
            let command = c.name().to_string();
            return self.refuse(c, &argv, CommandError::NotInSubscribedMode { command });
        }
        if self.node.script_busy() && !c.has(Flags::ALLOW_BUSY) {
            return self.refuse(c, &argv, CommandError::Busy);
        }
        if c.is_monitored() {
            let addr = self.client_addr();
            self.node
                .pubsub()
                .feed_monitors(|| super::pushes::monitor_line(addr, &c.monitor_words(&argv)));
        }
        if self.multi.is_some() && c.in_multi() != InMulti::RunsNow {
            return self.queue(c, argv);
        }
        if let Err(e) = c.check_limits(&argv, &self.limits) {
            return now(e);
        }
        let ctx = CallContext {
            limits: &self.limits,
            may_block: true,
        };
        let plan = match c.plan(&argv, &ctx) {
            Ok(plan) => plan,
            Err(e) => return now(e),
        };
        let quits = matches!(plan, Plan::Connection(ConnectionOp::Quit));
        if self.node.is_stopping() && !quits {
            return super::outcome::now_result(Err(raft_kv::RequestError::Shutdown));
        }
        self.execute(c, argv, plan)
    }

    /// Refuses `argv` (served by `c`) with `error` before it runs: inside
    /// `MULTI` the transaction is aborted, and a refused `EXEC` discards it
    /// with `EXECABORT`, as Redis's `rejectCommand` does.
    pub(super) fn refuse(&mut self, c: &Command, argv: &[Vec<u8>], error: CommandError) -> Outcome {
        let ctx = CallContext {
            limits: &self.limits,
            may_block: false,
        };
        let is_exec = matches!(c.plan(argv, &ctx), Ok(Plan::Connection(ConnectionOp::Exec)));
        if is_exec && self.multi.take().is_some() {
            self.watched.clear();
            let because = CommandError::ExecAbortBecause(Box::new(ReplyError::from(error)));
            return Outcome::Refused(because.into());
        }
        self.abort_transaction();
        Outcome::Refused(error.into())
    }

    /// Carries out `plan`, the plan of `argv` (served by `c`).
    pub(super) fn execute(&mut self, c: &Command, argv: Vec<Vec<u8>>, plan: Plan) -> Outcome {
        match plan {
            Plan::Write => {
                let seed = if c.is_random() { self.next_seed() } else { 0 };
                Outcome::Reply(self.node.write(Op::Call(Call { argv, seed })))
            }
            Plan::Read if self.readonly => now(self.node.stale_read(&argv)),
            Plan::Read => Outcome::Reply(self.node.read(argv)),
            Plan::Reply(r) => now(r),
            Plan::Block(form) => self.block(argv, form),
            Plan::Connection(op) => self.connection_op(op),
            Plan::Node(op) => self.node_op(op),
        }
    }
}
