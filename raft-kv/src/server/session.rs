//! One connection's state (`AUTH`, `READONLY`, the protocol, its name) and
//! the commands that change it: `AUTH`, `HELLO`, `CLIENT`, `SELECT`, `PING`.

use super::blocked::BlockedCall;
use super::outcome::{Outcome, arity, now};
use super::queued::{Transaction, queued_reply};
use crate::command::{Command, Protocol, ReadCommand, Reply, TxOp};
use crate::config::Limits;
use crate::error::ErrorCode;
use crate::runtime::{NodeHandle, Unblock};
use crate::store::blocking::BlockingForm;

type Args<'a> = &'a [Vec<u8>];

/// What a connection may send before `AUTH` when a password is required.
pub(super) const BEFORE_AUTH: [&str; 4] = ["AUTH", "PING", "QUIT", "HELLO"];

/// Per-connection state.
pub(super) struct Session {
    pub(super) node: NodeHandle,
    pub(super) readonly: bool,
    /// True once `AUTH` succeeded, or if no password is required.
    pub(super) authenticated: bool,
    protocol: Protocol,
    /// Between `MULTI` and `EXEC`/`DISCARD`: what is queued.
    pub(super) multi: Option<Transaction>,
    /// A command is being queued: [`Session::write`] and [`Session::read`]
    /// leave their command in `captured` instead of submitting it.
    pub(super) capturing: bool,
    pub(super) captured: Option<TxOp>,
    /// WATCHed keys and the versions seen then, until EXEC, DISCARD or UNWATCH.
    pub(super) watched: Vec<(Vec<u8>, Option<u64>)>,
    id: u64,
    name: Vec<u8>,
    /// The client's address and this end's.
    addrs: (String, String),
    /// Where this connection's seeds for commands with randomness come from.
    seeds: crate::store::words::Rng,
    /// The request limits its commands are held to (the node's; a
    /// script's proposer's for a script's calls).
    limits: Limits,
}

impl Session {
    pub(super) fn new(node: NodeHandle, id: u64, addrs: (String, String)) -> Self {
        let authenticated = node.config().requirepass.is_none();
        let limits = node.config().limits;
        Session {
            node,
            readonly: false,
            authenticated,
            protocol: Protocol::Resp2,
            multi: None,
            capturing: false,
            captured: None,
            watched: Vec::new(),
            id,
            name: Vec::new(),
            addrs,
            seeds: crate::store::words::Rng::from_entropy(),
            limits,
        }
    }

    /// The session a script's `redis.call` runs in: every command is
    /// captured (as inside `MULTI`), held to `limits`, and its randomness
    /// drawn from `seed`, so that every replica plans the same.
    pub(super) fn scripted(node: NodeHandle, limits: Limits, seed: u64) -> Self {
        let mut s = Session::new(node, 0, (String::new(), String::new()));
        s.authenticated = true;
        s.capturing = true;
        s.seeds = crate::store::words::Rng::new(seed);
        s.limits = limits;
        s
    }

    /// The request limits of this session's commands.
    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A fresh seed for a command with randomness (SPOP): the entry carries
    /// it, so every replica draws the same.
    pub(super) fn next_seed(&mut self) -> u64 {
        self.seeds.next_u64()
    }

    /// The protocol replies are encoded in now.
    pub(super) fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub(super) fn read(&mut self, cmd: ReadCommand) -> Outcome {
        let max = self.limits.max_key;
        if cmd.keys().iter().any(|k| k.len() > max) {
            return now(Reply::error(ErrorCode::Err, "key too large"));
        }
        if self.capturing {
            self.captured = Some(TxOp::Read(cmd));
            return now(queued_reply());
        }
        if self.readonly {
            now(self.node.stale_read(&cmd))
        } else {
            Outcome::Reply(self.node.read(cmd))
        }
    }

    pub(super) fn write(&mut self, cmd: Command) -> Outcome {
        if let Err(e) = check_sizes(&cmd, &self.limits) {
            return now(e);
        }
        if self.capturing {
            self.captured = Some(TxOp::Write(cmd));
            return now(queued_reply());
        }
        Outcome::Reply(self.node.write(cmd))
    }

    /// A blocking command (`argv`, the name first) of this connection.
    pub(super) fn block(&mut self, argv: Vec<Vec<u8>>, form: BlockingForm) -> Outcome {
        if let Err(e) = check_words(&argv, &self.limits) {
            return now(e);
        }
        match BlockedCall::start(self.node.clone(), self.id, argv, form) {
            Ok(call) => Outcome::Block(Box::new(call)),
            Err(refused) => now(refused),
        }
    }
}

/// `AUTH password` or `AUTH default password` (Redis 6's form; `default` is
/// the only user). The comparison takes the same time wherever the guess
/// differs.
pub(super) fn auth(s: &mut Session, a: Args) -> Outcome {
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
    if password_matches(user.map(Vec::as_slice), given, expected) {
        s.authenticated = true;
        now(Reply::ok())
    } else {
        now(wrong_pass())
    }
}

/// `user` (the only one is `default`) and `given` match the password; the
/// comparison takes the same time wherever a guess differs.
fn password_matches(user: Option<&[u8]>, given: &[u8], expected: &str) -> bool {
    let user_ok = user.is_none_or(|u| u == b"default");
    let pass_ok: bool = subtle::ConstantTimeEq::ct_eq(given, expected.as_bytes()).into();
    user_ok && pass_ok
}

fn wrong_pass() -> Reply {
    Reply::error(
        ErrorCode::WrongPass,
        "invalid username-password pair or user is disabled.",
    )
}

/// Most keys one connection may watch.
const MAX_WATCHED: usize = 100_000;

/// `WATCH key [key ...]`: remembers the version of each key in this node's
/// applied state. Ordered after this connection's earlier writes (a read),
/// so on the leader it sees them; on a follower a version not yet applied
/// there only makes `EXEC` answer nil (the client retries), never pass over
/// a change.
pub(super) fn watch(s: &mut Session, a: Args) -> Outcome {
    if s.multi.is_some() {
        return now(Reply::error(
            ErrorCode::Err,
            "WATCH inside MULTI is not allowed",
        ));
    }
    if s.watched.len() + a.len() > MAX_WATCHED {
        return now(Reply::error(
            ErrorCode::Err,
            format!("too many watched keys (limit {MAX_WATCHED})"),
        ));
    }
    let versions = match s.node.key_versions(a) {
        Ok(v) => v,
        Err(busy) => return now(busy),
    };
    s.watched.extend(a.iter().cloned().zip(versions));
    now(Reply::ok())
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`: picks
/// RESP2 or RESP3 for this connection and describes the server.
pub(super) fn hello(s: &mut Session, a: Args) -> Outcome {
    let mut protocol = s.protocol;
    let mut rest = a;
    if let Some((v, tail)) = rest.split_first() {
        protocol = match v.as_slice() {
            b"2" => Protocol::Resp2,
            b"3" => Protocol::Resp3,
            _ if std::str::from_utf8(v).is_ok_and(|t| t.parse::<i64>().is_ok()) => {
                return now(Reply::error(
                    ErrorCode::NoProto,
                    "unsupported protocol version",
                ));
            }
            _ => {
                return now(Reply::error(
                    ErrorCode::Err,
                    "Protocol version is not an integer or out of range",
                ));
            }
        };
        rest = tail;
    }
    let mut name = None;
    while let Some((opt, tail)) = rest.split_first() {
        match (opt.to_ascii_uppercase().as_slice(), tail) {
            (b"AUTH", [user, pass, more @ ..]) => {
                let ok = s
                    .node
                    .config()
                    .requirepass
                    .as_deref()
                    .is_some_and(|expected| password_matches(Some(user), pass, expected));
                if !ok {
                    return now(wrong_pass());
                }
                s.authenticated = true;
                rest = more;
            }
            (b"SETNAME", [n, more @ ..]) => {
                name = Some(n.clone());
                rest = more;
            }
            _ => {
                return now(Reply::error(
                    ErrorCode::Err,
                    format!(
                        "Syntax error in HELLO option '{}'",
                        String::from_utf8_lossy(opt)
                    ),
                ));
            }
        }
    }
    if !s.authenticated {
        return now(Reply::error(
            ErrorCode::NoAuth,
            "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    s.protocol = protocol;
    if let Some(n) = name {
        s.name = n;
    }
    now(server_description(s))
}

/// What `HELLO` answers, in Redis's fields.
fn server_description(s: &Session) -> Reply {
    let text = |t: &str| Reply::Bulk(Some(t.as_bytes().to_vec()));
    let role = if s.node.status().is_leader() {
        "master"
    } else {
        "replica"
    };
    let proto = match s.protocol {
        Protocol::Resp2 => 2,
        Protocol::Resp3 => 3,
    };
    Reply::Map(vec![
        (text("server"), text("redis")),
        (text("version"), text(crate::info::REDIS_COMPAT_VERSION)),
        (text("proto"), Reply::Int(proto)),
        (text("id"), Reply::Int(s.id as i64)),
        (text("mode"), text("standalone")),
        (text("role"), text(role)),
        (text("modules"), Reply::Array(Vec::new())),
    ])
}

/// `CLIENT ID | SETNAME | GETNAME | SETINFO | LIST | INFO | NO-EVICT | NO-TOUCH`,
/// the subcommands client libraries send when they connect.
pub(super) fn client(s: &mut Session, a: Args) -> Outcome {
    let sub = a[0].to_ascii_uppercase();
    match (sub.as_slice(), &a[1..]) {
        (b"ID", []) => now(Reply::Int(s.id as i64)),
        (b"SETNAME", [name]) if name.iter().any(|b| *b <= b' ' || *b > b'~') => now(Reply::error(
            ErrorCode::Err,
            "Client names cannot contain spaces, newlines or special characters.",
        )),
        (b"SETNAME", [name]) => {
            s.name = name.clone();
            now(Reply::ok())
        }
        (b"GETNAME", []) => now(if s.name.is_empty() {
            Reply::Bulk(None)
        } else {
            Reply::Bulk(Some(s.name.clone()))
        }),
        (b"SETINFO", [_, _]) | (b"NO-EVICT" | b"NO-TOUCH", [_]) => now(Reply::ok()),
        (b"LIST", []) | (b"INFO", []) => now(Reply::Bulk(Some(s.describe().into_bytes()))),
        (b"UNBLOCK", [id, how @ ..]) if how.len() <= 1 => unblock(s, id, how.first()),
        (
            b"ID" | b"SETNAME" | b"GETNAME" | b"SETINFO" | b"LIST" | b"INFO" | b"NO-EVICT"
            | b"NO-TOUCH" | b"UNBLOCK",
            _,
        ) => now(Reply::error(
            ErrorCode::Err,
            format!(
                "wrong number of arguments for 'client|{}' command",
                String::from_utf8_lossy(&sub).to_ascii_lowercase()
            ),
        )),
        _ => now(Reply::error(
            ErrorCode::Err,
            format!(
                "unknown subcommand '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&a[0])
            ),
        )),
    }
}

/// `CLIENT UNBLOCK id [TIMEOUT | ERROR]`: `:1` if that client of this node
/// was blocked (it answers as if timed out, or with `-UNBLOCKED`), else `:0`.
fn unblock(s: &Session, id: &[u8], how: Option<&Vec<u8>>) -> Outcome {
    let Some(id) = crate::command::parse_redis_int(id) else {
        return now(Reply::error(
            ErrorCode::Err,
            "value is not an integer or out of range",
        ));
    };
    let how = match how.map(|w| w.to_ascii_uppercase()) {
        None => Unblock::Timeout,
        Some(w) if w == b"TIMEOUT" => Unblock::Timeout,
        Some(w) if w == b"ERROR" => Unblock::Error,
        Some(_) => {
            return now(Reply::error(
                ErrorCode::Err,
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    };
    let done = u64::try_from(id).is_ok_and(|id| s.node.unblock(id, how));
    now(Reply::Int(i64::from(done)))
}

impl Session {
    /// This connection in `CLIENT LIST`'s format (one line).
    fn describe(&self) -> String {
        format!(
            "id={} addr={} laddr={} name={} db=0 resp={} lib-name= lib-ver=\n",
            self.id,
            self.addrs.0,
            self.addrs.1,
            String::from_utf8_lossy(&self.name),
            match self.protocol {
                Protocol::Resp2 => 2,
                Protocol::Resp3 => 3,
            }
        )
    }
}

pub(super) fn ping(_: &mut Session, a: Args) -> Outcome {
    match a {
        [] => now(Reply::Simple("PONG".into())),
        [msg] => now(Reply::Bulk(Some(msg.clone()))),
        _ => now(arity("PING")),
    }
}

pub(super) fn select(_: &mut Session, a: Args) -> Outcome {
    if a[0].as_slice() == b"0" {
        now(Reply::ok())
    } else {
        now(Reply::error(
            ErrorCode::Err,
            "DB index is out of range (only database 0 exists)",
        ))
    }
}

/// Refuses keys and values beyond the limits before anything is proposed.
fn check_sizes(cmd: &Command, limits: &Limits) -> Result<(), Reply> {
    let key = |k: &Vec<u8>| within("key", k.len(), limits.max_key);
    let value = |v: &Vec<u8>| within("value", v.len(), limits.max_value);
    match cmd {
        Command::Set { key: k, value: v } => key(k).and(value(v)),
        Command::Del { keys } => keys.iter().try_for_each(key),
        Command::MSet { pairs } => pairs.iter().try_for_each(|(k, v)| key(k).and(value(v))),
        Command::IncrBy { key: k, .. } | Command::IncrByChecked { key: k, .. } => key(k),
        Command::AdvertiseClient { addr, .. } => within("address", addr.len(), limits.max_key),
        Command::SetNx { key: k, value: v }
        | Command::GetSet { key: k, value: v }
        | Command::Append { key: k, value: v } => key(k).and(value(v)),
        Command::GetDel { key: k } => key(k),
        Command::MSetNx { pairs } => pairs.iter().try_for_each(|(k, v)| key(k).and(value(v))),
        Command::Rename { from, to, .. } => key(from).and(key(to)),
        Command::SetWith {
            key: k, value: v, ..
        }
        | Command::SetRange {
            key: k, value: v, ..
        } => key(k).and(value(v)),
        Command::IncrByFloat { key: k, .. } | Command::SetBit { key: k, .. } => key(k),
        // Each queued command was checked as it was queued.
        Command::FlushAll
        | Command::Exec { .. }
        | Command::ExecWatched { .. }
        | Command::Tick
        | Command::ScriptMarker { .. } => Ok(()),
        // The words a script calls are checked when it runs.
        Command::Eval(call) => within("script", call.body.len(), limits.max_request),
        Command::Cas {
            key: k,
            expected,
            new,
        } => key(k).and(value(expected)).and(value(new)),
        Command::Words { argv, .. } => check_words(argv, limits),
    }
}

/// The first argument (a key) within the key limit, every word within the
/// value limit.
fn check_words(argv: &[Vec<u8>], limits: &Limits) -> Result<(), Reply> {
    argv.get(1)
        .map_or(Ok(()), |k| within("key", k.len(), limits.max_key))
        .and(
            argv.iter()
                .try_for_each(|v| within("value", v.len(), limits.max_value)),
        )
}

/// `Err` naming `what` if `len` is over `limit`.
fn within(what: &str, len: usize, limit: usize) -> Result<(), Reply> {
    if len > limit {
        Err(Reply::error(
            ErrorCode::Err,
            format!("{what} too large ({len} bytes, limit {limit})"),
        ))
    } else {
        Ok(())
    }
}

/// The client's and this end's addresses, for `CLIENT LIST`.
pub(super) fn peer_of(stream: &std::net::TcpStream) -> (String, String) {
    let show =
        |a: std::io::Result<std::net::SocketAddr>| a.map_or_else(|_| "?".into(), |a| a.to_string());
    (show(stream.peer_addr()), show(stream.local_addr()))
}
