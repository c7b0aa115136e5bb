//! `raft-kv`: the replicated key-value store.
//!
//! Modules, each depending only on those listed before it:
//! - [`command`], [`store`]: the state machine (binary keys and values,
//!   commands applied deterministically in log order) and its replies.
//! - [`error`]: request errors, error codes, fatal errors.
//! - [`config`], [`status`]: a node's settings and what it reports.
//! - [`info`], [`metrics`]: `INFO` text and the Prometheus endpoint (status only).
//! - [`runtime`]: the node's threads (consensus, applier), generic over storage
//!   and transport, and the [`NodeHandle`] requests go through.
//! - [`server`]: the RESP2 client port.
//! - [`node`]: the production composition (files, TCP, RESP, metrics).
//! - [`client`]: a Rust client for the RESP port with endpoint failover.

pub mod backup;
pub mod client;
pub mod command;
pub mod config;
pub mod error;
pub mod info;
pub mod metrics;
pub mod node;
pub mod reply;
pub mod resp;
pub mod runtime;
pub mod script;
pub mod server;
pub mod status;
pub mod store;

pub use client::{Client, ClientError};
pub use command::{Command, ReadCommand, Reply};
pub use config::{ConfigError, InitialClusterError, Limits, NodeConfig, parse_initial_cluster};
pub use error::{ErrorCode, FatalError, NodeError, RequestError};
pub use node::Node;
pub use raft_net::{ClientTls, TlsError, TlsFiles};
pub use runtime::{
    NodeHandle, NodeStorage, PeerSetup, PendingReply, Runtime, StopRequest, data_dir_initialized,
};
pub use status::NodeStatus;
