//! What a command's handler turns a request into: a [`Plan`]. Planning is a
//! pure function of the words, the [`CallContext`] and the limits; whoever
//! serves the request (a client session, a script on every replica) carries
//! the plan out.

use crate::limits::Limits;
use crate::reply::{Protocol, Reply};
use std::time::Duration;

/// What a blocked command waits for a key to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// A non-empty list.
    List,
    /// A non-empty sorted set.
    ZSet,
}

/// How a blocking command blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockingForm {
    /// The keys it takes from, in order.
    pub keys: Vec<Vec<u8>>,
    /// The type it takes.
    pub awaits: Awaited,
    /// How long it waits; `None`: for ever (a timeout of 0).
    pub timeout: Option<Duration>,
    /// What it answers when its time is up: the nil bulk (BLMOVE,
    /// BRPOPLPUSH) or the nil array.
    pub nil: Reply,
}

/// What a handler knows besides the words.
#[derive(Clone, Copy, Debug)]
pub struct CallContext<'a> {
    /// The limits the request is held to (the node's; a script's proposer's).
    pub limits: &'a Limits,
    /// A blocking command may block (a client outside `MULTI`); else it
    /// runs as its non-blocking attempt.
    pub may_block: bool,
}

/// What a request turns into.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Propose the request's own words to the log; the reply comes once the
    /// entry is applied.
    Write,
    /// Read the state machine with the request's own words.
    Read,
    /// The reply, known now.
    Reply(Reply),
    /// A blocking command that may wait for one of its keys.
    Block(BlockingForm),
    /// A change of the connection's own state.
    Connection(ConnectionOp),
    /// Something of the node outside the state machine.
    Node(NodeOp),
}

/// `CLIENT UNBLOCK`'s way of ending a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnblockHow {
    /// As if the timeout passed.
    Timeout,
    /// With `-UNBLOCKED`.
    Error,
}

/// A change of the connection's state, or a question about it.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionOp {
    /// `AUTH [user] password`.
    Auth {
        /// The user (`default` is the only one).
        user: Option<Vec<u8>>,
        /// The password.
        password: Vec<u8>,
    },
    /// `HELLO [protover [AUTH user password] [SETNAME name]]`.
    Hello {
        /// The protocol to switch to.
        protocol: Option<Protocol>,
        /// Credentials to authenticate with.
        auth: Option<(Vec<u8>, Vec<u8>)>,
        /// A name for the connection.
        name: Option<Vec<u8>>,
    },
    /// `QUIT`.
    Quit,
    /// `READONLY` (true) or `READWRITE`.
    ReadOnly(bool),
    /// `MULTI`.
    Multi,
    /// `EXEC`.
    Exec,
    /// `DISCARD`.
    Discard,
    /// `WATCH key [key ...]`.
    Watch(Vec<Vec<u8>>),
    /// `UNWATCH`.
    Unwatch,
    /// `CLIENT ID`.
    ClientId,
    /// `CLIENT SETNAME name` (a checked name).
    SetName(Vec<u8>),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT LIST`.
    ClientList,
    /// `CLIENT INFO`.
    ClientInfo,
    /// `CLIENT UNBLOCK id [TIMEOUT | ERROR]`.
    Unblock {
        /// The blocked client.
        id: u64,
        /// How its wait ends.
        how: UnblockHow,
    },
    /// `PING [message]`: its reply depends on the connection (an array
    /// while a RESP2 connection is subscribed).
    Ping(Option<Vec<u8>>),
    /// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE` of one or more names.
    Subscribe(Subscription, Vec<Vec<u8>>),
    /// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE` of the names (none:
    /// every one of that kind).
    Unsubscribe(Subscription, Vec<Vec<u8>>),
    /// `CLIENT REPLY ON | OFF | SKIP`.
    ClientReply(ReplyMode),
    /// `RESET`: the connection as it was when it connected.
    Reset,
    /// `MONITOR`: the connection is sent every command this node's clients
    /// send from now on.
    Monitor,
}

/// What a subscription names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subscription {
    /// A channel (`SUBSCRIBE`, messages of `PUBLISH`).
    Channel,
    /// A glob-style pattern of channels (`PSUBSCRIBE`).
    Pattern,
    /// A shard channel (`SSUBSCRIBE`, messages of `SPUBLISH`).
    Shard,
}

/// `CLIENT REPLY`'s modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every reply is sent (the default).
    On,
    /// No reply is sent until `CLIENT REPLY ON`.
    Off,
    /// The next command's reply is not sent.
    Skip,
}

/// A question `PUBSUB` asks of the node's own subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PubSubQuery {
    /// `PUBSUB CHANNELS [pattern]` (`SHARDCHANNELS` for shard channels):
    /// the channels with at least one subscriber.
    Channels(Subscription, Option<Vec<u8>>),
    /// `PUBSUB NUMSUB` / `SHARDNUMSUB`: each channel's subscribers.
    NumSub(Subscription, Vec<Vec<u8>>),
    /// `PUBSUB NUMPAT`: the patterns subscribed to.
    NumPat,
}

/// How `SHUTDOWN` was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownHow {
    /// Stop the node.
    Stop,
    /// `SHUTDOWN ABORT`.
    Abort,
}

/// Something of the node outside the state machine.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeOp {
    /// `INFO [section ...]`.
    Info(Vec<Vec<u8>>),
    /// `TIME`.
    Time,
    /// `ROLE`: Redis's replication role of this node (the leader is the
    /// master, every other member a replica of it).
    Role,
    /// `CONFIG GET pattern [pattern ...]`.
    ConfigGet(Vec<Vec<u8>>),
    /// `CONFIG SET name value [name value ...]`.
    ConfigSet(Vec<(Vec<u8>, Vec<u8>)>),
    /// `RAFT.ADDNODE id addr [LEARNER]`.
    AddNode {
        /// The node.
        id: u64,
        /// Its peer address.
        addr: String,
        /// As a learner.
        learner: bool,
    },
    /// `RAFT.REMOVENODE id`.
    RemoveNode(u64),
    /// `RAFT.TRANSFER id`.
    Transfer(u64),
    /// `SAVE` and `RAFT.SNAPSHOT`: a snapshot now, answered when taken.
    Snapshot,
    /// `BGSAVE [SCHEDULE]`: a snapshot in the background (`true`: SCHEDULE).
    BackgroundSnapshot(bool),
    /// `SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]`.
    Shutdown(ShutdownHow),
    /// `EVAL` / `EVAL_RO`.
    Eval(Script),
    /// `EVALSHA` / `EVALSHA_RO` (`body` holds the SHA1 until the node's
    /// cache resolves it).
    EvalSha(Script),
    /// `SCRIPT LOAD body`.
    ScriptLoad(Vec<u8>),
    /// `SCRIPT EXISTS sha [sha ...]`.
    ScriptExists(Vec<Vec<u8>>),
    /// `SCRIPT FLUSH [ASYNC | SYNC]`.
    ScriptFlush,
    /// `SCRIPT KILL`.
    ScriptKill,
    /// `PUBSUB CHANNELS | NUMSUB | NUMPAT | SHARDCHANNELS | SHARDNUMSUB`.
    PubSub(PubSubQuery),
}

/// A script call as a request names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// The source (or, for `EVALSHA`, its SHA1).
    pub body: Vec<u8>,
    /// `KEYS`.
    pub keys: Vec<Vec<u8>>,
    /// `ARGV`.
    pub args: Vec<Vec<u8>>,
    /// `_RO`: writes are refused.
    pub read_only: bool,
}
