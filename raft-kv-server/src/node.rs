//! The production node: a [`Runtime`] on [`FileStorage`] and [`TcpTransport`],
//! with the RESP client port and the optional metrics endpoint.

use crate::server::ServerHandle;
use raft_kv::{NodeConfig, NodeError, NodeHandle, Runtime};
use raft_kv_state::Op;
use raft_kv_state::entry::{MemberAdvert, STATE_MACHINE_VERSION};
use raft_net::{TcpTransport, TcpTransportConfig, Transport};
use raft_storage::{FileStorage, FileStorageOptions};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

/// A running node. [`Node::shutdown`] stops it gracefully.
pub struct Node {
    runtime: Runtime<FileStorage>,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    server: ServerHandle,
    metrics: Option<raft_kv::metrics::MetricsServer>,
    advertiser: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Opens the data dir, binds the ports and starts every thread. Errors are
    /// ready to show to a user as one line.
    pub fn start(cfg: NodeConfig) -> Result<Node, NodeError> {
        cfg.validate()?;
        let peer_tls = load_tls(
            cfg.peer_tls.as_ref(),
            "--peer-cert/--peer-key/--peer-ca",
            raft_net::PeerTls::load,
        )?;
        let client_tls = load_tls(
            cfg.client_tls.as_ref(),
            "--client-cert/--client-key/--client-ca",
            raft_net::ServerTls::load,
        )?;
        let client_listener = bind(&cfg.listen_client).map_err(|source| NodeError::ClientBind {
            addr: cfg.listen_client.clone(),
            source,
        })?;
        let client_addr = local_addr(&client_listener, &cfg.listen_client)?;
        let metrics_listener = match &cfg.metrics {
            Some(addr) => Some(bind(addr).map_err(|source| NodeError::MetricsBind {
                addr: addr.clone(),
                source,
            })?),
            None => None,
        };
        let raft_dir = cfg.data_dir.join("raft");
        let spool_dir = cfg.data_dir.join("incoming-snapshots");
        let listen_peer = cfg.listen_peer.clone();
        let compress_from = cfg.peer_compress_from;
        let mut peer_addr = None;
        let runtime = Runtime::start(
            cfg.clone(),
            |conf| FileStorage::open(&raft_dir, conf, FileStorageOptions::default()),
            |setup| {
                let mut net_cfg = TcpTransportConfig::new(setup.id, setup.cluster_id, listen_peer);
                net_cfg.spool_dir = Some(spool_dir);
                net_cfg.tls = peer_tls;
                net_cfg.compress_from = compress_from;
                let t = TcpTransport::start(net_cfg, setup.peers, setup.inbox)?;
                peer_addr = Some(t.local_addr());
                Ok(Arc::new(t) as Arc<dyn Transport>)
            },
        )?;
        let peer_addr = peer_addr.expect("the transport factory ran: Runtime::start succeeded");
        let handle = runtime.handle();
        let metrics = match metrics_listener {
            Some(listener) => {
                let t =
                    raft_kv::metrics::serve(listener, handle.clone()).map_err(NodeError::Thread)?;
                log::info!("node {} serving metrics on {:?}", cfg.id, cfg.metrics);
                Some(t)
            }
            None => None,
        };
        let advertised = advertised_client_addr(client_addr, peer_addr);
        let advertiser = {
            let (handle, id) = (handle.clone(), cfg.id);
            std::thread::Builder::new()
                .name("raft-kv-advertise".into())
                .spawn(move || advertise_client_addr(&handle, id, &advertised))
                .map_err(NodeError::Thread)?
        };
        let server =
            crate::server::serve(client_listener, handle, client_tls).map_err(NodeError::Thread)?;
        log::info!(
            "node {} serving clients on {client_addr}, peers on {peer_addr}",
            cfg.id
        );
        Ok(Node {
            runtime,
            client_addr,
            peer_addr,
            server,
            metrics,
            advertiser: Some(advertiser),
        })
    }

    /// A handle for submitting requests in-process.
    pub fn handle(&self) -> NodeHandle {
        self.runtime.handle()
    }

    /// The bound client address.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The bound peer address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The fatal error that stopped the node, if any, as one line.
    pub fn fatal_error(&self) -> Option<String> {
        self.runtime.fatal_error()
    }

    /// Blocks until the node needs its owner: it failed, was removed, or a
    /// [`StopRequest`](raft_kv::StopRequest) was made.
    pub fn wait_until_stop_needed(&self) {
        self.runtime.wait_until_stop_needed();
    }

    /// What wakes [`Node::wait_until_stop_needed`] from another thread.
    pub fn stop_request(&self) -> raft_kv::StopRequest {
        self.runtime.stop_request()
    }

    /// True if the node stopped itself after a fatal error.
    pub fn has_failed(&self) -> bool {
        self.runtime.has_failed()
    }

    /// True once the node learned it was removed from the cluster.
    pub fn was_removed(&self) -> bool {
        self.runtime.was_removed()
    }

    /// Stops gracefully: hand leadership over, refuse new requests, answer
    /// waiting clients with `-SHUTDOWN`, stop the threads, make the hard state
    /// durable.
    pub fn shutdown(self) -> Result<(), NodeError> {
        log::info!("node {} stopping", self.runtime.id());
        self.runtime.hand_over_leadership();
        self.runtime.begin_stop();
        self.server.stop();
        let outcome = self.runtime.shutdown();
        if let Some(m) = self.metrics {
            m.stop();
        }
        if let Some(t) = self.advertiser {
            let _ = t.join();
        }
        outcome
    }
}

/// The client address this node tells the cluster: the bound one, or with an
/// unspecified IP (`0.0.0.0:6001`) the peer address's IP with the client port.
fn advertised_client_addr(client: SocketAddr, peer: SocketAddr) -> String {
    if !client.ip().is_unspecified() {
        return client.to_string();
    }
    let ip = if peer.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        peer.ip()
    };
    SocketAddr::new(ip, client.port()).to_string()
}

/// Records this member's client address and the state machine version it
/// applies in the replicated state once it is a member and a leader is
/// known, so that any node can point clients at every member
/// (`member_clients:` in INFO, `raft-cli status`) and the leader proposes
/// at a version every member knows. Retries every half second until the
/// record is there or the node stops; then the thread ends.
/// An attempt waits at most a second, not the clients' request timeout: a
/// proposal forwarded before the peer links are up may be lost, and the
/// record is idempotent.
fn advertise_client_addr(node: &NodeHandle, id: raft_core::NodeId, addr: &str) {
    let pause = std::time::Duration::from_millis(500);
    while !node.is_stopping() {
        let status = node.status();
        let recorded = status.clients.get(&id).map(String::as_str) == Some(addr)
            && status.state_versions.get(&id) == Some(&STATE_MACHINE_VERSION);
        if recorded {
            log::debug!("node {id}: client address {addr} is recorded");
            return;
        }
        let member = status.voters.contains(&id) || status.learners.contains(&id);
        if member && status.leader_id.is_some() {
            let advertise = Op::Member(MemberAdvert {
                id,
                client_addr: addr.to_string(),
                state_machine_version: Some(STATE_MACHINE_VERSION),
            });
            if let Err(e) = node.write(advertise).wait_within(pause * 2) {
                log::debug!("node {id}: advertising client address {addr}: {e}");
            }
        }
        std::thread::sleep(pause);
    }
}

/// Loads and checks TLS material at start, so a bad file is one clear error.
fn load_tls<T>(
    files: Option<&raft_net::TlsFiles>,
    flags: &'static str,
    load: fn(&raft_net::TlsFiles) -> Result<T, raft_net::TlsError>,
) -> Result<Option<T>, NodeError> {
    files
        .map(load)
        .transpose()
        .map_err(|source| NodeError::Tls { flags, source })
}

fn bind(addr: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

fn local_addr(listener: &TcpListener, addr: &str) -> Result<SocketAddr, NodeError> {
    listener
        .local_addr()
        .map_err(|source| NodeError::ClientBind {
            addr: addr.to_string(),
            source,
        })
}
