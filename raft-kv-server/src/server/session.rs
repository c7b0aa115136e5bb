//! One connection's state (`AUTH`, `READONLY`, the protocol, its name, the
//! transaction being queued) and the connection's own commands: the
//! [`ConnectionOp`]s the registry plans (`AUTH`, `HELLO`, `QUIT`,
//! `READONLY`, `RESET`, `CLIENT ...`; the transaction's are in
//! `transaction`, the subscribe commands' in `pushes`).

use super::blocked::BlockedCall;
use super::outcome::{Outcome, now};
use super::queued::Transaction;
use raft_core::SplitMix64;
use raft_kv::NodeHandle;
use raft_kv::runtime::Subscriber;
use raft_kv::runtime::Unblock;
use raft_kv_state::registry::plan::BlockingForm;
use raft_kv_state::registry::plan::{ConnectionOp, ReplyMode, UnblockHow};
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
    /// Its subscriptions and the messages waiting for it, once it
    /// subscribed to something.
    subscriber: Option<Subscriber>,
    /// `CLIENT REPLY`: which replies are sent.
    replies: Replies,
}

/// Which replies a connection is sent (`CLIENT REPLY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Replies {
    /// `CLIENT REPLY OFF`: none until `ON`.
    off: bool,
    /// `CLIENT REPLY SKIP`: not the next command's.
    skip_next: bool,
    /// Not the one of the command being served.
    skip_this: bool,
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
            subscriber: None,
            replies: Replies::default(),
        }
    }

    /// This connection's subscriber, made on first use.
    pub(super) fn subscriber(&mut self) -> &mut Subscriber {
        let (node, id) = (&self.node, self.id);
        self.subscriber.get_or_insert_with(|| node.subscriber(id))
    }

    /// Its subscriber, if it ever subscribed.
    pub(super) fn subscriber_if_any(&self) -> Option<&Subscriber> {
        self.subscriber.as_ref()
    }

    /// True while a RESP2 connection subscribes to something: only the
    /// commands allowed in subscribed mode are served.
    pub(super) fn in_subscribed_mode(&self) -> bool {
        self.protocol == Protocol::Resp2
            && self
                .subscriber
                .as_ref()
                .is_some_and(Subscriber::is_subscribed)
    }

    /// Called before each request is served: whether its reply is to be
    /// skipped because of an earlier `CLIENT REPLY SKIP`.
    pub(super) fn begin_request(&mut self) {
        self.replies.skip_this = std::mem::take(&mut self.replies.skip_next);
    }

    /// Called once the request is served: true if its reply is not sent
    /// (`CLIENT REPLY OFF`, or `SKIP` before it or by it).
    pub(super) fn reply_silenced(&self) -> bool {
        self.replies.off || self.replies.skip_this
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
            ConnectionOp::Ping(message) => now(raft_kv_state::ping_reply(
                message,
                self.in_subscribed_mode(),
            )),
            ConnectionOp::Subscribe(kind, names) => self.subscribe(kind, &names),
            ConnectionOp::Unsubscribe(kind, names) => self.unsubscribe(kind, &names),
            ConnectionOp::ClientReply(mode) => self.client_reply(mode),
            ConnectionOp::Reset => self.reset(),
            ConnectionOp::Monitor => {
                self.subscriber().monitor();
                now(Reply::ok())
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

    /// `CLIENT REPLY ON | OFF | SKIP`: `ON` answers `+OK`, the others
    /// nothing.
    fn client_reply(&mut self, mode: ReplyMode) -> Outcome {
        match mode {
            ReplyMode::On => self.replies.off = false,
            ReplyMode::Off => self.replies.off = true,
            ReplyMode::Skip => {
                self.replies.skip_this = true;
                self.replies.skip_next = true;
            }
        }
        now(Reply::ok())
    }

    /// `RESET`: the connection as it was when it connected: no
    /// transaction, no watched keys, no subscription, every reply sent,
    /// RESP2, reads through the leader, no name, and not authenticated if
    /// the node wants a password.
    fn reset(&mut self) -> Outcome {
        self.multi = None;
        self.watched.clear();
        self.subscriber = None;
        self.replies = Replies::default();
        self.protocol = Protocol::Resp2;
        self.readonly = false;
        self.name.clear();
        self.authenticated = self.node.config().requirepass.is_none();
        now(raft_kv_state::reset_reply())
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

    /// The client's address.
    pub(super) fn client_addr(&self) -> &str {
        &self.addrs.0
    }

    /// Who this connection is, for a log line.
    pub(super) fn describe_briefly(&self) -> String {
        format!("id={} addr={}", self.id, self.addrs.0)
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
