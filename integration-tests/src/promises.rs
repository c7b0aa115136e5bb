//! The durability-promise invariant: a message that promises durable state
//! may leave a node only if the node's storage (what would survive a crash
//! at this moment, not what it holds in memory) backs the promise. Checked
//! at every send, so a promise sent ahead of the disk is caught at once,
//! whether or not a crash later lands in the window it opens.
//!
//! What each message promises:
//! - a granted vote for C in term T: the durable hard state is in a term
//!   above T, or in T with its vote for C;
//! - any message carrying term T (a rejection, a heartbeat, an append): the
//!   durable term is at least T. Pre-votes are exempt: a pre-candidate asks
//!   in a term it has not entered, and a granted pre-vote answers in it;
//! - an append accepted up to index i: the durable log holds every entry
//!   after the durable snapshot through i, each of the term the node's log
//!   (which matches the leader's through i) holds there;
//! - an append accepted at or below the durable snapshot's index: nothing
//!   more (the snapshot covers it).
//!
//! A leader counting itself before its own write is durable is checked
//! elsewhere (`Sim::check_committed_durable`), at every ready.

use raft_core::{
    HardState, LogIndex, Message, MessageBody, RawNode, Storage, StorageError, Term, VoteKind,
};
use raft_storage::MemStorage;

/// The first promise in `messages` that `storage` (node `raw`'s durable
/// state) does not back, described with the message and what the disk held.
pub fn unbacked_promise(
    raw: &RawNode<MemStorage>,
    storage: &MemStorage,
    messages: &[Message],
) -> Option<String> {
    let (durable, _) = storage
        .initial_state()
        .expect("reading a hard state from memory succeeds");
    messages.iter().find_map(|m| {
        let broken = check_term(m, &durable)
            .or_else(|| check_vote(m, &durable))
            .or_else(|| check_append_ack(raw, storage, m))?;
        Some(format!(
            "n{} sent {} (term {}) to n{} promising {broken}",
            m.from,
            m.body.name(),
            m.term,
            m.to
        ))
    })
}

/// A message of term T needs a durable term of at least T.
fn check_term(m: &Message, durable: &HardState) -> Option<String> {
    let pre_vote = match &m.body {
        MessageBody::RequestVote { kind, .. } => *kind == VoteKind::PreVote,
        MessageBody::RequestVoteResponse { pre_vote, granted } => *pre_vote && *granted,
        _ => false,
    };
    (!pre_vote && m.term > durable.term).then(|| {
        format!(
            "its term, but the disk held term {} (vote {:?})",
            durable.term, durable.vote
        )
    })
}

/// A granted vote in term T for C needs the durable vote for C in T (or a
/// durable term above T: the node can no longer vote in T).
fn check_vote(m: &Message, durable: &HardState) -> Option<String> {
    let granted = matches!(
        m.body,
        MessageBody::RequestVoteResponse {
            pre_vote: false,
            granted: true
        }
    );
    let backed = durable.term > m.term || (durable.term == m.term && durable.vote == Some(m.to));
    (granted && !backed).then(|| {
        format!(
            "its vote, but the disk held term {} vote {:?}",
            durable.term, durable.vote
        )
    })
}

/// An accepted append up to i needs every entry after the durable snapshot
/// through i durable, of the term the node's log holds there.
fn check_append_ack(
    raw: &RawNode<MemStorage>,
    storage: &MemStorage,
    m: &Message,
) -> Option<String> {
    let MessageBody::AppendResponse {
        accepted: true,
        index,
        ..
    } = m.body
    else {
        return None;
    };
    let snapshot = durable_snapshot_index(storage);
    if index <= snapshot {
        return None;
    }
    let log = raw.raft().log();
    ((snapshot + 1)..=index).find_map(|i| {
        let promised = log.term(i);
        let held = storage.term(i);
        let matches = matches!((&promised, &held), (Ok(p), Ok(h)) if p == h);
        (!matches).then(|| {
            format!(
                "entries through {index}, but at {i} the disk held {} where the log holds {} \
                 (durable snapshot at {snapshot}, disk's last index {}, log's {}, commit {})",
                describe_term(held),
                describe_term(promised),
                storage.last_index().unwrap_or(0),
                log.last_index(),
                log.committed(),
            )
        })
    })
}

/// The index of the snapshot in `storage` (0: none).
fn durable_snapshot_index(storage: &MemStorage) -> LogIndex {
    storage
        .first_index()
        .expect("reading the first index from memory succeeds")
        - 1
}

fn describe_term(t: Result<Term, StorageError>) -> String {
    match t {
        Ok(t) => format!("term {t}"),
        Err(e) => format!("no entry ({e})"),
    }
}
