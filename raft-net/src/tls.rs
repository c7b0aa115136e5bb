//! TLS for the peer and client ports, on `rustls` with the `ring` provider.
//!
//! [`PeerTls`] is mutual TLS between members: every node presents a
//! certificate issued by the cluster CA and accepts only peers that do, so a
//! stranger cannot open a peer connection, let alone forge a Raft message.
//! [`ServerTls`] is TLS on the client port, with client certificates required
//! when a client CA is given. [`ClientTls`] is what `raft-cli` and the Rust
//! client connect with. Everything is loaded and checked when a node starts:
//! a missing or unreadable file, a key that does not match its certificate, a
//! certificate not issued by the CA or outside its validity period are each
//! one clear error naming the file.
//!
//! [`Conn`] is a plain or TLS stream behind one `Read + Write` type, so the
//! code above it does not care which it has.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why TLS material cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("{what} {path}: {reason}")]
    File {
        /// Which file it is (`certificate`, `private key`, `CA`).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The certificate does not pass verification against the CA.
    #[error("certificate {path} is not acceptable to the CA {ca}: {reason}")]
    Untrusted {
        /// The certificate.
        path: PathBuf,
        /// The CA file.
        ca: PathBuf,
        /// Why (expired, not yet valid, unknown issuer, ...).
        reason: String,
    },
    /// rustls refused the configuration (for example, a key that does not
    /// match the certificate).
    #[error("TLS configuration with {cert}: {reason}")]
    Config {
        /// The certificate file involved.
        cert: PathBuf,
        /// Why.
        reason: String,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of a PEM file (a chain: leaf first).
fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("holds no PEM certificate".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        what: "private key",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs("CA", path)? {
        roots.add(cert).map_err(|e| TlsError::File {
            what: "CA",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The paths of one TLS identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf.
    pub key: PathBuf,
    /// PEM CA certificates: for peers, the cluster CA (required); for the
    /// client port, the CA client certificates must chain to (optional: none
    /// means clients present no certificate).
    pub ca: Option<PathBuf>,
}

/// Verifies `certs` against `ca` now, as a peer verifying this node would.
fn check_against_ca(
    files: &TlsFiles,
    ca: &Path,
    certs: &[CertificateDer<'static>],
    verifier: &Arc<dyn rustls::server::danger::ClientCertVerifier>,
) -> Result<(), TlsError> {
    let (leaf, chain) = certs.split_first().ok_or_else(|| TlsError::File {
        what: "certificate",
        path: files.cert.clone(),
        reason: "holds no PEM certificate".into(),
    })?;
    verifier
        .verify_client_cert(leaf, chain, UnixTime::now())
        .map(|_| ())
        .map_err(|e| TlsError::Untrusted {
            path: files.cert.clone(),
            ca: ca.to_path_buf(),
            reason: e.to_string(),
        })
}

fn config_err(files: &TlsFiles) -> impl Fn(rustls::Error) -> TlsError + '_ {
    |e| TlsError::Config {
        cert: files.cert.clone(),
        reason: e.to_string(),
    }
}

/// Mutual TLS between members of one cluster.
#[derive(Clone)]
pub struct PeerTls {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls")
    }
}

impl PeerTls {
    /// Loads this node's identity and the cluster CA (`files.ca`, required),
    /// and checks that the certificate is valid now and issued by that CA.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let ca = files.ca.as_deref().ok_or_else(|| TlsError::File {
            what: "CA",
            path: PathBuf::new(),
            reason: "peer TLS needs the cluster CA (--peer-ca)".into(),
        })?;
        let roots = Arc::new(read_roots(ca)?);
        let certs = read_certs("certificate", &files.cert)?;
        let key = read_key(&files.key)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::File {
                what: "CA",
                path: ca.to_path_buf(),
                reason: e.to_string(),
            })?;
        check_against_ca(files, ca, &certs, &verifier)?;
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_err(files))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(config_err(files))?;
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_err(files))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(config_err(files))?;
        Ok(PeerTls {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// Starts the server side of a peer connection (the handshake runs on the
    /// first read or write).
    pub fn accept(&self, tcp: TcpStream) -> Result<Conn, std::io::Error> {
        let conn = ServerConnection::new(self.server.clone()).map_err(std::io::Error::other)?;
        Ok(Conn::Server(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }

    /// Starts the client side of a peer connection to `addr` (`host:port`; the
    /// peer's certificate must name `host`, as a DNS name or an IP address).
    pub fn connect(&self, addr: &str, tcp: TcpStream) -> Result<Conn, std::io::Error> {
        start_client(&self.client, addr, tcp)
    }
}

fn start_client(
    config: &Arc<ClientConfig>,
    addr: &str,
    tcp: TcpStream,
) -> Result<Conn, std::io::Error> {
    let host = host_of(addr);
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host} is not a DNS name or IP address: {e}"),
        )
    })?;
    let conn = ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
    Ok(Conn::Client(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => addr,
    }
}

/// TLS on the client port.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// Loads the port's certificate and key; with `files.ca`, clients must
    /// present a certificate issued by that CA.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let certs = read_certs("certificate", &files.cert)?;
        let key = read_key(&files.key)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_err(files))?;
        let builder = match &files.ca {
            Some(ca) => {
                let roots = Arc::new(read_roots(ca)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                    .build()
                    .map_err(|e| TlsError::File {
                        what: "CA",
                        path: ca.clone(),
                        reason: e.to_string(),
                    })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(config_err(files))?;
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }

    /// Starts the server side of a client connection.
    pub fn accept(&self, tcp: TcpStream) -> Result<Conn, std::io::Error> {
        let conn = ServerConnection::new(self.config.clone()).map_err(std::io::Error::other)?;
        Ok(Conn::Server(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }
}

/// What a client connects to a TLS client port with.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// Trusts the CA certificates in `ca`; with `identity` (certificate, key),
    /// presents that client certificate.
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, TlsError> {
        let roots = read_roots(ca)?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config {
                cert: ca.to_path_buf(),
                reason: e.to_string(),
            })?
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(read_certs("certificate", cert)?, read_key(key)?)
                .map_err(|e| TlsError::Config {
                    cert: cert.to_path_buf(),
                    reason: e.to_string(),
                })?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// Starts a TLS connection to `addr` over `tcp`.
    pub fn connect(&self, addr: &str, tcp: TcpStream) -> Result<Conn, std::io::Error> {
        start_client(&self.config, addr, tcp)
    }
}

/// A plain or TLS stream.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// The accepting side of a TLS connection.
    Server(Box<rustls::StreamOwned<ServerConnection, TcpStream>>),
    /// The connecting side of a TLS connection.
    Client(Box<rustls::StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    /// The TCP socket underneath (for timeouts, addresses, shutdown).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Server(s) => &s.sock,
            Conn::Client(s) => &s.sock,
        }
    }

    /// Runs the TLS handshake to its end now (a no-op on plain TCP), so that a
    /// refused certificate shows up here rather than at the first message.
    pub fn complete_handshake(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(_) => Ok(()),
            Conn::Server(s) => handshake(&mut s.conn, &mut s.sock),
            Conn::Client(s) => handshake(&mut s.conn, &mut s.sock),
        }
    }

    /// True if TLS records are buffered for the socket (written out by
    /// [`Write::flush`] once the socket takes them); never on plain TCP.
    pub fn wants_write(&self) -> bool {
        match self {
            Conn::Plain(_) => false,
            Conn::Server(s) => s.conn.wants_write(),
            Conn::Client(s) => s.conn.wants_write(),
        }
    }

    /// Ends the write side: a TLS close_notify, then a TCP half-close.
    pub fn shutdown_write(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(_) => {}
            Conn::Server(s) => {
                s.conn.send_close_notify();
                s.flush()?;
            }
            Conn::Client(s) => {
                s.conn.send_close_notify();
                s.flush()?;
            }
        }
        self.tcp().shutdown(std::net::Shutdown::Write)
    }
}

fn handshake<C, D>(conn: &mut C, sock: &mut TcpStream) -> std::io::Result<()>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
{
    while conn.is_handshaking() {
        conn.complete_io(sock)?;
    }
    Ok(())
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Server(s) => s.read(buf),
            Conn::Client(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Server(s) => s.write(buf),
            Conn::Client(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Server(s) => s.flush(),
            Conn::Client(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_host_of_an_address_is_what_the_certificate_must_name() {
        assert_eq!(host_of("127.0.0.1:7001"), "127.0.0.1");
        assert_eq!(host_of("node-1.example:7001"), "node-1.example");
        assert_eq!(host_of("[::1]:7001"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
