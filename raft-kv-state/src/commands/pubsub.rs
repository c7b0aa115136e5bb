//! The pub/sub family: `PUBLISH` and `SPUBLISH` (writes: a message is an
//! entry of the log, delivered by every node to its own subscribers as it
//! applies the entry, so subscribers on every node see one order), the
//! subscribe commands (changes of the connection) and `PUBSUB`'s questions
//! (about this node's own subscribers, as Redis answers about its own).

use super::connection;
use crate::errors::CommandError;
use crate::family::{Args, Registration, planned, write};
use crate::registry::plan::{CallContext, ConnectionOp, NodeOp, Plan, PubSubQuery, Subscription};
use crate::reply::Reply;
use crate::store::KvStore;
use raft_core::SplitMix64;

/// The state machine version that brought pub/sub into the log: an entry
/// of an earlier version answers these commands as unknown, as a binary of
/// that version does.
pub(crate) const PUBSUB_VERSION: u32 = 3;

/// The pub/sub commands.
pub(crate) static COMMANDS: &[Registration] = &[
    write("publish", publish).since(PUBSUB_VERSION),
    write("spublish", spublish).since(PUBSUB_VERSION),
    subscription("subscribe", |a, _| subscribe(Subscription::Channel, a)),
    subscription("psubscribe", |a, _| subscribe(Subscription::Pattern, a)),
    subscription("ssubscribe", |a, _| subscribe(Subscription::Shard, a)),
    subscription("unsubscribe", |a, _| unsubscribe(Subscription::Channel, a)),
    subscription("punsubscribe", |a, _| unsubscribe(Subscription::Pattern, a)),
    subscription("sunsubscribe", |a, _| unsubscribe(Subscription::Shard, a)),
    question("pubsub|channels", |a, _| channels(Subscription::Channel, a)),
    question("pubsub|shardchannels", |a, _| {
        channels(Subscription::Shard, a)
    }),
    question("pubsub|numsub", |a, _| numsub(Subscription::Channel, a)),
    question("pubsub|shardnumsub", |a, _| numsub(Subscription::Shard, a)),
    question("pubsub|numpat", |_, _| query(PubSubQuery::NumPat)),
];

/// A subscribe command: answered in subscribed mode, never in a
/// transaction (its confirmations are not replies a transaction can hold).
const fn subscription(
    name: &'static str,
    f: fn(Args, &CallContext) -> Result<Plan, CommandError>,
) -> Registration {
    planned(name, f).refused_in_multi().in_subscribed_mode()
}

/// A `PUBSUB` question: about this node's own subscribers, so no script
/// may ask it (every replica computes a script's result).
const fn question(
    name: &'static str,
    f: fn(Args, &CallContext) -> Result<Plan, CommandError>,
) -> Registration {
    planned(name, f).node_local()
}

/// `PUBLISH channel message`: the message goes to this entry's outbox;
/// the applier delivers it and answers the receivers it counted.
fn publish(store: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    store.publish(Subscription::Channel, &a[0], &a[1]);
    Ok(Reply::Int(0))
}

/// `SPUBLISH shardchannel message`.
fn spublish(store: &mut KvStore, a: Args, _: &mut SplitMix64) -> Result<Reply, CommandError> {
    store.publish(Subscription::Shard, &a[0], &a[1]);
    Ok(Reply::Int(0))
}

fn subscribe(kind: Subscription, a: Args) -> Result<Plan, CommandError> {
    connection(ConnectionOp::Subscribe(kind, a.to_vec()))
}

fn unsubscribe(kind: Subscription, a: Args) -> Result<Plan, CommandError> {
    connection(ConnectionOp::Unsubscribe(kind, a.to_vec()))
}

fn query(q: PubSubQuery) -> Result<Plan, CommandError> {
    Ok(Plan::Node(NodeOp::PubSub(q)))
}

/// `PUBSUB CHANNELS [pattern]` and `SHARDCHANNELS [pattern]`.
fn channels(kind: Subscription, a: Args) -> Result<Plan, CommandError> {
    match a {
        [] => query(PubSubQuery::Channels(kind, None)),
        [p] => query(PubSubQuery::Channels(kind, Some(p.clone()))),
        _ => Err(CommandError::arity(match kind {
            Subscription::Shard => "pubsub|shardchannels",
            _ => "pubsub|channels",
        })),
    }
}

/// `PUBSUB NUMSUB [channel ...]` and `SHARDNUMSUB [channel ...]`.
fn numsub(kind: Subscription, a: Args) -> Result<Plan, CommandError> {
    query(PubSubQuery::NumSub(kind, a.to_vec()))
}

impl Subscription {
    /// The word of its subscribe confirmation (`subscribe`, ...).
    pub fn subscribe_word(self) -> &'static str {
        match self {
            Subscription::Channel => "subscribe",
            Subscription::Pattern => "psubscribe",
            Subscription::Shard => "ssubscribe",
        }
    }

    /// The word of its unsubscribe confirmation (`unsubscribe`, ...).
    pub fn unsubscribe_word(self) -> &'static str {
        match self {
            Subscription::Channel => "unsubscribe",
            Subscription::Pattern => "punsubscribe",
            Subscription::Shard => "sunsubscribe",
        }
    }
}

/// What `PING` answers: `PONG` (or the message), and while a RESP2
/// connection is subscribed the array Redis answers there.
pub fn ping_reply(message: Option<Vec<u8>>, subscribed_resp2: bool) -> Reply {
    match (message, subscribed_resp2) {
        (m, true) => Reply::Array(vec![
            Reply::Bulk(Some(b"pong".to_vec())),
            Reply::Bulk(Some(m.unwrap_or_default())),
        ]),
        (None, false) => Reply::Simple("PONG".into()),
        (Some(m), false) => Reply::Bulk(Some(m)),
    }
}
