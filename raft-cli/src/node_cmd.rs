//! `raft-cli node`: flags, an optional TOML file (flags win), signals, graceful stop.

use clap::Args;
use raft_cli::config_file::NodeFile;
use raft_kv::{ConfigError, Node, NodeConfig, parse_initial_cluster};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Flags of `raft-cli node`. Every flag may also come from `--config`.
#[derive(Args, Debug, Default)]
pub struct NodeArgs {
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long)]
    id: Option<u64>,
    /// Directory for the WAL, state and snapshots (created if missing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on for peers, e.g. 127.0.0.1:7001.
    #[arg(long)]
    listen_peer: Option<String>,
    /// Address to listen on for RESP clients, e.g. 127.0.0.1:6001.
    #[arg(long)]
    listen_client: Option<String>,
    /// Every initial voter as ID=PEER_ADDR, comma-separated, self included. Used
    /// only when the data dir holds no state yet.
    #[arg(long)]
    initial_cluster: Option<String>,
    /// Mixed into the cluster id at bootstrap, so that two clusters started
    /// with the same --initial-cluster never accept each other's members or
    /// data dirs. Give every initial member the same token (`local` does).
    /// Ignored once the data dir holds state.
    #[arg(long)]
    initial_cluster_token: Option<String>,
    /// Address for GET /metrics and GET /health.
    #[arg(long)]
    metrics: Option<String>,
    /// Start empty and wait to be added to an existing cluster (`member add`);
    /// an --initial-cluster given with it only tells where the members are.
    #[arg(long)]
    join: bool,
    /// A TOML file with any of these settings (kebab-case keys); flags win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Raft tick in milliseconds (default 50).
    #[arg(long)]
    tick_ms: Option<u64>,
    /// Election timeout in ticks (default 10; randomized up to twice this).
    #[arg(long)]
    election_ticks: Option<u64>,
    /// Client request timeout in milliseconds (default 5000).
    #[arg(long)]
    request_timeout_ms: Option<u64>,
    /// Snapshot and compact the log every this many applied entries (default
    /// 10000; 0 disables automatic snapshots).
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Close client connections idle this many milliseconds (default 0: never).
    #[arg(long)]
    client_idle_timeout_ms: Option<u64>,
    /// Close a connection whose request is not completely sent within this
    /// many milliseconds (default 10000).
    #[arg(long)]
    request_read_timeout_ms: Option<u64>,
    /// MiB of unfinished requests buffered across all clients; beyond it a
    /// request is refused and its connection closed (default 256).
    #[arg(long)]
    client_buffer_limit_mb: Option<u64>,
    /// Clients must `AUTH` with this password before any other command (see
    /// also --requirepass-file, which keeps it out of the process list).
    #[arg(long, conflicts_with = "requirepass_file")]
    requirepass: Option<String>,
    /// A file whose first line is the client password.
    #[arg(long)]
    requirepass_file: Option<PathBuf>,
    /// PEM certificate (chain) this node presents to its peers; with
    /// --peer-key and --peer-ca, members talk mutual TLS (all or none do).
    #[arg(long, value_name = "FILE")]
    peer_cert: Option<PathBuf>,
    /// PEM private key of --peer-cert.
    #[arg(long, value_name = "FILE")]
    peer_key: Option<PathBuf>,
    /// PEM cluster CA: peers must present a certificate it issued.
    #[arg(long, value_name = "FILE")]
    peer_ca: Option<PathBuf>,
    /// PEM certificate (chain) of the client port; with --client-key, clients
    /// connect with TLS (`redis-cli --tls --cacert CA`).
    #[arg(long, value_name = "FILE")]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, value_name = "FILE")]
    client_key: Option<PathBuf>,
    /// PEM CA for client certificates: with it, clients must present one.
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
}

fn build_config(args: NodeArgs) -> Result<NodeConfig, String> {
    let file: NodeFile = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --config {}: {e}", path.display()))?;
            NodeFile::parse(&text)
                .map_err(|e| format!("invalid --config {}: {e}", path.display()))?
        }
        None => NodeFile::default(),
    };
    let id = args.id.or(file.id).ok_or("--id is required")?;
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .ok_or("--data-dir is required")?;
    let listen_peer = args
        .listen_peer
        .or(file.listen_peer)
        .ok_or("--listen-peer is required")?;
    let listen_client = args
        .listen_client
        .or(file.listen_client)
        .ok_or("--listen-client is required")?;
    let mut cfg = NodeConfig::new(id, data_dir, listen_peer, listen_client);
    cfg.join = args.join || file.join.unwrap_or(false);
    if let Some(ic) = args.initial_cluster.or(file.initial_cluster) {
        cfg.initial_cluster =
            parse_initial_cluster(&ic).map_err(|e| format!("invalid --initial-cluster: {e}"))?;
    }
    cfg.metrics = args.metrics.or(file.metrics);
    cfg.initial_cluster_token = args.initial_cluster_token.or(file.initial_cluster_token);
    if let Some(ms) = args.tick_ms.or(file.tick_ms) {
        cfg.tick = Duration::from_millis(ms);
    }
    if let Some(t) = args.election_ticks.or(file.election_ticks) {
        cfg.election_ticks = t;
    }
    if let Some(ms) = args.request_timeout_ms.or(file.request_timeout_ms) {
        cfg.request_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = args.snapshot_every.or(file.snapshot_every) {
        cfg.snapshot_every = n;
    }
    if let Some(ms) = args.client_idle_timeout_ms.or(file.client_idle_timeout_ms) {
        cfg.client_idle_timeout = (ms > 0).then(|| Duration::from_millis(ms));
    }
    if let Some(ms) = args
        .request_read_timeout_ms
        .or(file.request_read_timeout_ms)
    {
        cfg.request_read_timeout = Duration::from_millis(ms);
    }
    if let Some(mb) = args.client_buffer_limit_mb.or(file.client_buffer_limit_mb) {
        cfg.client_buffer_limit = usize::try_from(mb << 20).unwrap_or(usize::MAX);
    }
    cfg.requirepass = match (
        args.requirepass.or(file.requirepass),
        args.requirepass_file.or(file.requirepass_file),
    ) {
        (Some(p), _) => Some(p),
        (None, Some(path)) => Some(read_password(&path)?),
        (None, None) => None,
    };
    cfg.peer_tls = tls_files(
        ["--peer-cert", "--peer-key", "--peer-ca"],
        args.peer_cert.or(file.peer_cert),
        args.peer_key.or(file.peer_key),
        args.peer_ca.or(file.peer_ca),
        true,
    )?;
    cfg.client_tls = tls_files(
        ["--client-cert", "--client-key", "--client-ca"],
        args.client_cert.or(file.client_cert),
        args.client_key.or(file.client_key),
        args.client_ca.or(file.client_ca),
        false,
    )?;
    cfg.validate()
        .map_err(|e| format!("{}: {e}", flag_of(&e)))?;
    Ok(cfg)
}

/// One TLS identity from its three flags: all or none of certificate and key
/// (and the CA when `ca_required`); a CA alone is an error too.
fn tls_files(
    [cert_flag, key_flag, ca_flag]: [&str; 3],
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
    ca_required: bool,
) -> Result<Option<raft_kv::TlsFiles>, String> {
    match (cert, key) {
        (None, None) if ca.is_none() => Ok(None),
        (Some(cert), Some(key)) if ca.is_some() || !ca_required => {
            Ok(Some(raft_kv::TlsFiles { cert, key, ca }))
        }
        _ if ca_required => Err(format!(
            "{cert_flag}, {key_flag} and {ca_flag} go together: give all three or none"
        )),
        _ => Err(format!(
            "{cert_flag} and {key_flag} go together ({ca_flag} needs both)"
        )),
    }
}

/// The first line of `path`, without its line ending.
fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --requirepass-file {}: {e}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// The flag that sets what `e` complains about.
fn flag_of(e: &ConfigError) -> &'static str {
    match e.setting() {
        "id" => "--id",
        "initial_cluster" => "--initial-cluster",
        "tick" => "--tick-ms",
        "election_ticks" => "--election-ticks",
        "requirepass" => "--requirepass",
        "listen_peer" => "--listen-peer",
        other => other,
    }
}

/// Descriptors kept back from clients: WAL segments, state and snapshot files,
/// the snapshot spool, peer connections, listeners, the metrics endpoint.
const RESERVED_FDS: u64 = 256;

/// Raises the soft file-descriptor limit to the hard one and caps the client
/// connections below it, so that clients can never take the descriptors the
/// storage needs (a full table refuses clients, never a WAL write).
fn fit_connections_to_fd_limit(cfg: &mut NodeConfig) -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("cannot read the file descriptor limit: {e}"))?;
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    if limit < RESERVED_FDS + 16 {
        return Err(format!(
            "the file descriptor limit ({limit}) is too low: a node needs {} (ulimit -n)",
            RESERVED_FDS + 16
        ));
    }
    let fit = usize::try_from(limit - RESERVED_FDS).unwrap_or(usize::MAX);
    if fit < cfg.max_connections {
        log::info!(
            "node {}: file descriptor limit {limit}: serving at most {fit} clients",
            cfg.id
        );
        cfg.max_connections = fit;
    }
    Ok(())
}

/// Runs a node until SIGTERM or SIGINT, then stops it gracefully.
pub fn run(args: NodeArgs) -> Result<(), String> {
    let mut cfg = build_config(args)?;
    crate::init_logging();
    fit_connections_to_fd_limit(&mut cfg)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    let node = Node::start(cfg).map_err(|e| e.to_string())?;
    while !stop.load(Ordering::SeqCst) && !node.has_failed() && !node.was_removed() {
        std::thread::sleep(Duration::from_millis(20));
    }
    if stop.load(Ordering::SeqCst) {
        log::info!("signal received: stopping gracefully");
    } else if node.was_removed() {
        log::info!("removed from the cluster: stopping (exit 0)");
    }
    node.shutdown().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_config_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "id = 1\ndata-dir = \"/tmp/x\"\nlisten-peer = \"127.0.0.1:7001\"\nlisten-client = \"127.0.0.1:6001\"\ninitial-cluster = \"1=127.0.0.1:7001\"\n",
        )
        .expect("write");
        let args = NodeArgs {
            config: Some(path),
            listen_client: Some("127.0.0.1:6999".into()),
            ..NodeArgs::default()
        };
        let cfg = build_config(args).expect("valid");
        assert_eq!(cfg.id, 1);
        assert_eq!(cfg.listen_client, "127.0.0.1:6999");
        assert_eq!(cfg.listen_peer, "127.0.0.1:7001");
    }

    #[test]
    fn unknown_config_keys_are_rejected_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "id = 1\nlisten_peer = \"x\"\n").expect("write");
        let err = build_config(NodeArgs {
            config: Some(path),
            ..NodeArgs::default()
        })
        .expect_err("unknown key");
        assert!(
            err.matches("listen_peer").count() == 1,
            "names the unknown key: {err}"
        );
    }
}
