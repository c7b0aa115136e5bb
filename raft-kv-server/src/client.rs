//! A blocking Rust client for the RESP port, with endpoint failover.
//!
//! Retry rules: a refused connection, `-NOLEADER` (nothing was proposed) or
//! `-SHUTDOWN` before sending moves on to the next endpoint. A write whose outcome
//! is unknown (`-TIMEOUT`, `-SHUTDOWN` while waiting, or a connection lost after
//! the request was sent) is never retried: the error says so. Reads are retried,
//! since repeating them changes nothing.

use raft_kv_state::{ErrorCode, Reply, ReplyError};
use raft_net::ClientTls;
pub use raft_net::Conn;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No endpoint was given.
    #[error("no endpoints given")]
    NoEndpoints,
    /// Every endpoint refused or failed; the last failure is attached.
    #[error("no endpoint could serve the request (last error: {0})")]
    Unavailable(Box<Failure>),
    /// The write may or may not have been applied: the server said so
    /// (`-TIMEOUT`, `-SHUTDOWN` while waiting).
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(ReplyError),
    /// The write may or may not have been applied: the connection was lost
    /// after the request was sent.
    #[error("outcome unknown: connection to {endpoint} lost after sending: {source}")]
    LostAfterSending {
        /// The endpoint.
        endpoint: String,
        /// How the connection was lost.
        source: ConnError,
    },
    /// The server rejected the command (`-ERR ...`); nothing was applied.
    #[error("{0}")]
    Server(ReplyError),
    /// The server answered with a reply of the wrong shape.
    #[error("unexpected reply to {command}: {reply:?}")]
    UnexpectedReply {
        /// The command sent.
        command: &'static str,
        /// What came back.
        reply: Box<Reply>,
    },
    /// The server sent something that is not RESP, or the stream failed.
    #[error("protocol error: {0}")]
    Protocol(#[from] ReplyReadError),
}

impl ClientError {
    /// True if a write may or may not have been applied: it must not be
    /// repeated blindly, and a history checker must count it as pending.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ClientError::OutcomeUnknown(_) | ClientError::LostAfterSending { .. }
        )
    }
}

/// The last thing that went wrong before [`ClientError::Unavailable`].
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No endpoint was tried.
    #[error("not tried")]
    NotTried,
    /// An endpoint answered an error that sends the client on (`-NOLEADER`).
    #[error("{0}")]
    Refused(ReplyError),
    /// An endpoint could not be reached or talked to.
    #[error("{endpoint}: {source}")]
    At {
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        source: ConnError,
    },
}

/// Why one connection to one endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The endpoint's name resolves to no address.
    #[error("{0} resolves to nothing")]
    Unresolvable(String),
    /// Connecting, or a socket option, failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    /// `AUTH` on the new connection was refused.
    #[error("{0}")]
    AuthRefused(ReplyError),
    /// `AUTH` got a reply of the wrong shape.
    #[error("unexpected reply to AUTH: {0:?}")]
    AuthAnswered(Box<Reply>),
    /// The reply could not be read.
    #[error(transparent)]
    Read(#[from] ReplyReadError),
}

/// Why a reply could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplyReadError {
    /// The stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The stream ended before a whole reply.
    #[error("connection closed or truncated reply")]
    Truncated,
    /// A length or an integer reply that is not an integer.
    #[error("bad integer '{0}'")]
    BadInteger(String),
    /// A type byte RESP2 does not have.
    #[error("unexpected reply type byte {0:#x}")]
    TypeByte(u8),
}

/// What the client does after an error reply.
#[derive(Debug, PartialEq, Eq)]
enum AfterError {
    /// The server refused the command: report it.
    Fail,
    /// The outcome is unknown and the command may not be repeated: report it.
    Unknown,
    /// Nothing happened (or repeating is harmless): try the next endpoint.
    NextEndpoint,
}

/// The retry rules of the module doc, by error code.
fn retry_after_error(code: Option<ErrorCode>, idempotent: bool) -> AfterError {
    match code {
        Some(ErrorCode::NoLeader) => AfterError::NextEndpoint,
        Some(ErrorCode::Timeout | ErrorCode::Shutdown) if idempotent => AfterError::NextEndpoint,
        Some(ErrorCode::Timeout | ErrorCode::Shutdown) => AfterError::Unknown,
        Some(
            ErrorCode::Err
            | ErrorCode::NoAuth
            | ErrorCode::WrongPass
            | ErrorCode::NoProto
            | ErrorCode::ExecAbort
            | ErrorCode::WrongType
            | ErrorCode::Unblocked
            | ErrorCode::BusyKey
            | ErrorCode::Busy
            | ErrorCode::NoScript
            | ErrorCode::NotBusy
            | ErrorCode::Unkillable,
        )
        | None => AfterError::Fail,
    }
}

/// A connection-reusing client over a list of endpoints.
pub struct Client {
    endpoints: Vec<String>,
    current: usize,
    conn: Option<BufReader<Conn>>,
    io_timeout: Duration,
    password: Option<String>,
    tls: Option<ClientTls>,
}

impl Client {
    /// A client for `endpoints` (`host:port` of any nodes' client ports).
    pub fn new(endpoints: Vec<String>) -> Result<Client, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        Ok(Client {
            endpoints,
            current: 0,
            conn: None,
            io_timeout: Duration::from_secs(10),
            password: None,
            tls: None,
        })
    }

    /// Connects with TLS (nodes started with `--client-cert`).
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Client {
        self.tls = tls;
        self
    }

    /// Sends `AUTH password` on every new connection (nodes started with
    /// `--requirepass`).
    pub fn with_password(mut self, password: Option<String>) -> Client {
        self.password = password;
        self
    }

    /// The endpoint currently in use.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[self.current]
    }

    /// Sends one command to the current endpoint only (no failover).
    pub fn call_here(&mut self, args: &[&[u8]]) -> Result<Reply, ClientError> {
        self.send_and_read(args).map_err(|(_, source)| {
            ClientError::Unavailable(Box::new(Failure::At {
                endpoint: self.endpoints[self.current].clone(),
                source,
            }))
        })
    }

    /// Sends a command with the retry rules above; `idempotent` says whether it
    /// may be repeated after an unknown outcome.
    pub fn call(&mut self, args: &[&[u8]], idempotent: bool) -> Result<Reply, ClientError> {
        let attempts = self.endpoints.len() * 3;
        let mut last = Failure::NotTried;
        for attempt in 0..attempts {
            match self.send_and_read(args) {
                Ok(Reply::Error(e)) => {
                    match retry_after_error(e.known_code(), idempotent) {
                        AfterError::Fail => return Err(ClientError::Server(e)),
                        AfterError::Unknown => return Err(ClientError::OutcomeUnknown(e)),
                        AfterError::NextEndpoint => {}
                    }
                    last = Failure::Refused(e);
                    self.next_endpoint();
                    if attempt + 1 >= self.endpoints.len() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                Ok(reply) => return Ok(reply),
                Err((sent, source)) => {
                    let endpoint = self.endpoint().to_string();
                    if sent && !idempotent {
                        return Err(ClientError::LostAfterSending { endpoint, source });
                    }
                    last = Failure::At { endpoint, source };
                    self.next_endpoint();
                    if attempt + 1 >= self.endpoints.len() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        Err(ClientError::Unavailable(Box::new(last)))
    }

    /// GET.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        match self.call(&[b"GET", key], true)? {
            Reply::Bulk(v) => Ok(v),
            reply => Err(ClientError::UnexpectedReply {
                command: "GET",
                reply: Box::new(reply),
            }),
        }
    }

    /// SET.
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        match self.call(&[b"SET", key, value], false)? {
            Reply::Simple(_) => Ok(()),
            reply => Err(ClientError::UnexpectedReply {
                command: "SET",
                reply: Box::new(reply),
            }),
        }
    }

    /// DEL of one key; the number of keys removed.
    pub fn del(&mut self, key: &[u8]) -> Result<i64, ClientError> {
        match self.call(&[b"DEL", key], false)? {
            Reply::Int(n) => Ok(n),
            reply => Err(ClientError::UnexpectedReply {
                command: "DEL",
                reply: Box::new(reply),
            }),
        }
    }

    /// INFO of the current endpoint.
    pub fn info(&mut self) -> Result<String, ClientError> {
        match self.call_here(&[b"INFO"])? {
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            reply => Err(ClientError::UnexpectedReply {
                command: "INFO",
                reply: Box::new(reply),
            }),
        }
    }

    fn next_endpoint(&mut self) {
        self.conn = None;
        self.current = (self.current + 1) % self.endpoints.len();
    }

    /// Err((sent, why)): `sent` tells whether the request may have reached the server.
    fn send_and_read(&mut self, args: &[&[u8]]) -> Result<Reply, (bool, ConnError)> {
        let reader = match self.conn.take() {
            Some(reader) => reader,
            None => self.connect().map_err(|e| (false, e))?,
        };
        self.round_trip(reader, args)
    }

    /// A new connection to the current endpoint, authenticated if a password
    /// is set.
    fn connect(&mut self) -> Result<BufReader<Conn>, ConnError> {
        let addr = &self.endpoints[self.current];
        let sock = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| ConnError::Unresolvable(addr.clone()))?;
        let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.io_timeout))?;
        let mut conn = match &self.tls {
            Some(tls) => tls.connect(addr, stream).map_err(ConnError::Tls)?,
            None => Conn::Plain(stream),
        };
        conn.complete_handshake().map_err(ConnError::Tls)?;
        let mut reader = BufReader::new(conn);
        if let Some(password) = &self.password {
            // A refusal drops the connection before anything else is sent.
            match exchange(&mut reader, &[b"AUTH", password.as_bytes()]) {
                Ok(Reply::Simple(_)) => {}
                Ok(Reply::Error(e)) => return Err(ConnError::AuthRefused(e)),
                Ok(other) => return Err(ConnError::AuthAnswered(Box::new(other))),
                Err((_, e)) => return Err(e),
            }
        }
        Ok(reader)
    }

    /// One request and its reply on `reader`, which is kept for the next
    /// request unless it failed.
    fn round_trip(
        &mut self,
        mut reader: BufReader<Conn>,
        args: &[&[u8]],
    ) -> Result<Reply, (bool, ConnError)> {
        let reply = exchange(&mut reader, args)?;
        self.conn = Some(reader);
        Ok(reply)
    }
}

/// Writes one request and reads its reply; Err((sent, why)).
fn exchange(reader: &mut BufReader<Conn>, args: &[&[u8]]) -> Result<Reply, (bool, ConnError)> {
    let mut req = Vec::new();
    crate::resp::encode_request(args, &mut req);
    let writer = reader.get_mut();
    writer
        .write_all(&req)
        .and_then(|()| writer.flush())
        .map_err(|e| (true, ConnError::Io(e)))?;
    read_reply_inner(reader).map_err(|e| (true, ConnError::Read(e)))
}

/// Reads one RESP2 reply; a closed connection or bytes that are not RESP are
/// [`ClientError::Protocol`].
pub fn read_reply(r: &mut impl BufRead) -> Result<Reply, ClientError> {
    Ok(read_reply_inner(r)?)
}

fn read_reply_inner(r: &mut impl BufRead) -> Result<Reply, ReplyReadError> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err(ReplyReadError::Truncated);
    }
    let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| ReplyReadError::BadInteger(s.to_string()))
    };
    match line[0] {
        b'+' => Ok(Reply::Simple(body)),
        b'-' => Ok(Reply::Error(ReplyError::from_line(&body))),
        b':' => Ok(Reply::Int(int(&body)?)),
        b'$' => {
            let n = int(&body)?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let mut data = vec![0u8; n as usize + 2];
            r.read_exact(&mut data)?;
            data.truncate(n as usize);
            Ok(Reply::Bulk(Some(data)))
        }
        b'*' => {
            let n = int(&body)?;
            if n < 0 {
                return Ok(Reply::NullArray);
            }
            let mut items = Vec::new();
            for _ in 0..n.max(0) {
                items.push(read_reply_inner(r)?);
            }
            Ok(Reply::Array(items))
        }
        other => Err(ReplyReadError::TypeByte(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_error_code_alone() {
        use AfterError::*;
        let cases = [
            (Some(ErrorCode::NoLeader), false, NextEndpoint),
            (Some(ErrorCode::Timeout), false, Unknown),
            (Some(ErrorCode::Timeout), true, NextEndpoint),
            (Some(ErrorCode::Shutdown), false, Unknown),
            (Some(ErrorCode::Shutdown), true, NextEndpoint),
            (Some(ErrorCode::Err), true, Fail),
            (None, true, Fail),
        ];
        for (code, idempotent, expected) in cases {
            assert_eq!(retry_after_error(code, idempotent), expected, "{code:?}");
        }
    }
}
