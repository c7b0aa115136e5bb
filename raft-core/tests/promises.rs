//! What a node promises in a message is what its disk will hold when the
//! message leaves: acks queued behind the disk do not outlive a change of
//! term, and reports of durable entries replaced meanwhile change nothing.

mod common;

use common::{msg, single_node};
use raft_core::{Entry, EntryPayload, Message, MessageBody};

fn ent(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Normal(vec![index as u8, term as u8]),
    }
}

fn append(from: u64, term: u64, prev: (u64, u64), entries: Vec<Entry>, commit: u64) -> Message {
    msg(
        from,
        1,
        term,
        MessageBody::Append {
            prev_index: prev.0,
            prev_term: prev.1,
            entries,
            commit,
        },
    )
}

fn accepted_acks(msgs: &[Message]) -> Vec<(u64, u64, u64)> {
    msgs.iter()
        .filter_map(|m| match m.body {
            MessageBody::AppendResponse {
                accepted: true,
                index,
                ..
            } => Some((m.to, m.term, index)),
            _ => None,
        })
        .collect()
}

/// Node 1 accepts entries 2..=3 from the leader of term 2, then, before one
/// ready, the leader of term 3 replaces entry 3. The ready's entries never
/// hold 3/2, so the ack to the old leader must not leave with it.
#[test]
fn an_ack_queued_before_a_new_term_replaced_its_entries_is_not_sent() {
    let mut raw = single_node(1, &[1, 2, 3], &[1], 1);
    raw.step(append(2, 2, (1, 1), vec![ent(2, 2), ent(3, 2)], 1))
        .expect("step the old leader's append");
    raw.step(append(3, 3, (2, 2), vec![ent(3, 3)], 1))
        .expect("step the new leader's append");
    let rd = raw.ready();
    let written: Vec<(u64, u64)> = rd.entries.iter().map(|e| (e.index, e.term)).collect();
    assert_eq!(
        written,
        [(2, 2), (3, 3)],
        "3/2 was replaced before the ready"
    );
    assert!(
        rd.messages.is_empty(),
        "a follower sends nothing before its disk"
    );
    assert_eq!(
        accepted_acks(&rd.persisted_messages),
        [(3, 3, 3)],
        "only the new leader's ack, of what the disk will hold"
    );
}

/// The same two appends in one term from one leader keep both acks: the
/// second extends what the first promised, it replaces nothing.
#[test]
fn acks_of_one_term_all_leave_after_the_ready() {
    let mut raw = single_node(1, &[1, 2, 3], &[1], 1);
    raw.step(append(2, 2, (1, 1), vec![ent(2, 2)], 1))
        .expect("first append");
    raw.step(append(2, 2, (2, 2), vec![ent(3, 2)], 1))
        .expect("second append");
    let rd = raw.ready();
    assert_eq!(
        accepted_acks(&rd.persisted_messages),
        [(2, 2, 2), (2, 2, 3)]
    );
}
