//! `raft-cli node`: flags, an optional TOML file (flags win), signals, graceful stop.

use crate::error::CliError;
use raft_cli::config_file::NodeSettings;
use raft_kv::{ConfigError, NodeConfig, parse_initial_cluster};
use raft_kv_server::Node;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The file's settings (if `--config`) overlaid with the flags.
fn merged_settings(flags: NodeSettings) -> Result<NodeSettings, CliError> {
    let Some(path) = &flags.config else {
        return Ok(flags);
    };
    let text = std::fs::read_to_string(path)
        .map_err(CliError::io(format!("read --config {}", path.display())))?;
    let file = NodeSettings::parse(&text).map_err(|source| CliError::ConfigFile {
        path: path.clone(),
        source,
    })?;
    Ok(file.overlaid_with(&flags)?)
}

fn build_config(s: NodeSettings) -> Result<NodeConfig, CliError> {
    let id = s.id.ok_or(CliError::MissingFlag("--id"))?;
    let data_dir = s.data_dir.ok_or(CliError::MissingFlag("--data-dir"))?;
    let listen_peer = s
        .listen_peer
        .ok_or(CliError::MissingFlag("--listen-peer"))?;
    let listen_client = s
        .listen_client
        .ok_or(CliError::MissingFlag("--listen-client"))?;
    let mut cfg = NodeConfig::new(id, data_dir, listen_peer, listen_client);
    cfg.join = s.join.unwrap_or(false);
    if let Some(ic) = s.initial_cluster {
        cfg.initial_cluster = parse_initial_cluster(&ic)?;
    }
    cfg.metrics = s.metrics;
    cfg.initial_cluster_token = s.initial_cluster_token;
    let ms = Duration::from_millis;
    cfg.tick = s.tick_ms.map_or(cfg.tick, ms);
    cfg.election_ticks = s.election_ticks.unwrap_or(cfg.election_ticks);
    cfg.request_timeout = s.request_timeout_ms.map_or(cfg.request_timeout, ms);
    cfg.snapshot_every = s.snapshot_every.unwrap_or(cfg.snapshot_every);
    cfg.leader_log_writer = s.leader_log_writer.unwrap_or(cfg.leader_log_writer);
    if let Some(kib) = s.peer_compress_from_kib {
        cfg.peer_compress_from =
            (kib > 0).then(|| usize::try_from(kib << 10).unwrap_or(usize::MAX));
    }
    if let Some(idle) = s.client_idle_timeout_ms {
        cfg.client_idle_timeout = (idle > 0).then(|| ms(idle));
    }
    cfg.request_read_timeout = s
        .request_read_timeout_ms
        .map_or(cfg.request_read_timeout, ms);
    if let Some(mb) = s.client_buffer_limit_mb {
        cfg.client_buffer_limit = usize::try_from(mb << 20).unwrap_or(usize::MAX);
    }
    cfg.requirepass = match (s.requirepass, s.requirepass_file) {
        (Some(p), _) => Some(p),
        (None, Some(path)) => Some(read_password(&path)?),
        (None, None) => None,
    };
    cfg.peer_tls = tls_files(
        ["--peer-cert", "--peer-key", "--peer-ca"],
        s.peer_cert,
        s.peer_key,
        s.peer_ca,
        true,
    )?;
    cfg.client_tls = tls_files(
        ["--client-cert", "--client-key", "--client-ca"],
        s.client_cert,
        s.client_key,
        s.client_ca,
        false,
    )?;
    cfg.validate().map_err(|source| CliError::InvalidFlag {
        flag: flag_of(&source),
        source,
    })?;
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
) -> Result<Option<raft_kv::TlsFiles>, CliError> {
    match (cert, key) {
        (None, None) if ca.is_none() => Ok(None),
        (Some(cert), Some(key)) if ca.is_some() || !ca_required => {
            Ok(Some(raft_kv::TlsFiles { cert, key, ca }))
        }
        _ if ca_required => Err(CliError::FlagsGoTogether(format!(
            "{cert_flag}, {key_flag} and {ca_flag} go together: give all three or none"
        ))),
        _ => Err(CliError::FlagsGoTogether(format!(
            "{cert_flag} and {key_flag} go together ({ca_flag} needs both)"
        ))),
    }
}

/// The first line of `path`, without its line ending.
fn read_password(path: &std::path::Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path).map_err(CliError::io(format!(
        "read --requirepass-file {}",
        path.display()
    )))?;
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
fn fit_connections_to_fd_limit(cfg: &mut NodeConfig) -> Result<(), CliError> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|source| CliError::Sys {
        action: "read the file descriptor limit",
        source,
    })?;
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    if limit < RESERVED_FDS + 16 {
        return Err(CliError::FdLimitTooLow {
            limit,
            needed: RESERVED_FDS + 16,
        });
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

/// A node started by `raft-cli local` gets SIGTERM (a graceful stop) when
/// `local` dies, however it dies; if `local` is already gone, it does not start.
fn die_with_local_parent() -> Result<(), CliError> {
    let Ok(parent) = std::env::var(crate::local::PARENT_ENV) else {
        return Ok(());
    };
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).map_err(|source| {
        CliError::Sys {
            action: "ask to stop with the parent",
            source,
        }
    })?;
    if nix::unistd::getppid().as_raw().to_string() != parent {
        return Err(CliError::ParentGone);
    }
    Ok(())
}

/// Runs a node until SIGTERM or SIGINT, then stops it gracefully.
pub fn run(flags: NodeSettings) -> Result<(), CliError> {
    let settings = merged_settings(flags)?;
    if settings.print_config {
        say!("{}", settings.to_toml()?.trim_end());
        return Ok(());
    }
    let mut cfg = build_config(settings)?;
    crate::init_logging();
    die_with_local_parent()?;
    fit_connections_to_fd_limit(&mut cfg)?;
    // Registered before the node starts: a signal during start-up is kept
    // and stops the node as soon as it runs.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(CliError::io("install signal handlers"))?;
    let node = Node::start(cfg)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, wake) = (stop.clone(), node.stop_request());
    std::thread::Builder::new()
        .name("raft-cli-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                flag.store(true, Ordering::SeqCst);
                wake.request();
            }
        })
        .map_err(CliError::io("start the signal thread"))?;
    node.wait_until_stop_needed();
    if stop.load(Ordering::SeqCst) {
        log::info!("signal received: stopping gracefully");
    } else if node.was_removed() {
        log::info!("removed from the cluster: stopping (exit 0)");
    }
    Ok(node.shutdown()?)
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
        let flags = NodeSettings {
            config: Some(path),
            listen_client: Some("127.0.0.1:6999".into()),
            ..NodeSettings::default()
        };
        let cfg = build_config(merged_settings(flags).expect("merges")).expect("valid");
        assert_eq!(cfg.id, 1);
        assert_eq!(cfg.listen_client, "127.0.0.1:6999");
        assert_eq!(cfg.listen_peer, "127.0.0.1:7001");
    }

    #[test]
    fn unknown_config_keys_are_rejected_by_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "id = 1\nlisten_peer = \"x\"\n").expect("write");
        let err = merged_settings(NodeSettings {
            config: Some(path),
            ..NodeSettings::default()
        })
        .expect_err("unknown key");
        let text = err.to_string();
        assert!(
            text.contains("line 2 (listen_peer = \"x\"): unknown field `listen_peer`"),
            "names the line and the unknown key: {text}"
        );
    }
}
