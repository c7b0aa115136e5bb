//! `EVAL`, `EVALSHA`, their `_RO` forms and `SCRIPT`: the client port's
//! side of scripting. A script is one log entry that every replica's applier
//! runs (`runtime::scripts`); its `redis.call`s go through the command
//! table (`script_calls`), captured as inside `MULTI`. While a script
//! runs past the node's busy threshold, commands are refused with `BUSY`
//! except the few Redis lets through ([`allowed_while_busy`]).

use super::outcome::{Outcome, now};
use super::session::Session;
use crate::command::{Command, Reply, ScriptCall};
use crate::error::ErrorCode;

type Args<'a> = &'a [Vec<u8>];

/// What Redis serves while a script is busy (`CMD_ALLOW_BUSY`).
const ALLOWED_WHILE_BUSY: [&str; 8] = [
    "AUTH", "DISCARD", "HELLO", "MULTI", "QUIT", "SHUTDOWN", "UNWATCH", "WATCH",
];

/// `EVAL script numkeys [key ...] [arg ...]` (`read_only`: `EVAL_RO`).
pub(super) fn eval(s: &mut Session, a: Args, read_only: bool) -> Outcome {
    propose(s, a[0].clone(), &a[1..], read_only)
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`: a script this node knows.
pub(super) fn evalsha(s: &mut Session, a: Args, read_only: bool) -> Outcome {
    match s.node.scripts().get(&a[0]) {
        Some(body) => propose(s, body.to_vec(), &a[1..], read_only),
        None => now(Reply::error(
            ErrorCode::NoScript,
            "No matching script. Please use EVAL.",
        )),
    }
}

/// Proposes `body` with `rest` = `numkeys key... arg...`.
fn propose(s: &mut Session, body: Vec<u8>, rest: Args, read_only: bool) -> Outcome {
    let given = rest.len() - 1;
    let numkeys = match crate::command::parse_redis_int(&rest[0]) {
        None => {
            return now(Reply::error(
                ErrorCode::Err,
                "value is not an integer or out of range",
            ));
        }
        Some(n) if n < 0 => {
            return now(Reply::error(
                ErrorCode::Err,
                "Number of keys can't be negative",
            ));
        }
        Some(n) if n as u64 > given as u64 => {
            return now(Reply::error(
                ErrorCode::Err,
                "Number of keys can't be greater than number of args",
            ));
        }
        Some(n) => n as usize,
    };
    // As Redis does, a script that does not compile is answered at once (and
    // never logged); a cached one compiled before.
    let sha = crate::script::sha1_hex(&body);
    let known = s
        .node
        .scripts()
        .contains_or_admit(sha, &body, crate::script::check_syntax);
    if let Err(e) = known {
        return now(e);
    }
    let seed = s.next_seed();
    let call = ScriptCall {
        body,
        keys: rest[1..=numkeys].to_vec(),
        args: rest[1 + numkeys..].to_vec(),
        seed,
        read_only,
        limits: *s.limits(),
    };
    s.write(Command::Eval(Box::new(call)))
}

/// `SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP`.
pub(super) fn script(s: &mut Session, a: Args) -> Outcome {
    let sub = a[0].to_ascii_uppercase();
    match (sub.as_slice(), &a[1..]) {
        (b"LOAD", [body]) => now(match crate::script::check_syntax(body) {
            Ok(()) => Reply::Bulk(Some(s.node.scripts().insert(body).into_bytes())),
            Err(e) => e,
        }),
        (b"EXISTS", shas) if !shas.is_empty() => now(Reply::Array(
            shas.iter()
                .map(|sha| Reply::Int(i64::from(s.node.scripts().get(sha).is_some())))
                .collect(),
        )),
        (b"FLUSH", mode) if flush_mode(mode) => {
            s.node.scripts().flush();
            now(Reply::ok())
        }
        (b"KILL", []) => kill(s),
        (b"HELP", []) => now(Reply::Array(
            HELP.iter()
                .map(|l| Reply::Simple((*l).to_string()))
                .collect(),
        )),
        _ => now(Reply::error(
            ErrorCode::Err,
            format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try SCRIPT HELP.",
                String::from_utf8_lossy(&a[0])
            ),
        )),
    }
}

fn flush_mode(mode: Args) -> bool {
    match mode {
        [] => true,
        [m] => m.eq_ignore_ascii_case(b"ASYNC") || m.eq_ignore_ascii_case(b"SYNC"),
        _ => false,
    }
}

const HELP: [&str; 9] = [
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in this node's cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush this node's cache of scripts.",
    "KILL",
    "    Kill the running script, if it has not written (on every replica, through the log).",
    "LOAD <script>",
    "    Load a script into this node's cache without running it.",
];

/// `SCRIPT KILL`: through the log, so that every replica kills the script
/// at the same point (see `runtime::scripts`).
fn kill(s: &mut Session) -> Outcome {
    match s.node.running_script() {
        None => now(crate::runtime::not_busy()),
        Some(r) if r.unkillable => now(crate::runtime::unkillable()),
        Some(r) => Outcome::Reply(s.node.write(Command::ScriptMarker {
            script: r.index,
            kill: true,
        })),
    }
}

/// True for what a node serves while a script is busy.
pub(super) fn allowed_while_busy(name: &str, args: &[Vec<u8>]) -> bool {
    let sub = |word: &[u8]| args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(word));
    ALLOWED_WHILE_BUSY.contains(&name)
        || (name == "SCRIPT" && sub(b"KILL"))
        || (name == "FUNCTION" && (sub(b"KILL") || sub(b"STATS")))
}

/// Refuses `name` with `BUSY` (an `EXEC` discards its transaction, with
/// `EXECABORT`, as Redis does; a command queued in `MULTI` makes the
/// `EXEC` fail).
pub(super) fn refuse_busy(s: &mut Session, name: &str) -> Outcome {
    let busy = crate::runtime::busy_reply();
    if name == "EXEC" && s.multi.take().is_some() {
        s.watched.clear();
        let Reply::Error(text) = busy else {
            unreachable!("busy_reply is an error")
        };
        return now(Reply::error(
            ErrorCode::ExecAbort,
            format!("Transaction discarded because of: {text}"),
        ));
    }
    super::transaction::abort(s);
    now(busy)
}
