//! The commands a script calls (`redis.call`): planned through the command
//! table the way `MULTI` queues them, by the applier of every replica.

use super::commands::lookup;
use super::outcome::{Kind, Outcome};
use super::reply::reply_of;
use super::session::Session;
use crate::command::{Reply, TxOp};
use crate::config::Limits;
use crate::error::ErrorCode;
use crate::runtime::NodeHandle;

/// Commands of the read and write kinds a script may not call.
const NOT_IN_SCRIPTS: [&str; 9] = [
    "EXEC",
    "WATCH",
    "EVAL",
    "EVAL_RO",
    "EVALSHA",
    "EVALSHA_RO",
    "RAFT.ADDNODE",
    "RAFT.REMOVENODE",
    "RAFT.BACKUP",
];

/// Commands outside the state machine a script may call (their reply is
/// the same on every replica).
const OTHER_IN_SCRIPTS: [&str; 2] = ["PING", "ECHO"];

/// Turns a script's `redis.call` words (`argv[0]` the name) into what the
/// state machine runs, through the command table as `MULTI` queues: the
/// same on every replica, given the same `limits` and `seed`. `Err` is the
/// call's reply: an unknown command, a wrong arity, or a command scripts
/// may not call (administration, transactions, scripts, `TIME`).
pub fn plan_script_call(
    node: &NodeHandle,
    limits: Limits,
    argv: &[Vec<u8>],
    seed: u64,
) -> Result<TxOp, Reply> {
    let refuse = |text: &str| Reply::error(ErrorCode::Err, text);
    let Some(spec) = lookup(&argv[0]) else {
        return Err(refuse("Unknown Redis command called from script"));
    };
    if !spec.arity_ok(argv.len()) {
        return Err(refuse(
            "Wrong number of args calling Redis command from script",
        ));
    }
    let allowed = match spec.kind() {
        Kind::Read | Kind::Write | Kind::Blocking => !NOT_IN_SCRIPTS.contains(&spec.name),
        Kind::Other => OTHER_IN_SCRIPTS.contains(&spec.name),
    };
    let not_allowed = || refuse("This Redis command is not allowed from script");
    if !allowed {
        return Err(not_allowed());
    }
    let mut s = Session::scripted(node.clone(), limits, seed);
    let outcome = spec.run(&mut s, argv);
    match (s.captured.take(), outcome) {
        (Some(op), _) => Ok(op),
        (None, Outcome::Reply(mut pending)) => pending
            .try_take()
            .map(|r| TxOp::Fixed(reply_of(r)))
            .ok_or_else(not_allowed),
        (None, _) => Err(not_allowed()),
    }
}
