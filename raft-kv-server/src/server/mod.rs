//! The RESP client port. A few I/O threads on epoll (`event_loop`) own every
//! client connection (`connection`, a non-blocking state machine each). A
//! connection's `session` serves each request (`dispatch`): the command
//! registry's entry decides the gates (arity, `NOAUTH`, `BUSY`, `MULTI`) and
//! plans the request; the session carries the plan out: a write or a read
//! through the node, a reply, a blocking call (`blocked`), a change of the
//! connection (`session`, `transaction`) or an operation of the node
//! (`node_ops`, with `config`). Only `reply` turns a
//! [`RequestError`](raft_kv::RequestError) into a RESP error.

mod blocked;
mod budget;
mod config;
mod connection;
mod dispatch;
mod event_loop;
mod node_ops;
mod outcome;
pub(super) mod pushes;
mod queued;
mod reply;
mod session;
mod submitted;
mod transaction;

use event_loop::{Completions, IoThread, PortShared};
use raft_kv::NodeHandle;
use raft_net::ServerTls;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// Stops the client port.
pub struct ServerHandle {
    shared: Arc<PortShared>,
    wakers: Vec<Arc<Completions>>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting and closes every client connection (the replies that
    /// are ready go out first if the socket takes them).
    pub fn stop(mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        for w in &self.wakers {
            w.wake();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// How many I/O threads serve the client port: one per two cores (the
/// consensus, applier and peer threads need the rest), at least one, at most four.
fn io_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).clamp(1, 4)
}

/// Serves RESP on `listener` until stopped; with `tls`, every connection is
/// TLS (the handshake runs as the connection's first reads and writes,
/// within the idle and request timeouts).
pub fn serve(
    listener: TcpListener,
    node: NodeHandle,
    tls: Option<ServerTls>,
) -> std::io::Result<ServerHandle> {
    listener.set_nonblocking(true)?;
    let listener = mio::net::TcpListener::from_std(listener);
    let shared = Arc::new(PortShared {
        budget: Arc::new(budget::BufferBudget::new(node.config().client_buffer_limit)),
        node,
        tls,
        connections: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
        stopping: AtomicBool::new(false),
    });
    let loops = (0..io_threads())
        .map(|_| IoThread::new())
        .collect::<std::io::Result<Vec<_>>>()?;
    let wakers: Vec<Arc<Completions>> = loops.iter().map(IoThread::completions).collect();
    let mut listener = Some(listener);
    let mut threads = Vec::new();
    for (i, lp) in loops.into_iter().enumerate() {
        let (port, peers, l) = (shared.clone(), wakers.clone(), listener.take());
        let spawned = std::thread::Builder::new()
            .name(format!("raft-kv-io-{i}"))
            .spawn(move || lp.run(l, port, peers));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                ServerHandle {
                    shared,
                    wakers,
                    threads,
                }
                .stop();
                return Err(e);
            }
        }
    }
    Ok(ServerHandle {
        shared,
        wakers,
        threads,
    })
}
