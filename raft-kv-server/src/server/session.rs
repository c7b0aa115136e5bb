//! One connection's state (`AUTH`, `READONLY`, the protocol, its name, the
//! transaction being queued) and the connection's own commands: the
//! [`ConnectionOp`]s the registry plans (`AUTH`, `HELLO`, `QUIT`,
//! `READONLY`, `CLIENT ...`; the transaction's are in `transaction`).

use super::blocked::BlockedCall;
use super::outcome::{Outcome, now};
use super::queued::Transaction;
use raft_core::SplitMix64;
use raft_kv::NodeHandle;
use raft_kv::runtime::Unblock;
use raft_kv_state::registry::plan::BlockingForm;
use raft_kv_state::registry::plan::{ConnectionOp, UnblockHow};
use raft_kv_state::{CommandError, Limits, Protocol, Reply};

/// Per-connection state.
pub(super) struct Session {
    pub(super) node: NodeHandle,
    pub(super) readonly: bool,
    /// True once `AUTH` succeeded, or if no password is required.
    pub(super) authenticated: bool,
    protocol: Protocol,
    /// Between `MULTI` and `EXEC`/`DISCARD`: what is queued.
    pub(super) multi: Option<Transaction>,
    /// WATCHed keys and the versions seen then, until EXEC, DISCARD or UNWATCH.
    pub(super) watched: Vec<(Vec<u8>, Option<u64>)>,
    id: u64,
    name: Vec<u8>,
    /// The client's address and this end's.
    addrs: (String, String),
    /// Where this connection's seeds for commands with randomness come from.
    seeds: SplitMix64,
    /// The request limits its commands are held to.
    pub(super) limits: Limits,
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
            watched: Vec::new(),
            id,
            name: Vec::new(),
            addrs,
            seeds: SplitMix64::from_entropy(),
            limits,
        }
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

    /// A blocking command (`argv`, the name first) of this connection.
    pub(super) fn block(&mut self, argv: Vec<Vec<u8>>, form: BlockingForm) -> Outcome {
        match BlockedCall::start(self.node.clone(), self.id, argv, form) {
            Ok(call) => Outcome::Block(Box::new(call)),
            Err(refused) => now(refused),
        }
    }

    /// Carries out a change of the connection's state.
    pub(super) fn connection_op(&mut self, op: ConnectionOp) -> Outcome {
        match op {
            ConnectionOp::Auth { user, password } => self.auth(user.as_deref(), &password),
            ConnectionOp::Hello {
                protocol,
                auth,
                name,
            } => self.hello(protocol, auth, name),
            ConnectionOp::Quit => Outcome::Close(Reply::ok()),
            ConnectionOp::ReadOnly(on) => {
                self.readonly = on;
                now(Reply::ok())
            }
            ConnectionOp::Multi => self.multi(),
            ConnectionOp::Exec => self.exec(),
            ConnectionOp::Discard => self.discard(),
            ConnectionOp::Watch(keys) => self.watch(&keys),
            ConnectionOp::Unwatch => {
                self.watched.clear();
                now(Reply::ok())
            }
            ConnectionOp::ClientId => now(Reply::Int(self.id as i64)),
            ConnectionOp::SetName(name) => {
                self.name = name;
                now(Reply::ok())
            }
            ConnectionOp::GetName => now(match self.name.is_empty() {
                true => Reply::Bulk(None),
                false => Reply::Bulk(Some(self.name.clone())),
            }),
            ConnectionOp::ClientList | ConnectionOp::ClientInfo => {
                now(Reply::Bulk(Some(self.describe().into_bytes())))
            }
            ConnectionOp::Unblock { id, how } => {
                let how = match how {
                    UnblockHow::Timeout => Unblock::Timeout,
                    UnblockHow::Error => Unblock::Error,
                };
                now(Reply::Int(i64::from(self.node.unblock(id, how))))
            }
        }
    }

    /// `AUTH password` or `AUTH default password` (`default` is the only
    /// user). The comparison takes the same time wherever a guess differs.
    fn auth(&mut self, user: Option<&[u8]>, given: &[u8]) -> Outcome {
        let Some(expected) = self.node.config().requirepass.as_deref() else {
            return now(CommandError::NoPasswordSet);
        };
        if password_matches(user, given, expected) {
            self.authenticated = true;
            now(Reply::ok())
        } else {
            now(CommandError::WrongPass)
        }
    }

    /// `HELLO`: picks RESP2 or RESP3 for this connection and describes the
    /// server.
    fn hello(
        &mut self,
        protocol: Option<Protocol>,
        auth: Option<(Vec<u8>, Vec<u8>)>,
        name: Option<Vec<u8>>,
    ) -> Outcome {
        if let Some((user, pass)) = auth {
            let ok = self
                .node
                .config()
                .requirepass
                .as_deref()
                .is_some_and(|expected| password_matches(Some(&user), &pass, expected));
            if !ok {
                return now(CommandError::WrongPass);
            }
            self.authenticated = true;
        }
        if !self.authenticated {
            return now(CommandError::HelloNeedsAuth);
        }
        if let Some(p) = protocol {
            self.protocol = p;
        }
        if let Some(n) = name {
            self.name = n;
        }
        now(self.server_description())
    }

    /// What `HELLO` answers, in Redis's fields.
    fn server_description(&self) -> Reply {
        let text = |t: &str| Reply::Bulk(Some(t.as_bytes().to_vec()));
        let role = if self.node.status().is_leader() {
            "master"
        } else {
            "replica"
        };
        let proto = match self.protocol {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        };
        Reply::Map(vec![
            (text("server"), text("redis")),
            (text("version"), text(raft_kv_state::REDIS_COMPAT_VERSION)),
            (text("proto"), Reply::Int(proto)),
            (text("id"), Reply::Int(self.id as i64)),
            (text("mode"), text("standalone")),
            (text("role"), text(role)),
            (text("modules"), Reply::Array(Vec::new())),
        ])
    }

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

/// `user` (the only one is `default`) and `given` match the password; the
/// comparison takes the same time wherever a guess differs.
fn password_matches(user: Option<&[u8]>, given: &[u8], expected: &str) -> bool {
    let user_ok = user.is_none_or(|u| u == b"default");
    let pass_ok: bool = subtle::ConstantTimeEq::ct_eq(given, expected.as_bytes()).into();
    user_ok && pass_ok
}

/// The client's and this end's addresses, for `CLIENT LIST`.
pub(super) fn peer_of(stream: &std::net::TcpStream) -> (String, String) {
    let show =
        |a: std::io::Result<std::net::SocketAddr>| a.map_or_else(|_| "?".into(), |a| a.to_string());
    (show(stream.peer_addr()), show(stream.local_addr()))
}
