//! Starts real `raft-cli node` processes on loopback for process tests.

#![allow(dead_code)]

pub mod firewall;

use raft_kv::Reply;
use raft_kv_server::Client;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_raft-cli");

/// A loopback port for a test node that no other node of this test process gets.
///
/// Ports come from 20000..32000, below Linux's ephemeral range (32768..60999), so
/// the source port of some outgoing connection cannot take one between its choice
/// and the node's bind; a counter keeps them distinct within the process, and a
/// bind check skips ports something else holds.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const BASE: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (BASE + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {BASE}..{}", BASE + SPAN);
}

/// Node `i`'s own loopback address for peer traffic (its connections to peers
/// start from it too), so that a test can cut the links between two nodes with
/// a firewall rule on their addresses. Clients use 127.0.0.1.
pub fn peer_ip(i: usize) -> String {
    assert!(i < 200, "node ids in tests stay small");
    format!("127.0.0.{}", 10 + i)
}

/// Put among the extra flags of [`Cluster::start_with`]: every node serves
/// metrics on a port of its own (`Cluster::metrics`).
pub const WITH_METRICS: &str = "<metrics on a free port per node>";

/// Clusters of one test binary run one at a time: timing-sensitive checks (a new
/// leader within 3 s) must not compete with other clusters for the 2 cores.
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Cluster {
    /// Held for the cluster's lifetime (see `ONE_CLUSTER_AT_A_TIME`).
    _turn: std::sync::MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
    pub peer: Vec<String>,
    pub client: Vec<String>,
    pub procs: Vec<Option<Child>>,
    /// Extra flags for every node.
    pub extra_args: Vec<String>,
    /// Each node's `--metrics` address, when the cluster serves metrics.
    pub metrics: Vec<String>,
    /// The nodes' `--requirepass`, which the helpers' clients send.
    pub password: Option<String>,
    /// What the helpers' clients connect with when the nodes run TLS on the
    /// client port.
    pub tls: Option<raft_kv::ClientTls>,
}

impl Cluster {
    /// Starts `n` nodes and waits for a leader.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[])
    }

    /// Starts `n` nodes with extra flags and waits for a leader.
    pub fn start_with(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with_tls(n, extra, None)
    }

    /// Starts `n` nodes with extra flags, talks to them with `tls`, and waits
    /// for a leader.
    pub fn start_with_tls(n: usize, extra: &[&str], tls: Option<raft_kv::ClientTls>) -> Cluster {
        let turn = ONE_CLUSTER_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::tempdir().expect("temp dir");
        let peer: Vec<String> = (1..=n)
            .map(|i| format!("{}:{}", peer_ip(i), free_port()))
            .collect();
        let client: Vec<String> = (0..n)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let password = extra_args
            .iter()
            .position(|a| a == "--requirepass")
            .and_then(|i| extra_args.get(i + 1).cloned());
        let mut c = Cluster {
            _turn: turn,
            dir,
            peer,
            client,
            procs: (0..n).map(|_| None).collect(),
            extra_args,
            metrics: Vec::new(),
            password,
            tls,
        };
        if extra.contains(&WITH_METRICS) {
            c.extra_args.retain(|a| a != WITH_METRICS);
            c.metrics = (0..n)
                .map(|_| format!("127.0.0.1:{}", free_port()))
                .collect();
        }
        for i in 1..=n {
            c.start_node(i);
        }
        c.wait_for_leader(Duration::from_secs(15));
        c
    }

    pub fn initial_cluster(&self) -> String {
        self.peer
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{i}"))
    }

    /// The exact command line of node `i` (the same on every restart).
    pub fn node_command(&self, i: usize) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["node", "--id", &i.to_string()])
            .arg("--data-dir")
            .arg(self.data_dir(i))
            .args([
                "--listen-peer",
                &self.peer[i - 1],
                "--listen-client",
                &self.client[i - 1],
            ])
            .args(["--initial-cluster", &self.initial_cluster()])
            .args(&self.extra_args)
            .args(
                self.metrics
                    .get(i - 1)
                    .map(|m| ["--metrics", m.as_str()])
                    .into_iter()
                    .flatten(),
            )
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(self.log_file(i));
        cmd
    }

    /// Node `i`'s log (stderr of every start, appended).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{i}.log"))
    }

    /// Every node's log, for a failure message.
    pub fn logs(&self) -> String {
        (1..=self.procs.len())
            .map(|i| {
                let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
                format!("--- node {i} ---\n{log}")
            })
            .collect()
    }

    fn log_file(&self, i: usize) -> Stdio {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
        {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        }
    }

    /// Starts node `i` and waits until its own client port answers as node `i`.
    pub fn start_node(&mut self, i: usize) {
        let child = self.node_command(i).spawn().expect("spawn raft-cli node");
        self.procs[i - 1] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let exited = self.procs[i - 1]
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!("node {i} exited at start ({status}):\n{}", self.logs());
            }
            if self.info(i, "node_id") == Some(i.to_string()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node {i} did not open its client port:\n{}", self.logs());
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i - 1].take() {
            c.kill().expect("SIGKILL");
            c.wait().expect("reap");
        }
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to node `i`.
    pub fn signal(&self, i: usize, signal: &str) {
        if let Some(c) = &self.procs[i - 1] {
            let ok = Command::new("kill")
                .args([&format!("-{signal}"), &c.id().to_string()])
                .status()
                .expect("kill");
            assert!(ok.success());
        }
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.procs[i - 1].is_some()
    }

    pub fn sigterm(&mut self, i: usize) -> std::process::ExitStatus {
        let mut c = self.procs[i - 1].take().expect("node is running");
        let status = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = c.try_wait().expect("wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client that talks to node `i` only.
    pub fn client_of(&self, i: usize) -> Client {
        Client::new(vec![self.client[i - 1].clone()])
            .expect("endpoint")
            .with_password(self.password.clone())
            .with_tls(self.tls.clone())
    }

    /// A client over every node.
    pub fn client(&self) -> Client {
        Client::new(self.client.clone())
            .expect("endpoints")
            .with_password(self.password.clone())
            .with_tls(self.tls.clone())
    }

    /// INFO field of node `i`.
    pub fn info(&self, i: usize, field: &str) -> Option<String> {
        let info = self.client_of(i).info().ok()?;
        raft_kv_server::info::field(&info, field).map(str::to_string)
    }

    pub fn leader(&self) -> Option<usize> {
        (1..=self.procs.len()).find(|&i| {
            self.procs[i - 1].is_some() && self.info(i, "role").as_deref() == Some("leader")
        })
    }

    pub fn wait_for_leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.leader() {
                return l;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no leader within {timeout:?}");
    }

    /// A stale (READONLY) read on node `i`.
    pub fn local_get(&self, i: usize, key: &str) -> Option<Vec<u8>> {
        let mut c = self.client_of(i);
        c.call_here(&[b"READONLY"]).expect("READONLY");
        match c.call_here(&[b"GET", key.as_bytes()]).expect("GET") {
            Reply::Bulk(v) => v,
            other => panic!("unexpected {other:?}"),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `raft-cli` with `args` to completion.
pub fn run_cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run raft-cli")
}

/// Polls `cond` until it holds; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A node process started outside a `Cluster`, killed when dropped (also when
/// a test panics), so that no node outlives its test.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A raw connection to a client port, with a 10 s read timeout.
pub fn connect(addr: &str) -> (std::net::TcpStream, std::io::BufReader<std::net::TcpStream>) {
    let s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let r = std::io::BufReader::new(s.try_clone().expect("clone"));
    (s, r)
}

/// The whole HTTP/1.0 response to `GET path` from `addr`.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}
