//! The client port's I/O threads. Each owns a `mio` poll (epoll) and the
//! connections handed to it; the first also owns the listener and deals new
//! connections out round-robin. A thread blocks only in `poll`, with a timeout
//! of the earliest connection deadline, and wakes for socket readiness, for
//! new connections, and for replies that became ready (the [`Completions`]
//! queue wakes it once per batch of replies, not once per reply).

use super::budget::BufferBudget;
use super::connection::{Connection, Progress};
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;
use raft_kv::NodeHandle;
use raft_kv::runtime::ReplyNotify;
use raft_net::{Conn, ServerTls};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{ErrorKind, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The token of the thread's waker.
const WAKER: Token = Token(usize::MAX);
/// The token of the listener (on the first thread).
const LISTENER: Token = Token(usize::MAX - 1);
/// Most readiness events taken from one poll.
const EVENTS_PER_POLL: usize = 1024;

/// What every I/O thread of one port shares.
pub(super) struct PortShared {
    pub(super) node: NodeHandle,
    pub(super) tls: Option<ServerTls>,
    pub(super) budget: Arc<BufferBudget>,
    pub(super) connections: AtomicUsize,
    pub(super) next_id: AtomicU64,
    pub(super) stopping: AtomicBool,
}

/// Replies that became ready, and new connections, for one I/O thread; the
/// consensus and applier threads push, the I/O thread drains.
pub(super) struct Completions {
    ready: Mutex<Vec<u64>>,
    incoming: Mutex<Vec<std::net::TcpStream>>,
    waker: Waker,
}

impl Completions {
    pub(super) fn hand_over(&self, stream: std::net::TcpStream) {
        self.incoming.lock().push(stream);
        self.wake();
    }

    pub(super) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake a client I/O thread: {e}");
        }
    }
}

impl ReplyNotify for Completions {
    /// Queues `tag` and wakes the thread, unless a wake is already owed (the
    /// queue was not empty).
    fn reply_ready(&self, tag: u64) {
        let first = {
            let mut q = self.ready.lock();
            q.push(tag);
            q.len() == 1
        };
        if first {
            self.wake();
        }
    }
}

/// One I/O thread before it runs.
pub(super) struct IoThread {
    poll: Poll,
    completions: Arc<Completions>,
}

impl IoThread {
    pub(super) fn new() -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        Ok(IoThread {
            poll,
            completions: Arc::new(Completions {
                ready: Mutex::new(Vec::new()),
                incoming: Mutex::new(Vec::new()),
                waker,
            }),
        })
    }

    pub(super) fn completions(&self) -> Arc<Completions> {
        self.completions.clone()
    }

    /// Serves until the port stops. `listener` (on the first thread) is
    /// accepted from; `peers` are every thread's queues, this one included.
    pub(super) fn run(
        self,
        listener: Option<TcpListener>,
        shared: Arc<PortShared>,
        peers: Vec<Arc<Completions>>,
    ) {
        let mut lp = Loop {
            poll: self.poll,
            completions: self.completions,
            shared,
            conns: HashMap::new(),
            next_token: 0,
            timers: BinaryHeap::new(),
            revisit: Vec::new(),
            scratch: vec![0u8; 64 << 10],
            acceptor: listener.map(|l| Acceptor {
                listener: l,
                peers,
                next: 0,
                last_warning: None,
                retry_at: None,
            }),
        };
        if let Err(e) = lp.serve() {
            log::error!("a client I/O thread stopped: {e}");
        }
        lp.close_all();
    }
}

/// The accepting side of the first thread.
struct Acceptor {
    listener: TcpListener,
    peers: Vec<Arc<Completions>>,
    next: usize,
    last_warning: Option<Instant>,
    /// After a failed accept (out of descriptors, say), when to try again.
    retry_at: Option<Instant>,
}

struct Loop {
    poll: Poll,
    completions: Arc<Completions>,
    shared: Arc<PortShared>,
    conns: HashMap<usize, Connection>,
    next_token: usize,
    /// Connection deadlines: (when, token), earliest first; stale entries
    /// (the connection re-armed or closed) are skipped.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Connections with work left over from the last pass (fairness).
    revisit: Vec<usize>,
    scratch: Vec<u8>,
    acceptor: Option<Acceptor>,
}

impl Loop {
    fn serve(&mut self) -> std::io::Result<()> {
        if let Some(a) = &mut self.acceptor {
            self.poll
                .registry()
                .register(&mut a.listener, LISTENER, Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while !self.shared.stopping.load(Ordering::Acquire) {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut touched = std::mem::take(&mut self.revisit);
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {
                        self.adopt_incoming();
                        let ready = std::mem::take(&mut *self.completions.ready.lock());
                        touched.extend(ready.into_iter().map(|t| t as usize));
                    }
                    LISTENER => self.accept(),
                    Token(t) => {
                        if let Some(c) = self.conns.get_mut(&t) {
                            if ev.is_read_closed() {
                                c.mark_read_closed();
                            } else if ev.is_readable() {
                                c.mark_readable();
                            }
                            touched.push(t);
                        }
                    }
                }
            }
            if self
                .acceptor
                .as_ref()
                .is_some_and(|a| a.retry_at.is_some_and(|t| t <= Instant::now()))
            {
                self.accept();
            }
            self.fire_timers(&mut touched);
            touched.sort_unstable();
            touched.dedup();
            for t in touched {
                self.progress(t);
            }
        }
        Ok(())
    }

    /// Until the earliest deadline; zero with work left over; none if idle.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.revisit.is_empty() {
            return Some(Duration::ZERO);
        }
        let retry = self.acceptor.as_ref().and_then(|a| a.retry_at);
        let timer = self.timers.peek().map(|Reverse((t, _))| *t);
        let next = match (retry, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Rounded up: waking a little late is harmless, early means a spin.
        next.map(|t| t.saturating_duration_since(Instant::now()) + Duration::from_millis(1))
    }

    fn fire_timers(&mut self, touched: &mut Vec<usize>) {
        let now = Instant::now();
        while let Some(Reverse((t, token))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if let Some(c) = self.conns.get_mut(&token)
                && c.armed == Some(t)
            {
                c.armed = None;
                c.on_deadline(now);
                touched.push(token);
            }
        }
    }

    /// Moves one connection along; closes it when it is done.
    fn progress(&mut self, token: usize) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        match c.progress(&mut self.scratch) {
            Progress::Open { more } => {
                if more {
                    self.revisit.push(token);
                }
                if let Err(e) = c.update_interest(self.poll.registry(), Token(token)) {
                    log::debug!("client connection ended: {e}");
                    self.close(token);
                    return;
                }
                let Some(c) = self.conns.get_mut(&token) else {
                    return;
                };
                if let Some(next) = c.next_deadline()
                    && c.armed.is_none_or(|a| next < a)
                {
                    c.armed = Some(next);
                    self.timers.push(Reverse((next, token)));
                }
            }
            Progress::Closed => self.close(token),
        }
    }

    fn close(&mut self, token: usize) {
        if let Some(c) = self.conns.remove(&token) {
            let _ = self.poll.registry().deregister(&mut SourceFd(&c.fd()));
            drop(c);
            self.shared.node.metrics().client_disconnected();
            self.shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// At stop: what is ready is written (best effort), and every connection closes.
    fn close_all(&mut self) {
        let tokens: Vec<usize> = self.conns.keys().copied().collect();
        for t in tokens {
            if let Some(c) = self.conns.get_mut(&t) {
                c.write_what_is_ready();
            }
            self.close(t);
        }
    }

    fn adopt_incoming(&mut self) {
        let incoming = std::mem::take(&mut *self.completions.incoming.lock());
        for stream in incoming {
            self.adopt(stream);
        }
    }

    /// Registers a new connection with this thread.
    fn adopt(&mut self, stream: std::net::TcpStream) {
        let token = self.take_token();
        let shared = &self.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let node = shared
            .node
            .notifying((self.completions.clone(), token as u64));
        let opened = open_stream(stream, shared.tls.as_ref())
            .map(|conn| Connection::new(conn, node, shared.budget.clone(), id));
        let c = match opened {
            Ok(c) => c,
            Err(e) => {
                log::debug!("client connection ended: {e}");
                shared.node.metrics().client_disconnected();
                shared.connections.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        };
        let fd = c.fd();
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut SourceFd(&fd), Token(token), Interest::READABLE)
        {
            log::warn!("cannot watch a client connection: {e}");
            shared.node.metrics().client_disconnected();
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        self.conns.insert(token, c);
        self.progress(token);
    }

    fn take_token(&mut self) -> usize {
        loop {
            let t = self.next_token;
            self.next_token = (self.next_token + 1) % (usize::MAX - 2);
            if !self.conns.contains_key(&t) {
                return t;
            }
        }
    }

    /// Accepts every waiting connection and deals them out.
    fn accept(&mut self) {
        loop {
            let Some(a) = self.acceptor.as_mut() else {
                return;
            };
            a.retry_at = None;
            let stream = match a.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors, say: the connection stays queued and
                    // no new event comes for it, so try again shortly.
                    if a.last_warning
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
                    {
                        log::warn!("accept failed: {e} (repeats are not logged for a minute)");
                        a.last_warning = Some(Instant::now());
                    }
                    a.retry_at = Some(Instant::now() + Duration::from_millis(50));
                    return;
                }
            };
            let stream = into_std(stream);
            if !self.admit(&stream) {
                continue;
            }
            let Some(a) = self.acceptor.as_mut() else {
                return;
            };
            let target = a.next % a.peers.len();
            a.next = a.next.wrapping_add(1);
            if Arc::ptr_eq(&a.peers[target], &self.completions) {
                self.adopt(stream);
            } else {
                a.peers[target].hand_over(stream);
            }
        }
    }

    /// Counts a new connection in, or refuses it at the limit.
    fn admit(&self, stream: &std::net::TcpStream) -> bool {
        let shared = &self.shared;
        let max = shared.node.config().max_connections;
        if shared.connections.fetch_add(1, Ordering::SeqCst) >= max {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            shared.node.metrics().client_rejected();
            let mut s = stream;
            let _ = s.write_all(b"-ERR max number of clients reached\r\n");
            return false;
        }
        shared.node.metrics().client_connected();
        true
    }
}

fn into_std(stream: mio::net::TcpStream) -> std::net::TcpStream {
    std::net::TcpStream::from(stream)
}

/// The connection's stream, non-blocking: TLS when the port has it (the
/// handshake runs as the first reads and writes happen).
fn open_stream(tcp: std::net::TcpStream, tls: Option<&ServerTls>) -> std::io::Result<Conn> {
    tcp.set_nonblocking(true)?;
    tcp.set_nodelay(true)?;
    match tls {
        Some(tls) => tls.accept(tcp),
        None => Ok(Conn::Plain(tcp)),
    }
}
