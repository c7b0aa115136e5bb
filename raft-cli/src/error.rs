//! Every way a `raft-cli` command fails, each with the line it prints after
//! `raft-cli: error: `. Errors of the crates below (client, node, backup,
//! configuration) are kept whole as sources, not flattened into text.

use raft_cli::config_file::ConfigFileError;
use raft_kv::backup::BackupError;
use raft_kv::{ConfigError, InitialClusterError, NodeError, Reply};
use raft_kv_server::ClientError;
use raft_kv_state::ReplyError;
use std::path::PathBuf;

/// Why a `raft-cli` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Connecting to or talking with a node failed.
    #[error("{}{}", .0, what_to_do(.0))]
    Client(#[from] ClientError),
    /// A node answered with an error reply.
    #[error("{0}")]
    Refused(ReplyError),
    /// A node answered something the command does not expect.
    #[error("unexpected reply to {command}: {reply:?}")]
    UnexpectedReply {
        /// The command sent.
        command: &'static str,
        /// What came back.
        reply: Reply,
    },
    /// A failure at one endpoint (when several are tried).
    #[error("{endpoint}: {source}")]
    AtEndpoint {
        /// The endpoint.
        endpoint: String,
        /// What went wrong there.
        source: Box<CliError>,
    },
    /// `get` of a key that does not exist.
    #[error("key '{0}' not found")]
    KeyNotFound(String),
    /// `member remove ID` when only node ID itself answers.
    #[error("no reachable endpoint other than node {0} itself")]
    OnlyTheRemovedNode(u64),
    /// No member reports itself as leader.
    #[error("no member reports itself as leader")]
    NoLeader,
    /// No endpoint answered `INFO`.
    #[error("no endpoint answered")]
    NoEndpointAnswered,
    /// `snapshot` failed on some members (each is reported above).
    #[error("{0} member(s) did not take a snapshot")]
    SnapshotsFailed(usize),
    /// A system call or file operation failed.
    #[error("cannot {action}: {source}")]
    Io {
        /// What was being done ("read --config cluster.toml").
        action: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A system call through `nix` failed.
    #[error("cannot {action}: {source}")]
    Sys {
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        source: nix::Error,
    },
    /// The `--config` file is not valid.
    #[error("invalid --config {path}: {source}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        source: ConfigFileError,
    },
    /// Flags and file could not be merged or printed.
    #[error(transparent)]
    Settings(#[from] ConfigFileError),
    /// A required flag is missing.
    #[error("{0} is required")]
    MissingFlag(&'static str),
    /// A flag's value is invalid.
    #[error("{flag}: {source}")]
    InvalidFlag {
        /// The flag at fault.
        flag: &'static str,
        /// What the node configuration says about it.
        source: ConfigError,
    },
    /// Flags that only make sense together were given apart.
    #[error("{0}")]
    FlagsGoTogether(String),
    /// A flag's value is out of its range.
    #[error("{0}")]
    OutOfRange(String),
    /// `--initial-cluster` does not parse.
    #[error("invalid --initial-cluster: {0}")]
    InitialCluster(#[from] InitialClusterError),
    /// `restore --id` is not in `--initial-cluster`.
    #[error("--initial-cluster does not list --id {0}")]
    NotInInitialCluster(u64),
    /// The descriptor limit leaves too few for a node.
    #[error("the file descriptor limit ({limit}) is too low: a node needs {needed} (ulimit -n)")]
    FdLimitTooLow {
        /// The limit in force.
        limit: u64,
        /// What a node needs.
        needed: u64,
    },
    /// The `raft-cli local` that started this node is gone.
    #[error("the `raft-cli local` that started this node is gone")]
    ParentGone,
    /// A data dir holds a cluster of another size.
    #[error(
        "{} holds the data of nodes {found:?}, not of {nodes} nodes: start it with --nodes {}, or give another --data-dir",
        dir.display(),
        found.len()
    )]
    OtherClusterSize {
        /// The data dir.
        dir: PathBuf,
        /// The node ids found in it.
        found: Vec<u64>,
        /// The `--nodes` asked for.
        nodes: u64,
    },
    /// Every node of `raft-cli local` exited.
    #[error("every node exited")]
    EveryNodeExited,
    /// The node failed to start or stop.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A backup file could not be made or read.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// `restore` was given a file that is not a backup (or is damaged).
    #[error("{path}: {source}; restore takes a file written by `raft-cli backup`")]
    NotABackup {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: BackupError,
    },
    /// JSON output failed.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Latency histograms could not be merged.
    #[error("cannot merge latencies: {0}")]
    Latencies(#[from] hdrhistogram::AdditionError),
    /// A bench client thread panicked.
    #[error("a client thread panicked")]
    ClientPanicked,
    /// Some bench requests got error replies.
    #[error("{0} requests failed")]
    RequestsFailed(u64),
    /// `AUTH` was refused.
    #[error("AUTH failed")]
    AuthFailed,
}

impl CliError {
    /// An I/O failure while doing `action`.
    pub fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let action = action.into();
        move |source| CliError::Io { action, source }
    }

    /// This error, as met at `endpoint`.
    pub fn at(self, endpoint: &str) -> CliError {
        CliError::AtEndpoint {
            endpoint: endpoint.to_string(),
            source: Box::new(self),
        }
    }
}

/// The advice after a client error a user can act on.
fn what_to_do(e: &ClientError) -> &'static str {
    match e {
        ClientError::Unavailable(_) => {
            "; is the cluster running? --endpoints (default 127.0.0.1:6001,6002,6003) \
             must list its client addresses"
        }
        _ => "",
    }
}
