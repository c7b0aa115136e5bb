//! `raft-kv-server`: the store as Redis clients see it.
//!
//! - [`resp`]: the RESP request parser (replies are encoded by
//!   [`raft_kv_state::Reply`]);
//! - [`server`]: the client port: a few I/O threads on epoll own every
//!   connection, and each connection's session looks a request up in the
//!   command registry ([`raft_kv_state::registry`]) and carries out its plan
//!   through the node's [`raft_kv::NodeHandle`];
//! - [`info`]: the `INFO` text;
//! - [`node`]: [`Node`], the production node (files, TCP peers, the RESP
//!   port, metrics);
//! - [`client`]: a Rust client for the RESP port with endpoint failover.

pub mod client;
pub mod info;
pub mod node;
pub mod resp;
pub mod server;

pub use client::{Client, ClientError};
pub use node::Node;
