//! The server family: `INFO`, `TIME`, `CONFIG GET | SET`, `SAVE`, `BGSAVE`,
//! `SHUTDOWN` and `FUNCTION FLUSH` (no function is ever loaded here).

use super::{node, reply};
use crate::errors::CommandError;
use crate::family::{Args, Registration, planned};
use crate::registry::plan::{CallContext, NodeOp, Plan, ShutdownHow};
use crate::reply::Reply;

/// The server commands.
pub(crate) static COMMANDS: &[Registration] = &[
    planned("info", |a, _| node(NodeOp::Info(a.to_vec()))),
    planned("time", |_, _| node(NodeOp::Time)),
    planned("role", |_, _| node(NodeOp::Role)).node_local(),
    planned("config|get", |a, _| node(NodeOp::ConfigGet(a.to_vec()))),
    planned("config|set", config_set),
    planned("save", |_, _| node(NodeOp::Snapshot)).refused_in_multi(),
    planned("bgsave", |a, _| match a {
        [] => node(NodeOp::BackgroundSnapshot(false)),
        [w] if w.eq_ignore_ascii_case(b"SCHEDULE") => node(NodeOp::BackgroundSnapshot(true)),
        _ => Err(CommandError::Syntax),
    })
    .refused_in_multi(),
    planned("shutdown", shutdown),
    planned("function|flush", |a, _| match a {
        [] => reply(Reply::ok()),
        [m] if m.eq_ignore_ascii_case(b"ASYNC") || m.eq_ignore_ascii_case(b"SYNC") => {
            reply(Reply::ok())
        }
        _ => Err(CommandError::Syntax),
    }),
];

/// `CONFIG SET name value [name value ...]`.
fn config_set(a: Args, _: &CallContext) -> Result<Plan, CommandError> {
    if !a.len().is_multiple_of(2) {
        return Err(CommandError::arity("config|set"));
    }
    let pairs = a.chunks(2).map(|p| (p[0].clone(), p[1].clone()));
    node(NodeOp::ConfigSet(pairs.collect()))
}

/// `SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]`: stops this node
/// gracefully (its log is durable already: there is nothing to save).
fn shutdown(a: Args, _: &CallContext) -> Result<Plan, CommandError> {
    let mut how = ShutdownHow::Stop;
    for word in a {
        match word.to_ascii_uppercase().as_slice() {
            b"NOSAVE" | b"SAVE" | b"NOW" | b"FORCE" => {}
            b"ABORT" => how = ShutdownHow::Abort,
            _ => return Err(CommandError::Syntax),
        }
    }
    node(NodeOp::Shutdown(how))
}
