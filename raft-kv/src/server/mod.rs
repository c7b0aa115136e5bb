//! The RESP2 client port: an accept loop, one thread per connection
//! (`connection`), and one table of commands (`commands`) with each command's
//! name, arity, kind and handler. Only its `reply` module turns a
//! [`RequestError`](crate::error::RequestError) into a RESP error.

mod budget;
mod commands;
mod connection;
mod outcome;
mod reply;
mod session;

use crate::runtime::NodeHandle;
use raft_net::{Conn, ServerTls};
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Stops the accept loop.
pub struct ServerHandle {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting new connections (open ones answer `-SHUTDOWN`).
    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves RESP on `listener` until stopped; with `tls`, every connection is
/// TLS (the handshake runs in the connection's thread, within the idle and
/// request timeouts).
pub fn serve(
    listener: TcpListener,
    node: NodeHandle,
    tls: Option<ServerTls>,
) -> std::io::Result<ServerHandle> {
    listener.set_nonblocking(true)?;
    let stopping = Arc::new(AtomicBool::new(false));
    let stop = stopping.clone();
    let thread = std::thread::Builder::new()
        .name("raft-kv-accept".into())
        .spawn(move || accept_loop(&listener, &node, tls.as_ref(), &stop))?;
    Ok(ServerHandle {
        stopping,
        thread: Some(thread),
    })
}

fn accept_loop(
    listener: &TcpListener,
    node: &NodeHandle,
    tls: Option<&ServerTls>,
    stop: &AtomicBool,
) {
    let connections = Arc::new(AtomicUsize::new(0));
    let budget = Arc::new(budget::BufferBudget::new(node.config().client_buffer_limit));
    let next_id = AtomicU64::new(1);
    let mut last_warning: Option<std::time::Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let max = node.config().max_connections;
                if connections.fetch_add(1, Ordering::SeqCst) >= max {
                    connections.fetch_sub(1, Ordering::SeqCst);
                    node.metrics().client_rejected();
                    let mut s = stream;
                    let _ = s.write_all(b"-ERR max number of clients reached\r\n");
                    continue;
                }
                let (served_node, counted) = (node.clone(), node.clone());
                let conns = connections.clone();
                let budget = budget.clone();
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let tls = tls.cloned();
                node.metrics().client_connected();
                let spawned = std::thread::Builder::new()
                    .name("raft-kv-client".into())
                    .spawn(move || {
                        let served = open_stream(stream, tls.as_ref()).and_then(|conn| {
                            connection::Connection::new(conn, served_node, budget, id).run()
                        });
                        if let Err(e) = served {
                            log::debug!("client connection ended: {e}");
                        }
                        counted.metrics().client_disconnected();
                        conns.fetch_sub(1, Ordering::SeqCst);
                    });
                if let Err(e) = spawned {
                    log::error!("cannot start a client thread: {e}");
                    node.metrics().client_disconnected();
                    connections.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => {
                // Out of descriptors, say: once a minute is enough to tell.
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    log::warn!("accept failed: {e} (repeats are not logged for a minute)");
                    last_warning = Some(std::time::Instant::now());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The connection's stream: TLS when the port has it (the handshake runs on
/// the first read, under the connection's timeouts).
fn open_stream(tcp: std::net::TcpStream, tls: Option<&ServerTls>) -> std::io::Result<Conn> {
    tcp.set_nonblocking(false)?;
    match tls {
        Some(tls) => tls.accept(tcp),
        None => Ok(Conn::Plain(tcp)),
    }
}
