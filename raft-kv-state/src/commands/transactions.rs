//! The transaction family: `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`.
//! The connection keeps the queue; `EXEC` proposes it as one entry
//! ([`crate::entry::Transaction`]).

use super::connection;
use crate::family::{Ordering, Registration, planned};
use crate::registry::plan::ConnectionOp;

/// The transaction commands.
pub(crate) static COMMANDS: &[Registration] = &[
    planned("multi", |_, _| connection(ConnectionOp::Multi)).runs_in_multi(),
    // A write through the log: after this connection's earlier reads.
    planned("exec", |_, _| connection(ConnectionOp::Exec))
        .runs_in_multi()
        .ordered_as(Ordering::Write),
    planned("discard", |_, _| connection(ConnectionOp::Discard)).runs_in_multi(),
    // A read of key versions: after this connection's earlier writes.
    planned("watch", |a, _| connection(ConnectionOp::Watch(a.to_vec())))
        .runs_in_multi()
        .ordered_as(Ordering::Read),
    planned("unwatch", |_, _| connection(ConnectionOp::Unwatch)),
];
