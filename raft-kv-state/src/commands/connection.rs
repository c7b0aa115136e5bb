//! The connection family: `AUTH`, `HELLO`, `PING`, `ECHO`, `QUIT`,
//! `SELECT`, `READONLY`, `READWRITE`, `RESET` and `CLIENT`'s subcommands.

use super::{connection, reply};
use crate::errors::CommandError;
use crate::family::{Args, Registration, planned};
use crate::numbers::parse_redis_int;
use crate::registry::plan::{ConnectionOp, Plan, ReplyMode, UnblockHow};
use crate::reply::{Protocol, Reply};

/// The connection commands.
pub(crate) static COMMANDS: &[Registration] = &[
    planned("auth", auth)
        .refused_in_multi()
        .redacted(|a| (0..a.len()).collect()),
    planned("hello", hello)
        .refused_in_multi()
        .redacted(hello_secrets),
    planned("monitor", |_, _| connection(ConnectionOp::Monitor)).refused_in_multi(),
    planned("ping", |a, _| match a {
        [] => connection(ConnectionOp::Ping(None)),
        [msg] => connection(ConnectionOp::Ping(Some(msg.clone()))),
        _ => Err(CommandError::arity("ping")),
    })
    .before_auth()
    .in_subscribed_mode(),
    planned("echo", |a, _| reply(Reply::Bulk(Some(a[0].clone())))),
    planned("quit", |_, _| connection(ConnectionOp::Quit))
        .runs_in_multi()
        .in_subscribed_mode(),
    planned("reset", |_, _| connection(ConnectionOp::Reset))
        .runs_in_multi()
        .in_subscribed_mode(),
    planned("select", |a, _| match a[0].as_slice() {
        b"0" => reply(Reply::ok()),
        _ => Err(CommandError::OnlyDatabaseZero),
    }),
    planned("readonly", |_, _| connection(ConnectionOp::ReadOnly(true))).refused_in_multi(),
    planned("readwrite", |_, _| {
        connection(ConnectionOp::ReadOnly(false))
    })
    .refused_in_multi(),
    planned("client|id", |_, _| connection(ConnectionOp::ClientId)),
    planned("client|setname", |a, _| {
        if a[0].iter().any(|b| *b <= b' ' || *b > b'~') {
            return Err(CommandError::BadClientName);
        }
        connection(ConnectionOp::SetName(a[0].clone()))
    }),
    planned("client|getname", |_, _| connection(ConnectionOp::GetName)),
    planned("client|setinfo", |_, _| reply(Reply::ok())),
    planned("client|no-evict", |_, _| reply(Reply::ok())),
    planned("client|no-touch", |_, _| reply(Reply::ok())),
    planned("client|list", |a, _| match a {
        [] => connection(ConnectionOp::ClientList),
        _ => Err(CommandError::Syntax),
    }),
    planned("client|info", |_, _| connection(ConnectionOp::ClientInfo)),
    planned("client|unblock", unblock),
    planned("client|reply", |a, _| {
        let mode = match a[0].to_ascii_uppercase().as_slice() {
            b"ON" => ReplyMode::On,
            b"OFF" => ReplyMode::Off,
            b"SKIP" => ReplyMode::Skip,
            _ => return Err(CommandError::Syntax),
        };
        connection(ConnectionOp::ClientReply(mode))
    }),
];

/// `AUTH password` or `AUTH default password` (Redis 6's form).
fn auth(a: Args, _: &crate::registry::plan::CallContext) -> Result<Plan, CommandError> {
    let (user, password) = match a {
        [pass] => (None, pass),
        [user, pass] => (Some(user.clone()), pass),
        _ => return Err(CommandError::Syntax),
    };
    connection(ConnectionOp::Auth {
        user,
        password: password.clone(),
    })
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
fn hello(a: Args, _: &crate::registry::plan::CallContext) -> Result<Plan, CommandError> {
    let mut protocol = None;
    let mut rest = a;
    if let Some((v, tail)) = rest.split_first() {
        protocol = Some(match v.as_slice() {
            b"2" => Protocol::Resp2,
            b"3" => Protocol::Resp3,
            _ if parse_redis_int(v).is_some() => return Err(CommandError::UnsupportedProtocol),
            _ => return Err(CommandError::ProtocolNotInteger),
        });
        rest = tail;
    }
    let (mut auth, mut name) = (None, None);
    while let Some((opt, tail)) = rest.split_first() {
        match (opt.to_ascii_uppercase().as_slice(), tail) {
            (b"AUTH", [user, pass, more @ ..]) => {
                auth = Some((user.clone(), pass.clone()));
                rest = more;
            }
            (b"SETNAME", [n, more @ ..]) => {
                name = Some(n.clone());
                rest = more;
            }
            _ => {
                return Err(CommandError::HelloOption {
                    option: String::from_utf8_lossy(opt).into_owned(),
                });
            }
        }
    }
    connection(ConnectionOp::Hello {
        protocol,
        auth,
        name,
    })
}

/// The user and password after `HELLO`'s `AUTH`.
fn hello_secrets(a: Args) -> Vec<usize> {
    a.iter()
        .position(|w| w.eq_ignore_ascii_case(b"AUTH"))
        .map_or_else(Vec::new, |at| vec![at + 1, at + 2])
}

/// `CLIENT UNBLOCK id [TIMEOUT | ERROR]`.
fn unblock(a: Args, _: &crate::registry::plan::CallContext) -> Result<Plan, CommandError> {
    if a.len() > 2 {
        return Err(CommandError::Syntax);
    }
    let id = parse_redis_int(&a[0]).ok_or(CommandError::NotAnInteger)?;
    let how = match a.get(1).map(|w| w.to_ascii_uppercase()) {
        None => UnblockHow::Timeout,
        Some(w) if w == b"TIMEOUT" => UnblockHow::Timeout,
        Some(w) if w == b"ERROR" => UnblockHow::Error,
        Some(_) => return Err(CommandError::BadUnblockReason),
    };
    match u64::try_from(id) {
        Ok(id) => connection(ConnectionOp::Unblock { id, how }),
        // No client has a negative id: nothing to unblock.
        Err(_) => reply(Reply::Int(0)),
    }
}

/// What `RESET` answers once the connection is reset.
pub fn reset_reply() -> Reply {
    Reply::Simple("reset".to_ascii_uppercase())
}
