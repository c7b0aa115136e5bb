//! The command table: every RESP command the store serves, with its name,
//! arity (Redis's convention: `n` exactly n words with the name, `-n` at
//! least n), kind (for per-connection ordering) and handler.

use super::reply::reply_of;
use crate::command::{Command, ReadCommand, Reply};
use crate::config::Limits;
use crate::error::{ErrorCode, RequestError};
use crate::runtime::{NodeHandle, PendingReply};
use raft_core::ConfChangeStep;

/// Whether a command reads or writes replicated state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Reads the state machine (linearizably unless the connection is READONLY).
    Read,
    /// Goes through the log.
    Write,
    /// Neither (connection state, introspection, admin outside the log).
    Other,
}

/// What a request turned into.
pub(super) enum Outcome {
    /// A reply, now or later.
    Reply(PendingReply),
    /// The last reply before the connection closes.
    Close(Reply),
}

type Args<'a> = &'a [Vec<u8>];

/// One command of the table.
pub(super) struct CommandSpec {
    /// Upper-case name.
    pub(super) name: &'static str,
    /// Redis-style arity, the name included.
    arity: i32,
    kind: Kind,
    handler: fn(&mut Session, Args) -> Outcome,
}

impl CommandSpec {
    fn arity_ok(&self, words: usize) -> bool {
        let words = words as i32;
        if self.arity >= 0 {
            words == self.arity
        } else {
            words >= -self.arity
        }
    }
}

const fn spec(
    name: &'static str,
    arity: i32,
    kind: Kind,
    handler: fn(&mut Session, Args) -> Outcome,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        kind,
        handler,
    }
}

/// Every command served.
static COMMANDS: &[CommandSpec] = &[
    spec("GET", 2, Kind::Read, |s, a| {
        s.read(ReadCommand::Get(a[0].clone()))
    }),
    spec("MGET", -2, Kind::Read, |s, a| {
        s.read(ReadCommand::MGet(a.to_vec()))
    }),
    spec("EXISTS", -2, Kind::Read, |s, a| {
        s.read(ReadCommand::Exists(a.to_vec()))
    }),
    spec("DBSIZE", 1, Kind::Read, |s, _| s.read(ReadCommand::DbSize)),
    spec("SET", -3, Kind::Write, set),
    spec("DEL", -2, Kind::Write, |s, a| {
        s.write(Command::Del { keys: a.to_vec() })
    }),
    spec("MSET", -3, Kind::Write, mset),
    spec("INCR", 2, Kind::Write, |s, a| {
        s.write(Command::IncrBy {
            key: a[0].clone(),
            delta: 1,
        })
    }),
    spec("INCRBY", 3, Kind::Write, incrby),
    spec("CAS", 4, Kind::Write, |s, a| {
        s.write(Command::Cas {
            key: a[0].clone(),
            expected: a[1].clone(),
            new: a[2].clone(),
        })
    }),
    spec("AUTH", -2, Kind::Other, auth),
    spec("PING", -1, Kind::Other, ping),
    spec("ECHO", 2, Kind::Other, |_, a| {
        now(Reply::Bulk(Some(a[0].clone())))
    }),
    spec("QUIT", -1, Kind::Other, |_, _| Outcome::Close(Reply::ok())),
    spec("READONLY", 1, Kind::Other, |s, _| {
        s.readonly = true;
        now(Reply::ok())
    }),
    spec("READWRITE", 1, Kind::Other, |s, _| {
        s.readonly = false;
        now(Reply::ok())
    }),
    spec("INFO", -1, Kind::Other, |s, a| {
        now(Reply::Bulk(Some(crate::info::render(
            &s.node.status(),
            a.first(),
        ))))
    }),
    spec("CONFIG", -2, Kind::Other, |_, a| now(config_command(a))),
    spec("COMMAND", -1, Kind::Other, |_, _| {
        now(Reply::Array(Vec::new()))
    }),
    spec("CLIENT", -2, Kind::Other, |_, _| now(Reply::ok())),
    spec("SELECT", 2, Kind::Other, select),
    spec("RAFT.ADDNODE", -3, Kind::Write, add_node),
    spec("RAFT.REMOVENODE", 2, Kind::Write, remove_node),
    spec("RAFT.TRANSFER", 2, Kind::Other, |s, a| {
        match parse_id(&a[0]) {
            Some(id) => now_result(s.node.transfer(id).map(|()| Reply::ok())),
            None => now(bad_id()),
        }
    }),
    spec("RAFT.SNAPSHOT", 1, Kind::Other, |s, _| {
        now_result(s.node.snapshot().map(|()| Reply::ok()))
    }),
];

/// The table entry for a command name (any case).
pub(super) fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// What a connection may send before `AUTH` when a password is required.
const BEFORE_AUTH: [&str; 4] = ["AUTH", "PING", "QUIT", "HELLO"];

/// Per-connection state.
pub(super) struct Session {
    node: NodeHandle,
    readonly: bool,
    /// True once `AUTH` succeeded, or if no password is required.
    authenticated: bool,
}

impl Session {
    pub(super) fn new(node: NodeHandle) -> Self {
        let authenticated = node.config().requirepass.is_none();
        Session {
            node,
            readonly: false,
            authenticated,
        }
    }

    /// The ordering kind of `spec` on this connection.
    pub(super) fn kind_of(&self, spec: &CommandSpec) -> Kind {
        match spec.kind {
            Kind::Read if self.readonly => Kind::Other,
            k => k,
        }
    }

    /// Runs one request (`args[0]` is the name, `spec` its table entry).
    pub(super) fn dispatch(&mut self, spec: Option<&CommandSpec>, args: Vec<Vec<u8>>) -> Outcome {
        let Some(spec) = spec else {
            let shown: String = String::from_utf8_lossy(&args[0]).chars().take(64).collect();
            return now(Reply::error(
                ErrorCode::Err,
                format!("unknown command '{shown}'"),
            ));
        };
        if self.node.is_stopping() && spec.name != "QUIT" {
            return now_result(Err(RequestError::Shutdown));
        }
        if !spec.arity_ok(args.len()) {
            return now(arity(spec.name));
        }
        if !self.authenticated && !BEFORE_AUTH.contains(&spec.name) {
            return now(Reply::error(ErrorCode::NoAuth, "Authentication required."));
        }
        (spec.handler)(self, &args[1..])
    }

    fn read(&self, cmd: ReadCommand) -> Outcome {
        let max = self.node.config().limits.max_key;
        if cmd.keys().iter().any(|k| k.len() > max) {
            return now(Reply::error(ErrorCode::Err, "key too large"));
        }
        if self.readonly {
            now(self.node.stale_read(&cmd))
        } else {
            Outcome::Reply(self.node.read(cmd))
        }
    }

    fn write(&self, cmd: Command) -> Outcome {
        if let Err(e) = check_sizes(&cmd, &self.node.config().limits) {
            return now(e);
        }
        Outcome::Reply(self.node.write(cmd))
    }
}

fn now(reply: Reply) -> Outcome {
    Outcome::Reply(PendingReply::ready(Ok(reply)))
}

fn now_result(outcome: Result<Reply, RequestError>) -> Outcome {
    now(reply_of(outcome))
}

fn set(s: &mut Session, a: Args) -> Outcome {
    match a {
        [k, v] => s.write(Command::Set {
            key: k.clone(),
            value: v.clone(),
        }),
        _ => now(Reply::error(
            ErrorCode::Err,
            "syntax error: SET options (EX, PX, NX, XX, ...) are not supported",
        )),
    }
}

fn mset(s: &mut Session, a: Args) -> Outcome {
    if !a.len().is_multiple_of(2) {
        return now(arity("MSET"));
    }
    let pairs = a.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    s.write(Command::MSet { pairs })
}

fn incrby(s: &mut Session, a: Args) -> Outcome {
    match std::str::from_utf8(&a[1])
        .ok()
        .and_then(|n| n.parse::<i64>().ok())
    {
        Some(delta) => s.write(Command::IncrBy {
            key: a[0].clone(),
            delta,
        }),
        None => now(Reply::error(
            ErrorCode::Err,
            "value is not an integer or out of range",
        )),
    }
}

/// `AUTH password` or `AUTH default password` (Redis 6's form; `default` is
/// the only user). The comparison takes the same time wherever the guess
/// differs.
fn auth(s: &mut Session, a: Args) -> Outcome {
    let (user, given) = match a {
        [pass] => (None, pass),
        [user, pass] => (Some(user), pass),
        _ => return now(Reply::error(ErrorCode::Err, "syntax error")),
    };
    let Some(expected) = s.node.config().requirepass.as_deref() else {
        return now(Reply::error(
            ErrorCode::Err,
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    };
    let user_ok = user.is_none_or(|u| u.as_slice() == b"default");
    let pass_ok: bool = subtle::ConstantTimeEq::ct_eq(given.as_slice(), expected.as_bytes()).into();
    if user_ok && pass_ok {
        s.authenticated = true;
        now(Reply::ok())
    } else {
        now(Reply::error(
            ErrorCode::WrongPass,
            "invalid username-password pair or user is disabled.",
        ))
    }
}

fn ping(_: &mut Session, a: Args) -> Outcome {
    match a {
        [] => now(Reply::Simple("PONG".into())),
        [msg] => now(Reply::Bulk(Some(msg.clone()))),
        _ => now(arity("PING")),
    }
}

fn select(_: &mut Session, a: Args) -> Outcome {
    if a[0].as_slice() == b"0" {
        now(Reply::ok())
    } else {
        now(Reply::error(
            ErrorCode::Err,
            "DB index is out of range (only database 0 exists)",
        ))
    }
}

fn add_node(s: &mut Session, a: Args) -> Outcome {
    let learner = match a.get(2) {
        None => false,
        Some(flag) if a.len() == 3 && flag.eq_ignore_ascii_case(b"LEARNER") => true,
        Some(_) if a.len() > 3 => return now(arity("RAFT.ADDNODE")),
        Some(_) => {
            return now(Reply::error(
                ErrorCode::Err,
                "syntax error: the third argument can only be LEARNER",
            ));
        }
    };
    let Some(id) = parse_id(&a[0]) else {
        return now(bad_id());
    };
    let addr = String::from_utf8_lossy(&a[1]).into_owned();
    if !addr.contains(':') {
        return now(Reply::error(
            ErrorCode::Err,
            format!("peer address '{addr}' is not HOST:PORT"),
        ));
    }
    let step = if learner {
        ConfChangeStep::AddLearner(id)
    } else {
        ConfChangeStep::AddVoter(id)
    };
    Outcome::Reply(s.node.conf_change(step, Some(addr)))
}

fn remove_node(s: &mut Session, a: Args) -> Outcome {
    match parse_id(&a[0]) {
        Some(id) => Outcome::Reply(s.node.conf_change(ConfChangeStep::Remove(id), None)),
        None => now(bad_id()),
    }
}

fn parse_id(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|&id| id > 0)
}

fn bad_id() -> Reply {
    Reply::error(ErrorCode::Err, "node id must be a positive integer")
}

fn arity(name: &str) -> Reply {
    Reply::error(
        ErrorCode::Err,
        format!(
            "wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        ),
    )
}

/// Refuses keys and values beyond the limits before anything is proposed.
fn check_sizes(cmd: &Command, limits: &Limits) -> Result<(), Reply> {
    let check = |what: &str, len: usize, limit: usize| {
        if len > limit {
            Err(Reply::error(
                ErrorCode::Err,
                format!("{what} too large ({len} bytes, limit {limit})"),
            ))
        } else {
            Ok(())
        }
    };
    let key = |k: &Vec<u8>| check("key", k.len(), limits.max_key);
    let value = |v: &Vec<u8>| check("value", v.len(), limits.max_value);
    match cmd {
        Command::Set { key: k, value: v } => key(k).and(value(v)),
        Command::Del { keys } => keys.iter().try_for_each(key),
        Command::MSet { pairs } => pairs.iter().try_for_each(|(k, v)| key(k).and(value(v))),
        Command::IncrBy { key: k, .. } => key(k),
        Command::Cas {
            key: k,
            expected,
            new,
        } => key(k).and(value(expected)).and(value(new)),
    }
}

/// `CONFIG GET` answers what Redis tools ask at start-up; nothing is settable.
fn config_command(args: Args) -> Reply {
    match args {
        [sub, pattern] if sub.eq_ignore_ascii_case(b"GET") => {
            let known: [(&str, &str); 3] =
                [("save", ""), ("appendonly", "yes"), ("databases", "1")];
            let p = String::from_utf8_lossy(pattern).to_ascii_lowercase();
            let items = known
                .iter()
                .filter(|(k, _)| p == "*" || p == *k)
                .flat_map(|(k, v)| {
                    [
                        Reply::Bulk(Some(k.as_bytes().to_vec())),
                        Reply::Bulk(Some(v.as_bytes().to_vec())),
                    ]
                })
                .collect();
            Reply::Array(items)
        }
        _ => Reply::error(ErrorCode::Err, "only CONFIG GET is supported"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_upper_case_and_found_in_any_case() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert_eq!(c.name, c.name.to_ascii_uppercase());
            assert!(COMMANDS[..i].iter().all(|d| d.name != c.name), "{}", c.name);
            let lower = c.name.to_ascii_lowercase();
            assert!(lookup(lower.as_bytes()).is_some_and(|f| f.name == c.name));
        }
        assert!(lookup(b"NOPE").is_none());
    }

    #[test]
    fn arity_follows_the_redis_convention() {
        let get = lookup(b"get").expect("GET");
        assert!(get.arity_ok(2) && !get.arity_ok(1) && !get.arity_ok(3));
        let del = lookup(b"del").expect("DEL");
        assert!(del.arity_ok(2) && del.arity_ok(9) && !del.arity_ok(1));
    }
}
