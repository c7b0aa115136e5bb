//! The scripting family: `EVAL`, `EVALSHA`, their `_RO` forms and
//! `SCRIPT`'s subcommands. A script is one log entry that every replica's
//! applier runs ([`crate::script`]); the node's cache of scripts by SHA1 is
//! the session's to consult.

use super::node;
use crate::errors::CommandError;
use crate::family::{Args, Ordering, Registration, planned};
use crate::numbers::parse_redis_int;
use crate::registry::plan::{NodeOp, Script};

/// The scripting commands.
pub(crate) static COMMANDS: &[Registration] = &[
    script_entry(planned("eval", |a, _| {
        node(NodeOp::Eval(script(a, false)?))
    })),
    script_entry(planned("eval_ro", |a, _| {
        node(NodeOp::Eval(script(a, true)?))
    })),
    script_entry(planned("evalsha", |a, _| {
        node(NodeOp::EvalSha(script(a, false)?))
    })),
    script_entry(planned("evalsha_ro", |a, _| {
        node(NodeOp::EvalSha(script(a, true)?))
    })),
    planned("script|load", |a, _| node(NodeOp::ScriptLoad(a[0].clone()))).refused_in_multi(),
    planned("script|exists", |a, _| {
        node(NodeOp::ScriptExists(a.to_vec()))
    })
    .refused_in_multi(),
    planned("script|flush", |a, _| match a {
        [] => node(NodeOp::ScriptFlush),
        [m] if m.eq_ignore_ascii_case(b"ASYNC") || m.eq_ignore_ascii_case(b"SYNC") => {
            node(NodeOp::ScriptFlush)
        }
        _ => Err(CommandError::Syntax),
    })
    .refused_in_multi(),
    planned("script|kill", |_, _| node(NodeOp::ScriptKill)).refused_in_multi(),
];

/// A script is its own log entry (ordered as a write), never part of a
/// transaction's.
const fn script_entry(r: Registration) -> Registration {
    r.ordered_as(Ordering::Write).refused_in_multi()
}

/// `script numkeys [key ...] [arg ...]` (`body` the source or the SHA1).
fn script(a: Args, read_only: bool) -> Result<Script, CommandError> {
    let given = a.len() - 2;
    let numkeys = match parse_redis_int(&a[1]) {
        None => return Err(CommandError::NotAnInteger),
        Some(n) if n < 0 => return Err(CommandError::NegativeNumkeys),
        Some(n) if n as u64 > given as u64 => return Err(CommandError::TooManyKeys),
        Some(n) => n as usize,
    };
    Ok(Script {
        body: a[0].clone(),
        keys: a[2..2 + numkeys].to_vec(),
        args: a[2 + numkeys..].to_vec(),
        read_only,
    })
}
