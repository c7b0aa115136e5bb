//! `raft-kv`: the replicated key-value store.
//!
//! - [`store`]: the state machine (binary keys and values, commands applied
//!   deterministically in log order).
//! - [`node`]: the runtime: a consensus thread with group commit, an applier
//!   thread, a TCP transport, linearizable reads through ReadIndex on any node.
//! - [`server`]: the RESP2 client port (`redis-cli`, `redis-benchmark`, client
//!   libraries), with pipelining and limits.
//! - [`client`]: a Rust client for the RESP port with endpoint failover.

mod admin;
mod applier;
pub mod client;
pub mod command;
pub mod config;
mod consensus;
mod info;
pub mod metrics;
pub mod node;
pub mod resp;
pub mod server;
pub mod store;

pub use client::{Client, ClientError};
pub use command::{Command, Reply};
pub use config::{Limits, NodeConfig, parse_initial_cluster};
pub use node::{Node, NodeError, NodeHandle, NodeStatus, ReadCommand};
