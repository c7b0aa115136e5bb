//! The in-memory transport delivers, drops across partitions, and heals.

use crossbeam_channel::unbounded;
use raft_core::{Message, MessageBody};
use raft_net::{MemNetwork, Transport};
use std::sync::Arc;

fn msg(from: u64, to: u64) -> Message {
    Message {
        from,
        to,
        term: 1,
        body: MessageBody::TimeoutNow,
    }
}

#[test]
fn messages_are_delivered_dropped_while_partitioned_and_delivered_again_after_healing() {
    let net = MemNetwork::new();
    let (tx1, rx1) = unbounded();
    let (tx2, rx2) = unbounded();
    let t1 = net.join(1, Arc::new(move |m| tx1.send(m).expect("receiver alive")));
    let t2 = net.join(2, Arc::new(move |m| tx2.send(m).expect("receiver alive")));
    t1.send(msg(1, 2));
    assert_eq!(rx2.try_recv().expect("delivered").from, 1);
    net.isolate(2);
    t1.send(msg(1, 2));
    t2.send(msg(2, 1));
    assert!(
        rx2.try_recv().is_err() && rx1.try_recv().is_err(),
        "cut both ways"
    );
    assert_eq!(t1.stats().dropped, 1);
    net.heal();
    t2.send(msg(2, 1));
    assert_eq!(rx1.try_recv().expect("delivered after healing").from, 2);
    net.leave(2);
    t1.send(msg(1, 2));
    assert!(rx2.try_recv().is_err(), "a node that left receives nothing");
}
