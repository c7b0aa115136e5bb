//! The messages an entry published (`PUBLISH`, `SPUBLISH`, and a script's
//! or a transaction's), kept until the applier takes them to deliver to
//! this node's subscribers. They are no part of the state: every replica
//! publishes the same messages as it applies the same entries, and none
//! is left once an entry is applied (so none is in a snapshot).

use super::KvStore;
use crate::registry::plan::Subscription;
use crate::reply::Reply;

/// One message an applied entry published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// A channel (`PUBLISH`) or a shard channel (`SPUBLISH`).
    pub kind: Subscription,
    /// The channel.
    pub channel: Vec<u8>,
    /// The message.
    pub message: Vec<u8>,
    /// Which part of the entry's reply counts its receivers.
    pub answers: Answers,
}

/// Which part of an entry's reply is a message's receiver count: the
/// applier of the node that proposed the entry fills it in with the
/// receivers on that node (the count depends on the node, so no replica
/// computes it from the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answers {
    /// The whole reply (a `PUBLISH` entry).
    Reply,
    /// The reply at this place of a transaction's array.
    InTransaction(usize),
    /// None: a script's `PUBLISH`, whose result every replica computes,
    /// answers 0.
    Nothing,
}

/// `reply` with the receiver counts of what its entry published
/// (`published`, with `receivers` in the same order) in their places.
pub fn count_receivers(mut reply: Reply, published: &[Published], receivers: &[usize]) -> Reply {
    for (p, n) in published.iter().zip(receivers) {
        let count = Reply::Int(i64::try_from(*n).unwrap_or(i64::MAX));
        match (p.answers, &mut reply) {
            (Answers::Reply, Reply::Int(_)) => reply = count,
            (Answers::InTransaction(i), Reply::Array(items)) => {
                if let Some(slot @ Reply::Int(_)) = items.get_mut(i) {
                    *slot = count;
                }
            }
            _ => {}
        }
    }
    reply
}

impl KvStore {
    /// Publishes `message` on `channel` from the entry being applied.
    pub(crate) fn publish(&mut self, kind: Subscription, channel: &[u8], message: &[u8]) {
        self.published.push(Published {
            kind,
            channel: channel.to_vec(),
            message: message.to_vec(),
            answers: Answers::Nothing,
        });
    }

    /// Marks what was published since `from` (the outbox's length before
    /// a call) as answering `answers`.
    pub(crate) fn published_answer(&mut self, from: usize, answers: Answers) {
        for p in self.published.iter_mut().skip(from) {
            p.answers = answers;
        }
    }

    /// How many messages wait in the outbox.
    pub(crate) fn published_len(&self) -> usize {
        self.published.len()
    }

    /// The messages published since the last call, in the order published.
    pub fn take_published(&mut self) -> Vec<Published> {
        std::mem::take(&mut self.published)
    }

    /// The state machine version of the entry being applied (a logged call
    /// of a command that version did not know is unknown, as it was to
    /// the binaries that wrote it); this binary's if none was set.
    pub fn entry_version(&self) -> u32 {
        self.entry_version
            .unwrap_or(crate::entry::STATE_MACHINE_VERSION)
    }

    /// Applies what follows as an entry of state machine `version` does.
    pub fn set_entry_version(&mut self, version: u32) {
        self.entry_version = Some(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Call, Op, Queued, Transaction};
    use crate::store::test_support::words;

    fn call(ws: &[&str]) -> Op {
        Op::Call(Call {
            argv: words(ws),
            seed: 0,
        })
    }

    #[test]
    fn a_publish_entry_publishes_once_and_its_reply_counts_the_receivers() {
        let mut s = KvStore::new();
        let reply = s.apply_op(&call(&["publish", "ch", "hello"]));
        let published = s.take_published();

        assert_eq!(
            published,
            vec![Published {
                kind: Subscription::Channel,
                channel: b"ch".to_vec(),
                message: b"hello".to_vec(),
                answers: Answers::Reply,
            }]
        );
        assert_eq!(count_receivers(reply, &published, &[3]), Reply::Int(3));
        assert!(s.take_published().is_empty(), "taken once");
    }

    #[test]
    fn a_transaction_counts_each_publish_at_its_place() {
        let mut s = KvStore::new();
        let queued = [
            &["spublish", "s", "1"][..],
            &["set", "k", "v"],
            &["publish", "c", "2"],
        ]
        .iter()
        .map(|ws| {
            Queued::Call(Call {
                argv: words(ws),
                seed: 0,
            })
        })
        .collect();
        let tx = Op::Transaction(Transaction {
            watched: Vec::new(),
            queued,
        });

        let reply = s.apply_op(&tx);
        let published = s.take_published();

        assert_eq!(published.len(), 2);
        assert_eq!(published[0].kind, Subscription::Shard);
        assert_eq!(published[0].answers, Answers::InTransaction(0));
        assert_eq!(published[1].answers, Answers::InTransaction(2));
        assert_eq!(
            count_receivers(reply, &published, &[4, 5]),
            Reply::Array(vec![Reply::Int(4), Reply::ok(), Reply::Int(5)])
        );
    }

    #[test]
    fn an_entry_of_a_version_before_pubsub_answers_publish_as_unknown_and_publishes_nothing() {
        let mut s = KvStore::new();
        s.set_entry_version(crate::commands::pubsub::PUBSUB_VERSION - 1);

        let reply = s.apply_op(&call(&["publish", "ch", "hello"]));

        assert!(
            matches!(&reply, Reply::Error(e) if e.line().starts_with("ERR unknown command 'publish'")),
            "{reply:?}"
        );
        assert!(s.take_published().is_empty());
        s.set_entry_version(crate::commands::pubsub::PUBSUB_VERSION);
        s.apply_op(&call(&["publish", "ch", "hello"]));
        assert_eq!(s.take_published().len(), 1);
    }
}
