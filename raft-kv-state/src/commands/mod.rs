//! The command families outside the data: each plans its commands into a
//! change of the connection or something of the node
//! ([`crate::registry::plan`]), which the client session carries out.

pub(crate) mod cluster;
pub(crate) mod connection;
pub(crate) mod pubsub;
pub(crate) mod scripting;
pub(crate) mod server;
pub(crate) mod transactions;

use crate::errors::CommandError;
use crate::registry::plan::{ConnectionOp, NodeOp, Plan};
use crate::reply::Reply;

/// A plan that changes the connection.
fn connection(op: ConnectionOp) -> Result<Plan, CommandError> {
    Ok(Plan::Connection(op))
}

/// A plan for the node.
fn node(op: NodeOp) -> Result<Plan, CommandError> {
    Ok(Plan::Node(op))
}

/// A reply known now.
fn reply(r: Reply) -> Result<Plan, CommandError> {
    Ok(Plan::Reply(r))
}
