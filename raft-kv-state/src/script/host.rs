//! A script's `redis.call`s against the store: each planned through the
//! registry as a client's request is, with the script's proposer's limits,
//! so what a script may call is what the registry's flags say (`noscript`
//! refused, `TIME` and `INFO` answered from the state machine), and every
//! replica computes the same.

use super::lua::{Abort, Gate, Host, run};
use crate::entry::ScriptCall;
use crate::errors::CommandError;
use crate::limits::Limits;
use crate::registry::plan::{CallContext, ConnectionOp, NodeOp, Plan};
use crate::registry::registry;
use crate::reply::Reply;
use crate::store::KvStore;
use raft_core::SplitMix64;
use std::cell::RefCell;
use std::rc::Rc;

/// Runs a script's calls against a store.
struct StoreHost<'a> {
    store: &'a mut KvStore,
    limits: Limits,
    read_only: bool,
    seeds: SplitMix64,
    gate: Rc<RefCell<dyn Gate>>,
}

impl Host for StoreHost<'_> {
    fn call(&mut self, argv: Vec<Vec<u8>>) -> Result<Reply, Abort> {
        // One draw per call, as the first version drew them, so scripts in
        // old entries replay with the same randomness.
        let seed = SplitMix64::new(self.seeds.next_u64()).next_u64();
        let Ok(c) = registry().lookup_logged(&argv, self.store.entry_version()) else {
            return Ok(CommandError::ScriptUnknownCommand.into());
        };
        if !c.arity_fits(argv.len()) {
            return Ok(CommandError::ScriptArity.into());
        }
        if !c.allowed_in_scripts() {
            return Ok(CommandError::ScriptNotAllowed.into());
        }
        if let Err(e) = c.check_limits(&argv, &self.limits) {
            return Ok(e.into());
        }
        let ctx = CallContext {
            limits: &self.limits,
            may_block: false,
        };
        let plan = match c.plan(&argv, &ctx) {
            Ok(plan) => plan,
            Err(e) => return Ok(e.into()),
        };
        Ok(match plan {
            Plan::Write if self.read_only => CommandError::ScriptWriteInReadOnly.into(),
            Plan::Write => {
                self.gate.borrow_mut().before_write()?;
                self.store
                    .apply_call(&argv, if c.is_random() { seed } else { 0 })
            }
            Plan::Read => self.store.read_call_with(&argv, &mut SplitMix64::new(seed)),
            Plan::Reply(r) => r,
            Plan::Node(NodeOp::Time) => self.store.time_reply(),
            Plan::Node(NodeOp::Info(sections)) => self.store.info_for_script(&sections),
            // A connection's read mode means nothing to a script, which
            // every replica runs.
            Plan::Connection(ConnectionOp::ReadOnly(_)) => Reply::ok(),
            Plan::Connection(ConnectionOp::Ping(message)) => crate::ping_reply(message, false),
            Plan::Block(_) | Plan::Connection(_) | Plan::Node(_) => {
                CommandError::ScriptNotAllowed.into()
            }
        })
    }
}

/// Runs `call` (whose SHA1 is `sha`) against `store`, `gate` deciding
/// between its steps: its reply, or why it stopped.
pub fn run_script(
    store: &mut KvStore,
    call: &ScriptCall,
    sha: &str,
    gate: Rc<RefCell<dyn Gate>>,
) -> Result<Reply, Abort> {
    let mut host = StoreHost {
        store,
        limits: call.limits,
        read_only: call.read_only,
        seeds: SplitMix64::new(call.seed.rotate_left(17)),
        gate: gate.clone(),
    };
    run(call, sha, &mut host, gate)
}
