//! `raft-cli`: run a node (`node`), a whole local cluster (`local`), talk to a
//! cluster (`get`, `put`, `delete`, `status`, `top`) and load it (`bench`).

/// Prints a line to stdout; a closed pipe (`raft-cli status | head -1`) ends the
/// output quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod backup_cmds;
mod bench;
mod client_cmds;
mod error;
mod local;
mod node_cmd;
mod status_cmd;
mod top;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// A Raft-replicated, strongly consistent key-value store.
#[derive(Parser, Debug)]
#[command(name = "raft-cli", version, about, long_about = None)]
struct Cli {
    /// Client options may also come before the command (`raft-cli
    /// --endpoints A get k`); options after the command win.
    #[command(flatten)]
    client: ClientOpts,
    #[command(subcommand)]
    command: Cmd,
}

/// How a client command reaches the cluster. Only the commands that talk to
/// a cluster take these (`node`, `local` and `restore` do not).
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Client options")]
struct ClientOpts {
    /// Client addresses of cluster nodes, comma-separated; requests fail over
    /// between them [default: 127.0.0.1:6001,127.0.0.1:6002,127.0.0.1:6003].
    #[arg(long, value_delimiter = ',', value_name = "ADDRS")]
    endpoints: Option<Vec<String>>,
    /// Password for nodes started with --requirepass (sent as AUTH).
    #[arg(long, env = "REDISCLI_AUTH", hide_env_values = true)]
    password: Option<String>,
    /// Connect with TLS (nodes started with --client-cert); needs --cacert.
    #[arg(long, requires = "cacert")]
    tls: bool,
    /// PEM file of the CA that issued the nodes' client-port certificates.
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// PEM client certificate, for nodes started with --client-ca.
    #[arg(long = "cert", id = "tls_cert", value_name = "FILE", requires_all = ["tls_key", "tls"])]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --cert.
    #[arg(
        long = "key",
        id = "tls_key",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
}

/// The endpoints of a local three-node cluster (`raft-cli local`'s).
const DEFAULT_ENDPOINTS: [&str; 3] = ["127.0.0.1:6001", "127.0.0.1:6002", "127.0.0.1:6003"];

impl ClientOpts {
    /// These options, each filled from `before` (given before the command)
    /// where not given after it.
    fn or(self, before: ClientOpts) -> ClientOpts {
        ClientOpts {
            endpoints: self.endpoints.or(before.endpoints),
            password: self.password.or(before.password),
            tls: self.tls || before.tls,
            cacert: self.cacert.or(before.cacert),
            tls_cert: self.tls_cert.or(before.tls_cert),
            tls_key: self.tls_key.or(before.tls_key),
        }
    }

    /// True if a flag (not the environment) gave one of these options.
    fn any_flag(&self) -> bool {
        self.endpoints.is_some()
            || self.tls
            || self.cacert.is_some()
            || self.tls_cert.is_some()
            || self.tls_key.is_some()
    }

    /// The target these options describe; the error is `--tls`'s.
    fn target(self) -> Result<client_cmds::Target, raft_kv::TlsError> {
        let tls = match (self.tls, &self.cacert) {
            (true, Some(ca)) => {
                let identity = self.tls_cert.as_deref().zip(self.tls_key.as_deref());
                Some(raft_kv::ClientTls::load(ca, identity)?)
            }
            _ => None,
        };
        let endpoints = self
            .endpoints
            .unwrap_or_else(|| DEFAULT_ENDPOINTS.iter().map(|e| e.to_string()).collect());
        Ok(client_cmds::Target {
            endpoints,
            password: self.password,
            tls,
        })
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one node of a cluster (stops gracefully on SIGTERM or SIGINT).
    Node(Box<raft_cli::config_file::NodeSettings>),
    /// Run a whole cluster on this machine, one process per node; Ctrl-C stops it.
    Local(local::LocalArgs),
    /// Read a key (linearizable).
    Get {
        /// The key.
        key: String,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Write a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: String,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// The whole cluster, found from any one endpoint: one row per member with
    /// its address, role, term, commit and applied index, lag and health.
    Status {
        #[command(flatten)]
        args: status_cmd::StatusArgs,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// A live view of the whole cluster: per member role, term, commit and
    /// applied index, lag, proposals/s, WAL fsync p99 and leader changes
    /// (full screen on a terminal, `q` quits; one line per refresh otherwise).
    Top {
        #[command(flatten)]
        args: top::TopArgs,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Change the cluster's membership (joint consensus; one change at a time).
    #[command(subcommand)]
    Member(MemberCmd),
    /// Make node ID the leader (asks each endpoint until the leader answers).
    TransferLeader {
        /// The node that should lead.
        id: u64,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Take a snapshot and compact the log on every endpoint.
    Snapshot {
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Save a consistent, checksummed copy of the whole state to FILE.
    Backup {
        /// Where to write it.
        file: std::path::PathBuf,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Build a fresh data dir for one member of a NEW cluster from a backup.
    Restore(backup_cmds::RestoreArgs),
    /// Load the cluster and report throughput and latency percentiles.
    Bench {
        #[command(flatten)]
        args: bench::BenchArgs,
        #[command(flatten)]
        client: ClientOpts,
    },
}

/// Membership subcommands.
#[derive(Subcommand, Debug)]
enum MemberCmd {
    /// Add node ID (peer address PEER_ADDR) as a voter, or as a learner with
    /// --learner; adding an existing learner without --learner promotes it.
    Add {
        /// The node's id.
        id: u64,
        /// The node's peer address (its --listen-peer).
        peer_addr: String,
        /// Add as a learner (receives the log, does not vote).
        #[arg(long)]
        learner: bool,
        #[command(flatten)]
        client: ClientOpts,
    },
    /// Remove node ID from the cluster.
    Remove {
        /// The node's id.
        id: u64,
        #[command(flatten)]
        client: ClientOpts,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let before = cli.client;
    let (name, own) = match &cli.command {
        Cmd::Node(_) => ("node", true),
        Cmd::Local(_) => ("local", true),
        Cmd::Restore(_) => ("restore", true),
        _ => ("", false),
    };
    if own && before.any_flag() {
        eprintln!(
            "raft-cli: error: --endpoints, --tls, --cacert, --cert and --key are client options \
             (get, put, status, member, ...); `raft-cli {name}` does not take them"
        );
        return ExitCode::from(2);
    }
    let target = |client: ClientOpts| client.or(before).target();
    let result = match cli.command {
        Cmd::Node(args) => Ok(node_cmd::run(*args)),
        Cmd::Local(args) => Ok(local::run(args)),
        Cmd::Restore(args) => Ok(backup_cmds::restore(args)),
        Cmd::Get { key, client } => target(client).map(|t| client_cmds::get(&t, &key)),
        Cmd::Put { key, value, client } => {
            target(client).map(|t| client_cmds::put(&t, &key, &value))
        }
        Cmd::Delete { key, client } => target(client).map(|t| client_cmds::delete(&t, &key)),
        Cmd::Status { args, client } => target(client).map(|t| status_cmd::run(&t, &args)),
        Cmd::Top { args, client } => target(client).map(|t| top::run(&t, &args)),
        Cmd::Member(MemberCmd::Add {
            id,
            peer_addr,
            learner,
            client,
        }) => target(client).map(|t| client_cmds::member_add(&t, id, &peer_addr, learner)),
        Cmd::Member(MemberCmd::Remove { id, client }) => {
            target(client).map(|t| client_cmds::member_remove(&t, id))
        }
        Cmd::TransferLeader { id, client } => {
            target(client).map(|t| client_cmds::transfer_leader(&t, id))
        }
        Cmd::Snapshot { client } => target(client).map(|t| client_cmds::snapshot(&t)),
        Cmd::Backup { file, client } => target(client).map(|t| backup_cmds::backup(&t, &file)),
        Cmd::Bench { args, client } => target(client).map(|t| bench::run(&t, args)),
    };
    let result = match result {
        Ok(r) => r,
        Err(tls_error) => {
            eprintln!("error: --tls: {tls_error}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raft-cli: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts logging to stderr; `RUST_LOG` sets the level (default `info`).
fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
}
