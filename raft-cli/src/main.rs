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
    /// Client addresses of cluster nodes, comma-separated; requests fail over
    /// between them.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:6001,127.0.0.1:6002,127.0.0.1:6003"
    )]
    endpoints: Vec<String>,
    /// Password for nodes started with --requirepass (sent as AUTH).
    #[arg(long, global = true, env = "REDISCLI_AUTH", hide_env_values = true)]
    password: Option<String>,
    /// Connect with TLS (nodes started with --client-cert); needs --cacert.
    #[arg(long, global = true, requires = "cacert")]
    tls: bool,
    /// PEM file of the CA that issued the nodes' client-port certificates.
    #[arg(long, global = true, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// PEM client certificate, for nodes started with --client-ca.
    #[arg(long = "cert", id = "tls_cert", global = true, value_name = "FILE", requires_all = ["tls_key", "tls"])]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --cert.
    #[arg(
        long = "key",
        id = "tls_key",
        global = true,
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Cmd,
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
    },
    /// Write a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: String,
    },
    /// The whole cluster, found from any one endpoint: one row per member with
    /// its address, role, term, commit and applied index, lag and health.
    Status(status_cmd::StatusArgs),
    /// A live view of the whole cluster: per member role, term, commit and
    /// applied index, lag, proposals/s, WAL fsync p99 and leader changes
    /// (full screen on a terminal, `q` quits; one line per refresh otherwise).
    Top(top::TopArgs),
    /// Change the cluster's membership (joint consensus; one change at a time).
    #[command(subcommand)]
    Member(MemberCmd),
    /// Make node ID the leader (asks each endpoint until the leader answers).
    TransferLeader {
        /// The node that should lead.
        id: u64,
    },
    /// Take a snapshot and compact the log on every endpoint.
    Snapshot,
    /// Save a consistent, checksummed copy of the whole state to FILE.
    Backup {
        /// Where to write it.
        file: std::path::PathBuf,
    },
    /// Build a fresh data dir for one member of a NEW cluster from a backup.
    Restore(backup_cmds::RestoreArgs),
    /// Load the cluster and report throughput and latency percentiles.
    Bench(bench::BenchArgs),
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
    },
    /// Remove node ID from the cluster.
    Remove {
        /// The node's id.
        id: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let tls = match (cli.tls, &cli.cacert) {
        (true, Some(ca)) => {
            let identity = cli.tls_cert.as_deref().zip(cli.tls_key.as_deref());
            match raft_kv::ClientTls::load(ca, identity) {
                Ok(tls) => Some(tls),
                Err(e) => {
                    eprintln!("error: --tls: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
    let t = client_cmds::Target {
        endpoints: cli.endpoints,
        password: cli.password,
        tls,
    };
    let result = match cli.command {
        Cmd::Node(args) => node_cmd::run(*args),
        Cmd::Local(args) => local::run(args),
        Cmd::Get { key } => client_cmds::get(&t, &key),
        Cmd::Put { key, value } => client_cmds::put(&t, &key, &value),
        Cmd::Delete { key } => client_cmds::delete(&t, &key),
        Cmd::Status(args) => status_cmd::run(&t, &args),
        Cmd::Top(args) => top::run(&t, &args),
        Cmd::Member(MemberCmd::Add {
            id,
            peer_addr,
            learner,
        }) => client_cmds::member_add(&t, id, &peer_addr, learner),
        Cmd::Member(MemberCmd::Remove { id }) => client_cmds::member_remove(&t, id),
        Cmd::TransferLeader { id } => client_cmds::transfer_leader(&t, id),
        Cmd::Snapshot => client_cmds::snapshot(&t),
        Cmd::Backup { file } => backup_cmds::backup(&t, &file),
        Cmd::Restore(args) => backup_cmds::restore(args),
        Cmd::Bench(args) => bench::run(&t, args),
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
