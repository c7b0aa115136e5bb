//! One client connection: reads what arrives, parses every complete pipelined
//! request, submits them all before it waits for the first reply, and writes
//! the replies in request order.

use super::budget::BufferBudget;
use super::commands::lookup;
use super::outcome::{Kind, Outcome};
use super::reply::reply_of;
use super::session::Session;
use crate::command::{Protocol, Reply};
use crate::error::ErrorCode;
use crate::resp::{ParseLimits, parse_request};
use crate::runtime::{NodeHandle, PendingReply};
use raft_net::Conn;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct Connection {
    stream: Conn,
    session: Session,
    limits: ParseLimits,
    budget: Arc<BufferBudget>,
    /// Bytes of `buf` taken from the budget.
    held: usize,
    idle_timeout: Option<Duration>,
    request_timeout: Duration,
}

/// Why a connection stops reading.
enum ReadEnd {
    /// The client closed it, or stayed idle past the idle timeout.
    Quiet,
    /// The last reply before closing.
    Reply(Reply),
}

/// The requests of one read, submitted and not yet answered, each with the
/// protocol its reply is encoded in and the command's name (for
/// `raft_commands_total`).
struct Batch {
    pending: Vec<(PendingReply, Protocol, &'static str)>,
    in_flight: Option<Kind>,
    out: Vec<u8>,
    node: NodeHandle,
}

impl Batch {
    /// Program order per connection: reads wait for this connection's earlier
    /// writes and writes for its earlier reads; requests of one kind stay in
    /// flight together.
    fn order(&mut self, kind: Kind) {
        if kind == Kind::Other {
            return;
        }
        if self.in_flight.is_some_and(|k| k != kind) {
            self.flush();
        }
        self.in_flight = Some(kind);
    }

    fn flush(&mut self) {
        for (p, protocol, command) in self.pending.drain(..) {
            let reply = reply_of(p.wait());
            count_command(&self.node, command, &reply);
            reply.encode(protocol, &mut self.out);
        }
        self.in_flight = None;
    }
}

impl Connection {
    pub(super) fn new(stream: Conn, node: NodeHandle, budget: Arc<BufferBudget>, id: u64) -> Self {
        let addrs = peer_of(stream.tcp());
        let cfg = node.config();
        let limits = ParseLimits {
            max_request: cfg.limits.max_request,
            ..ParseLimits::default()
        };
        Connection {
            idle_timeout: cfg.client_idle_timeout,
            request_timeout: cfg.request_read_timeout,
            stream,
            session: Session::new(node, id, addrs),
            limits,
            budget,
            held: 0,
        }
    }

    pub(super) fn run(mut self) -> std::io::Result<()> {
        self.stream.tcp().set_nodelay(true)?;
        let mut buf: Vec<u8> = Vec::with_capacity(16 << 10);
        let mut chunk = vec![0u8; 64 << 10];
        let mut batch = Batch {
            pending: Vec::new(),
            in_flight: None,
            out: Vec::with_capacity(16 << 10),
            node: self.session.node.clone(),
        };
        let mut started: Option<Instant> = None;
        loop {
            let n = match self.read_some(&mut chunk, &buf, started)? {
                Ok(n) => n,
                Err(ReadEnd::Quiet) => return Ok(()),
                Err(ReadEnd::Reply(r)) => {
                    r.encode_into(&mut batch.out);
                    return self.close_after(&batch.out);
                }
            };
            buf.extend_from_slice(&chunk[..n]);
            let (used, close) = self.submit_all(&buf, &mut batch);
            buf.drain(..used);
            self.account(&mut buf);
            // The clock runs from the first byte of the request still unfinished.
            started = match (buf.is_empty(), used > 0) {
                (true, _) => None,
                (false, true) => Some(Instant::now()),
                (false, false) => started.or_else(|| Some(Instant::now())),
            };
            batch.flush();
            if let Some(r) = &close {
                r.encode_into(&mut batch.out);
            }
            if close.is_some() {
                return self.close_after(&batch.out);
            }
            self.stream.write_all(&batch.out)?;
            self.stream.flush()?;
            batch.out.clear();
        }
    }

    /// Writes the last replies and closes so that the client reads them: the
    /// write side is shut first and what the client still sends is read and
    /// dropped for a moment, since closing with unread input would reset the
    /// connection and lose the error (a 100 MB value refused at the limit).
    fn close_after(&mut self, last: &[u8]) -> std::io::Result<()> {
        self.budget.give_back(std::mem::take(&mut self.held));
        self.stream.write_all(last)?;
        self.stream.flush()?;
        self.stream.shutdown_write()?;
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut sink = [0u8; 64 << 10];
        let mut drained = 0usize;
        while drained < 256 << 20 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.tcp().set_read_timeout(Some(left))?;
            match self.stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
        Ok(())
    }

    /// Reads what arrives, within the idle timeout (nothing buffered) or what
    /// is left of the request timeout (a request started at `started`), and
    /// within the shared buffer budget.
    fn read_some(
        &mut self,
        chunk: &mut [u8],
        buf: &[u8],
        started: Option<Instant>,
    ) -> std::io::Result<Result<usize, ReadEnd>> {
        let deadline = match started {
            Some(t) => Some(self.request_timeout.saturating_sub(t.elapsed())),
            None => self.idle_timeout,
        };
        if deadline.is_some_and(|d| d.is_zero()) {
            return Ok(Err(self.timed_out(started)));
        }
        self.stream.tcp().set_read_timeout(deadline)?;
        let n = match self.stream.read(chunk) {
            Ok(0) => return Ok(Err(ReadEnd::Quiet)),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(Err(self.timed_out(started)));
            }
            Err(e) => return Err(e),
        };
        let grown = (buf.len() + n).saturating_sub(self.held);
        if grown > 0 && !self.budget.take(grown) {
            return Ok(Err(ReadEnd::Reply(Reply::error(
                ErrorCode::Err,
                format!(
                    "the server's request buffers are full ({} bytes across all clients); retry later",
                    self.budget.limit()
                ),
            ))));
        }
        self.held += grown;
        Ok(Ok(n))
    }

    fn timed_out(&self, started: Option<Instant>) -> ReadEnd {
        match started {
            Some(_) => ReadEnd::Reply(Reply::error(
                ErrorCode::Err,
                format!(
                    "the request was not completed within {:?}; closing the connection",
                    self.request_timeout
                ),
            )),
            None => ReadEnd::Quiet,
        }
    }

    /// Gives back the budget of what `buf` no longer holds, and the memory of
    /// a buffer that grew large for one request.
    fn account(&mut self, buf: &mut Vec<u8>) {
        if self.held > buf.len() {
            self.budget.give_back(self.held - buf.len());
            self.held = buf.len();
        }
        if buf.capacity() > 1 << 20 && buf.len() < 64 << 10 {
            buf.shrink_to(64 << 10);
        }
    }

    /// Submits every complete request in `buf`; returns the bytes used and the
    /// last reply if the connection must close.
    fn submit_all(&mut self, buf: &[u8], batch: &mut Batch) -> (usize, Option<Reply>) {
        let mut pos = 0;
        loop {
            match parse_request(&buf[pos..], &self.limits) {
                Ok(Some((args, used))) => {
                    pos += used;
                    if args.is_empty() {
                        continue;
                    }
                    let spec = lookup(&args[0]);
                    let command = spec.map_or(UNKNOWN_COMMAND, |s| s.name);
                    batch.order(spec.map_or(Kind::Other, |s| self.session.kind_of(s)));
                    match self.session.dispatch(spec, args) {
                        Outcome::Reply(p) => {
                            batch.pending.push((p, self.session.protocol(), command))
                        }
                        Outcome::Close(r) => {
                            count_command(&self.session.node, command, &r);
                            return (pos, Some(r));
                        }
                    }
                }
                Ok(None) => return (pos, None),
                Err(e) => return (pos, Some(Reply::error(ErrorCode::Err, e))),
            }
        }
    }
}

/// The `command` label of requests whose name is not in the command table.
const UNKNOWN_COMMAND: &str = "unknown";

/// Counts one answered command by name and result.
fn count_command(node: &NodeHandle, command: &'static str, reply: &Reply) {
    let ok = !matches!(reply, Reply::Error(_));
    node.metrics().command_answered(command, ok);
}

/// The client's and this end's addresses, for `CLIENT LIST`.
fn peer_of(stream: &std::net::TcpStream) -> (String, String) {
    let show =
        |a: std::io::Result<std::net::SocketAddr>| a.map_or_else(|_| "?".into(), |a| a.to_string());
    (show(stream.peer_addr()), show(stream.local_addr()))
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.budget.give_back(self.held);
    }
}
