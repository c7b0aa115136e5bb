//! The HTTP endpoint on `tiny_http`: `GET /metrics` (the Prometheus text
//! format), `GET /health` (200 when the node knows a leader and keeps up
//! applying, 503 otherwise), 404 for other paths and 405 for other methods.
//! Its threads block in `accept` and in `recv`: nothing polls or sleeps.

use super::{CONTENT_TYPE, MetricsSource, render};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use tiny_http::{Header, Method, Request, Response, Server};

/// The running endpoint; [`MetricsServer::stop`] ends it.
pub struct MetricsServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Stops answering and waits for the request thread; the listener closes
    /// when the last reference to the server goes.
    pub fn stop(mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the endpoint on `listener` until [`MetricsServer::stop`].
pub fn serve(listener: TcpListener, node: impl MetricsSource) -> std::io::Result<MetricsServer> {
    listener.set_nonblocking(false)?;
    let server = Server::from_listener(listener, None).map_err(std::io::Error::other)?;
    let server = Arc::new(server);
    let requests = server.clone();
    let thread = std::thread::Builder::new()
        .name("raft-kv-metrics".into())
        .spawn(move || {
            // `recv` fails once `unblock` is called: the endpoint stops.
            while let Ok(request) = requests.recv() {
                if let Err(e) = answer(request, &node) {
                    log::debug!("metrics request failed: {e}");
                }
            }
        })?;
    Ok(MetricsServer {
        server,
        thread: Some(thread),
    })
}

fn answer(request: Request, node: &impl MetricsSource) -> std::io::Result<()> {
    let path = request.url().split('?').next().unwrap_or("");
    let (status, body, content_type) = match (request.method(), path) {
        (Method::Get, "/metrics") => (200, render(node), CONTENT_TYPE),
        (Method::Get, "/health") if node.status().is_healthy() => {
            (200, "ok\n".to_string(), "text/plain")
        }
        (Method::Get, "/health") => (
            503,
            "no leader or applying behind\n".to_string(),
            "text/plain",
        ),
        (Method::Get, _) => (404, "try /metrics or /health\n".to_string(), "text/plain"),
        _ => (405, "GET only\n".to_string(), "text/plain"),
    };
    let mut response = Response::from_string(body).with_status_code(status);
    if let Ok(h) = Header::from_bytes("Content-Type", content_type) {
        response.add_header(h);
    }
    request.respond(response)
}
