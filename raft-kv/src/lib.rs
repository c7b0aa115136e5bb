//! `raft-kv`: the node runtime. It composes the consensus core
//! (`raft-core`), a storage backend (`raft-storage`) and a transport
//! (`raft-net`) into one replica of the store, whose state machine is
//! `raft-kv-state`'s; the RESP port and the production node are in
//! `raft-kv-server`.
//!
//! To embed a node: start a [`Runtime`] with any [`NodeStorage`] and any
//! transport ([`Runtime::start`]), then submit through its [`NodeHandle`]:
//! [`NodeHandle::write`] proposes an [`Op`] (a command's words, a
//! transaction, a script) and answers once it is applied on this node,
//! [`NodeHandle::read`] reads linearizably (ReadIndex), and
//! [`NodeHandle::stale_read`] reads this node's applied state.
//!
//! Modules, each depending only on those listed before it:
//! - [`error`]: what a request fails with, what stops a node;
//! - [`config`], [`status`]: a node's settings and what it reports;
//! - [`metrics`]: the counters and the Prometheus endpoint;
//! - [`runtime`]: the node's threads (consensus, log writer, applier) and
//!   the [`NodeHandle`] requests go through;
//! - [`backup`]: consistent backups and restoring them into a new cluster.

pub mod backup;
pub mod config;
pub mod error;
pub mod metrics;
pub mod runtime;
pub mod status;

pub use config::{ConfigError, InitialClusterError, NodeConfig, parse_initial_cluster};
pub use error::{ErrorCode, FatalError, NodeError, RequestError};
pub use raft_kv_state::{Limits, Op, Reply};
pub use raft_net::{ClientTls, TlsError, TlsFiles};
pub use runtime::{
    NodeHandle, NodeStorage, PeerSetup, PendingReply, Runtime, StopRequest, data_dir_initialized,
};
pub use status::{Membership, NodeStatus};
