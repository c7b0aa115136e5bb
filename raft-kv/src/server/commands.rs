//! The command table: every RESP command the store serves, with its name,
//! arity (Redis's convention: `n` exactly n words with the name, `-n` at
//! least n), kind (for per-connection ordering) and handler.

use super::admin;
use super::config;
use super::introspect;
use super::outcome::{Kind, Outcome, arity, now, now_result};
use super::scripting;
use super::session::{self, BEFORE_AUTH, Session};
use super::strings;
use super::transaction::{self, TRANSACTION_CONTROL};
use super::words;
use crate::command::{Command, ReadCommand, Reply};
use crate::error::{ErrorCode, RequestError};

type Args<'a> = &'a [Vec<u8>];

/// One command of the table.
pub(super) struct CommandSpec {
    /// Upper-case name.
    pub(super) name: &'static str,
    /// Redis-style arity, the name included.
    arity: i32,
    kind: Kind,
    handler: transaction::Handler,
    /// The handler gets the command's name as its first argument.
    with_name: bool,
}

impl CommandSpec {
    /// An entry whose handler gets the command's name as its first argument.
    fn with_name(
        name: &'static str,
        arity: i32,
        kind: Kind,
        handler: transaction::Handler,
    ) -> CommandSpec {
        CommandSpec {
            with_name: true,
            ..spec(name, arity, kind, handler)
        }
    }

    pub(super) fn arity_ok(&self, words: usize) -> bool {
        crate::store::words::arity_fits(self.arity, words)
    }

    /// The kind the table gives it (before the connection's state).
    pub(super) fn kind(&self) -> Kind {
        self.kind
    }

    /// Runs its handler on `args` (the whole request, the name first).
    pub(super) fn run(&self, s: &mut Session, args: &[Vec<u8>]) -> Outcome {
        (self.handler)(s, self.handler_args(args))
    }

    fn handler_args<'a>(&self, args: &'a [Vec<u8>]) -> &'a [Vec<u8>] {
        if self.with_name { args } else { &args[1..] }
    }
}

const fn spec(
    name: &'static str,
    arity: i32,
    kind: Kind,
    handler: transaction::Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        kind,
        handler,
        with_name: false,
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
    spec("SET", -3, Kind::Write, strings::set),
    spec("DEL", -2, Kind::Write, |s, a| {
        s.write(Command::Del { keys: a.to_vec() })
    }),
    spec("MSET", -3, Kind::Write, mset),
    spec("INCR", 2, Kind::Write, |s, a| {
        s.write(Command::IncrByChecked {
            key: a[0].clone(),
            delta: 1,
        })
    }),
    spec("INCRBY", 3, Kind::Write, incrby),
    spec("SETNX", 3, Kind::Write, |s, a| {
        s.write(Command::SetNx {
            key: a[0].clone(),
            value: a[1].clone(),
        })
    }),
    spec("GETSET", 3, Kind::Write, |s, a| {
        s.write(Command::GetSet {
            key: a[0].clone(),
            value: a[1].clone(),
        })
    }),
    spec("GETDEL", 2, Kind::Write, |s, a| {
        s.write(Command::GetDel { key: a[0].clone() })
    }),
    spec("APPEND", 3, Kind::Write, |s, a| {
        s.write(Command::Append {
            key: a[0].clone(),
            value: a[1].clone(),
        })
    }),
    spec("MSETNX", -3, Kind::Write, |s, a| match pairs_of(a) {
        Some(pairs) => s.write(Command::MSetNx { pairs }),
        None => now(arity("MSETNX")),
    }),
    spec("RENAME", 3, Kind::Write, |s, a| rename(s, a, false)),
    spec("RENAMENX", 3, Kind::Write, |s, a| rename(s, a, true)),
    spec("UNLINK", -2, Kind::Write, |s, a| {
        s.write(Command::Del { keys: a.to_vec() })
    }),
    spec("DECR", 2, Kind::Write, |s, a| {
        s.write(Command::IncrByChecked {
            key: a[0].clone(),
            delta: -1,
        })
    }),
    spec("DECRBY", 3, Kind::Write, decrby),
    spec("FLUSHDB", -1, Kind::Write, flush),
    spec("FLUSHALL", -1, Kind::Write, flush),
    spec("STRLEN", 2, Kind::Read, |s, a| {
        s.read(ReadCommand::Strlen(a[0].clone()))
    }),
    spec("TYPE", 2, Kind::Read, |s, a| {
        s.read(ReadCommand::Type(a[0].clone()))
    }),
    spec("KEYS", 2, Kind::Read, |s, a| {
        s.read(ReadCommand::Keys(a[0].clone()))
    }),
    spec("TOUCH", -2, Kind::Read, |s, a| {
        s.read(ReadCommand::Exists(a.to_vec()))
    }),
    spec("GETRANGE", 4, Kind::Read, strings::get_range),
    spec("SETRANGE", 4, Kind::Write, strings::set_range),
    spec("INCRBYFLOAT", 3, Kind::Write, strings::incr_by_float),
    spec("GETBIT", 3, Kind::Read, strings::get_bit),
    spec("SETBIT", 4, Kind::Write, strings::set_bit),
    spec("BITCOUNT", -2, Kind::Read, strings::bit_count),
    spec("TIME", 1, Kind::Other, |_, _| now(time_reply())),
    spec("FUNCTION", -2, Kind::Other, |_, a| {
        if a[0].eq_ignore_ascii_case(b"FLUSH") {
            now(Reply::ok())
        } else {
            now(Reply::error(ErrorCode::Err, "functions are not supported"))
        }
    }),
    spec("CAS", 4, Kind::Write, |s, a| {
        s.write(Command::Cas {
            key: a[0].clone(),
            expected: a[1].clone(),
            new: a[2].clone(),
        })
    }),
    spec("AUTH", -2, Kind::Other, session::auth),
    spec("HELLO", -1, Kind::Other, session::hello),
    spec("PING", -1, Kind::Other, session::ping),
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
    spec("INFO", -1, Kind::Other, info),
    spec("CONFIG", -2, Kind::Other, |s, a| {
        let mut live = config::LiveSettings {
            busy_threshold_ms: s.node.busy_threshold_ms(),
        };
        let reply = config::config(a, &mut live);
        s.node.set_busy_threshold_ms(live.busy_threshold_ms);
        now(reply)
    }),
    spec("COMMAND", -1, Kind::Other, |_, a| {
        let table: Vec<introspect::Entry> = all_commands()
            .map(|c| introspect::Entry {
                name: c.name,
                arity: c.arity,
                kind: c.kind,
            })
            .collect();
        now(introspect::command(&table, a))
    }),
    spec("CLIENT", -2, Kind::Other, session::client),
    spec("MULTI", 1, Kind::Other, transaction::multi),
    // Writes through the log: after this connection's earlier reads.
    spec("EXEC", 1, Kind::Write, transaction::exec),
    spec("DISCARD", 1, Kind::Other, transaction::discard),
    // A read: after this connection's earlier writes.
    spec("WATCH", -2, Kind::Read, session::watch),
    spec("UNWATCH", 1, Kind::Other, |s, _| {
        s.watched.clear();
        now(Reply::ok())
    }),
    spec("SELECT", 2, Kind::Other, session::select),
    spec("RAFT.ADDNODE", -3, Kind::Write, admin::add_node),
    spec("RAFT.REMOVENODE", 2, Kind::Write, admin::remove_node),
    spec(
        "RAFT.TRANSFER",
        2,
        Kind::Other,
        |s, a| match admin::parse_id(&a[0]) {
            Some(id) => {
                let node = s.node.clone();
                Outcome::Reply(
                    s.node
                        .in_background(move || node.transfer(id).map(|()| Reply::ok())),
                )
            }
            None => now(admin::bad_id()),
        },
    ),
    spec("RAFT.BACKUP", 1, Kind::Read, |s, _| {
        s.read(ReadCommand::Backup)
    }),
    spec("SAVE", 1, Kind::Other, |s, _| {
        let node = s.node.clone();
        Outcome::Reply(
            s.node
                .in_background(move || node.snapshot().map(|()| Reply::ok())),
        )
    }),
    spec("BGSAVE", -1, Kind::Other, admin::bgsave),
    spec("SHUTDOWN", -1, Kind::Other, admin::shutdown),
    spec("EVAL", -3, Kind::Write, |s, a| scripting::eval(s, a, false)),
    spec("EVAL_RO", -3, Kind::Write, |s, a| {
        scripting::eval(s, a, true)
    }),
    spec("EVALSHA", -3, Kind::Write, |s, a| {
        scripting::evalsha(s, a, false)
    }),
    spec("EVALSHA_RO", -3, Kind::Write, |s, a| {
        scripting::evalsha(s, a, true)
    }),
    spec("SCRIPT", -2, Kind::Other, scripting::script),
    spec("RAFT.SNAPSHOT", 1, Kind::Other, |s, _| {
        let node = s.node.clone();
        Outcome::Reply(
            s.node
                .in_background(move || node.snapshot().map(|()| Reply::ok())),
        )
    }),
];

impl Session {
    /// The ordering kind of `spec` on this connection.
    pub(super) fn kind_of(&self, spec: &CommandSpec) -> Kind {
        match spec.kind {
            // Queued, not run: it touches no state until EXEC.
            _ if self.multi.is_some() && !TRANSACTION_CONTROL.contains(&spec.name) => Kind::Other,
            Kind::Read if self.readonly => Kind::Other,
            k => k,
        }
    }

    /// Runs one request (`args[0]` is the name, `spec` its table entry).
    pub(super) fn dispatch(&mut self, spec: Option<&CommandSpec>, args: Vec<Vec<u8>>) -> Outcome {
        let Some(spec) = spec else {
            let shown: String = String::from_utf8_lossy(&args[0]).chars().take(64).collect();
            return self.refused_in_multi(Reply::error(
                ErrorCode::Err,
                format!("unknown command '{shown}'"),
            ));
        };
        if self.node.is_stopping() && spec.name != "QUIT" {
            return now_result(Err(RequestError::Shutdown));
        }
        if !spec.arity_ok(args.len()) {
            return self.refused_in_multi(arity(spec.name));
        }
        if !self.authenticated && !BEFORE_AUTH.contains(&spec.name) {
            return now(Reply::error(ErrorCode::NoAuth, "Authentication required."));
        }
        if self.node.script_busy() && !scripting::allowed_while_busy(spec.name, &args) {
            return scripting::refuse_busy(self, spec.name);
        }
        if self.multi.is_some() && !TRANSACTION_CONTROL.contains(&spec.name) {
            return transaction::queue(self, spec.name, spec.handler, spec.handler_args(&args));
        }
        spec.run(self, &args)
    }

    /// An error for a request that could not even be queued: inside `MULTI`
    /// it also makes `EXEC` fail (`EXECABORT`).
    fn refused_in_multi(&mut self, error: Reply) -> Outcome {
        transaction::abort(self);
        now(error)
    }
}

/// `INFO [section]`: Redis's sections and the node's Raft state.
fn info(s: &mut Session, a: Args) -> Outcome {
    let cfg = s.node.config();
    let keys = match s.node.stale_read(&ReadCommand::DbSize) {
        Reply::Int(n) => n,
        _ => 0,
    };
    let (blocked_clients, blocking_keys) = s.node.blocked_clients();
    let facts = crate::info::ServerFacts {
        tcp_port: cfg
            .listen_client
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
        max_clients: cfg.max_connections,
        keys,
        blocked_clients,
        blocking_keys,
    };
    let text = crate::info::render(&s.node.status(), s.node.metrics(), &facts, a);
    now(Reply::Bulk(Some(text)))
}

/// A table entry for every command of the state machine's words table
/// (collections and some keyspace commands); the handler gets the name too.
static WORD_COMMANDS: std::sync::LazyLock<Vec<CommandSpec>> = std::sync::LazyLock::new(|| {
    crate::store::collections::all()
        // SET is in both tables: this one's entry takes it and hands the
        // words table the forms with an expiry.
        .filter(|w| COMMANDS.iter().all(|c| c.name != w.name))
        .map(|w| match w.is_write() {
            true if crate::store::blocking::is_blocking(w.name) => {
                CommandSpec::with_name(w.name, w.arity, Kind::Blocking, words::write)
            }
            true => CommandSpec::with_name(w.name, w.arity, Kind::Write, words::write),
            false => CommandSpec::with_name(w.name, w.arity, Kind::Read, words::read),
        })
        .collect()
});

/// Every table entry: this table's and the words table's.
fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().chain(WORD_COMMANDS.iter())
}

/// The table entry for a command name (any case).
pub(super) fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    all_commands().find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// `k v [k v ...]` as pairs; `None` for an odd count.
fn pairs_of(a: Args) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    a.len()
        .is_multiple_of(2)
        .then(|| a.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect())
}

fn mset(s: &mut Session, a: Args) -> Outcome {
    match pairs_of(a) {
        Some(pairs) => s.write(Command::MSet { pairs }),
        None => now(arity("MSET")),
    }
}

fn rename(s: &mut Session, a: Args, only_if_absent: bool) -> Outcome {
    s.write(Command::Rename {
        from: a[0].clone(),
        to: a[1].clone(),
        only_if_absent,
    })
}

fn decrby(s: &mut Session, a: Args) -> Outcome {
    add_to(s, a, i64::checked_neg)
}

/// FLUSHDB / FLUSHALL [ASYNC | SYNC] (both flush at once).
fn flush(s: &mut Session, a: Args) -> Outcome {
    match a {
        [] => s.write(Command::FlushAll),
        [mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {
            s.write(Command::FlushAll)
        }
        _ => now(Reply::error(ErrorCode::Err, "syntax error")),
    }
}

/// TIME: this node's clock as `[seconds, microseconds]`.
fn time_reply() -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::Bulk(Some(now.as_secs().to_string().into_bytes())),
        Reply::Bulk(Some(now.subsec_micros().to_string().into_bytes())),
    ])
}

fn incrby(s: &mut Session, a: Args) -> Outcome {
    add_to(s, a, Some)
}

/// INCRBY / DECRBY key amount: `sign` turns the amount into the delta (None:
/// out of range, as `DECRBY k -9223372036854775808`).
fn add_to(s: &mut Session, a: Args, sign: fn(i64) -> Option<i64>) -> Outcome {
    match crate::command::parse_redis_int(&a[1]).and_then(sign) {
        Some(delta) => s.write(Command::IncrByChecked {
            key: a[0].clone(),
            delta,
        }),
        None => now(Reply::error(
            ErrorCode::Err,
            "value is not an integer or out of range",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_upper_case_and_found_in_any_case() {
        let all: Vec<&CommandSpec> = all_commands().collect();
        assert!(all.len() > COMMANDS.len() + 50, "the words table is in");
        for (i, c) in all.iter().enumerate() {
            assert_eq!(c.name, c.name.to_ascii_uppercase());
            assert!(all[..i].iter().all(|d| d.name != c.name), "{}", c.name);
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
