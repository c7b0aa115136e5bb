//! A node's configuration and its validation.

use raft_core::NodeId;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use raft_kv_state::Limits;

/// Everything a node needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id (non-zero).
    pub id: NodeId,
    /// Where the node keeps its WAL, state and snapshots.
    pub data_dir: PathBuf,
    /// Address peers connect to.
    pub listen_peer: String,
    /// Address clients (RESP) connect to.
    pub listen_client: String,
    /// Every initial voter's id and peer address (self included); used only when
    /// the data dir holds no state yet.
    pub initial_cluster: BTreeMap<NodeId, String>,
    /// Start empty and wait to be added to an existing cluster.
    pub join: bool,
    /// Mixed into the cluster id at bootstrap (`--initial-cluster-token`).
    pub initial_cluster_token: Option<String>,
    /// Address of the Prometheus metrics and health endpoint, if any.
    pub metrics: Option<String>,
    /// Length of one Raft tick.
    pub tick: Duration,
    /// Election timeout in ticks (randomized up to twice this).
    pub election_ticks: u64,
    /// Heartbeat interval in ticks.
    pub heartbeat_ticks: u64,
    /// How long a client request may wait before `-TIMEOUT` (or `-NOLEADER`).
    pub request_timeout: Duration,
    /// Client request limits.
    pub limits: Limits,
    /// Most client connections served at once.
    pub max_connections: usize,
    /// Take a snapshot and compact the log every this many applied entries (0: never).
    pub snapshot_every: u64,
    /// A leader makes its new entries durable on a writer thread while it
    /// goes on replicating and counts itself once they are (default on);
    /// off, the consensus thread waits for each of its own fdatasyncs.
    pub leader_log_writer: bool,
    /// Peer frames of at least this many bytes go LZ4-compressed to peers
    /// that read LZ4 (`None`: every frame plain; default
    /// [`raft_net::DEFAULT_COMPRESS_FROM`]).
    pub peer_compress_from: Option<usize>,
    /// Close a client connection idle this long (`None`: never, like Redis's
    /// `timeout 0`).
    pub client_idle_timeout: Option<Duration>,
    /// Close a connection that started a request and did not finish sending it
    /// within this time (a half-sent request holds memory).
    pub request_read_timeout: Duration,
    /// Bytes of unfinished requests buffered across all connections; a request
    /// that would go beyond is refused and its connection closed.
    pub client_buffer_limit: usize,
    /// When a subscriber that does not keep up is cut off (Redis's
    /// `client-output-buffer-limit pubsub`, default `32mb 8mb 60`).
    pub pubsub_output_limit: OutputLimit,
    /// The password clients must `AUTH` with before any other command
    /// (`--requirepass`); `None`: no authentication.
    pub requirepass: Option<String>,
    /// Mutual TLS between members (`--peer-cert/--peer-key/--peer-ca`; the CA
    /// is required); `None`: plain TCP. All members use it or none.
    pub peer_tls: Option<raft_net::TlsFiles>,
    /// TLS on the client port (`--client-cert/--client-key`, and with
    /// `--client-ca` client certificates are required); `None`: plain RESP.
    pub client_tls: Option<raft_net::TlsFiles>,
}

impl NodeConfig {
    /// Defaults for everything but identity and addresses: 50 ms ticks, elections
    /// after 10-20 ticks, heartbeats every tick, 5 s request timeout, 10,000
    /// client connections.
    pub fn new(
        id: NodeId,
        data_dir: impl Into<PathBuf>,
        listen_peer: impl Into<String>,
        listen_client: impl Into<String>,
    ) -> Self {
        NodeConfig {
            id,
            data_dir: data_dir.into(),
            listen_peer: listen_peer.into(),
            listen_client: listen_client.into(),
            initial_cluster: BTreeMap::new(),
            join: false,
            initial_cluster_token: None,
            metrics: None,
            tick: Duration::from_millis(50),
            election_ticks: 10,
            heartbeat_ticks: 1,
            request_timeout: Duration::from_secs(5),
            limits: Limits::default(),
            max_connections: 10_000,
            snapshot_every: 10_000,
            leader_log_writer: true,
            peer_compress_from: Some(raft_net::DEFAULT_COMPRESS_FROM),
            requirepass: None,
            peer_tls: None,
            client_tls: None,
            client_idle_timeout: None,
            request_read_timeout: Duration::from_secs(10),
            client_buffer_limit: 256 << 20,
            pubsub_output_limit: OutputLimit::default(),
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(ConfigError::ZeroId);
        }
        if !self.join {
            let Some(own) = self.initial_cluster.get(&self.id) else {
                return Err(if self.initial_cluster.is_empty() {
                    ConfigError::NoInitialCluster
                } else {
                    ConfigError::SelfNotInInitialCluster(self.id)
                });
            };
            if !listen_serves(&self.listen_peer, own) {
                return Err(ConfigError::ListenPeerMismatch {
                    listen: self.listen_peer.clone(),
                    announced: own.clone(),
                });
            }
        }
        if self.initial_cluster.contains_key(&0) {
            return Err(ConfigError::InitialCluster(InitialClusterError::ZeroId(
                "0".into(),
            )));
        }
        if self.tick.is_zero() {
            return Err(ConfigError::ZeroTick);
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return Err(ConfigError::ElectionNotAfterHeartbeat);
        }
        if self.limits.max_key == 0 || self.limits.max_value == 0 || self.limits.max_request == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        if self.max_connections == 0 {
            return Err(ConfigError::ZeroMaxConnections);
        }
        if self.request_read_timeout.is_zero() || self.client_buffer_limit == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        if self.requirepass.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::EmptyPassword);
        }
        Ok(())
    }
}

/// True if a listener on `listen` receives what peers send to `announced`:
/// the same address, or the same port on an unspecified address (0.0.0.0).
/// Host names cannot be compared without a lookup: then the ports must agree.
fn listen_serves(listen: &str, announced: &str) -> bool {
    if listen == announced {
        return true;
    }
    let port = |a: &str| a.rsplit_once(':').map(|(_, p)| p.to_string());
    match (
        listen.parse::<std::net::SocketAddr>(),
        announced.parse::<std::net::SocketAddr>(),
    ) {
        (Ok(l), Ok(a)) => l == a || (l.ip().is_unspecified() && l.port() == a.port()),
        _ => port(listen).is_some() && port(listen) == port(announced),
    }
}

/// A setting [`NodeConfig::validate`] refuses. The texts name the setting, not
/// a flag: `raft-cli` adds its flag names ([`ConfigError::setting`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The node id is 0.
    #[error("the node id must be a positive integer")]
    ZeroId,
    /// Neither an initial cluster nor join was given.
    #[error("an initial cluster is required unless the node joins an existing one")]
    NoInitialCluster,
    /// The initial cluster does not list this node.
    #[error("the initial cluster does not list this node's id {0}")]
    SelfNotInInitialCluster(NodeId),
    /// The peer listener is not where the initial cluster says this node is.
    #[error(
        "the peer listener {listen} is not the address {announced} the initial cluster gives this node"
    )]
    ListenPeerMismatch {
        /// The listen address.
        listen: String,
        /// This node's address in the initial cluster.
        announced: String,
    },
    /// The initial cluster list is malformed.
    #[error("{0}")]
    InitialCluster(InitialClusterError),
    /// The tick is zero.
    #[error("the tick interval must be positive")]
    ZeroTick,
    /// The election timeout is not longer than the heartbeat interval.
    #[error("the election timeout must be longer than the heartbeat interval")]
    ElectionNotAfterHeartbeat,
    /// A request limit is zero.
    #[error("request limits must be positive")]
    ZeroLimit,
    /// The connection cap is zero.
    #[error("the maximum number of client connections must be positive")]
    ZeroMaxConnections,
    /// The client password is empty.
    #[error("the client password must not be empty")]
    EmptyPassword,
}

impl ConfigError {
    /// The setting at fault, as named in [`NodeConfig`].
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::ZeroId => "id",
            ConfigError::NoInitialCluster
            | ConfigError::SelfNotInInitialCluster(_)
            | ConfigError::InitialCluster(_) => "initial_cluster",
            ConfigError::ListenPeerMismatch { .. } => "listen_peer",
            ConfigError::ZeroTick => "tick",
            ConfigError::ElectionNotAfterHeartbeat => "election_ticks",
            ConfigError::ZeroLimit => "limits",
            ConfigError::ZeroMaxConnections => "max_connections",
            ConfigError::EmptyPassword => "requirepass",
        }
    }
}

/// Why an `ID=PEER_ADDR,...` list does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitialClusterError {
    /// An item lacks `=`.
    #[error("'{0}' is not ID=PEER_ADDR")]
    NotIdEqualsAddr(String),
    /// The id is not a number.
    #[error("'{0}' is not a node id")]
    BadId(String),
    /// The id is 0.
    #[error("node id 0 in '{0}'; ids start at 1")]
    ZeroId(String),
    /// The address has no port.
    #[error("'{0}' is not HOST:PORT")]
    NotHostPort(String),
    /// An id appears twice.
    #[error("node id {0} is listed twice")]
    Duplicate(NodeId),
    /// Nothing was listed.
    #[error("the list is empty")]
    Empty,
}

/// Parses `1=127.0.0.1:7001,2=127.0.0.1:7002`.
pub fn parse_initial_cluster(s: &str) -> Result<BTreeMap<NodeId, String>, InitialClusterError> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| InitialClusterError::NotIdEqualsAddr(part.to_string()))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| InitialClusterError::BadId(id.to_string()))?;
        if id == 0 {
            return Err(InitialClusterError::ZeroId(part.to_string()));
        }
        let addr = addr.trim();
        if !addr.contains(':') {
            return Err(InitialClusterError::NotHostPort(addr.to_string()));
        }
        if out.insert(id, addr.to_string()).is_some() {
            return Err(InitialClusterError::Duplicate(id));
        }
    }
    if out.is_empty() {
        return Err(InitialClusterError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_listener_must_be_where_the_initial_cluster_says() {
        let mut cfg = NodeConfig::new(1, "/tmp/x", "127.0.0.1:7001", "127.0.0.1:6001");
        cfg.initial_cluster = parse_initial_cluster("1=127.0.0.1:7001").expect("valid");
        assert_eq!(cfg.validate(), Ok(()));
        cfg.listen_peer = "0.0.0.0:7001".into();
        assert_eq!(cfg.validate(), Ok(()), "any address, the same port");
        cfg.listen_peer = "localhost:7001".into();
        assert_eq!(cfg.validate(), Ok(()), "a host name: the ports agree");
        cfg.listen_peer = "127.0.0.1:7009".into();
        assert!(matches!(
            cfg.validate(),
            Err(ConfigError::ListenPeerMismatch { .. })
        ));
    }

    #[test]
    fn initial_cluster_parses_and_rejects_bad_lists() {
        let m = parse_initial_cluster("1=a:1, 2=b:2").expect("valid");
        assert_eq!(m.get(&2).map(String::as_str), Some("b:2"));
        for bad in ["", "1", "x=a:1", "0=a:1", "1=a:1,1=b:2", "1=nohost"] {
            assert!(parse_initial_cluster(bad).is_err(), "{bad}");
        }
    }
}

/// When a subscriber that does not keep up is cut off: at once beyond
/// `hard` bytes waiting, or once beyond `soft` for `soft_for` without a
/// break (0 turns a limit off), as Redis's `client-output-buffer-limit
/// pubsub <hard> <soft> <soft seconds>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    /// Bytes beyond which a subscriber is cut off at once (0: no limit).
    pub hard: u64,
    /// Bytes beyond which a subscriber may stay only `soft_for` (0: none).
    pub soft: u64,
    /// How long a subscriber may stay beyond `soft`.
    pub soft_for: Duration,
}

impl Default for OutputLimit {
    /// Redis's default: `pubsub 32mb 8mb 60`.
    fn default() -> Self {
        OutputLimit {
            hard: 32 << 20,
            soft: 8 << 20,
            soft_for: Duration::from_secs(60),
        }
    }
}
