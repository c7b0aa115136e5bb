//! A blocking Rust client for the RESP port, with endpoint failover.
//!
//! Retry rules: a refused connection, `-NOLEADER` (nothing was proposed) or
//! `-SHUTDOWN` before sending moves on to the next endpoint. A write whose outcome
//! is unknown (`-TIMEOUT`, `-SHUTDOWN` while waiting, or a connection lost after
//! the request was sent) is never retried: the error says so. Reads are retried,
//! since repeating them changes nothing.

use crate::command::Reply;
use crate::error::ErrorCode;
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
    /// Every endpoint refused or failed; the last error is attached.
    #[error("no endpoint could serve the request (last error: {0})")]
    Unavailable(String),
    /// The write may or may not have been applied.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// The server rejected the command (`-ERR ...`); nothing was applied.
    #[error("{0}")]
    Server(String),
    /// The server sent something that is not RESP.
    #[error("protocol error: {0}")]
    Protocol(String),
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
        self.send_and_read(args).map_err(|(_, e)| {
            ClientError::Unavailable(format!("{}: {e}", self.endpoints[self.current]))
        })
    }

    /// Sends a command with the retry rules above; `idempotent` says whether it
    /// may be repeated after an unknown outcome.
    pub fn call(&mut self, args: &[&[u8]], idempotent: bool) -> Result<Reply, ClientError> {
        let attempts = self.endpoints.len() * 3;
        let mut last = String::from("not tried");
        for attempt in 0..attempts {
            match self.send_and_read(args) {
                Ok(Reply::Error(e)) => {
                    let code = ErrorCode::of_error_text(&e);
                    match retry_after_error(code, idempotent) {
                        AfterError::Fail => return Err(ClientError::Server(e)),
                        AfterError::Unknown => return Err(ClientError::OutcomeUnknown(e)),
                        AfterError::NextEndpoint => {}
                    }
                    last = e;
                    self.next_endpoint();
                    if attempt + 1 >= self.endpoints.len() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                Ok(reply) => return Ok(reply),
                Err((sent, e)) => {
                    if sent && !idempotent {
                        return Err(ClientError::OutcomeUnknown(format!(
                            "connection to {} lost after sending: {e}",
                            self.endpoint()
                        )));
                    }
                    last = format!("{}: {e}", self.endpoint());
                    self.next_endpoint();
                    if attempt + 1 >= self.endpoints.len() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        Err(ClientError::Unavailable(last))
    }

    /// GET.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ClientError> {
        match self.call(&[b"GET", key], true)? {
            Reply::Bulk(v) => Ok(v),
            other => Err(ClientError::Protocol(format!(
                "unexpected reply to GET: {other:?}"
            ))),
        }
    }

    /// SET.
    pub fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), ClientError> {
        match self.call(&[b"SET", key, value], false)? {
            Reply::Simple(_) => Ok(()),
            other => Err(ClientError::Protocol(format!(
                "unexpected reply to SET: {other:?}"
            ))),
        }
    }

    /// DEL of one key; the number of keys removed.
    pub fn del(&mut self, key: &[u8]) -> Result<i64, ClientError> {
        match self.call(&[b"DEL", key], false)? {
            Reply::Int(n) => Ok(n),
            other => Err(ClientError::Protocol(format!(
                "unexpected reply to DEL: {other:?}"
            ))),
        }
    }

    /// INFO of the current endpoint.
    pub fn info(&mut self) -> Result<String, ClientError> {
        match self.call_here(&[b"INFO"])? {
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => Err(ClientError::Protocol(format!(
                "unexpected reply to INFO: {other:?}"
            ))),
        }
    }

    fn next_endpoint(&mut self) {
        self.conn = None;
        self.current = (self.current + 1) % self.endpoints.len();
    }

    /// Err((sent, message)): `sent` tells whether the request may have reached the server.
    fn send_and_read(&mut self, args: &[&[u8]]) -> Result<Reply, (bool, String)> {
        if self.conn.is_none() {
            let addr = self.endpoints[self.current].clone();
            let sock = addr
                .to_socket_addrs()
                .map_err(|e| (false, e.to_string()))?
                .next()
                .ok_or((false, format!("{addr} resolves to nothing")))?;
            let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(2))
                .map_err(|e| (false, e.to_string()))?;
            stream
                .set_nodelay(true)
                .map_err(|e| (false, e.to_string()))?;
            stream
                .set_read_timeout(Some(self.io_timeout))
                .map_err(|e| (false, e.to_string()))?;
            let mut conn = match &self.tls {
                Some(tls) => tls.connect(&addr, stream),
                None => Ok(Conn::Plain(stream)),
            }
            .map_err(|e| (false, e.to_string()))?;
            conn.complete_handshake()
                .map_err(|e| (false, format!("TLS: {e}")))?;
            self.conn = Some(BufReader::new(conn));
            if let Some(password) = self.password.clone() {
                self.authenticate(&password)?;
            }
        }
        self.round_trip(args)
    }

    /// `AUTH` on the fresh connection; a refusal drops it (nothing was sent).
    fn authenticate(&mut self, password: &str) -> Result<(), (bool, String)> {
        match self.round_trip(&[b"AUTH", password.as_bytes()]) {
            Ok(Reply::Simple(_)) => Ok(()),
            Ok(Reply::Error(e)) => {
                self.conn = None;
                Err((false, e))
            }
            Ok(other) => {
                self.conn = None;
                Err((false, format!("unexpected reply to AUTH: {other:?}")))
            }
            Err((_, e)) => Err((false, e)),
        }
    }

    /// One request and its reply on the open connection.
    fn round_trip(&mut self, args: &[&[u8]]) -> Result<Reply, (bool, String)> {
        let Some(reader) = self.conn.as_mut() else {
            return Err((false, "not connected".into()));
        };
        let mut req = Vec::new();
        req.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        let writer = reader.get_mut();
        if let Err(e) = writer.write_all(&req).and_then(|()| writer.flush()) {
            self.conn = None;
            return Err((true, e.to_string()));
        }
        match read_reply_inner(reader) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.conn = None;
                Err((true, e))
            }
        }
    }
}

/// Reads one RESP2 reply; a closed connection or bytes that are not RESP are
/// [`ClientError::Protocol`].
pub fn read_reply(r: &mut impl BufRead) -> Result<Reply, ClientError> {
    read_reply_inner(r).map_err(ClientError::Protocol)
}

fn read_reply_inner(r: &mut impl BufRead) -> Result<Reply, String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err("connection closed or truncated reply".into());
    }
    let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let int = |s: &str| s.parse::<i64>().map_err(|_| format!("bad integer '{s}'"));
    match line[0] {
        b'+' => Ok(Reply::Simple(body)),
        b'-' => Ok(Reply::Error(body)),
        b':' => Ok(Reply::Int(int(&body)?)),
        b'$' => {
            let n = int(&body)?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let mut data = vec![0u8; n as usize + 2];
            r.read_exact(&mut data).map_err(|e| e.to_string())?;
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
        other => Err(format!("unexpected reply type byte {other:#x}")),
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
