//! This store's own administration: membership (`RAFT.ADDNODE`,
//! `RAFT.REMOVENODE`), leadership (`RAFT.TRANSFER`), snapshots
//! (`RAFT.SNAPSHOT`) and consistent backups (`RAFT.BACKUP`).

use super::node;
use crate::errors::CommandError;
use crate::family::{Args, Ordering, Registration, planned, read};
use crate::registry::plan::{CallContext, NodeOp, Plan};
use crate::reply::Reply;

/// The cluster administration commands.
pub(crate) static COMMANDS: &[Registration] = &[
    planned("raft.addnode", add_node).ordered_as(Ordering::Write),
    planned("raft.removenode", |a, _| {
        node(NodeOp::RemoveNode(node_id(&a[0])?))
    })
    .ordered_as(Ordering::Write),
    planned("raft.transfer", |a, _| {
        node(NodeOp::Transfer(node_id(&a[0])?))
    }),
    planned("raft.snapshot", |_, _| node(NodeOp::Snapshot)),
    // A linearizable read: it holds every write acknowledged before it.
    read("raft.backup", |s, _, _| {
        Ok(Reply::Bulk(Some(s.encode_snapshot())))
    }),
];

/// A node id: a positive integer.
fn node_id(word: &[u8]) -> Result<u64, CommandError> {
    std::str::from_utf8(word)
        .ok()
        .and_then(|w| w.parse::<u64>().ok())
        .filter(|&id| id > 0)
        .ok_or(CommandError::BadNodeId)
}

/// `RAFT.ADDNODE id peer_addr [LEARNER]`: adds a voter or a learner, or
/// promotes a learner.
fn add_node(a: Args, _: &CallContext) -> Result<Plan, CommandError> {
    let learner = match a.get(2) {
        None => false,
        Some(flag) if a.len() == 3 && flag.eq_ignore_ascii_case(b"LEARNER") => true,
        Some(_) if a.len() > 3 => return Err(CommandError::arity("raft.addnode")),
        Some(_) => return Err(CommandError::AddNodeOption),
    };
    let id = node_id(&a[0])?;
    let addr = String::from_utf8_lossy(&a[1]).into_owned();
    if !addr.contains(':') {
        return Err(CommandError::BadPeerAddress { addr });
    }
    node(NodeOp::AddNode { id, addr, learner })
}
