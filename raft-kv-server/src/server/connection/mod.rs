//! One client connection as a non-blocking state machine, moved along by its
//! I/O thread ([`super::event_loop`]) whenever its socket is ready, one of its
//! replies is ready, or one of its deadlines passes. It reads what is there,
//! submits every complete pipelined request before it waits for any reply,
//! and writes replies in request order.
//!
//! Program order per connection: a read waits until this connection's earlier
//! writes are answered, and a write for its earlier reads; requests of one
//! kind stay in flight together. A request that must wait is parked, and
//! nothing more is read until it is submitted.

mod closing;
mod messages;

use super::budget::BufferBudget;
use super::dispatch::Found;
use super::outcome::Outcome;
use super::reply::reply_of;
use super::session::{Session, peer_of};
use super::submitted::{Awaiting, Counted, Submitted};
use crate::resp::{ParseLimits, parse_request};
use closing::Closing;
use mio::{Interest, Registry, Token};
use raft_kv::{NodeHandle, PendingReply};
use raft_kv_state::registry::{Ordering as Kind, registry};
use raft_kv_state::{ErrorCode, Reply, ReplyError};
use raft_net::Conn;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes read from one connection in one pass (others get their turn).
const READ_PER_PASS: usize = 256 << 10;
/// Replies not yet taken by the client beyond which nothing more is read.
const OUT_LIMIT: usize = 1 << 20;
/// Buffers larger than this are given back once empty (idle connections
/// stay small).
const KEEP_CAPACITY: usize = 16 << 10;

/// What a pass left the connection as.
pub(super) enum Progress {
    /// Still open; `more` if it has input left to read now (fairness cut it off).
    Open { more: bool },
    /// Done: drop it.
    Closed,
}

/// A parsed request waiting for the requests in flight.
struct Parked {
    found: Found,
    args: Vec<Vec<u8>>,
    kind: Kind,
}

pub(super) struct Connection {
    stream: Conn,
    session: Session,
    limits: ParseLimits,
    budget: Arc<BufferBudget>,
    /// Bytes of `inbuf` taken from the budget.
    held: usize,
    idle_timeout: Option<Duration>,
    request_timeout: Duration,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    written: usize,
    pending: VecDeque<Submitted>,
    in_flight: Option<Kind>,
    parked: Option<Parked>,
    /// The socket may have input (edge-triggered: until a read would block).
    readable: bool,
    /// The client closed its side.
    eof: bool,
    /// The reply to send once every earlier one is out, before closing.
    last: Option<Reply>,
    closing: Option<Closing>,
    /// When the first byte of the unfinished request arrived.
    started: Option<Instant>,
    last_active: Instant,
    /// The deadline this connection has in its thread's timer heap.
    pub(super) armed: Option<Instant>,
    watching_writable: bool,
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
            inbuf: Vec::new(),
            out: Vec::new(),
            written: 0,
            pending: VecDeque::new(),
            in_flight: None,
            parked: None,
            readable: true,
            eof: false,
            last: None,
            closing: None,
            started: None,
            last_active: Instant::now(),
            armed: None,
            watching_writable: false,
        }
    }

    pub(super) fn fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self.stream.tcp())
    }

    /// The socket reported input (or its end).
    pub(super) fn mark_readable(&mut self) {
        self.readable = true;
    }

    /// The client closed its side (even while nothing is read): a blocked command stops.
    pub(super) fn mark_read_closed(&mut self) {
        self.readable = true;
        self.pending.iter_mut().for_each(|p| p.reply.cancel());
    }

    /// Moves the connection as far as it goes without blocking.
    pub(super) fn progress(&mut self, scratch: &mut [u8]) -> Progress {
        if self.closing.is_some() {
            return self.drive_close(scratch);
        }
        if self.cut_off() {
            return Progress::Closed;
        }
        let mut allowance = READ_PER_PASS;
        loop {
            self.collect();
            self.submit_buffered();
            self.collect();
            if self.parked.as_ref().is_some_and(|p| self.admits(p.kind)) {
                continue; // its predecessors were answered at once
            }
            if self.pending.is_empty()
                && (self.last.is_some() || (self.eof && self.parked.is_none()))
            {
                return self.begin_close(scratch);
            }
            if !self.may_read() || allowance == 0 {
                break;
            }
            match self.read_some(scratch) {
                Ok(0) => {}
                Ok(n) => allowance = allowance.saturating_sub(n),
                Err(e) => {
                    log::debug!("client connection ended: {e}");
                    return Progress::Closed;
                }
            }
        }
        if let Err(e) = self.flush_out() {
            log::debug!("client connection ended: {e}");
            return Progress::Closed;
        }
        Progress::Open {
            more: (self.may_read() && allowance == 0) || self.messages_left(),
        }
    }

    fn may_read(&self) -> bool {
        self.readable
            && !self.eof
            && self.last.is_none()
            && self.parked.is_none()
            && self.out.len() - self.written < OUT_LIMIT
    }

    /// One read into `inbuf`, within the shared buffer budget; 0 if nothing
    /// was there (or the client closed its side).
    fn read_some(&mut self, scratch: &mut [u8]) -> std::io::Result<usize> {
        let n = match self.stream.read(scratch) {
            Ok(0) => {
                self.eof = true;
                self.pending.iter_mut().for_each(|p| p.reply.cancel());
                return Ok(0);
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.readable = false;
                return Ok(0);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        };
        self.last_active = Instant::now();
        let grown = (self.inbuf.len() + n).saturating_sub(self.held);
        if grown > 0 && !self.budget.take(grown) {
            self.last = Some(ConnectionError::BuffersFull(self.budget.limit()).into());
            return Ok(n);
        }
        self.held += grown;
        self.inbuf.extend_from_slice(&scratch[..n]);
        Ok(n)
    }

    /// Admits the parked request if it may go now, then parses and submits
    /// what `inbuf` holds until a request must wait.
    fn submit_buffered(&mut self) {
        if let Some(p) = self.parked.take() {
            if !self.admits(p.kind) {
                self.parked = Some(p);
                return;
            }
            self.dispatch(p.found, p.args, p.kind);
        }
        let mut pos = 0;
        while self.last.is_none() && self.parked.is_none() {
            match parse_request(&self.inbuf[pos..], &self.limits) {
                Ok(Some((args, used))) => {
                    pos += used;
                    if args.is_empty() {
                        continue;
                    }
                    let found = registry().lookup(&args);
                    let kind = self.session.ordering_of(&found);
                    if self.admits(kind) {
                        self.dispatch(found, args, kind);
                    } else {
                        self.parked = Some(Parked { found, args, kind });
                    }
                }
                Ok(None) => break,
                Err(e) => self.last = Some(ConnectionError::Protocol(e).into()),
            }
        }
        self.inbuf.drain(..pos);
        self.account();
        // The clock runs from the first byte of the request still unfinished.
        self.started = match (self.inbuf.is_empty() || self.parked.is_some(), pos > 0) {
            (true, _) => None,
            (false, true) => Some(Instant::now()),
            (false, false) => self.started.or_else(|| Some(Instant::now())),
        };
    }

    /// Whether a request of `kind` may go now: requests of one kind go together,
    /// and nothing beside a blocking command (Redis runs nothing of a blocked client's).
    fn admits(&self, kind: Kind) -> bool {
        match self.in_flight {
            Some(Kind::Blocking) => false,
            None => true,
            Some(_) if kind == Kind::Blocking => false,
            Some(k) => kind == Kind::Other || k == kind,
        }
    }

    fn dispatch(&mut self, found: Found, args: Vec<Vec<u8>>, kind: Kind) {
        if kind != Kind::Other {
            self.in_flight = Some(kind);
        }
        let command = found.as_ref().ok().copied();
        let ran = |c: Option<_>| c.map_or(Counted::Already, Counted::Ran);
        self.session.begin_request();
        let outcome = self.session.dispatch(found, args);
        // A reply is encoded in the protocol in force once its command ran,
        // so that `HELLO 3` answers in RESP3.
        let protocol = self.session.protocol();
        let silent = self.session.reply_silenced();
        let (reply, counted) = match outcome {
            Outcome::Reply(reply) => (Awaiting::Reply(reply), ran(command)),
            Outcome::Encoded(frames) => (Awaiting::Encoded(frames), ran(command)),
            Outcome::Refused(r) => {
                let metrics = self.session.node.metrics();
                let name = command.map_or(UNKNOWN_COMMAND, |c| c.name());
                let code = match &r {
                    Reply::Error(e) => e.code().as_str().to_string(),
                    _ => ErrorCode::Err.as_str().to_string(),
                };
                metrics.command_refused(command.map(|c| c.index()), name, &code);
                (
                    Awaiting::Reply(PendingReply::ready(Ok(r))),
                    Counted::Already,
                )
            }
            Outcome::Block(call) => (Awaiting::Blocked(call), ran(command)),
            Outcome::Close(r) => {
                if let Some(c) = command {
                    count_ran(&self.session.node, c, &r);
                }
                self.last = Some(r);
                return;
            }
            Outcome::Hangup => {
                self.eof = true;
                return;
            }
        };
        // Frames that are no reply go out whatever `CLIENT REPLY` says.
        let silent = silent && !matches!(reply, Awaiting::Encoded(_));
        self.pending.push_back(Submitted {
            reply,
            protocol,
            counted,
            silent,
        });
    }

    /// Encodes the replies that are ready, in request order; once none is
    /// waiting, the messages delivered to a subscriber.
    fn collect(&mut self) {
        while let Some(front) = self.pending.front_mut() {
            if let Awaiting::Encoded(frames) = &mut front.reply {
                self.out.append(frames);
            } else {
                let Some(outcome) = front.reply.try_take() else {
                    break;
                };
                let reply = reply_of(outcome);
                if let Counted::Ran(c) = front.counted {
                    count_ran(&self.session.node, c, &reply);
                }
                if !front.silent {
                    reply.encode(front.protocol, &mut self.out);
                }
            }
            self.pending.pop_front();
        }
        if self.pending.is_empty() {
            self.in_flight = None;
            self.collect_messages();
        }
    }

    /// Gives back the budget of what `inbuf` no longer holds, and the memory
    /// of a buffer that grew for one request.
    fn account(&mut self) {
        if self.held > self.inbuf.len() {
            self.budget.give_back(self.held - self.inbuf.len());
            self.held = self.inbuf.len();
        }
        if self.inbuf.is_empty() && self.inbuf.capacity() > KEEP_CAPACITY {
            self.inbuf = Vec::new();
        } else if self.inbuf.capacity() > 1 << 20 && self.inbuf.len() < 64 << 10 {
            self.inbuf.shrink_to(64 << 10);
        }
    }

    /// Writes what the socket takes; the rest waits for it to be writable.
    fn flush_out(&mut self) -> std::io::Result<()> {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            if self.out.capacity() > KEEP_CAPACITY {
                self.out = Vec::new();
            }
        }
        if self.stream.wants_write() {
            match self.stream.flush() {
                Err(e) if e.kind() != ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn wants_write(&self) -> bool {
        self.written < self.out.len() || self.stream.wants_write()
    }

    /// Watches for writability exactly while output waits for the socket.
    pub(super) fn update_interest(
        &mut self,
        registry: &Registry,
        token: Token,
    ) -> std::io::Result<()> {
        let want = self.wants_write();
        if want != self.watching_writable {
            let interest = if want {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut mio::unix::SourceFd(&self.fd()), token, interest)?;
            self.watching_writable = want;
        }
        Ok(())
    }

    /// The earliest moment something must happen without any event.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if let Some(c) = &self.closing {
            return Some(c.deadline());
        }
        let reply = self.pending.iter().filter_map(|p| p.reply.deadline()).min();
        let request = self
            .started
            .filter(|_| self.last.is_none())
            .map(|t| t + self.request_timeout);
        let idle = self
            .idle_timeout
            .filter(|_| self.pending.is_empty() && self.inbuf.is_empty() && self.last.is_none())
            .map(|d| self.last_active + d);
        [reply, request, idle].into_iter().flatten().min()
    }

    /// A deadline passed: replies give up, a half-sent request is cut off
    /// with an error, an idle connection closes quietly.
    pub(super) fn on_deadline(&mut self, now: Instant) {
        for p in self.pending.iter_mut() {
            if p.reply.deadline().is_some_and(|d| d <= now) {
                p.reply.on_deadline(now);
            }
        }
        if self.closing.is_some() || self.last.is_some() {
            return;
        }
        if self
            .started
            .is_some_and(|t| now >= t + self.request_timeout)
        {
            self.last = Some(ConnectionError::RequestTooSlow(self.request_timeout).into());
        } else if self.pending.is_empty()
            && self.inbuf.is_empty()
            && self
                .idle_timeout
                .is_some_and(|d| now >= self.last_active + d)
        {
            self.eof = true; // closes quietly, as if the client had
        }
    }

    /// At stop: the replies that are ready go out if the socket takes them.
    pub(super) fn write_what_is_ready(&mut self) {
        self.collect();
        let _ = self.flush_out();
    }
}

/// The `command` label of requests whose name no command has.
const UNKNOWN_COMMAND: &str = "unknown";

/// Counts one command that ran, by name and result.
fn count_ran(node: &NodeHandle, c: &'static raft_kv_state::registry::Command, reply: &Reply) {
    let code = match reply {
        Reply::Error(e) => Some(e.code().as_str()),
        _ => None,
    };
    node.metrics().command_ran(c.index(), c.name(), code);
}

/// An error of the connection itself, not of a command: the last reply
/// before it closes.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    /// The node's request buffers are full.
    #[error("the server's request buffers are full ({0} bytes across all clients); retry later")]
    BuffersFull(usize),
    /// The request did not arrive whole in time.
    #[error("the request was not completed within {0:?}; closing the connection")]
    RequestTooSlow(Duration),
    /// The bytes are not RESP.
    #[error(transparent)]
    Protocol(#[from] crate::resp::ParseError),
}

impl From<ConnectionError> for Reply {
    fn from(e: ConnectionError) -> Reply {
        Reply::Error(ReplyError::new(ErrorCode::Err, e.to_string()))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.budget.give_back(self.held);
    }
}
